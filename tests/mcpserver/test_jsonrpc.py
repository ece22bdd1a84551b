import json

import pytest
from starlette.types import Message, Receive

from resourcekit.jsonrpc import NOT_JSON, buffer_body, called_tools, replay, requests_in
from servicekit.bodies import BodyTooLarge, read_body


def chunks(*parts: bytes) -> Receive:
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0)

    return receive


async def test_read_body_joins_chunks_and_replays_them() -> None:
    receive = chunks(b'{"a":', b" 1}")
    body = await read_body(receive, limit=100)
    assert body == b'{"a": 1}'
    replayed = replay(body, receive)
    assert await replayed() == {"type": "http.request", "body": body, "more_body": False}
    assert (await replayed())["type"] == "http.disconnect"


async def test_read_body_has_a_limit() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(chunks(b"x" * 60, b"x" * 60), limit=100)


def test_requests_and_called_tools() -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    batch = json.dumps([call, note, {"jsonrpc": "2.0", "id": 2, "result": {}}, 3]).encode()
    assert requests_in(batch) == [call, note]
    assert called_tools(requests_in(batch)) == ["whoami"]
    assert requests_in(b"{not json") == []
    assert called_tools([{"method": "tools/call", "params": ["x"]}]) == []


def test_envelope_problems() -> None:
    from mcpserver.jsonrpc import envelope_problem

    assert envelope_problem(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}') is None
    assert envelope_problem(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}') is None
    assert envelope_problem(b'{"jsonrpc": "2.0", "id": "a", "result": {}}') is None
    assert envelope_problem(b"not json") is None  # the SDK's -32700
    assert envelope_problem(b"[]") == "JSON-RPC batches are not supported"
    assert envelope_problem(b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}') is not None
    assert envelope_problem(b'{"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}}') is not None


async def never_send(message: Message) -> None:
    raise AssertionError(f"nothing is answered: {message}")


async def test_layers_share_one_read_and_one_parse_of_the_body() -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}
    scope: dict[str, object] = {"type": "http"}
    first = await buffer_body(scope, chunks(json.dumps(call).encode()), never_send, 100)
    assert first is not None
    # A later layer handed the replaying receive reads nothing and parses nothing again.
    again = await buffer_body(scope, first.receive, never_send, 100)
    assert again is first
    assert first.decoded is again.decoded
    assert again.requests() == [call]
    # The app behind them still gets the body once, then the client's disconnect.
    assert await again.receive() == {
        "type": "http.request",
        "body": json.dumps(call).encode(),
        "more_body": False,
    }
    assert await again.receive() == {"type": "http.disconnect"}


async def test_a_receive_that_is_not_the_replay_is_read_again() -> None:
    scope: dict[str, object] = {"type": "http"}
    first = await buffer_body(scope, chunks(b"not json"), never_send, 100)
    assert first is not None
    assert first.decoded is NOT_JSON
    assert first.requests() == []
    other = await buffer_body(scope, chunks(b"[]"), never_send, 100)
    assert other is not None
    assert other is not first
    assert other.decoded == []

import pytest
from starlette.types import Message

from servicekit.bearer import bearer_token
from servicekit.bodies import BodyTooLarge, read_body


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("BEARER abc", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
        ("Bearerabc", None),
    ],
)
def test_rfc6750_2_1_one_bearer_parser(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


async def test_bounded_reader_stops_at_the_limit() -> None:
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1000
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    with pytest.raises(BodyTooLarge):
        await read_body(receive, 2500)
    assert taken == 3000

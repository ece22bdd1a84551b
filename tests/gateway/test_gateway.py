"""The gateway against upstreams the tests control (see conftest): what reaches the upstream, what
comes back, and every refusal. Names follow the MCP security best practices and the RFCs each
property defends."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway.identity import IDENTITY_HEADER, InvalidIdentity, verify_identity
from support.oauth import authorize_url, pkce

from .conftest import MAX_BODY, UPSTREAM_SESSION, Gateway

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "gateway test", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture(scope="module")
def token(gateway: Gateway) -> str:
    return gateway.token("rec")


def call(name: str, request_id: int = 2) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name}}


def post(
    gateway: Gateway, name: str, body: Any, token: str | None, **headers: str
) -> httpx.Response:
    auth = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        gateway.url(name),
        content=json.dumps(body).encode(),
        headers={**MCP_HEADERS, **auth, **headers},
        timeout=30,
    )


def test_rfc9728_each_upstream_is_a_protected_resource_of_its_own(gateway: Gateway) -> None:
    url = gateway.url("rec")
    metadata_url = f"{gateway.stack.issuer}/.well-known/oauth-protected-resource/mcp/rec"
    document = httpx.get(metadata_url, timeout=30).json()
    assert document["resource"] == url
    assert document["authorization_servers"] == [gateway.stack.issuer]
    assert document["scopes_supported"] == [f"{url}/read", f"{url}/write"]

    before = len(gateway.recorder.requests)
    refused = post(gateway, "rec", call("echo"), None)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert f'resource_metadata="{metadata_url}"' in challenge
    assert f'scope="{url}/read"' in challenge
    assert len(gateway.recorder.requests) == before


def test_mcp_security_token_passthrough_the_bearer_token_never_reaches_the_upstream(
    gateway: Gateway, token: str
) -> None:
    before = len(gateway.recorder.requests)
    answered = post(
        gateway,
        "rec",
        INITIALIZE,
        token,
        **{
            "mcp-protocol-version": "2025-06-18",
            "mcp-method": "initialize",
            "cookie": "session=browser",
            # A client cannot speak for the gateway: its own identity header is dropped.
            IDENTITY_HEADER: "forged",
        },
    )
    assert answered.status_code == 200, answered.text
    method, headers, body = gateway.recorder.requests[before]
    assert method == "POST"
    assert json.loads(body) == INITIALIZE
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert token not in json.dumps(headers)
    assert headers["mcp-protocol-version"] == "2025-06-18"
    assert headers["mcp-method"] == "initialize"
    identity = verify_identity(
        headers[IDENTITY_HEADER],
        key=gateway.stack["GATEWAY_IDENTITY_KEY_REC"],
        audience=gateway.url("rec"),
    )
    assert identity["iss"] == gateway.stack.issuer
    assert identity["username"] == gateway.stack["DEMO_USER"]
    assert identity["scope"] == f"{gateway.url('rec')}/read"
    # The upstream's own challenge and cookies do not reach the client.
    assert "www-authenticate" not in answered.headers
    assert "set-cookie" not in answered.headers
    for _, seen, _ in gateway.recorder.requests:
        assert "authorization" not in seen


def test_identity_header_is_refused_with_another_upstreams_key_or_audience(
    gateway: Gateway, token: str
) -> None:
    post(gateway, "rec", call("echo"), token)
    header = gateway.recorder.headers_seen()[-1][IDENTITY_HEADER]
    with pytest.raises(InvalidIdentity):
        verify_identity(
            header, key=gateway.stack["GATEWAY_IDENTITY_KEY_OTHER"], audience=gateway.url("rec")
        )
    with pytest.raises(InvalidIdentity):
        verify_identity(
            header, key=gateway.stack["GATEWAY_IDENTITY_KEY_REC"], audience=gateway.url("other")
        )
    with pytest.raises(InvalidIdentity):
        verify_identity(None, key=gateway.stack["GATEWAY_IDENTITY_KEY_REC"], audience="x")


def test_rfc8707_a_token_for_upstream_a_is_refused_at_upstream_b(
    gateway: Gateway, token: str
) -> None:
    before = len(gateway.recorder.requests)
    refused = post(gateway, "other", call("echo"), token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert len(gateway.recorder.requests) == before
    assert post(gateway, "other", call("echo"), gateway.token("other")).status_code == 200


def test_mcp_security_session_hijacking_a_session_is_bound_to_its_subject(
    gateway: Gateway, token: str
) -> None:
    created = post(gateway, "rec", INITIALIZE, token)
    session = created.headers["mcp-session-id"]
    assert session != UPSTREAM_SESSION  # the client holds a bound id, not the upstream's
    assert post(gateway, "rec", call("echo"), token, **{"mcp-session-id": session}).is_success
    assert gateway.recorder.headers_seen()[-1]["mcp-session-id"] == UPSTREAM_SESSION

    gateway.add_user("mallory")
    other = gateway.token("rec", person=gateway.person("mallory"))
    before = len(gateway.recorder.requests)
    replayed = post(gateway, "rec", call("echo"), other, **{"mcp-session-id": session})
    assert replayed.status_code == 404
    assert replayed.json()["error"]["message"] == "Session not found"
    raw = post(gateway, "rec", call("echo"), other, **{"mcp-session-id": UPSTREAM_SESSION})
    assert raw.status_code == 404
    assert len(gateway.recorder.requests) == before


def test_streams_pass_through_unbuffered_both_ways(gateway: Gateway, token: str) -> None:
    """A POST answered with SSE and a GET stream: the first event arrives while the upstream is
    still holding the second (it waits for the test to have read the first)."""
    session = post(gateway, "rec", INITIALIZE, token).headers["mcp-session-id"]
    auth = {"authorization": f"Bearer {token}", "mcp-session-id": session}
    for method, body in (("POST", {"jsonrpc": "2.0", "id": 7, "method": "stream"}), ("GET", None)):
        gateway.recorder.release.clear()
        with httpx.stream(
            method,
            gateway.url("rec"),
            headers={**MCP_HEADERS, **auth, "last-event-id": "0"},
            content=json.dumps(body).encode() if body else None,
            timeout=30,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data.append(line)
                    gateway.recorder.release.set()
                if len(data) == 2:
                    break
        assert '"first"' in data[0]
        assert '"id":7' in data[1]
        seen = gateway.recorder.headers_seen()[-1]
        assert seen["last-event-id"] == "0"
        assert seen["mcp-session-id"] == UPSTREAM_SESSION


def test_delete_ends_the_upstream_session(gateway: Gateway, token: str) -> None:
    session = post(gateway, "rec", INITIALIZE, token).headers["mcp-session-id"]
    ended = httpx.delete(
        gateway.url("rec"),
        headers={"authorization": f"Bearer {token}", "mcp-session-id": session},
        timeout=30,
    )
    assert ended.status_code == 204
    method, headers, _ = gateway.recorder.requests[-1]
    assert (method, headers["mcp-session-id"]) == ("DELETE", UPSTREAM_SESSION)


def test_mcp_authorization_step_up_for_a_tool_scope_from_header_or_body(
    gateway: Gateway, token: str
) -> None:
    write = f"{gateway.url('rec')}/write"
    # Without a token, the Mcp-Name header names the scope the challenge asks for.
    challenge = post(
        gateway, "rec", call("danger"), None, **{"mcp-method": "tools/call", "mcp-name": "danger"}
    )
    assert challenge.status_code == 401
    assert write in challenge.headers["www-authenticate"]
    # With a read-only token: 403 naming the write scope, from the body...
    denied = post(gateway, "rec", call("danger"), token)
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert write in denied.headers["www-authenticate"]
    # ...even when a header names a harmless tool.
    hidden = post(
        gateway, "rec", call("danger"), token, **{"mcp-method": "tools/call", "mcp-name": "echo"}
    )
    assert hidden.status_code == 403
    assert post(gateway, "rec", call("danger"), gateway.token("rec", ("read", "write"))).is_success


def test_a_body_over_the_limit_is_refused_before_the_upstream(gateway: Gateway, token: str) -> None:
    before = len(gateway.recorder.requests)
    big = {**call("echo"), "params": {"name": "echo", "arguments": {"x": "y" * MAX_BODY}}}
    assert post(gateway, "rec", big, token).status_code == 413
    assert len(gateway.recorder.requests) == before


def test_an_upstream_that_hangs_is_a_504_with_a_json_rpc_error(gateway: Gateway) -> None:
    answered = post(gateway, "hang", call("echo"), gateway.token("hang"))
    assert answered.status_code == 504
    assert answered.json()["error"]["code"] == -32000
    assert answered.json()["id"] is None


def test_an_upstream_that_refuses_connections_is_a_502_with_a_json_rpc_error(
    gateway: Gateway,
) -> None:
    answered = post(gateway, "down", call("echo"), gateway.token("down"))
    assert answered.status_code == 502
    assert answered.json()["jsonrpc"] == "2.0"
    assert answered.json()["error"]["message"] == "Upstream unavailable"


def test_mcp_transport_origin_from_another_site_is_refused(gateway: Gateway, token: str) -> None:
    refused = post(gateway, "rec", call("echo"), token, origin="https://evil.example")
    assert refused.status_code == 403
    assert post(gateway, "rec", call("echo"), token, origin=gateway.stack.issuer).is_success


def test_consent_names_the_upstream_the_client_asks_for(gateway: Gateway) -> None:
    client = gateway.stack.register(
        client_name="consent check",
        redirect_uris=["http://127.0.0.1:53698/callback"],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    )
    _, challenge = pkce()
    url = gateway.url("rec")
    page = httpx.get(
        authorize_url(
            gateway.stack.issuer,
            client["client_id"],
            "http://127.0.0.1:53698/callback",
            challenge,
            scope=f"{url}/read",
            resource=url,
        ),
        timeout=30,
    )
    assert page.status_code == 200
    assert "rec (through the gateway)" in page.text
    assert url in page.text


def test_an_upstream_session_id_that_is_not_visible_ascii_is_a_502(
    gateway: Gateway, token: str
) -> None:
    answered = post(gateway, "rec", {"jsonrpc": "2.0", "id": 3, "method": "bad-session"}, token)
    assert answered.status_code == 502
    assert "mcp-session-id" not in answered.headers

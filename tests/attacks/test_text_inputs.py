"""Ill-formed text at every input of both deployables (RFC 8259 §8.1/§8.2, RFC 3629).

A lone UTF-16 surrogate escaped in JSON (``"\\ud800"``), a UTF-8-encoded surrogate, an invalid
percent-encoded UTF-8 sequence or a NUL must be refused where it enters, with the endpoint's own
400 (RFC 7591 §3.2.2, RFC 6749 §5.2, RFC 7009 §2.2.1, JSON-RPC 2.0 §5.1, a calm page for
browsers), and nothing may be stored for the request: before, such a registration was stored and
its credentials never delivered (500), and it answered 500 again at /authorize and /token.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from authproxy import bodies
from mcpserver.jsonrpc import envelope_problem
from servicekit import text
from support.oauth import authorize_url, pkce
from support.stack import Stack, local_stack

REDIRECT = "http://127.0.0.1:53700/callback"
# JSON texts whose strings are ill formed; each is otherwise an acceptable value.
LONE_SURROGATE = '"bad \\ud800 name"'
LOW_SURROGATE_FIRST = '"\\udc00\\ud800"'
NUL = '"nul \\u0000 here"'
ILL_FORMED_JSON = [LONE_SURROGATE, LOW_SURROGATE_FIRST, NUL]
# Form and query values: invalid UTF-8 once percent-decoded, or NUL.
ILL_FORMED_FORM = ["%ED%A0%80", "%FF", "%C0%AF", "a%00b"]


def with_literal(document: dict[str, Any], literal: str) -> bytes:
    """``document`` as JSON, each string ``"@"`` in it replaced by the raw JSON ``literal``."""
    return json.dumps(document).replace('"@"', literal).encode()


def registration_body(client_name: str) -> bytes:
    """A valid registration request whose client_name is the given raw JSON string literal."""
    metadata = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    return with_literal({**metadata, "client_name": "@"}, client_name)


def post_json(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=30
    )


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict[str, Any]:
    return dev.register(
        client_name="text inputs", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )


@pytest.mark.parametrize("name", ILL_FORMED_JSON)
def test_rfc8259_8_2_register_refuses_ill_formed_strings(dev: Stack, name: str) -> None:
    response = post_json(f"{dev.issuer}/register", registration_body(name))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


def test_rfc8259_8_1_register_refuses_utf8_encoded_surrogates(dev: Stack) -> None:
    # CESU-style bytes: not UTF-8 (RFC 3629 §3), though Python's JSON decoder lets them through.
    body = registration_body('"x"').replace(b'"x"', b'"\xed\xa0\x80"')
    response = post_json(f"{dev.issuer}/register", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_rfc8259_6_register_refuses_numbers_json_does_not_have(dev: Stack, constant: str) -> None:
    metadata = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    response = post_json(
        f"{dev.issuer}/register", with_literal({**metadata, "x-extension": "@"}, constant)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("name", ILL_FORMED_JSON)
def test_rfc7592_2_2_update_refuses_ill_formed_strings(dev: Stack, name: str) -> None:
    registered = dev.register(
        client_name="to update", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    raw = with_literal(
        {
            "client_id": registered["client_id"],
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "client_name": "@",
        },
        name,
    )
    response = httpx.put(
        registered["registration_client_uri"],
        content=raw,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {registered['registration_access_token']}",
        },
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    # The stored registration is unchanged and still readable.
    shown = httpx.get(
        registered["registration_client_uri"],
        headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
        timeout=30,
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["client_name"] == "to update"


@pytest.mark.parametrize("endpoint", ["/token", "/revoke"])
@pytest.mark.parametrize("value", ILL_FORMED_JSON)
def test_rfc6749_5_2_json_bodies_with_ill_formed_strings_are_invalid_request(
    dev: Stack, client: dict[str, Any], endpoint: str, value: str
) -> None:
    body = {"grant_type": "authorization_code", "token": "@", "code": "@"}
    response = post_json(
        f"{dev.issuer}{endpoint}", with_literal({**body, "client_id": client["client_id"]}, value)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", ["/token", "/revoke"])
@pytest.mark.parametrize("value", ILL_FORMED_FORM)
def test_rfc6749_5_2_form_bodies_with_ill_formed_text_are_invalid_request(
    dev: Stack, client: dict[str, Any], endpoint: str, value: str
) -> None:
    body = f"grant_type=authorization_code&client_id={client['client_id']}&code={value}"
    response = httpx.post(
        f"{dev.issuer}{endpoint}",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("value", ILL_FORMED_FORM)
def test_rfc6749_4_1_2_1_authorize_query_with_ill_formed_text_is_a_page(
    dev: Stack, client: dict[str, Any], value: str
) -> None:
    # The client and redirect URI are good, so only the ill-formed state can refuse it; before,
    # invalid UTF-8 was silently replaced with U+FFFD and a consent page shown.
    url = authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1], state="s") + value
    response = httpx.get(url, timeout=30)
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("value", ILL_FORMED_FORM)
def test_rfc6749_4_1_2_1_callback_query_with_ill_formed_text_is_a_page(
    dev: Stack, value: str
) -> None:
    response = httpx.get(f"{dev.issuer}/callback?code=c&state={value}", timeout=30)
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("value", ILL_FORMED_FORM)
def test_consent_form_with_ill_formed_text_is_a_page(dev: Stack, value: str) -> None:
    response = httpx.post(
        f"{dev.issuer}/consent",
        content=f"decision=approve&transaction={value}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": dev.issuer},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("value", [*ILL_FORMED_JSON, '"well formed"'])
def test_rfc8259_8_1_mcp_body_in_utf_16_or_32_is_invalid_request(
    dev: Stack, access_token: str, value: str, encoding: str
) -> None:
    """JSON between systems is UTF-8 (RFC 8259 §8.1). The SDK's 2026-07-28 path reads a body with
    ``json.loads``, which also accepts UTF-16 and UTF-32, where an escaped NUL or lone surrogate
    is ASCII bytes with a NUL between ``\\`` and ``u``: such a body is refused whatever it holds,
    so nothing in it reaches a tool unchecked."""
    meta = {
        PROTOCOL_VERSION_META_KEY: "2026-07-28",
        CLIENT_INFO_META_KEY: {"name": "text inputs", "version": "0"},
        CLIENT_CAPABILITIES_META_KEY: {},
    }
    params = {"name": "whoami", "arguments": {}, "_meta": {**meta, "x": "@"}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    body = with_literal(message, value).decode().encode(encoding)
    single_exchange = {"Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
    response = post_mcp(dev, access_token, body, "2026-07-28", single_exchange)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == -32600, response.text


def post_mcp(
    dev: Stack, token: str, body: bytes, revision: str, extra: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` as is to the MCP endpoint, as a client of ``revision`` with a valid token."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": revision,
        **(extra or {}),
    }
    return httpx.post(dev.mcp_url, content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("value", ILL_FORMED_JSON)
def test_jsonrpc_5_1_mcp_body_with_ill_formed_strings_is_invalid_request(
    dev: Stack, access_token: str, value: str
) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    body = with_literal({**message, "params": {"name": "whoami", "arguments": {"x": "@"}}}, value)
    response = post_mcp(dev, access_token, body, "2025-06-18")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in (-32700, -32600)


def test_nothing_is_stored_for_a_refused_registration(tmp_path: Path) -> None:
    """The request that once stored a registration and then failed to answer (500) now leaves no
    registration and no Cognito app client behind."""
    with local_stack(tmp_path, client_policy="dedicated") as stack:
        cognito = stack.aws("cognito-idp")
        pool = stack["USER_POOL_ID"]
        before = cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]
        for name in ILL_FORMED_JSON:
            response = post_json(f"{stack.issuer}/register", registration_body(name))
            assert response.status_code == 400, response.text
        after = cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]
        assert after == before
        with sqlite3.connect(stack["AUTHPROXY_STORE"].removeprefix("sqlite:///")) as db:
            assert db.execute("SELECT count(*) FROM registrations").fetchone() == (0,)


# Properties of the one parser every input goes through.

# Any code point, surrogates and NUL included: what a JSON escape can produce.
any_text = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00"])
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def deliverable(value: object) -> bool:
    """Whether ``value`` can be answered as UTF-8 and holds no NUL."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any("\x00" in s for s in strings(value))


@settings(deadline=None)
@given(json_values)
def test_json_bodies_are_accepted_exactly_when_deliverable(value: object) -> None:
    raw = json.dumps(value).encode()  # ASCII, every ill-formed string as a \u escape
    if deliverable(value):
        assert bodies.json_value(raw) == value
        assert envelope_problem(raw) != text.PROBLEM
    else:
        with pytest.raises(bodies.BadBody):
            bodies.json_value(raw)
        assert envelope_problem(raw) == text.PROBLEM


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_form_fields_are_well_formed_or_refused(raw: bytes) -> None:
    try:
        fields = bodies.form_fields(raw)
    except bodies.BadBody:
        return
    assert all(text.well_formed(k) and text.well_formed(v) for k, v in fields.items())


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_json_bodies_are_well_formed_or_refused(raw: bytes) -> None:
    try:
        value = bodies.json_value(raw)
    except bodies.BadBody:
        return
    assert deliverable(value)

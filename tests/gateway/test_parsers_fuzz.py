"""Property-based fuzzing (hypothesis) of the parsers in front of a protected resource: the bearer
header, the Mcp-Name header, the identity header and the bound session id. Each answers or refuses;
none raises anything else."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from gateway.identity import InvalidIdentity, verify_identity
from gateway.sessions import BoundSessions
from resourcekit.jsonrpc import header_tool
from servicekit.bearer import bearer_token

RESOURCE = "https://mcp.example.com/mcp/notes"
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)


@settings(max_examples=400, deadline=None)
@given(header_text)
def test_rfc6750_2_1_bearer_parser_returns_a_trimmed_token_or_none(value: str) -> None:
    token = bearer_token(value)
    if token is not None:
        assert token == token.strip()
        assert token
        assert value.lower().startswith("bearer ")


@settings(max_examples=400, deadline=None)
@given(header_text, st.sampled_from(["tools/call", "prompts/get", "ping", ""]))
def test_mcp_name_header_names_at_most_one_tool(name: str, method: str) -> None:
    tools = header_tool(Headers({"mcp-method": method, "mcp-name": name}))
    assert len(tools) <= 1
    if method != "tools/call":
        assert tools == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_mcp_name_header_in_base64_form_decodes_to_the_name(name: str) -> None:
    encoded = base64.b64encode(name.encode()).decode()
    headers = Headers({"mcp-method": "tools/call", "mcp-name": f"=?base64?{encoded}?="})
    tools = header_tool(headers)
    assert tools in ([], [name])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_identity_header_is_verified_or_refused(value: str) -> None:
    try:
        verify_identity(value, key="k" * 64, audience=RESOURCE)
    except InvalidIdentity:
        return
    raise AssertionError("an arbitrary string verified")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(min_size=1, max_size=40))
def test_bound_session_ids_unwrap_only_when_issued(value: str, subject: str) -> None:
    sessions = BoundSessions("s" * 40, RESOURCE)
    assert sessions.unwrap(value, subject) is None or value.count(".") >= 1
    issued = sessions.wrap("upstream-1", subject)
    assert sessions.unwrap(issued, subject) == "upstream-1"

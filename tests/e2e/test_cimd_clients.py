"""Claude.ai (also Claude Desktop's connectors), Claude Code and VS Code signing in with a Client ID
Metadata Document, under their real client ids, as the request sequences they send.

Claude uses CIMD only when the authorization-server metadata has
``client_id_metadata_document_supported: true`` *and* ``none`` among
``token_endpoint_auth_methods_supported``; otherwise it registers (DCR). Each client then:

1. meets the MCP server's 401 and reads the protected-resource and authorization-server metadata;
2. authorizes with its document URL as ``client_id``, PKCE, ``resource`` and the challenge's scope
   (Claude adds ``offline_access`` and ``prompt=consent``); the person approves and signs in;
3. redeems the code as a public client (``none``) and refreshes;
4. uses the token at the MCP server.

The documents are the local stack's copies (``devstack/client_hosts``), served by a real HTTP
test host on loopback. The
façade fetches them for real, but reaches that host only through the test configuration the
stack is built with here: a resolver that sends ``claude.ai`` and ``vscode.dev`` to loopback and a
transport that connects to the test host's port. No setting reaches either, so a deployment
always resolves and connects to the real hosts.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from devstack import client_hosts
from support.mcp_http import whoami
from support.oauth import pkce, query
from support.serving import bound_socket, serve
from support.stack import Stack, local_stack

DOCUMENTS = client_hosts.documents()
CLAUDE_AI = "https://claude.ai/oauth/mcp-oauth-client-metadata"
CLAUDE_CODE = "https://claude.ai/oauth/claude-code-client-metadata"
VSCODE = "https://vscode.dev/oauth/client-metadata.json"


@dataclass
class FixtureHosts:
    """Test configuration for the façade's metadata-document fetch: the clients' host names
    resolve to loopback, and connections go to the test host's port over plain HTTP."""

    port: int

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in {name for name, _ in DOCUMENTS}:
            raise socket.gaierror(f"{host} is not a fixture host")
        return ["127.0.0.1"]

    def transport(self) -> httpx.AsyncBaseTransport:
        port = self.port

        class ToTestHost(httpx.AsyncHTTPTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                assert request.url.host == "127.0.0.1", "the façade connects where it resolved"
                request.url = request.url.copy_with(scheme="http", port=port)
                return await super().handle_async_request(request)

        return ToTestHost()


@pytest.fixture(scope="module")
def cimd_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack with loopback metadata documents allowed, its fetch aimed at the test
    host."""
    with serve(client_hosts.document_app(), bound_socket()) as origin:
        hosts = FixtureHosts(urlsplit(origin).port or 80)
        with local_stack(
            tmp_path_factory.mktemp("cimd"),
            env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"},
            facade_options={"cimd_transport": hosts.transport(), "cimd_resolver": hosts.resolve},
        ) as stack:
            yield stack


def discover(stack: Stack) -> dict[str, Any]:
    """Step 1, and the condition under which Claude chooses CIMD over DCR."""
    refused = httpx.post(stack.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    prm_url = challenge.split('resource_metadata="')[1].split('"')[0]
    prm = httpx.get(prm_url).json()
    [issuer] = prm["authorization_servers"]
    metadata = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    return {**metadata, "challenge_scope": challenge.split('scope="')[1].split('"')[0]}


def sign_in(
    stack: Stack, client_id: str, redirect_uri: str, **extra: str
) -> tuple[dict[str, Any], list[str]]:
    """Steps 2 and 3. Returns the refreshed token response and the pages the person saw."""
    metadata = discover(stack)
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    person = stack.person()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": stack.mcp_url,
        "scope": metadata["challenge_scope"],
        **extra,
    }
    redirect = person.sign_in(f"{metadata['authorization_endpoint']}?{urlencode(params)}")
    assert redirect.startswith(redirect_uri.rstrip("/")), redirect
    answer = query(redirect)
    assert answer["state"] == state
    assert answer["iss"] == stack.issuer
    exchanged = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": answer["code"],
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "resource": stack.mcp_url,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    refreshed = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": exchanged.json()["refresh_token"],
            "resource": stack.mcp_url,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    return refreshed.json(), person.pages_seen


def test_claude_ai_signs_in_with_its_metadata_document(cimd_stack: Stack) -> None:
    tokens, pages = sign_in(
        cimd_stack,
        CLAUDE_AI,
        "https://claude.ai/api/mcp/auth_callback",
        prompt="consent",
        scope=f"{cimd_stack.mcp_url}/read offline_access",
    )
    assert pages == ["consent", "login"]
    me = whoami(cimd_stack, tokens["access_token"])
    assert me["username"] == cimd_stack["DEMO_USER"]
    assert me["resource"] == cimd_stack.mcp_url


def test_claude_code_signs_in_with_its_metadata_document_on_any_loopback_port(
    cimd_stack: Stack,
) -> None:
    """Claude Code's callback port changes from run to run; the document lists it portless."""
    for port in (secrets.randbelow(20000) + 40000, secrets.randbelow(20000) + 40000):
        tokens, _ = sign_in(
            cimd_stack,
            CLAUDE_CODE,
            f"http://localhost:{port}/callback",
            scope=f"{cimd_stack.mcp_url}/read offline_access",
        )
        assert whoami(cimd_stack, tokens["access_token"])["username"] == cimd_stack["DEMO_USER"]


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"])
def test_vscode_signs_in_with_its_metadata_document(cimd_stack: Stack, redirect_uri: str) -> None:
    tokens, _ = sign_in(cimd_stack, VSCODE, redirect_uri)
    assert whoami(cimd_stack, tokens["access_token"])["resource"] == cimd_stack.mcp_url


def test_a_client_id_its_host_does_not_serve_is_refused_with_a_page(cimd_stack: Stack) -> None:
    """The fetch is real: a URL on the same host without a document gets no registration."""
    refused = httpx.get(
        f"{cimd_stack.issuer}/authorize",
        params={"client_id": "https://claude.ai/oauth/not-a-fixture", "response_type": "code"},
    )
    assert refused.status_code == 400
    assert "Client metadata unusable" in refused.text


def test_rfc9700_4_14_refresh_tokens_die_with_a_deleted_metadata_document_registration(
    cimd_stack: Stack,
) -> None:
    """An operator revokes and prunes Claude's registration; Claude's next sign-in registers it
    afresh under the same client id, and the refresh tokens of the old one stay refused."""
    old, _ = sign_in(cimd_stack, CLAUDE_AI, "https://claude.ai/api/mcp/auth_callback")
    revoked = cimd_stack.authproxy("clients", "revoke", CLAUDE_AI)
    assert revoked.returncode == 0, revoked.stderr
    pruned = cimd_stack.authproxy("clients", "prune", "--min-age", "0", "--yes")
    assert pruned.returncode == 0, pruned.stderr
    assert cimd_stack.authproxy("clients", "show", CLAUDE_AI).returncode != 0

    fresh, _ = sign_in(cimd_stack, CLAUDE_AI, "https://claude.ai/api/mcp/auth_callback")
    assert fresh["access_token"]
    token_endpoint = f"{cimd_stack.issuer}/token"
    form = {"grant_type": "refresh_token", "client_id": CLAUDE_AI, "resource": cimd_stack.mcp_url}
    stale = httpx.post(token_endpoint, data={**form, "refresh_token": old["refresh_token"]})
    assert stale.status_code == 400
    assert stale.json()["error"] == "invalid_grant"
    current = httpx.post(token_endpoint, data={**form, "refresh_token": fresh["refresh_token"]})
    assert current.status_code == 200, current.text

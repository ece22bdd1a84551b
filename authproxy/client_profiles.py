"""What each MCP client people use sends, as data: ``authproxy check --as`` replays it, and the
end-to-end tests that prove each client works build their requests from the same profile, so the
two cannot drift apart.

Sources: the clients' documentation and observed traffic, summarised in the project's research
notes (registration bodies, redirect sets, CIMD client ids, discovery order, what each sends at
``/authorize``). A ``{port}`` in a redirect URI is the loopback port the client's listener has at
the time; ``authorize_port_changes`` says the client signs in later on another port with the same
registration (RFC 8252 §7.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: How a client finds the authorization server.
#: ``spec``: the PRM named by the challenge, then RFC 8414 / OIDC at the issuer (MCP 2025-11-25).
#: ``origin``: also the root PRM and root RFC 8414 document on the MCP server's own origin, and
#: when those fail, ``/authorize``, ``/token`` and ``/register`` synthesized on that origin
#: (Claude's fallback; design D7).
Discovery = Literal["spec", "origin"]

#: Where the scope it asks for comes from: the challenge's ``scope`` (else PRM
#: ``scopes_supported``), a fixed value, or nothing (ChatGPT on reconnect).
ScopeSource = Literal["challenge", "fixed", "none"]


@dataclass(frozen=True)
class ClientProfile:
    """One client's sign-in, as the requests it sends."""

    name: str
    title: str
    #: The ``protocolVersion`` of its first ``initialize``.
    protocol_version: str
    discovery: Discovery
    #: RFC 7591 body it registers with when it uses DCR.
    registration: dict[str, Any]
    #: Its Client ID Metadata Document URL, used when the server advertises CIMD (and ``none``).
    cimd_client_id: str | None = None
    scope_source: ScopeSource = "challenge"
    #: With ``fixed``, the scope; otherwise added to the discovered one (``offline_access``).
    scope_extra: str = ""
    sends_resource: bool = True
    prompt: str | None = None
    #: A loopback client that signs in again on another port with the same registration.
    authorize_port_changes: bool = False
    #: A web page that calls the metadata, registration and token endpoints itself: it needs
    #: CORS there (the page's origin).
    browser_origin: str | None = None
    #: Hints shown with a failed step, by step name: what to change on the deployment.
    fixes: dict[str, str] = field(default_factory=dict)

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.registration["redirect_uris"])

    def registration_body(self, port: int) -> dict[str, Any]:
        """The DCR body with ``{port}`` filled in."""
        uris = [uri.replace("{port}", str(port)) for uri in self.redirect_uris]
        return {**self.registration, "redirect_uris": uris}

    def authorize_redirect(self, port: int, later_port: int) -> str:
        """The redirect URI it uses at ``/authorize``: its first one, on ``later_port`` when the
        client's listener moves between registration and sign-in."""
        uri = self.redirect_uris[0]
        return uri.replace("{port}", str(later_port if self.authorize_port_changes else port))


_GRANTS = ["authorization_code", "refresh_token"]
_ORIGIN_FIX = (
    "route /.well-known/oauth-protected-resource, /.well-known/oauth-authorization-server, "
    "/authorize, /token and /register on the MCP server's origin to the façade "
    "(the template's load-balancer rules do; check yours)"
)
_REDIRECT_FIX = (
    "allow this client's redirect hosts: AUTHPROXY_ALLOWED_REDIRECT_HOSTS "
    "(template parameter AllowedRedirectHosts), or leave it empty to allow any https host"
)

PROFILES: dict[str, ClientProfile] = {
    p.name: p
    for p in (
        ClientProfile(
            name="claude-ai",
            title="Claude.ai, Claude Desktop and mobile custom connectors",
            protocol_version="2025-06-18",
            discovery="origin",
            registration={
                "client_name": "claudeai",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "scope": "claudeai",
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            },
            cimd_client_id="https://claude.ai/oauth/mcp-oauth-client-metadata",
            scope_extra="offline_access",
            prompt="consent",
            fixes={"discovery": _ORIGIN_FIX, "registration": _REDIRECT_FIX},
        ),
        ClientProfile(
            name="claude-code",
            title="Claude Code",
            protocol_version="2025-06-18",
            discovery="origin",
            registration={
                "client_name": "Claude Code",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["http://localhost:{port}/callback"],
            },
            cimd_client_id="https://claude.ai/oauth/claude-code-client-metadata",
            scope_extra="offline_access",
            authorize_port_changes=True,
            fixes={"discovery": _ORIGIN_FIX},
        ),
        ClientProfile(
            name="chatgpt",
            title="ChatGPT connectors",
            protocol_version="2025-06-18",
            discovery="spec",
            registration={
                "client_name": "ChatGPT",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
            },
            # It omits scope when it reconnects: the resource's default scopes must apply.
            scope_source="none",
            fixes={
                "registration": _REDIRECT_FIX,
                "authorization request": (
                    "ChatGPT sends no scope when it reconnects: the authorization server must "
                    "grant the resource's default scopes (AUTHPROXY_RESOURCES default_scopes)"
                ),
            },
        ),
        ClientProfile(
            name="cursor",
            title="Cursor",
            protocol_version="2025-06-18",
            discovery="spec",
            registration={
                "client_name": "Cursor",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                # All three in one registration: refusing any one fails Cursor's sign-in.
                "redirect_uris": [
                    "cursor://anysphere.cursor-mcp/oauth/callback",
                    "https://www.cursor.com/agents/mcp/oauth/callback",
                    "http://localhost:8787/callback",
                ],
            },
            fixes={"registration": _REDIRECT_FIX},
        ),
        ClientProfile(
            name="vscode",
            title="Visual Studio Code",
            protocol_version="2025-06-18",
            discovery="spec",
            registration={
                "client_name": "Visual Studio Code",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "redirect_uris": [
                    "http://127.0.0.1:33418/",
                    "http://127.0.0.1/",
                    "https://vscode.dev/redirect",
                    "https://insiders.vscode.dev/redirect",
                ],
            },
            cimd_client_id="https://vscode.dev/oauth/client-metadata.json",
            # Port 33418 is registered; when it is busy VS Code listens on a random one.
            authorize_port_changes=True,
            fixes={
                "authorization request": (
                    "loopback redirect URIs must match on any port (RFC 8252 §7.3): VS Code "
                    "falls back to a random port when 33418 is busy"
                ),
                "registration": _REDIRECT_FIX,
            },
        ),
        ClientProfile(
            name="mcp-remote",
            title="mcp-remote (Claude Desktop's local bridge)",
            protocol_version="2025-06-18",
            discovery="spec",
            registration={
                "client_name": "MCP CLI Proxy",
                "client_uri": "https://github.com/modelcontextprotocol/mcp-cli",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
                "application_type": "native",
                "redirect_uris": ["http://localhost:{port}/oauth/callback"],
            },
            fixes={
                "registration": (
                    "mcp-remote registers with client_secret_post: the authorization server must "
                    "accept confidential registrations"
                )
            },
        ),
        ClientProfile(
            name="inspector",
            title="MCP Inspector",
            protocol_version="2025-06-18",
            discovery="spec",
            registration={
                "client_name": "MCP Inspector",
                "grant_types": _GRANTS,
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["http://localhost:6274/oauth/callback"],
            },
            browser_origin="http://localhost:6274",
            fixes={
                "CORS": (
                    "the Inspector's page calls discovery, /register and /token from its own "
                    "origin: they must answer CORS (the façade does; check that the front door "
                    "passes OPTIONS and the Access-Control-* headers)"
                )
            },
        ),
    )
}

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount, Route

import mcpserver.auth
from resourcekit.jwks import KeySetUnavailable, RemoteJWKS
from resourcekit.metadata import (
    metadata_endpoint,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
)
from resourcekit.middleware import BearerAuthMiddleware
from resourcekit.verifier import CognitoTokenVerifier, InvalidToken, is_bound_to_resource

RESOURCE = "https://mcp.example.com/mcp"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


@pytest.fixture
def verifier(tokens: Any, jwks_server: Any) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=tokens.resource,
        scopes=["read", "write"],
        keys=RemoteJWKS(jwks_server.url),
    )


async def refusal(verifier: CognitoTokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(token)
    assert await verifier.verify_token(token) is None
    return str(refused.value)


async def test_a_cognito_access_token_is_accepted(
    verifier: CognitoTokenVerifier, tokens: Any
) -> None:
    claims = tokens.claims(("read", "write"))
    token = jwt.encode({"alg": "RS256", "kid": tokens.key.kid}, claims, tokens.key)
    access = await verifier.verify_token(token)
    assert access is not None
    assert access.subject == claims["sub"]
    assert access.client_id == claims["client_id"]
    assert access.scopes == [f"{tokens.resource}/read", f"{tokens.resource}/write"]
    assert access.expires_at == claims["exp"]
    assert access.resource == tokens.resource
    assert access.claims is not None
    assert access.claims["username"] == "demo"
    assert access.claims["iss"] == tokens.issuer


async def test_small_clock_skew_is_tolerated(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    now = int(time.time())
    assert await verifier.verify_token(tokens.access(exp=now - 10)) is not None
    assert await verifier.verify_token(tokens.access(iat=now + 10, nbf=now + 10)) is not None


async def test_expired(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    reason = await refusal(verifier, tokens.access(exp=int(time.time()) - 120))
    assert "exp" in reason


async def test_not_yet_valid(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    now = int(time.time())
    assert "not yet valid" in await refusal(verifier, tokens.access(nbf=now + 600))
    assert "issued in the future" in await refusal(verifier, tokens.access(iat=now + 600))


async def test_wrong_issuer(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    other = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"
    assert "iss" in await refusal(verifier, tokens.access(iss=other))


async def test_alg_none(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    token = unsigned({"alg": "none", "kid": tokens.key.kid}, tokens.claims()) + "."
    assert "'none'" in await refusal(verifier, token)


async def test_hs256_signed_with_the_public_key(
    verifier: CognitoTokenVerifier, tokens: Any
) -> None:
    public_pem = tokens.key.as_pem(private=False)
    signing_input = unsigned({"alg": "HS256", "kid": tokens.key.kid}, tokens.claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert "'HS256'" in await refusal(verifier, f"{signing_input}.{b64(mac)}")


async def test_unknown_kid(
    verifier: CognitoTokenVerifier, tokens: Any, new_key: Callable[[str], RSAKey]
) -> None:
    rogue = new_key("rogue")
    token = jwt.encode({"alg": "RS256", "kid": "rogue"}, tokens.claims(), rogue)
    assert "unknown signing key" in await refusal(verifier, token)


async def test_known_kid_but_another_key(
    verifier: CognitoTokenVerifier, tokens: Any, new_key: Callable[[str], RSAKey]
) -> None:
    token = jwt.encode({"alg": "RS256", "kid": tokens.key.kid}, tokens.claims(), new_key("x"))
    assert "signature" in await refusal(verifier, token)


async def test_missing_kid(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    token = jwt.encode({"alg": "RS256"}, tokens.claims(), tokens.key)
    assert "kid" in await refusal(verifier, token)


async def test_an_id_token(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    id_token = tokens.access(
        token_use="id", aud="4p1fakeclientid0000000000", scope=None, client_id=None
    )
    assert "claims invalid" in await refusal(verifier, id_token)
    assert "token_use" in await refusal(verifier, tokens.access(token_use="id"))


async def test_claims_of_the_wrong_type(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    for claim, value in [
        ("token_use", ["access"]),
        ("client_id", 42),
        ("scope", [f"{tokens.resource}/read"]),
        ("sub", 7),
        ("exp", "soon"),
    ]:
        assert "claims invalid" in await refusal(verifier, tokens.access(**{claim: value}))


async def test_a_token_for_another_resource(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    other = "https://other.example.com/mcp/read https://other.example.com/mcp/write"
    assert "not issued for" in await refusal(verifier, tokens.access(scope=other))
    sibling = f"{tokens.resource}2/read"  # a prefix match is not a binding
    assert "not issued for" in await refusal(verifier, tokens.access(scope=sibling))
    unknown_name = f"{tokens.resource}/admin"
    assert "not issued for" in await refusal(verifier, tokens.access(scope=unknown_name))
    audience = tokens.access(scope="openid", aud="https://other.example.com/mcp")
    assert "not issued for" in await refusal(verifier, audience)


async def test_an_audience_bound_token(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    """Cognito resource binding sets ``aud``; that alone binds the token to this resource."""
    access = await verifier.verify_token(tokens.access(scope="openid", aud=tokens.resource))
    assert access is not None
    assert access.scopes == ["openid"]


async def test_missing_claims(verifier: CognitoTokenVerifier, tokens: Any) -> None:
    for claim in ("sub", "client_id", "exp", "iat", "token_use"):
        assert claim in await refusal(verifier, tokens.access(**{claim: None}))


async def test_not_a_jwt(verifier: CognitoTokenVerifier) -> None:
    assert "not a compact JWS" in await refusal(verifier, "not-a-token")
    assert "not a compact JWS" in await refusal(verifier, "é.é.é")


async def test_client_allow_list(tokens: Any, jwks_server: Any) -> None:
    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=tokens.resource,
        scopes=["read", "write"],
        keys=RemoteJWKS(jwks_server.url),
        allowed_client_ids=["the-one-client"],
    )
    assert "client_id" in await refusal(verifier, tokens.access())
    assert await verifier.verify_token(tokens.access(client_id="the-one-client")) is not None


async def test_no_keys_at_all_is_not_a_refusal(tokens: Any, refused_url: str) -> None:
    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=tokens.resource,
        scopes=["read"],
        keys=RemoteJWKS(refused_url, timeout=2),
    )
    with pytest.raises(KeySetUnavailable):
        await verifier.verify_token(tokens.access())


async def test_the_middleware_answers_503_without_keys(tokens: Any, refused_url: str) -> None:
    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=tokens.resource,
        scopes=["read"],
        keys=RemoteJWKS(refused_url, timeout=2),
    )

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the protected app must not run")

    app = BearerAuthMiddleware(never, verifier, resource_metadata_url="https://x/y")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/mcp", headers={"authorization": f"Bearer {tokens.access()}"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json() == {"error": "temporarily_unavailable"}


def test_audience_binding_rule() -> None:
    assert is_bound_to_resource({"aud": RESOURCE}, RESOURCE, ["read"])
    assert is_bound_to_resource({"aud": ["x", RESOURCE]}, RESOURCE, ["read"])
    assert is_bound_to_resource({"scope": f"openid {RESOURCE}/read"}, RESOURCE, ["read"])
    assert not is_bound_to_resource({"scope": f"{RESOURCE}/read"}, RESOURCE, ["write"])
    assert not is_bound_to_resource({"aud": "client-id", "scope": "openid"}, RESOURCE, ["read"])
    assert not is_bound_to_resource({}, RESOURCE, ["read"])
    # An audience decides: a token for another resource fails even with this one's scope.
    other = {"aud": "https://other.example.com/mcp", "scope": f"{RESOURCE}/read"}
    assert not is_bound_to_resource(other, RESOURCE, ["read"])
    assert not is_bound_to_resource({"aud": 7, "scope": f"{RESOURCE}/read"}, RESOURCE, ["read"])


async def test_protecting_another_mcp_server(
    tokens: Any, jwks_server: Any, unused_origin: tuple[Any, str], serve_app: Any
) -> None:
    """The README's example: the verifier and middleware around a plain SDK server."""
    sock, origin = unused_origin
    resource = f"{origin}/mcp"

    notes = MCPServer("notes")

    @notes.tool()
    def add_note(text: str) -> str:
        return f"noted: {text}"

    @notes.tool()
    def count_notes() -> int:
        return 0

    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=resource,
        scopes=["read", "write"],
        keys=RemoteJWKS(jwks_server.url),
    )
    metadata = protected_resource_metadata(
        resource,
        authorization_servers=["https://auth.example.com"],
        scopes=[f"{resource}/read", f"{resource}/write"],
        name="Notes",
    )
    mcp_app = notes.streamable_http_app(stateless_http=True, json_response=True)
    app = Starlette(
        routes=[
            Route(metadata_path(resource), metadata_endpoint(metadata)),
            Mount(
                "/",
                app=BearerAuthMiddleware(
                    mcp_app,
                    verifier,
                    resource_metadata_url=metadata_url(resource),
                    required_scopes=[f"{resource}/read"],
                    tool_scopes={"add_note": [f"{resource}/write"]},
                ),
            ),
        ],
        lifespan=lambda app: notes.session_manager.run(),
    )

    def token(*scopes: str) -> str:
        return tokens.access(scopes, scope=" ".join(f"{resource}/{s}" for s in scopes))

    def bearer(*scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(*scopes)}"}

    call_add_note = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"text": "x"}},
    }
    with serve_app(app, sock):
        async with httpx.AsyncClient() as http:
            unauthenticated = await http.post(resource, json={})
            step_up = await http.post(resource, json=call_add_note, headers=bearer("read"))
            document = (await http.get(metadata_url(resource))).json()
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["www-authenticate"] == (
            f'Bearer resource_metadata="{metadata_url(resource)}", scope="{resource}/read"'
        )
        assert document["resource"] == resource
        assert step_up.status_code == 403
        assert f'scope="{resource}/read {resource}/write"' in step_up.headers["www-authenticate"]

        async with (
            httpx2.AsyncClient(headers=bearer("read", "write")) as http,
            Client(streamable_http_client(resource, http_client=http)) as client,
        ):
            counted = await client.call_tool("count_notes", {})
            added = await client.call_tool("add_note", {"text": "hello"})
        assert counted.structured_content == {"result": 0}
        assert added.structured_content == {"result": "noted: hello"}


async def test_the_verifier_in_the_sdks_own_wiring(
    tokens: Any, jwks_server: Any, unused_origin: tuple[Any, str], serve_app: Any
) -> None:
    """README: ``MCPServer(token_verifier=..., auth=AuthSettings(...))`` accepts the verifier."""
    sock, origin = unused_origin
    resource = f"{origin}/mcp"
    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer, resource=resource, scopes=["read"], keys=RemoteJWKS(jwks_server.url)
    )
    echo = MCPServer(
        "echo",
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url="https://auth.example.com",
            resource_server_url=resource,
            required_scopes=[f"{resource}/read"],
            validate_token_resource=True,
        ),
    )

    @echo.tool()
    def say(text: str) -> str:
        return text

    token = tokens.access(scope=f"{resource}/read")
    with serve_app(echo.streamable_http_app(stateless_http=True, json_response=True), sock):
        async with httpx.AsyncClient() as http:
            anonymous = await http.post(resource, json={})
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
            Client(streamable_http_client(resource, http_client=http)) as client,
        ):
            said = await client.call_tool("say", {"text": "hi"})
    assert anonymous.status_code == 401
    assert said.structured_content == {"result": "hi"}


def test_the_import_path_earlier_readmes_showed_still_works() -> None:
    assert mcpserver.auth.CognitoTokenVerifier is CognitoTokenVerifier
    assert mcpserver.auth.BearerAuthMiddleware is BearerAuthMiddleware

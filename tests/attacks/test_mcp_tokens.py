"""Forged and misused access tokens at the MCP server (RFC 8725 §2, §3.1–3.3, §3.10–3.11;
RFC 7515 §4.1.2–4.1.6, §4.1.11; RFC 9700 §4.10; MCP security best practices, "Token
Passthrough"): only an RS256 token signed by a key of the issuer's JWKS, named by its ``kid``,
with this server's issuer, audience and ``token_use=access``, gets through. Header fields that
would let the token pick its own key (``jwk``, ``jku``, ``x5u``) are never followed.

Tokens are minted with the stand-in's own signing key (moto's), so each forgery differs from a
genuine token in exactly the way the test names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support.attacks import (
    access_claims,
    b64url,
    cognito_key,
    cognito_token,
    rs256,
    signing_input,
)
from support.mcp_http import HEADERS, initialize_params
from support.oauth import obtain_code, token_request
from support.serving import bound_socket, serve
from support.stack import Stack

ATTACKER = RSAKey.generate_key(2048, parameters={"kid": "attacker", "use": "sig", "alg": "RS256"})


class KeyHost:
    """A key server the attacker runs (on loopback): counts every fetch a forged header causes."""

    def __init__(self) -> None:
        self.fetches = 0
        self.url = ""

    async def keys(self, request: Request) -> Response:
        self.fetches += 1
        return JSONResponse(
            {"keys": [{**ATTACKER.as_dict(private=False), "kid": cognito_key().kid}]}
        )


@pytest.fixture(scope="module")
def key_host() -> Iterator[KeyHost]:
    host = KeyHost()
    with serve(Starlette(routes=[Route("/jwks.json", host.keys)]), bound_socket()) as origin:
        host.url = f"{origin}/jwks.json"
        yield host


def call(stack: Stack, token: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": initialize_params("2025-06-18", "attack", "0"),
    }
    return httpx.post(
        stack.mcp_url,
        content=json.dumps(body),
        headers={**HEADERS, "Authorization": f"Bearer {token}"},
    )


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert "mcp-session-id" not in response.headers


def test_rfc8725_control_a_genuine_token_is_accepted(dev: Stack) -> None:
    """The forgeries below differ from this one token, which gets in."""
    response = call(dev, cognito_token(dev))
    assert response.status_code == 200, response.text


def test_rfc8725_3_1_alg_none_is_refused(dev: Stack) -> None:
    claims = access_claims(dev)
    for alg in ("none", "None", "NONE", "nOnE"):
        unsigned = signing_input({"alg": alg, "kid": cognito_key().kid}, claims)
        assert_refused(call(dev, unsigned + "."))
        assert_refused(call(dev, unsigned))
    # A genuine token with its signature stripped.
    assert_refused(call(dev, cognito_token(dev).rsplit(".", 1)[0] + "."))


@pytest.mark.parametrize("encoding", ["pem", "der", "jwk-json", "n-modulus"])
def test_rfc8725_2_1_hs256_keyed_with_the_rsa_public_key_is_refused(
    dev: Stack, encoding: str
) -> None:
    """Algorithm confusion: HMAC "signed" with the public key, which any verifier that picks the
    algorithm from the header would use as the HMAC secret."""
    public = cognito_key().public_key
    secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(cognito_key().as_dict(private=False)).encode(),
        "n-modulus": cognito_key().as_dict(private=False)["n"].encode(),
    }[encoding]
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        signed = signing_input({"alg": alg, "kid": cognito_key().kid}, access_claims(dev))
        mac = hmac.new(secret, signed.encode(), digest).digest()
        assert_refused(call(dev, f"{signed}.{b64url(mac)}"))


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES256"])
def test_rfc8725_2_1_other_algorithms_are_refused(dev: Stack, alg: str) -> None:
    """Even a genuine RSA signature is accepted only under the one algorithm pinned (RS256)."""
    token = cognito_token(dev)
    _, payload, signature = token.split(".")
    forged_header = b64url(json.dumps({"alg": alg, "kid": cognito_key().kid}).encode())
    assert_refused(call(dev, f"{forged_header}.{payload}.{signature}"))


def test_rfc7515_4_1_3_embedded_jwk_is_not_trusted(dev: Stack) -> None:
    """The attacker signs with their own key and ships its public half in the header."""
    public = ATTACKER.as_dict(private=False)
    for kid in (cognito_key().kid, "attacker", None):
        header = {"alg": "RS256", "jwk": public, **({"kid": kid} if kid else {})}
        assert_refused(call(dev, rs256(header, access_claims(dev), ATTACKER)))


@pytest.mark.parametrize("field", ["jku", "x5u"])
def test_rfc7515_4_1_2_key_urls_in_the_header_are_never_fetched(
    dev: Stack, key_host: KeyHost, field: str
) -> None:
    before = key_host.fetches
    for kid in (cognito_key().kid, "attacker-kid"):
        header = {"alg": "RS256", "kid": kid, field: key_host.url}
        assert_refused(call(dev, rs256(header, access_claims(dev), ATTACKER)))
    assert key_host.fetches == before, f"the MCP server fetched the {field} URL"


def test_rfc7515_4_1_6_x5c_chain_in_the_header_is_not_trusted(dev: Stack) -> None:
    header = {"alg": "RS256", "kid": cognito_key().kid, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]}
    assert_refused(call(dev, rs256(header, access_claims(dev), ATTACKER)))


@pytest.mark.parametrize(
    "crit",
    [["https://evil.example/must-understand"], ["exp"], [], "b64", ["b64"]],
    ids=["unknown-extension", "registered-name", "empty", "not-a-list", "b64"],
)
def test_rfc7515_4_1_11_crit_with_unknown_extensions_is_refused(dev: Stack, crit: Any) -> None:
    """Genuinely signed by the issuer's key, yet a header says the recipient must understand
    something it does not: RFC 7515 §4.1.11 requires rejecting it."""
    header: dict[str, Any] = {"alg": "RS256", "kid": cognito_key().kid, "crit": crit}
    if crit == ["b64"]:
        header["b64"] = False
    elif isinstance(crit, list) and crit and crit[0].startswith("https"):
        header[crit[0]] = True
    assert_refused(call(dev, rs256(header, access_claims(dev), cognito_key())))


def test_rfc7797_6_unencoded_payload_without_crit_is_refused(dev: Stack) -> None:
    """``b64: false`` changes what the signature covers, so RFC 7797 §6 requires it to be named in
    ``crit``; without it the token is malformed, even genuinely signed (with ``crit`` it is refused
    above, as an extension this server does not understand)."""
    header = {"alg": "RS256", "kid": cognito_key().kid, "b64": False}
    signed = f"{b64url(json.dumps(header).encode())}.{json.dumps(access_claims(dev))}"
    signature = rs256(header, access_claims(dev), cognito_key()).rsplit(".", 1)[1]
    assert_refused(call(dev, rs256(header, access_claims(dev), cognito_key())))
    assert_refused(call(dev, f"{signed}.{signature}"))


@pytest.mark.parametrize(
    "payload",
    ["[]", '"claims"', "1", "null", "not json", "", '{"sub": "a"} {}'],
    ids=["array", "string", "number", "null", "not-json", "empty", "trailing"],
)
def test_rfc7519_7_2_payload_that_is_not_a_claims_object_is_refused(
    dev: Stack, payload: str
) -> None:
    """RFC 7519 §7.2 step 10: the payload of a JWT is a JSON object; genuinely signed, anything
    else is refused as a token (401), never a server error."""
    header = {"alg": "RS256", "kid": cognito_key().kid}
    assert_refused(call(dev, rs256(header, payload, cognito_key())))


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_rfc8259_6_time_claims_json_has_no_number_for_are_refused(
    dev: Stack, claim: str, constant: str
) -> None:
    """RFC 7519 §2 NumericDate is a JSON number, and RFC 8259 §6 has none for infinities or NaN;
    Python's JSON reader accepts them. A genuinely signed token holding one is refused (401), not
    answered with a server error (nor accepted: an infinite ``exp`` never expires)."""
    placeholder = "123456789.5"
    payload = json.dumps(access_claims(dev, **{claim: float(placeholder)}))
    payload = payload.replace(placeholder, constant)
    header = {"alg": "RS256", "kid": cognito_key().kid}
    assert_refused(call(dev, rs256(header, payload, cognito_key())))


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "../../.well-known/jwks.json",
        "/etc/passwd",
        "dummy/../attacker",
        "' OR '1'='1",
        "",
        "x" * 5000,
        "dummy\x00",
        "unknown-key",
    ],
    ids=[
        "traversal",
        "traversal-jwks",
        "absolute",
        "traversal-kid",
        "sql",
        "empty",
        "huge",
        "nul",
        "unknown",
    ],
)
def test_rfc8725_3_10_kid_tricks_are_refused(dev: Stack, kid: str) -> None:
    assert_refused(call(dev, rs256({"alg": "RS256", "kid": kid}, access_claims(dev), ATTACKER)))


def test_rfc8725_3_10_kid_of_one_key_on_a_signature_by_another_is_refused(dev: Stack) -> None:
    header = {"alg": "RS256", "kid": cognito_key().kid}
    assert_refused(call(dev, rs256(header, access_claims(dev), ATTACKER)))


@pytest.mark.parametrize("kid", [1, None, ["dummy"], {"kid": "dummy"}])
def test_rfc8725_3_10_kid_of_another_type_is_refused(dev: Stack, kid: Any) -> None:
    header = {"alg": "RS256", "kid": kid}
    assert_refused(call(dev, rs256(header, access_claims(dev), cognito_key())))


def test_rfc8725_2_8_nested_tokens_are_refused(dev: Stack) -> None:
    """A genuine token wrapped as the payload of another JWS (``cty: JWT``), and a JWE, are not
    access tokens: the server does not unwrap anything."""
    inner = cognito_token(dev)
    header = {"alg": "RS256", "kid": cognito_key().kid, "cty": "JWT"}
    assert_refused(call(dev, rs256(header, inner, cognito_key())))
    assert_refused(call(dev, rs256(header, inner, ATTACKER)))
    jwe_header = b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "cty": "JWT"}).encode())
    assert_refused(
        call(
            dev,
            f"{jwe_header}.{b64url(b'k')}.{b64url(b'iv')}.{b64url(inner.encode())}.{b64url(b't')}",
        )
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 3600},
        {"nbf": int(time.time()) + 3600},
        {"iat": int(time.time()) + 3600},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
        {"iss": None},
        {"token_use": "id"},
        {"token_use": None},
        {"token_use": ["access"]},
        {"aud": "https://other.example/mcp"},
        {"aud": ["https://other.example/mcp"]},
        {"scope": "https://other.example/mcp/read"},
        {"scope": "read write"},
        {"sub": None},
        {"client_id": None},
        {"client_id": 7},
        {"exp": None},
        {"exp": "never"},
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "issued-in-future",
        "wrong-iss",
        "no-iss",
        "id-token",
        "no-token-use",
        "token-use-list",
        "other-aud",
        "other-aud-list",
        "other-resource-scope",
        "bare-scopes",
        "no-sub",
        "no-client-id",
        "client-id-number",
        "no-exp",
        "exp-string",
    ],
)
def test_rfc9700_4_10_tokens_not_issued_for_this_server_are_refused(
    dev: Stack, changes: dict
) -> None:
    """Genuinely signed, but expired, from another issuer, an ID token or for another audience
    (MCP "Token Passthrough": a token for another resource is never accepted here)."""
    assert_refused(call(dev, cognito_token(dev, **changes)))


def test_rfc9700_4_10_a_real_id_token_is_not_an_access_token(dev: Stack) -> None:
    """A token the stand-in really issued, of the wrong kind: the ID token of a sign-in."""
    client = dev.register(
        client_name="id token",
        redirect_uris=["http://localhost:8405/cb"],
        token_endpoint_auth_method="none",
    )
    code, verifier, _ = obtain_code(dev, client, scope="openid")
    tokens = token_request(
        dev.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:8405/cb",
        },
    ).json()
    assert_refused(call(dev, tokens["id_token"]))
    assert call(dev, tokens["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["a", "a.b", "a.b.c", "....", "ey.ey.ey", "\u00e9.\u00e9.\u00e9", "a" * 20000],
    ids=["one-part", "two-parts", "three-junk", "dots", "ey", "non-ascii", "huge"],
)
def test_rfc6750_malformed_bearer_tokens_are_refused(dev: Stack, token: str) -> None:
    response = httpx.post(
        dev.mcp_url,
        content=b"{}",
        headers=[
            *((k.encode(), v.encode()) for k, v in HEADERS.items()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    )
    assert response.status_code == 401, response.text

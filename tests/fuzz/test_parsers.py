"""Property-based fuzzing of every parser that reads what a client or a token sends: whatever the
input, each one answers or raises its own documented error, never anything else (which would be
a 500 over HTTP).

Bounded for CI: each property runs a fixed number of examples, and no example database is kept.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import string
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey
from starlette.datastructures import Headers
from starlette.requests import Request

from authproxy import bodies
from authproxy.cimd import MetadataDocumentError, check_url, is_metadata_url, parse_document
from authproxy.client_metadata import validate_client_metadata
from authproxy.errors import OAuthError
from authproxy.redirects import (
    LOOPBACK_HOSTS,
    check_redirect_uri,
    is_loopback,
    match_redirect_uri,
    redirect_destination,
)
from authproxy.sealing import EnvelopeError, Purpose, Sealer, SecretBox
from authproxy.settings import Settings
from authproxy.token import presented_credentials
from mcpserver.auth import CognitoTokenVerifier, InvalidToken
from mcpserver.jsonrpc import envelope_problem
from resourcekit.jsonrpc import called_tools, requests_in
from resourcekit.jwks import StaticJWKS
from servicekit.bearer import bearer_token

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ISSUER = "https://mcp.example.com"
SETTINGS = Settings.from_env(
    {
        "ISSUER": ISSUER,
        "USER_POOL_ID": "eu-west-1_AbCdEf123",
        "COGNITO_DOMAIN": "https://auth.example.com",
        "AUTHPROXY_SECRET_KEY": "s" * 40,
        "AUTHPROXY_RESOURCES": json.dumps([{"resource": f"{ISSUER}/mcp"}]),
    }
)

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def attempt(call: Callable[[], T], error: type[E]) -> tuple[T | None, E | None]:
    """The result of ``call``, or the documented ``error`` it raised; anything else propagates
    and fails the property."""
    try:
        return call(), None
    except error as exc:
        return None, exc


# Text that looks like URLs often enough to reach deep into the checks.
URL_CHARS = string.ascii_letters + string.digits + ":/?#[]@!$&'()*+,;=-._~%\\ \t\n\x00<>\"{}|^`"
SCHEMES = st.sampled_from(
    ["https", "http", "HTTPS", "javascript", "data", "cursor", "com.example.app", "", "ws", "h"]
)
HOSTS = st.one_of(
    st.sampled_from(
        [*LOOPBACK_HOSTS, "[::1]", "claude.ai", "claude.ai.", "xn--e1afmkfd", "[::ffff:7f00:1]"]
    ),
    st.text(URL_CHARS, max_size=20),
    st.text(max_size=8),
)
URLISH = st.one_of(
    st.builds(
        lambda scheme, userinfo, host, port, path, query, fragment: (
            f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}"
        ),
        SCHEMES,
        st.sampled_from(["", "user@", "a:b@", "claude.ai@", "x\\@"]),
        HOSTS,
        st.sampled_from(["", ":443", ":0", ":99999", ":-1", ":x", ":8080"]),
        st.text(URL_CHARS, max_size=20).map(lambda p: "/" + p),
        st.sampled_from(["", "?", "?a=b", "?x=%ZZ"]),
        st.sampled_from(["", "#", "#f"]),
    ),
    st.text(URL_CHARS, max_size=60),
    st.text(max_size=30),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(URLISH, st.lists(st.sampled_from(["claude.ai", "localhost", ""]), max_size=2))
def test_redirect_uri_check_raises_only_oauth_errors(uri: str, allowed: list[str]) -> None:
    accepted, refused = attempt(lambda: check_redirect_uri(uri, allowed), OAuthError)
    if refused is not None:
        assert refused.error == "invalid_redirect_uri"
        return
    # What passes is safe to redirect to, and every helper that reads it copes with it.
    assert accepted == uri
    assert "#" not in uri
    assert "\\" not in uri
    assert not any(ch.isspace() or ord(ch) < 0x20 for ch in uri)
    scheme = uri.split(":", 1)[0].lower()
    assert scheme not in ("javascript", "data", "vbscript", "file")
    if scheme == "http":
        assert is_loopback(uri)
    redirect_destination(uri)
    assert match_redirect_uri([uri], uri)


@FUZZ
@given(URLISH, URLISH)
def test_redirect_matching_never_raises_and_is_exact_off_loopback(
    registered: str, requested: str
) -> None:
    try:
        check_redirect_uri(registered)
        check_redirect_uri(requested)
    except OAuthError:
        return
    if match_redirect_uri([registered], requested) and not is_loopback(requested):
        assert registered == requested


@FUZZ
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"redirect_uris": st.lists(URLISH, min_size=1, max_size=3)},
            optional={
                "client_name": JSON,
                "token_endpoint_auth_method": st.sampled_from(
                    ["none", "client_secret_basic", "client_secret_post", "private_key_jwt", 5]
                ),
                "grant_types": st.one_of(
                    JSON, st.lists(st.sampled_from(["authorization_code", "refresh_token", "x"]))
                ),
                "response_types": st.one_of(JSON, st.just(["code"]), st.just(["token"])),
                "client_uri": st.one_of(URLISH, JSON),
                "logo_uri": st.one_of(URLISH, JSON),
                "scope": JSON,
                "contacts": JSON,
                "application_type": st.sampled_from(["native", "web", "other", 1]),
                "jwks": JSON,
            },
        ),
    )
)
def test_client_metadata_raises_only_oauth_errors(body: Any) -> None:
    metadata, refused = attempt(lambda: validate_client_metadata(body, SETTINGS), OAuthError)
    if refused is not None:
        assert refused.error in ("invalid_client_metadata", "invalid_redirect_uri")
        assert refused.status == 400
        return
    assert metadata is not None
    json.dumps(metadata)  # what is stored and echoed is JSON
    assert "authorization_code" in metadata["grant_types"]


@FUZZ
@given(st.text(max_size=40), JSON, st.binary(max_size=200))
def test_client_metadata_documents_raise_only_their_error(
    url: str, document: Any, raw: bytes
) -> None:
    is_metadata_url(url, allow_loopback=True)
    for candidate in (
        json.dumps(document).encode(),
        raw,
        json.dumps({**(document if isinstance(document, dict) else {}), "client_id": url}).encode(),
    ):
        with contextlib.suppress(MetadataDocumentError):
            parse_document(url, candidate, SETTINGS)
    with contextlib.suppress(MetadataDocumentError):
        check_url(url, allow_loopback=False)


SEALER = Sealer("k" * 40)
GENUINE = SEALER.seal(Purpose.CODE, {"code": "c", "client_id": "x"})


@FUZZ
@given(
    st.sampled_from(list(Purpose)),
    st.one_of(
        st.text(max_size=120),
        st.text(string.ascii_letters + string.digits + "-_.", max_size=120),
        st.builds(
            lambda i, ch: GENUINE[:i] + ch + GENUINE[i + 1 :],
            st.integers(0, len(GENUINE) - 1),
            st.sampled_from(string.ascii_letters + string.digits + "-_."),
        ),
        st.builds(
            lambda payload: SEALER.seal(Purpose.STATE, payload).replace(".", "..", 1),
            JSON,
        ),
    ),
)
def test_sealed_values_open_or_raise_only_envelope_errors(purpose: Purpose, envelope: str) -> None:
    opened, refused = attempt(lambda: SEALER.open(purpose, envelope), EnvelopeError)
    if refused is not None:
        return
    # Nothing opens under another purpose, and a change that opens changed nothing sealed (a
    # base64 character's unused low bits can differ).
    assert purpose is Purpose.CODE
    assert opened == SEALER.open(Purpose.CODE, GENUINE)


@FUZZ
@given(st.text(max_size=80))
def test_sealed_secrets_open_to_none_when_damaged(sealed: str) -> None:
    assert SecretBox("k" * 40).open(sealed) is None


@FUZZ
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_form_and_json_bodies_raise_only_bad_body(raw: bytes) -> None:
    for parse in (bodies.form_fields, bodies.json_value):
        with contextlib.suppress(bodies.BadBody):
            parse(raw)


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/token", "headers": headers})


HEADER_VALUE = st.one_of(
    st.text(st.characters(max_codepoint=255, exclude_categories=("Cc",)), max_size=60),
    st.builds(
        lambda scheme, payload: f"{scheme} {payload}",
        st.sampled_from(["Basic", "basic", "Bearer", "bearer", "BASIC", "Digest", ""]),
        st.one_of(
            st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
            st.text(string.printable, max_size=40),
        ),
    ),
)


@FUZZ
@given(
    HEADER_VALUE,
    st.dictionaries(st.sampled_from(["client_id", "client_secret", "x"]), st.text(max_size=10)),
)
# Found by this property: a non-ASCII byte in Basic credentials raised ValueError (a 500).
@example("Basic \u00e9", {})
@example("Basic " + base64.b64encode(b":secret-without-id").decode(), {})
def test_client_authentication_headers_raise_only_oauth_errors(header: str, params: dict) -> None:
    request = _request([(b"authorization", header.encode("latin-1"))])
    credentials, refused = attempt(lambda: presented_credentials(request, params), OAuthError)
    if refused is not None:
        assert refused.error in ("invalid_client", "invalid_request")
        return
    assert credentials is not None
    assert isinstance(credentials[0], str)  # empty from "Basic :x"; authentication refuses it


@FUZZ
@given(HEADER_VALUE)
def test_bearer_headers_parse_to_a_token_or_nothing(header: str) -> None:
    value = Headers(raw=[(b"authorization", header.encode("latin-1"))]).get("authorization")
    token = bearer_token(value)
    assert token is None or token == token.strip() != ""


KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
VERIFIER = CognitoTokenVerifier(
    issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    resource=f"{ISSUER}/mcp",
    scopes=["read"],
    keys=StaticJWKS({"k1": KEY}),
)
B64 = st.one_of(
    JSON.map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()),
    st.text(string.ascii_letters + string.digits + "-_=", max_size=30),
    st.builds(
        lambda header: base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode(),
        st.fixed_dictionaries(
            {"alg": st.sampled_from(["RS256", "none", "HS256", "RS512"])},
            optional={"kid": st.sampled_from(["k1", "", "../k1", 1]), "crit": JSON, "b64": JSON},
        ),
    ),
)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.lists(B64, min_size=1, max_size=6).map(".".join)))
def test_bearer_tokens_verify_or_raise_only_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        asyncio.run(VERIFIER.verify(token))


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"jsonrpc": st.sampled_from(["2.0", "1.0", 2]), "method": JSON},
            optional={"id": JSON, "params": JSON, "result": JSON, "error": JSON},
        ).map(lambda v: json.dumps(v).encode()),
        st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(1, 5000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    )
)
def test_json_rpc_envelopes_never_raise(body: bytes) -> None:
    problem = envelope_problem(body)
    assert problem is None or isinstance(problem, str)
    messages = requests_in(body)
    assert all(isinstance(m["method"], str) for m in messages)
    assert all(isinstance(name, str) for name in called_tools(messages))

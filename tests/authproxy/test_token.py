"""POST /token and POST /revoke: every refusal a client can meet, with the right code and
status, and Cognito's failures turned into 503 with Retry-After rather than errors the client
would act on."""

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.concurrency import run_in_threadpool

import authproxy.token
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8124/callback"


def register(stack: Stack, method: str = "client_secret_post", **extra: object) -> dict:
    return stack.register(
        client_name=f"Token Tests {method}",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method=method,
        **extra,
    )


def exchange(stack: Stack, client: dict, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **extra,
    }
    return token_request(stack.issuer, client, {k: v for k, v in data.items() if v is not None})


def assert_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture(scope="module")
def confidential(dev: Stack) -> dict:
    return register(dev)


def test_code_exchange_answers_no_store_tokens(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    response = exchange(dev, confidential, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "expires_in", "scope"} <= set(body)


def test_replayed_code_is_invalid_grant(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    assert exchange(dev, confidential, code, verifier).status_code == 200
    assert_error(exchange(dev, confidential, code, verifier), "invalid_grant")


def test_tampered_code_is_invalid_grant(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    tampered = code[:-3] + ("aaa" if not code.endswith("aaa") else "bbb")
    assert_error(exchange(dev, confidential, tampered, verifier), "invalid_grant")
    assert_error(exchange(dev, confidential, "not-a-code", verifier), "invalid_grant")


def test_wrong_verifier_is_invalid_grant(dev: Stack, confidential: dict) -> None:
    code, _, _ = obtain_code(dev, confidential)
    wrong = "w" * 64
    assert_error(exchange(dev, confidential, code, wrong), "invalid_grant")


def test_missing_verifier_is_invalid_request(dev: Stack, confidential: dict) -> None:
    code, _, _ = obtain_code(dev, confidential)
    assert_error(exchange(dev, confidential, code, None), "invalid_request")  # type: ignore[arg-type]


def test_redirect_uri_must_match_the_authorization_request(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    assert_error(
        exchange(dev, confidential, code, verifier, redirect_uri="http://localhost:9/callback"),
        "invalid_grant",
    )
    assert_error(exchange(dev, confidential, code, verifier, redirect_uri=None), "invalid_grant")


def test_resource_must_match_the_authorization_request(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    assert_error(
        exchange(dev, confidential, code, verifier, resource="https://other.example/mcp"),
        "invalid_target",
    )


def test_code_of_another_client_is_invalid_grant(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    thief = register(dev)
    assert_error(exchange(dev, thief, code, verifier), "invalid_grant")


def test_confidential_client_without_its_secret_is_invalid_client(
    dev: Stack, confidential: dict
) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    public_style = {**confidential, "token_endpoint_auth_method": "none"}
    assert_error(exchange(dev, public_style, code, verifier), "invalid_client", 401)
    wrong = {**confidential, "client_secret": "not-the-secret"}
    assert_error(exchange(dev, wrong, code, verifier), "invalid_client", 401)


def test_unknown_client_is_invalid_client(dev: Stack) -> None:
    response = token_request(
        dev.issuer, {"client_id": "nobody"}, {"grant_type": "authorization_code", "code": "x"}
    )
    assert_error(response, "invalid_client", 401)


def test_basic_and_post_together_is_invalid_request(dev: Stack, confidential: dict) -> None:
    response = httpx.post(
        f"{dev.issuer}/token",
        data={"grant_type": "refresh_token", "client_secret": confidential["client_secret"]},
        auth=(confidential["client_id"], confidential["client_secret"]),
    )
    assert_error(response, "invalid_request")


def test_malformed_basic_credentials_are_invalid_client(dev: Stack) -> None:
    response = httpx.post(
        f"{dev.issuer}/token",
        data={"grant_type": "authorization_code"},
        headers={"Authorization": "Basic !!!notbase64"},
    )
    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "forged"}, "invalid_grant"),
    ],
)
def test_malformed_token_requests(dev: Stack, confidential: dict, data: dict, error: str) -> None:
    assert_error(token_request(dev.issuer, confidential, data), error)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 5000, "application/json"),
        (b'{"grant_type": 5}', "application/json"),
        (b"grant_type=a&grant_type=b", "application/x-www-form-urlencoded"),
        (b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * (65 * 1024), "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_invalid_request(dev: Stack, body: bytes, content_type: str) -> None:
    response = httpx.post(
        f"{dev.issuer}/token", content=body, headers={"content-type": content_type}
    )
    assert_error(response, "invalid_request")


def test_no_refresh_token_for_a_client_without_the_grant(dev: Stack) -> None:
    code_only = register(dev, grant_types=["authorization_code"])
    code, verifier, _ = obtain_code(dev, code_only)
    tokens = exchange(dev, code_only, code, verifier)
    assert tokens.status_code == 200
    assert "refresh_token" not in tokens.json()


def test_grant_the_client_did_not_register_is_unauthorized_client(dev: Stack) -> None:
    code_only = register(dev, grant_types=["authorization_code"])
    response = token_request(
        dev.issuer, code_only, {"grant_type": "refresh_token", "refresh_token": "x"}
    )
    assert_error(response, "unauthorized_client")


def test_json_bodies_are_accepted(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    response = httpx.post(
        f"{dev.issuer}/token",
        json={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": confidential["client_id"],
            "client_secret": confidential["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    bad = httpx.post(f"{dev.issuer}/token", json=["not", "an", "object"])
    assert_error(bad, "invalid_request")


def test_refresh_token_is_bound_to_its_client(dev: Stack, confidential: dict) -> None:
    code, verifier, _ = obtain_code(dev, confidential)
    refresh = exchange(dev, confidential, code, verifier).json()["refresh_token"]
    other = register(dev)
    response = token_request(
        dev.issuer, other, {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert_error(response, "invalid_grant")


def test_revoked_registration_cannot_refresh(dev: Stack) -> None:
    client = register(dev)
    code, verifier, _ = obtain_code(dev, client)
    refresh = exchange(dev, client, code, verifier).json()["refresh_token"]
    ok = token_request(
        dev.issuer, client, {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert ok.status_code == 200
    httpx.delete(
        client["registration_client_uri"],
        headers={"Authorization": f"Bearer {client['registration_access_token']}"},
    )
    refused = token_request(
        dev.issuer, client, {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert_error(refused, "invalid_client", 401)


def test_revoke_answers_200_for_unknown_tokens_and_checks_the_owner(
    dev: Stack, confidential: dict
) -> None:
    revoke = f"{dev.issuer}/revoke"
    creds = {"client_id": confidential["client_id"], "client_secret": confidential["client_secret"]}
    assert httpx.post(revoke, data={**creds, "token": "whatever"}).status_code == 200
    assert_error(httpx.post(revoke, data=creds), "invalid_request")
    assert_error(
        httpx.post(revoke, data={"token": "x", "client_id": "nobody"}), "invalid_client", 401
    )
    code, verifier, _ = obtain_code(dev, confidential)
    refresh = exchange(dev, confidential, code, verifier).json()["refresh_token"]
    other = register(dev)
    stolen = httpx.post(
        revoke,
        data={
            "token": refresh,
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert_error(stolen, "invalid_grant")


# Cognito's failures, injected into the stand-in.


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with local_stack(
        tmp_path_factory.mktemp("faulty"), env={"AUTHPROXY_UPSTREAM_TIMEOUT": "3"}
    ) as stack:
        yield stack


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        ({"kind": "delay", "seconds": 10}, "2"),
        ({"kind": "throttle"}, "5"),
        ({"kind": "error"}, "2"),
    ],
)
def test_cognito_timeouts_and_throttling_are_503_with_retry_after(
    faulty: Stack, fault: dict, retry_after: str
) -> None:
    client = register(faulty)
    code, verifier, _ = obtain_code(faulty, client)
    assert faulty.standin is not None
    faulty.standin.inject_fault(path="/oauth2/token", count=1, **fault)
    response = exchange(faulty, client, code, verifier)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == retry_after
    faulty.standin.clear_faults()


def test_cognito_unavailable_at_revoke_is_503(faulty: Stack) -> None:
    client = register(faulty)
    code, verifier, _ = obtain_code(faulty, client)
    refresh = exchange(faulty, client, code, verifier).json()["refresh_token"]
    assert faulty.standin is not None
    faulty.standin.inject_fault(path="/oauth2/revoke", kind="throttle", count=1)
    response = httpx.post(
        f"{faulty.issuer}/revoke",
        data={
            "token": refresh,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 503
    assert "retry-after" in response.headers


@pytest.mark.parametrize("registered", ["client_secret_post", "client_secret_basic"])
@pytest.mark.parametrize("used", ["client_secret_post", "client_secret_basic"])
def test_oauth21_2_4_1_a_client_issued_a_secret_may_use_basic_or_post(
    dev: Stack, registered: str, used: str
) -> None:
    """OAuth 2.1 §2.4.1: the server supports HTTP Basic for every client issued a secret, and
    the body parameters too, whichever of the two the client registered."""
    client = register(dev, registered)
    code, verifier, _ = obtain_code(dev, client)
    response = exchange(dev, {**client, "token_endpoint_auth_method": used}, code, verifier)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def basic_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"AUTHPROXY_CLIENT_AUTH_METHODS": "client_secret_basic"}
    with local_stack(tmp_path_factory.mktemp("basic"), env=env) as stack:
        yield stack


def test_rfc8414_metadata_lists_exactly_the_client_authentication_offered(
    basic_only: Stack,
) -> None:
    """Metadata stays truthful: what it lists is what /register and /token accept."""
    metadata = httpx.get(f"{basic_only.issuer}/.well-known/oauth-authorization-server").json()
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert metadata["client_id_metadata_document_supported"] is False
    for method in ("none", "client_secret_post"):
        refused = httpx.post(
            f"{basic_only.issuer}/register",
            json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": method},
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_client_metadata"


def test_oauth21_2_4_1_a_method_not_offered_is_invalid_client(basic_only: Stack) -> None:
    client = register(basic_only, "client_secret_basic")
    code, verifier, _ = obtain_code(basic_only, client)
    by_post = {**client, "token_endpoint_auth_method": "client_secret_post"}
    assert_error(exchange(basic_only, by_post, code, verifier), "invalid_client", 401)
    assert exchange(basic_only, client, code, verifier).status_code == 200


def test_a_confidential_client_cannot_authenticate_as_public(dev: Stack) -> None:
    """``none`` only for public clients: the client id alone does not do for a client issued a
    secret, whatever the metadata offers."""
    client = register(dev, "client_secret_basic")
    code, verifier, _ = obtain_code(dev, client)
    as_public = {**client, "token_endpoint_auth_method": "none"}
    assert_error(exchange(dev, as_public, code, verifier), "invalid_client", 401)


BASIC_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
    st.builds(
        lambda user, password: base64.b64encode(f"{user}:{password}".encode()).decode(),
        st.text(max_size=30),
        st.text(max_size=30),
    ),
)


@settings(max_examples=40, deadline=None)
@given(value=BASIC_VALUES, body_client_id=st.sampled_from([None, "", "other"]))
def test_rfc6749_2_3_1_any_basic_credentials_get_an_oauth_error_never_a_500(
    dev: Stack, value: str, body_client_id: str | None
) -> None:
    """Client authentication parses what the client sent; whatever that is, the answer is an
    RFC 6749 §5.2 error (no client is authenticated by made-up credentials)."""
    data = {"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43}
    if body_client_id is not None:
        data["client_id"] = body_client_id
    response = httpx.post(
        f"{dev.issuer}/token", data=data, headers={"Authorization": f"Basic {value}"}, timeout=30
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "invalid_request")


def test_a_warm_refresh_on_a_local_store_never_leaves_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the backing secret is in memory and the registration's use was recorded this hour,
    a refresh does no blocking work: the other steps answer from memory, and the registration is
    read from SQLite (a local lookup that waits for no writer) on the event loop, with no
    thread-pool hop."""
    hops: list[str] = []

    async def recording(func: Callable[..., Any], *args: Any) -> Any:
        hops.append(func.__name__)
        return await run_in_threadpool(func, *args)

    with local_stack(tmp_path) as stack:
        client = register(stack)
        code, verifier, _ = obtain_code(stack, client)
        refresh = exchange(stack, client, code, verifier).json()["refresh_token"]
        monkeypatch.setattr(authproxy.token, "run_in_threadpool", recording)
        response = token_request(
            stack.issuer, client, {"grant_type": "refresh_token", "refresh_token": refresh}
        )
    assert response.status_code == 200, response.text
    assert hops == []

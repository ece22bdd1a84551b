"""GET /authorize, the consent page and GET /callback: what is refused, how, and where to.

Until the client and redirect URI are proven, every refusal is a page and never a redirect; after
that, refusals go back to the client with ``error``, ``state`` and RFC 9207 ``iss``."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from authproxy.sealing import Purpose, Sealer
from support.oauth import authorize_url, pkce, query
from support.person import forms
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8123/callback"


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict:
    return dev.register(
        client_name="Authorize Tests",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="none",
    )


def assert_page(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def assert_error_redirect(dev: Stack, response: httpx.Response, error: str) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    got = query(location)
    assert got["error"] == error
    assert got["state"] == "client-state-123"
    assert got["iss"] == dev.issuer
    return got


def test_unknown_client_gets_a_page_not_a_redirect(dev: Stack) -> None:
    _, challenge = pkce()
    assert_page(httpx.get(authorize_url(dev.issuer, "no-such-client", REDIRECT, challenge)))


def test_missing_client_id_gets_a_page(dev: Stack) -> None:
    assert_page(httpx.get(f"{dev.issuer}/authorize?response_type=code"))


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/steal",
        "http://localhost:8123/other",
        "http://127.0.0.1:8123/callback",  # another loopback host is another URI
        "http://localhost:8123/callback/../evil",
    ],
)
def test_redirect_mismatch_gets_a_page(dev: Stack, client: dict, redirect_uri: str) -> None:
    _, challenge = pkce()
    response = httpx.get(authorize_url(dev.issuer, client["client_id"], redirect_uri, challenge))
    assert_page(response)
    assert "did not register" in response.text


def test_repeated_redirect_uri_gets_a_page(dev: Stack, client: dict) -> None:
    url = authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1])
    assert_page(httpx.get(url + "&redirect_uri=https%3A%2F%2Fattacker.example%2F"))


def test_loopback_redirect_matches_on_any_port(dev: Stack, client: dict) -> None:
    url = authorize_url(
        dev.issuer, client["client_id"], "http://localhost:50999/callback", "x" * 43
    )
    response = httpx.get(url)
    assert response.status_code == 200  # the consent page
    assert "localhost" in response.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "https://elsewhere.example/mcp"}, "invalid_target"),
    ],
)
def test_bad_requests_redirect_with_the_error(
    dev: Stack, client: dict, change: dict, error: str
) -> None:
    _, challenge = pkce()
    url = authorize_url(dev.issuer, client["client_id"], REDIRECT, challenge, **change)
    got = assert_error_redirect(dev, httpx.get(url), error)
    assert got["error_description"]


def test_consent_page_names_client_host_and_resource(dev: Stack, client: dict) -> None:
    _, challenge = pkce()
    response = httpx.get(authorize_url(dev.issuer, client["client_id"], REDIRECT, challenge))
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "Authorize Tests" in response.text
    assert "localhost" in response.text
    assert dev.mcp_url in response.text
    assert ">Approve</button>" in response.text
    assert "authproxy-csrf" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]
    assert "SameSite=lax" in response.headers["set-cookie"]


def test_prompt_none_without_approval_is_consent_required(dev: Stack, client: dict) -> None:
    url = authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1], prompt="none")
    assert_error_redirect(dev, httpx.get(url), "consent_required")


def test_consent_page_escapes_what_the_client_registered(dev: Stack) -> None:
    evil = dev.register(
        client_name='<script>alert("x")</script>',
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="none",
    )
    page = httpx.get(authorize_url(dev.issuer, evil["client_id"], REDIRECT, pkce()[1]))
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


def _consent_form(dev: Stack, client: dict) -> tuple[httpx.Client, dict[str, str]]:
    browser = httpx.Client()
    page = browser.get(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1]))
    return browser, forms(page.text)[0].fields


def test_deny_tells_the_client_access_denied(dev: Stack, client: dict) -> None:
    browser, fields = _consent_form(dev, client)
    response = browser.post(f"{dev.issuer}/consent", data={**fields, "decision": "deny"})
    assert_error_redirect(dev, response, "access_denied")


def test_approve_goes_to_cognito_with_the_backing_client(dev: Stack, client: dict) -> None:
    browser, fields = _consent_form(dev, client)
    response = browser.post(f"{dev.issuer}/consent", data={**fields, "decision": "approve"})
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{dev['COGNITO_DOMAIN']}/oauth2/authorize?")
    upstream = query(location)
    assert upstream["client_id"] != client["client_id"]
    assert upstream["redirect_uri"] == f"{dev.issuer}/callback"
    assert upstream["code_challenge_method"] == "S256"
    assert "resource" not in upstream  # Cognito resource binding is off in the local stack
    # The resource's default scopes: read and write, one approval up front.
    assert upstream["scope"].split() == [f"{dev.mcp_url}/read", f"{dev.mcp_url}/write"]
    assert "authproxy-consent" in response.headers["set-cookie"]


def test_consent_without_the_browser_cookie_is_refused(dev: Stack, client: dict) -> None:
    _, fields = _consent_form(dev, client)
    response = httpx.post(f"{dev.issuer}/consent", data={**fields, "decision": "approve"})
    assert_page(response, 403)


def test_consent_from_another_site_is_refused(dev: Stack, client: dict) -> None:
    browser, fields = _consent_form(dev, client)
    response = browser.post(
        f"{dev.issuer}/consent",
        data={**fields, "decision": "approve"},
        headers={"Origin": "https://attacker.example"},
    )
    assert_page(response, 403)


def test_consent_with_a_forged_transaction_is_refused(dev: Stack, client: dict) -> None:
    browser, fields = _consent_form(dev, client)
    forged = Sealer("an attacker's key, long enough......").seal(
        Purpose.CONSENT_FORM, {"txn": {}, "csrf": fields["csrf_token"]}
    )
    response = browser.post(
        f"{dev.issuer}/consent", data={**fields, "transaction": forged, "decision": "approve"}
    )
    assert_page(response, 400)


def test_approval_is_remembered_per_browser_and_registration(dev: Stack, client: dict) -> None:
    person = dev.person()
    _, challenge = pkce()
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, challenge))
    assert person.pages_seen == ["consent", "login"]
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, challenge))
    assert "consent" not in person.pages_seen[2:]
    other = dev.register(
        client_name="Another", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    seen = len(person.pages_seen)
    person.sign_in(authorize_url(dev.issuer, other["client_id"], REDIRECT, challenge))
    assert person.pages_seen[seen] == "consent"


def test_a_changed_redirect_uri_asks_again(dev: Stack) -> None:
    """An approved client that re-registers its redirect URI (RFC 7592) cannot reuse the approval
    to send the person's code somewhere new."""
    client = dev.register(
        client_name="Changes Its Mind", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    person = dev.person()
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1]))
    evil = "https://evil.example/steal"
    updated = httpx.put(
        client["registration_client_uri"],
        json={**client, "redirect_uris": [REDIRECT, evil]},
        headers={"Authorization": f"Bearer {client['registration_access_token']}"},
    )
    assert updated.status_code == 200, updated.text
    page = person.http.get(authorize_url(dev.issuer, client["client_id"], evil, pkce()[1]))
    assert page.status_code == 200
    assert "evil.example" in page.text  # the consent page, naming the new destination
    # The original redirect, another loopback port included, is still approved.
    seen = len(person.pages_seen)
    other_port = "http://localhost:8999/callback"
    person.sign_in(authorize_url(dev.issuer, client["client_id"], other_port, pkce()[1]))
    assert "consent" not in person.pages_seen[seen:]


@pytest.fixture(scope="module")
def stepping_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Default scopes read only (``authproxy dev --step-up``): write is asked for separately."""
    with local_stack(tmp_path_factory.mktemp("step-up"), step_up=True) as stack:
        yield stack


def test_more_scopes_ask_again(stepping_up: Stack) -> None:
    dev = stepping_up
    client = dev.register(
        client_name="Step-up", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    person = dev.person()
    read = f"{dev.mcp_url}/read"
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1], scope=read))
    seen = len(person.pages_seen)
    write = f"{dev.mcp_url}/write"
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1], scope=write))
    assert person.pages_seen[seen] == "consent"
    seen = len(person.pages_seen)
    person.sign_in(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1], scope=read))
    assert "consent" not in person.pages_seen[seen:]  # read is part of what was approved


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://[::1/cb",
        "http://localhost:99999/callback",
        "http://localhost:abc/callback",
        "http://user@localhost:8123/callback",
        "http://localhost:8123/callback#fragment",
        "http://evil.com\\@localhost:8123/callback",
    ],
)
def test_malformed_redirect_uris_are_a_page(dev: Stack, client: dict, redirect_uri: str) -> None:
    assert_page(httpx.get(authorize_url(dev.issuer, client["client_id"], redirect_uri, "x" * 43)))


@pytest.mark.parametrize(
    "client_id", ["https://[::1/x", "https://example.com:99999/x", "https://exa mple.com/x"]
)
def test_malformed_metadata_urls_are_a_page(dev: Stack, client_id: str) -> None:
    assert_page(httpx.get(authorize_url(dev.issuer, client_id, REDIRECT, "x" * 43)))


def test_passthrough_parameters_reach_cognito(dev: Stack, client: dict) -> None:
    browser, fields = _consent_form(dev, client)
    page = browser.get(
        authorize_url(
            dev.issuer,
            client["client_id"],
            REDIRECT,
            pkce()[1],
            login_hint="demo",
            identity_provider="COGNITO",
            prompt="login",
            lang="fr",
            nonce="n-1",
        )
    )
    fields = forms(page.text)[0].fields
    response = browser.post(f"{dev.issuer}/consent", data={**fields, "decision": "approve"})
    upstream = query(response.headers["location"])
    for name, value in [
        ("login_hint", "demo"),
        ("identity_provider", "COGNITO"),
        ("prompt", "login"),
        ("lang", "fr"),
        ("nonce", "n-1"),
    ]:
        assert upstream[name] == value


def test_successful_callback_carries_code_state_and_iss(dev: Stack, client: dict) -> None:
    _, challenge = pkce()
    callback = dev.person().sign_in(
        authorize_url(dev.issuer, client["client_id"], REDIRECT, challenge)
    )
    got = query(callback)
    assert set(got) == {"code", "state", "iss"}
    assert got["state"] == "client-state-123"
    assert got["iss"] == dev.issuer


def _sealed_state(dev: Stack, client: dict, **changes: object) -> str:
    payload = {
        "client_id": client["client_id"],
        "backing_client_id": "b",
        "redirect_uri": REDIRECT,
        "redirect_uri_given": True,
        "resource": dev.mcp_url,
        "scopes": [f"{dev.mcp_url}/read"],
        "code_challenge": "c" * 43,
        "state": "client-state-123",
        "extra": {},
        **changes,
    }
    return Sealer(dev["AUTHPROXY_SECRET_KEY"]).seal(Purpose.STATE, payload)


def test_callback_with_forged_state_is_a_page(dev: Stack) -> None:
    forged = Sealer("x" * 40).seal(Purpose.STATE, {"redirect_uri": "https://attacker.example"})
    assert_page(httpx.get(f"{dev.issuer}/callback", params={"state": forged, "code": "c"}))
    assert_page(httpx.get(f"{dev.issuer}/callback", params={"code": "c"}))


def test_callback_relays_cognito_errors_to_the_client(dev: Stack, client: dict) -> None:
    response = httpx.get(
        f"{dev.issuer}/callback",
        params={
            "state": _sealed_state(dev, client),
            "error": "invalid_scope",
            "error_description": "scope not allowed",
        },
    )
    got = assert_error_redirect(dev, response, "invalid_scope")
    assert got["error_description"] == "scope not allowed"


def test_callback_without_code_or_error_is_server_error(dev: Stack, client: dict) -> None:
    response = httpx.get(f"{dev.issuer}/callback", params={"state": _sealed_state(dev, client)})
    assert_error_redirect(dev, response, "server_error")


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with local_stack(
        tmp_path_factory.mktemp("trusting"), trusted_redirect_hosts="claude.ai"
    ) as stack:
        yield stack


def test_trusted_redirect_hosts_skip_consent(trusting: Stack) -> None:
    claude = trusting.register(
        client_name="claudeai",
        redirect_uris=["https://claude.ai/api/mcp/auth_callback"],
        token_endpoint_auth_method="none",
        scope="claudeai",
    )
    person = trusting.person()
    callback = person.sign_in(
        authorize_url(
            trusting.issuer,
            claude["client_id"],
            "https://claude.ai/api/mcp/auth_callback",
            pkce()[1],
            scope="claudeai",
        )
    )
    assert person.pages_seen == ["login"]
    assert urlsplit(callback).hostname == "claude.ai"


def test_expired_state_is_a_page(trusting: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import itsdangerous.timed

    stale = Sealer(trusting["AUTHPROXY_SECRET_KEY"]).seal(Purpose.STATE, {"client_id": "x"})
    real = itsdangerous.timed.time.time
    later = real() + Purpose.STATE.max_age + 60
    monkeypatch.setattr(
        itsdangerous.timed, "time", type("T", (), {"time": staticmethod(lambda: later)})
    )
    response = httpx.get(f"{trusting.issuer}/callback", params={"state": stale, "code": "c"})
    assert_page(response)
    assert "took too long" in response.text


def test_revoked_registration_cannot_authorize(dev: Stack) -> None:
    doomed = dev.register(
        client_name="Doomed", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    httpx.delete(
        doomed["registration_client_uri"],
        headers={"Authorization": f"Bearer {doomed['registration_access_token']}"},
    )
    response = httpx.get(authorize_url(dev.issuer, doomed["client_id"], REDIRECT, pkce()[1]))
    assert_page(response)


def test_no_pages_for_unknown_paths(dev: Stack, tmp_path: Path) -> None:
    assert httpx.get(f"{dev.issuer}/authorize/extra").status_code == 404
    assert httpx.post(f"{dev.issuer}/authorize").status_code == 405

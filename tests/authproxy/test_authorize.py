"""GET /authorize, the consent page and GET /callback: what is refused, how, and where to.

Until the client and redirect URI are proven, every refusal is a page and never a redirect; after
that, refusals go back to the client with ``error``, ``state`` and RFC 9207 ``iss``."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from authproxy import consent
from authproxy.redirects import is_trusted_redirect
from authproxy.sealing import Purpose, Sealer
from authproxy.store import open_store
from support.oauth import authorize_url, pkce, query
from support.person import Person, forms
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
    assert upstream["scope"] == f"{dev.mcp_url}/read"
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


def test_more_scopes_ask_again(dev: Stack, client: dict) -> None:
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


BROWSER_SECRET = "s" * 43  # what this test's browser holds in its transaction cookie


def _sealed_state(dev: Stack, client: dict, **sealed: object) -> str:
    """A ``state`` as /authorize seals it, bound to :data:`BROWSER_SECRET`; ``sealed`` overrides
    the envelope's fields."""
    txn = {
        "client_id": client["client_id"],
        "backing_client_id": "b",
        "redirect_uri": REDIRECT,
        "redirect_uri_given": True,
        "resource": dev.mcp_url,
        "scopes": [f"{dev.mcp_url}/read"],
        "code_challenge": "c" * 43,
        "state": "client-state-123",
        "extra": {},
    }
    payload = {
        "txn": txn,
        "browser": consent.browser_digest(BROWSER_SECRET),
        "id": pkce()[0],  # any fresh random value
        **sealed,
    }
    return Sealer(dev["AUTHPROXY_SECRET_KEY"]).seal(Purpose.STATE, payload)


def _callback(dev: Stack, cookie: str | None = BROWSER_SECRET, **params: str) -> httpx.Response:
    """GET /callback from a browser holding ``cookie`` as its transaction secret."""
    cookies = {"authproxy-txn": cookie} if cookie else None
    return httpx.get(f"{dev.issuer}/callback", params=params, cookies=cookies)


def test_callback_with_forged_state_is_a_page(dev: Stack) -> None:
    forged = Sealer("x" * 40).seal(Purpose.STATE, {"redirect_uri": "https://attacker.example"})
    assert_page(httpx.get(f"{dev.issuer}/callback", params={"state": forged, "code": "c"}))
    assert_page(httpx.get(f"{dev.issuer}/callback", params={"code": "c"}))


def test_callback_relays_cognito_errors_to_the_client(dev: Stack, client: dict) -> None:
    response = _callback(
        dev,
        state=_sealed_state(dev, client),
        error="invalid_scope",
        error_description="scope not allowed",
    )
    got = assert_error_redirect(dev, response, "invalid_scope")
    assert got["error_description"] == "scope not allowed"


def test_callback_without_code_or_error_is_server_error(dev: Stack, client: dict) -> None:
    response = _callback(dev, state=_sealed_state(dev, client))
    assert_error_redirect(dev, response, "server_error")


def test_upstream_redirect_binds_the_browser(dev: Stack, client: dict) -> None:
    """The approval sets the transaction cookie; the sealed state carries only its digest."""
    browser, fields = _consent_form(dev, client)
    response = browser.post(f"{dev.issuer}/consent", data={**fields, "decision": "approve"})
    secret = browser.cookies["authproxy-txn"]
    assert len(secret) == 43
    sealed = Sealer(dev["AUTHPROXY_SECRET_KEY"]).open(
        Purpose.STATE, query(response.headers["location"])["state"]
    )
    assert sealed["browser"] == consent.browser_digest(secret)
    assert secret not in response.headers["location"]
    cookie = next(c for c in response.headers.get_list("set-cookie") if "authproxy-txn" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    # A second sign-in in the same browser keeps the secret, so both can finish.
    page = browser.get(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1]))
    assert page.status_code == 302  # remembered approval
    assert browser.cookies["authproxy-txn"] == secret


def test_rfc9700_4_7_callback_without_the_transaction_cookie_is_a_page(
    dev: Stack, client: dict
) -> None:
    response = _callback(dev, cookie=None, state=_sealed_state(dev, client), code="c")
    assert_page(response, 403)
    assert "another browser" in response.text


def test_rfc9700_4_7_callback_with_another_browsers_cookie_is_a_page(
    dev: Stack, client: dict
) -> None:
    response = _callback(dev, cookie="t" * 43, state=_sealed_state(dev, client), code="c")
    assert_page(response, 403)


def test_rfc9700_4_5_callback_state_is_spent_on_first_use(dev: Stack, client: dict) -> None:
    state = _sealed_state(dev, client)
    first = _callback(dev, state=state, error="access_denied")
    assert_error_redirect(dev, first, "access_denied")
    replay = _callback(dev, state=state, code="c")
    assert_page(replay)
    assert "already used" in replay.text


@pytest.mark.parametrize(
    "sealed",
    [
        {"browser": None},  # a state sealed before browsers were bound
        {"id": ""},
        {"id": None},
        {"txn": None},
        {"txn": {"client_id": "x"}},
    ],
)
def test_callback_with_an_incomplete_state_is_a_page(
    dev: Stack, client: dict, sealed: dict
) -> None:
    assert_page(_callback(dev, state=_sealed_state(dev, client, **sealed), code="c"))


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


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "someapp://claude.ai/api/mcp/auth_callback",  # any app on the device can claim a scheme
        "claude.ai:/api/mcp/auth_callback",
        "https://claude.ai:8443/api/mcp/auth_callback",
        "https://claude.ai.attacker.example/api/mcp/auth_callback",
        "https://xn--claude-ai.example/api/mcp/auth_callback",
    ],
)
def test_rfc9700_trusted_host_elsewhere_than_https_default_port_asks_for_consent(
    trusting: Stack, redirect_uri: str
) -> None:
    client = trusting.register(
        client_name="not claude",
        redirect_uris=[redirect_uri],
        token_endpoint_auth_method="none",
    )
    url = authorize_url(trusting.issuer, client["client_id"], redirect_uri, pkce()[1])
    page = httpx.get(url)
    assert page.status_code == 200, page.headers.get("location")
    assert ">Approve</button>" in page.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://CLAUDE.AI/api/mcp/auth_callback",
        "https://claude.ai./api/mcp/auth_callback",  # the same name, fully qualified
        "https://claude.ai:443/api/mcp/auth_callback",
    ],
)
def test_trusted_host_matches_however_it_is_spelt(trusting: Stack, redirect_uri: str) -> None:
    client = trusting.register(
        client_name="claudeai", redirect_uris=[redirect_uri], token_endpoint_auth_method="none"
    )
    url = authorize_url(trusting.issuer, client["client_id"], redirect_uri, pkce()[1])
    response = httpx.get(url)
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{trusting['COGNITO_DOMAIN']}/oauth2/")


@pytest.mark.parametrize(
    ("uri", "trusted"),
    [
        ("https://claude.ai/cb", True),
        ("https://Claude.AI./cb", True),
        ("https://ｃｌａｕｄｅ.ai/cb", True),  # full-width letters: browsers map them (UTS #46)
        ("https://claude.ai:443/cb", True),
        ("someapp://claude.ai/cb", False),
        ("http://claude.ai/cb", False),
        ("wss://claude.ai/cb", False),
        ("https://claude.ai:8443/cb", False),
        ("https://claude.ai../cb", False),
        ("https://clаude.ai/cb", False),  # Cyrillic а
        ("https://sub.claude.ai/cb", False),
        ("https://claude.ai\\.evil.example/cb", False),
        ("https://[::1]/cb", False),
        ("https://claude.ai:x/cb", False),
    ],
)
def test_is_trusted_redirect(uri: str, trusted: bool) -> None:
    assert is_trusted_redirect(uri, ["claude.ai", "ＣＬＡＵＤＥ.com."]) is trusted
    assert is_trusted_redirect("https://claude.com/cb", ["ＣＬＡＵＤＥ.com."])


def test_expired_state_is_a_page(trusting: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import itsdangerous.timed

    stale = Sealer(trusting["AUTHPROXY_SECRET_KEY"]).seal(Purpose.STATE, {"id": "x"})
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


def test_callback_when_the_store_fails_is_a_page_and_reloading_works(tmp_path: Path) -> None:
    """A store that cannot record the spend: 503 with Retry-After, nothing spent, so the same
    Cognito response still finishes once the store is back."""
    with local_stack(tmp_path) as stack:
        client = stack.register(
            client_name="Store Trouble", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
        )
        person = Person(stack["DEMO_USER"], stack["DEMO_PASSWORD"], (stack["COGNITO_DOMAIN"],))
        callback = person.sign_in(
            authorize_url(stack.issuer, client["client_id"], REDIRECT, "c" * 43)
        )
        store_url = stack["AUTHPROXY_STORE"]
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            db.execute("DROP TABLE spent")
        refused = person.http.get(callback)
        assert_page(refused, 503)
        assert refused.headers["retry-after"]
        open_store(store_url).close()  # the table is back
        finished = person.http.get(callback)
        assert finished.status_code == 302
        assert "code" in query(finished.headers["location"])

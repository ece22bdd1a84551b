"""The consent decision and the pages around it, attacked from another site:

- cross-site request forgery of the approval (RFC 9700 §4.7; MCP security best practices,
  "Confused Deputy Problem": the consent must come from the person, in this browser);
- framing of any page the façade produces (RFC 9700 §4.16, clickjacking);
- reflected script in every value an error or consent page shows (RFC 6749 §10.14).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from authproxy.sealing import Purpose, Sealer
from support.attacks import assert_refused_with_a_page, assert_refuses_framing
from support.oauth import authorize_url, pkce
from support.person import forms
from support.stack import Stack

REDIRECT = "http://localhost:8404/cb"
SCRIPT = "\"'><script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict:
    return dev.register(
        client_name="consent target", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )


def consent_form(dev: Stack, client: dict) -> tuple[httpx.Client, dict[str, str]]:
    """A browser that loaded the consent page, and the form's fields."""
    browser = httpx.Client()
    page = browser.get(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1]))
    assert page.status_code == 200, page.text
    return browser, forms(page.text)[0].fields


def approve(
    browser: httpx.Client, dev: Stack, fields: dict[str, str], **headers: str
) -> httpx.Response:
    return browser.post(
        f"{dev.issuer}/consent", data={**fields, "decision": "approve"}, headers=headers
    )


def test_rfc9700_4_7_consent_without_csrf_token_is_refused(dev: Stack, client: dict) -> None:
    browser, fields = consent_form(dev, client)
    del fields["csrf_token"]
    assert_refused_with_a_page(approve(browser, dev, fields), 403)
    browser, fields = consent_form(dev, client)
    assert_refused_with_a_page(approve(browser, dev, {**fields, "csrf_token": ""}), 403)


def test_rfc9700_4_7_consent_with_a_foreign_csrf_token_is_refused(dev: Stack, client: dict) -> None:
    """The attacker loads the page in their own browser and makes the victim's browser post the
    attacker's form (their transaction and token), or mixes theirs into the victim's."""
    _, attackers = consent_form(dev, client)
    victim, victims = consent_form(dev, client)
    assert_refused_with_a_page(approve(victim, dev, attackers), 403)
    assert_refused_with_a_page(
        approve(victim, dev, {**victims, "csrf_token": attackers["csrf_token"]}), 403
    )
    assert_refused_with_a_page(
        approve(victim, dev, {**victims, "transaction": attackers["transaction"]}), 403
    )


def test_rfc9700_4_7_consent_posted_by_another_site_is_refused(dev: Stack, client: dict) -> None:
    browser, fields = consent_form(dev, client)
    assert_refused_with_a_page(approve(browser, dev, fields, origin="https://evil.example"), 403)
    browser, fields = consent_form(dev, client)
    assert_refused_with_a_page(
        approve(browser, dev, fields, **{"sec-fetch-site": "cross-site"}), 403
    )


def test_rfc9700_4_7_consent_without_the_browsers_cookie_is_refused(
    dev: Stack, client: dict
) -> None:
    _, fields = consent_form(dev, client)
    assert_refused_with_a_page(approve(httpx.Client(), dev, fields), 403)


def test_mcp_confused_deputy_consent_form_is_not_a_get(dev: Stack, client: dict) -> None:
    """An approval cannot be a link: GET /consent does not approve anything."""
    _, fields = consent_form(dev, client)
    response = httpx.get(f"{dev.issuer}/consent", params={**fields, "decision": "approve"})
    assert response.status_code == 405
    assert "location" not in response.headers


def _html_pages(dev: Stack, client: dict) -> dict[str, Callable[[], httpx.Response]]:
    """Every kind of HTML page the façade can produce, by the request that produces it."""
    revoked = dev.register(
        client_name="revoked", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    httpx.delete(
        revoked["registration_client_uri"],
        headers={"Authorization": f"Bearer {revoked['registration_access_token']}"},
    )
    challenge = pkce()[1]
    issuer = dev.issuer

    def expired_form() -> httpx.Response:
        browser, fields = consent_form(dev, client)
        return approve(browser, dev, {**fields, "transaction": "garbage"})

    def forged_csrf() -> httpx.Response:
        browser, fields = consent_form(dev, client)
        return approve(browser, dev, {**fields, "csrf_token": "forged"})

    def revoked_at_consent() -> httpx.Response:
        victim = dev.register(
            client_name="revoked later", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
        )
        browser, fields = consent_form(dev, victim)
        httpx.delete(
            victim["registration_client_uri"],
            headers={"Authorization": f"Bearer {victim['registration_access_token']}"},
        )
        return approve(browser, dev, fields)

    return {
        "consent": lambda: httpx.get(
            authorize_url(issuer, client["client_id"], REDIRECT, challenge)
        ),
        "no-client-id": lambda: httpx.get(f"{issuer}/authorize?response_type=code"),
        "unknown-client": lambda: httpx.get(authorize_url(issuer, "nobody", REDIRECT, challenge)),
        "mismatch": lambda: httpx.get(
            authorize_url(issuer, client["client_id"], "http://localhost:8404/x", challenge)
        ),
        "bad-redirect": lambda: httpx.get(
            authorize_url(issuer, client["client_id"], "javascript:alert(1)", challenge)
        ),
        "repeated": lambda: httpx.get(
            authorize_url(issuer, client["client_id"], REDIRECT, challenge) + "&client_id=x"
        ),
        "revoked": lambda: httpx.get(
            authorize_url(issuer, revoked["client_id"], REDIRECT, challenge)
        ),
        "metadata-document": lambda: httpx.get(
            authorize_url(issuer, "https://unresolvable.invalid/client.json", REDIRECT, challenge)
        ),
        "consent-expired": expired_form,
        "consent-csrf": forged_csrf,
        "consent-revoked": revoked_at_consent,
        "callback-forged": lambda: httpx.get(
            f"{issuer}/callback", params={"state": "x", "code": "c"}
        ),
        "callback-no-state": lambda: httpx.get(f"{issuer}/callback"),
    }


def test_rfc9700_4_16_no_page_of_the_facade_can_be_framed(dev: Stack, client: dict) -> None:
    pages = _html_pages(dev, client)
    for name, request in pages.items():
        response = request()
        assert response.headers.get("content-type", "").startswith("text/html"), name
        assert_refuses_framing(response)
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "script-src" in response.headers["content-security-policy"] or (
            "default-src 'none'" in response.headers["content-security-policy"]
        ), name


def test_rfc9700_4_16_every_html_answer_anywhere_refuses_framing(dev: Stack) -> None:
    """Whatever path or method: an HTML answer without the framing headers would be one more
    page to frame."""
    answers = [
        httpx.request(method, f"{dev.issuer}{path}")
        for path in (
            "/",
            "/authorize",
            "/consent",
            "/callback",
            "/register",
            "/token",
            "/revoke",
            "/nothing-here",
            "/.well-known/oauth-authorization-server",
            "/mcp",
        )
        for method in ("GET", "POST", "PUT", "DELETE")
    ]
    for response in answers:
        if response.headers.get("content-type", "").startswith("text/html"):
            assert_refuses_framing(response)


def assert_not_reflected(response: httpx.Response, where: str) -> None:
    """No markup of the attacker's survives into the page as markup."""
    text = response.text
    for fragment in ("<script>alert(1)", "<img src=x", "onerror=alert(1)>", "\"'><"):
        assert fragment not in text, f"{where}: {fragment!r} reflected"
    if "location" in response.headers:
        assert "<script>" not in response.headers["location"], where


def test_rfc6749_10_14_client_name_and_uris_are_escaped_on_the_consent_page(dev: Stack) -> None:
    evil = dev.register(
        client_name=SCRIPT,
        client_uri=f"https://app.example/{quote(SCRIPT)}",
        logo_uri="https://app.example/logo.png",
        redirect_uris=[REDIRECT, f"com.example.app:/cb?x={quote(SCRIPT)}"],
        token_endpoint_auth_method="none",
    )
    for redirect in evil["redirect_uris"]:
        page = httpx.get(authorize_url(dev.issuer, evil["client_id"], redirect, pkce()[1]))
        assert page.status_code == 200
        assert_not_reflected(page, redirect)
        assert "&lt;script&gt;" in page.text  # shown, as text


@pytest.mark.parametrize(
    "parameter",
    [
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "resource",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "login_hint",
        "prompt",
        "nonce",
    ],
)
def test_rfc6749_10_14_authorize_parameters_are_never_reflected_as_markup(
    dev: Stack, client: dict, parameter: str
) -> None:
    params = {"client_id": client["client_id"], "redirect_uri": REDIRECT, parameter: SCRIPT}
    url = authorize_url(
        dev.issuer, params.pop("client_id"), params.pop("redirect_uri"), pkce()[1], **params
    )
    response = httpx.get(url)
    assert_not_reflected(response, parameter)
    if response.headers.get("content-type", "").startswith("text/html"):
        assert_refuses_framing(response)


@pytest.mark.parametrize("field", ["transaction", "csrf_token", "decision"])
def test_rfc6749_10_14_consent_fields_are_never_reflected_as_markup(
    dev: Stack, client: dict, field: str
) -> None:
    browser, fields = consent_form(dev, client)
    response = browser.post(
        f"{dev.issuer}/consent", data={**fields, "decision": "approve", field: SCRIPT}
    )
    assert_not_reflected(response, field)


def test_rfc6749_10_14_callback_parameters_are_never_reflected_as_markup(
    dev: Stack, client: dict
) -> None:
    """Cognito's ``error_description`` and the other callback parameters: on a page they are not
    shown, and on the way to the client they are URL-encoded."""
    state = Sealer(dev["AUTHPROXY_SECRET_KEY"]).seal(
        Purpose.STATE,
        {
            "client_id": client["client_id"],
            "backing_client_id": "b",
            "redirect_uri": REDIRECT,
            "redirect_uri_given": True,
            "resource": dev.mcp_url,
            "scopes": [f"{dev.mcp_url}/read"],
            "code_challenge": "c" * 43,
            "state": SCRIPT,
            "extra": {},
        },
    )
    for params in (
        {"state": SCRIPT, "code": SCRIPT},
        {"state": SCRIPT, "error": SCRIPT, "error_description": SCRIPT},
        {"state": state, "error": "access_denied", "error_description": SCRIPT},
        {"state": state, "error": SCRIPT},
    ):
        response = httpx.get(f"{dev.issuer}/callback", params=params)
        assert_not_reflected(response, str(sorted(params)))


def test_rfc6749_10_14_json_errors_are_json_not_html(dev: Stack) -> None:
    """Error descriptions that quote input go out as JSON, which a browser does not render."""
    answers = [
        httpx.post(f"{dev.issuer}/token", data={"grant_type": SCRIPT, "client_id": "x"}),
        httpx.post(f"{dev.issuer}/register", json={"redirect_uris": [SCRIPT]}),
        httpx.post(
            f"{dev.issuer}/register", json={"redirect_uris": [REDIRECT], "client_uri": SCRIPT}
        ),
        httpx.post(f"{dev.issuer}/revoke", data={"token": SCRIPT, "client_id": SCRIPT}),
    ]
    for response in answers:
        assert response.status_code in (400, 401)
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "client_uri",
    [
        "javascript://app.example/%0Aalert(document.domain)",
        "JavaScript://app.example/%0Aalert(1)",
        "data://app.example/text/html,<script>alert(1)</script>",
        "vbscript://app.example/msgbox",
    ],
)
def test_rfc6749_10_14_client_uri_with_a_script_scheme_is_never_a_link(
    dev: Stack, client_uri: str
) -> None:
    """RFC 7591's URI checks pass any ``scheme://authority``: the consent page must not turn a
    registrant's ``javascript:`` "home page" into a link the person clicks (CSP is the second
    line, not the first)."""
    evil = dev.register(
        client_name="helpful",
        client_uri=client_uri,
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="none",
    )
    page = httpx.get(authorize_url(dev.issuer, evil["client_id"], REDIRECT, pkce()[1]))
    assert page.status_code == 200, page.text
    hrefs = re.findall(r'href="([^"]*)"', page.text)
    assert all(h.lower().startswith(("https:", "http:")) for h in hrefs), hrefs

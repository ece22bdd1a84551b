"""Attacks on the authorization transaction: the sealed ``state`` the façade hands to Cognito.

The scenario that matters (issue 8, "consent bypass"): someone approves *their own* client in
*their own* browser, keeps the Cognito URL that approval leads to, and sends it to a person who is
signed in at Cognito. Without a binding, that person's browser passes Cognito silently (single
sign-on), arrives at ``/callback`` and is sent to the attacker's redirect URI with a code for the
person's account, which the attacker redeems with their own PKCE verifier. No consent was ever
shown to the person: the MCP security best practices' confused deputy, and RFC 9700 §4.7 (CSRF)
and §4.5 (authorization code injection) from the other side.

Everything here runs over real HTTP against the in-process stack (façade, MCP server and the
Cognito stand-in), each party with its own cookie jar.
"""

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

import authproxy.app
import authproxy.settings
from support.oauth import authorize_url, pkce, query, token_request
from support.person import Person
from support.serving import bound_socket, serve
from support.stack import Stack, local_stack

ATTACKER_REDIRECT = "http://127.0.0.1:40999/attacker"  # the attacker's own loopback listener
VICTIM_REDIRECT = "http://127.0.0.1:41999/victim"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with local_stack(tmp_path_factory.mktemp("binding")) as running:
        yield running


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with local_stack(
        tmp_path_factory.mktemp("binding-trusting"), trusted_redirect_hosts="claude.ai"
    ) as running:
        yield running


def browser(stack: Stack, *, stop_at: tuple[str, ...]) -> Person:
    """A person with a fresh cookie jar whose walk stops at the first URL outside ``stop_at``."""
    return Person(stack["DEMO_USER"], stack["DEMO_PASSWORD"], own_origins=stop_at)


def attacker_cognito_url(stack: Stack, attacker: Person, redirect_uri: str) -> str:
    """The attacker's own authorization, consent approved in their own browser, stopped at the
    Cognito URL it leads to."""
    client = stack.register(
        client_name="Harmless Helper",
        redirect_uris=[redirect_uri],
        token_endpoint_auth_method="none",
    )
    url = authorize_url(stack.issuer, client["client_id"], redirect_uri, pkce()[1])
    cognito_url = attacker.sign_in(url)
    assert cognito_url.startswith(f"{stack['COGNITO_DOMAIN']}/oauth2/authorize?"), cognito_url
    return cognito_url


def signed_in_victim(stack: Stack) -> Person:
    """A person signed in at Cognito (and known to the façade) through a client of their own."""
    victim = stack.person()
    client = stack.register(
        client_name="Victim's own client",
        redirect_uris=[VICTIM_REDIRECT],
        token_endpoint_auth_method="none",
    )
    own = victim.sign_in(
        authorize_url(stack.issuer, client["client_id"], VICTIM_REDIRECT, "v" * 43)
    )
    assert "code" in query(own)
    return victim


def victim_follows(stack: Stack, victim: Person, cognito_url: str) -> httpx.Response:
    """The victim's browser opens the URL: Cognito signs them in silently and sends them to the
    façade's /callback, whose answer is returned."""
    at_cognito = victim.http.get(cognito_url)
    assert at_cognito.is_redirect, at_cognito.text
    callback = at_cognito.headers["location"]
    assert callback.startswith(f"{stack.issuer}/callback?")
    assert "code" in query(callback)  # Cognito did issue a code for the victim's account
    return victim.http.get(callback)


def assert_refused(response: httpx.Response, status: int) -> None:
    """A calm page: no redirect, so nothing (least of all a code) reaches any client."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "code=" not in response.text
    assert "start the sign-in again from your application" in response.text.lower()


def own_callback(stack: Stack, client_redirect: str, person: Person) -> str:
    """A person's own sign-in for a new client, stopped at the façade's /callback URL."""
    client = stack.register(
        client_name="Own client", redirect_uris=[client_redirect], token_endpoint_auth_method="none"
    )
    url = authorize_url(stack.issuer, client["client_id"], client_redirect, pkce()[1])
    callback = person.sign_in(url)
    assert callback.startswith(f"{stack.issuer}/callback?"), callback
    return callback


def test_mcp_confused_deputy_approved_cognito_url_sent_to_a_signed_in_victim_gives_no_code(
    stack: Stack,
) -> None:
    attacker = browser(stack, stop_at=())
    cognito_url = attacker_cognito_url(stack, attacker, ATTACKER_REDIRECT)
    assert attacker.pages_seen == ["consent"]
    victim = signed_in_victim(stack)
    assert_refused(victim_follows(stack, victim, cognito_url), 403)


def test_mcp_confused_deputy_remembered_approval_is_bound_too(stack: Stack) -> None:
    """Consent skipped because the attacker's browser remembers the approval: same refusal."""
    attacker = browser(stack, stop_at=())
    client = stack.register(
        client_name="Approved Before",
        redirect_uris=[ATTACKER_REDIRECT],
        token_endpoint_auth_method="none",
    )
    url = authorize_url(stack.issuer, client["client_id"], ATTACKER_REDIRECT, pkce()[1])
    attacker.sign_in(url)
    cognito_url = attacker.sign_in(url)
    assert attacker.pages_seen == ["consent"]  # the second time, no page: remembered
    assert_refused(victim_follows(stack, signed_in_victim(stack), cognito_url), 403)


def test_mcp_confused_deputy_trusted_host_skip_is_bound_too(trusting: Stack) -> None:
    """Consent skipped for a trusted host: the state is still bound to the browser it was for."""
    attacker = browser(trusting, stop_at=())
    redirect = "https://claude.ai/api/mcp/auth_callback"
    cognito_url = attacker_cognito_url(trusting, attacker, redirect)
    assert attacker.pages_seen == []
    assert_refused(victim_follows(trusting, signed_in_victim(trusting), cognito_url), 403)


def test_rfc9700_4_7_state_replayed_in_another_browser_is_refused(stack: Stack) -> None:
    mine = browser(stack, stop_at=(stack["COGNITO_DOMAIN"],))
    callback = own_callback(stack, "http://127.0.0.1:42001/cb", mine)
    other = signed_in_victim(stack)  # a browser with a transaction cookie of its own
    assert_refused(other.http.get(callback), 403)
    assert_refused(httpx.get(callback), 403)  # and one with none at all
    # Refusing the wrong browser spends nothing: the right one still finishes.
    finished = mine.http.get(callback)
    assert finished.is_redirect
    assert "code" in query(finished.headers["location"])


def test_rfc9700_4_5_state_replayed_twice_is_refused(stack: Stack) -> None:
    person = browser(stack, stop_at=(stack["COGNITO_DOMAIN"],))
    redirect = "http://127.0.0.1:42002/cb"
    callback = own_callback(stack, redirect, person)
    first = person.http.get(callback)
    assert first.is_redirect
    assert first.headers["location"].startswith(redirect)
    assert_refused(person.http.get(callback), 400)
    assert_refused(person.http.get(callback), 400)


def test_rfc9700_4_5_state_replayed_at_another_instance_is_refused(stack: Stack) -> None:
    """Two façade instances (two Lambda execution environments) share the store: a state spent
    at one is spent at the other."""
    second = authproxy.app.create_app(authproxy.settings.Settings.from_env(stack.env))
    person = browser(stack, stop_at=(stack["COGNITO_DOMAIN"],))
    callback = own_callback(stack, "http://127.0.0.1:42003/cb", person)
    with serve(second, bound_socket()) as origin:
        at_second = urlunsplit(urlsplit(callback)._replace(netloc=urlsplit(origin).netloc))
        first = person.http.get(callback)
        assert first.is_redirect
        assert_refused(person.http.get(at_second), 400)


def test_rfc9700_4_5_injected_code_cannot_be_redeemed_by_the_attacker(stack: Stack) -> None:
    """Even the code Cognito issued to the victim's session stays with the façade: the attacker,
    holding the verifier for the challenge they chose, has nothing to redeem."""
    attacker = browser(stack, stop_at=())
    client = stack.register(
        client_name="Thief", redirect_uris=[ATTACKER_REDIRECT], token_endpoint_auth_method="none"
    )
    verifier, challenge = pkce()
    url = authorize_url(stack.issuer, client["client_id"], ATTACKER_REDIRECT, challenge)
    cognito_url = attacker.sign_in(url)
    victim = signed_in_victim(stack)
    at_cognito = victim.http.get(cognito_url)
    callback = at_cognito.headers["location"]
    assert_refused(victim.http.get(callback), 403)
    # The raw Cognito code from the victim's address bar is not a façade code either.
    stolen = query(callback)["code"]
    redeemed = token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": stolen,
            "code_verifier": verifier,
            "redirect_uri": ATTACKER_REDIRECT,
        },
    )
    assert redeemed.status_code == 400
    assert redeemed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "someapp://claude.ai/api/mcp/auth_callback",
        "claude.ai:/api/mcp/auth_callback",
        "https://claude.ai:8443/api/mcp/auth_callback",
        "https://claude.ai.attacker.example/api/mcp/auth_callback",
    ],
)
def test_rfc9700_trusted_host_through_custom_scheme_gets_no_silent_code(
    trusting: Stack, redirect_uri: str
) -> None:
    """A private-use scheme (or another port or a longer name) whose authority reads like a
    trusted host is any app's to claim: a signed-in person is asked, not signed in silently."""
    attacker_client = trusting.register(
        client_name="Claude", redirect_uris=[redirect_uri], token_endpoint_auth_method="none"
    )
    victim = signed_in_victim(trusting)
    response = victim.http.get(
        authorize_url(trusting.issuer, attacker_client["client_id"], redirect_uri, pkce()[1])
    )
    assert response.status_code == 200, response.headers.get("location")
    assert ">Approve</button>" in response.text

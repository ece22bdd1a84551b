"""``authproxy check --as CLIENT URL``: replay one client's own sign-in against a deployment.

Each client in :mod:`.client_profiles` finds the authorization server, registers and asks for
authorization in its own way; a deployment can work for one and fail another (a load-balancer rule
missing for Claude's fallback paths, a redirect host refused for Cursor). This walks the profile's
steps up to Cognito's sign-in page and, with a test user, through sign-in, the token exchange and
``tools/list``. A failed step says what to change. What it registered is deleted again (RFC 7592).
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .check import Checker, Report, StepFailed, json_body
from .client_profiles import ClientProfile
from .html_forms import forms
from .redirects import LOOPBACK_HOSTS

MAX_HOPS = 12
_DCR_PORT = 33418
_LATER_PORT = 49717

_GENERIC_FIXES = {
    "401 challenge": (
        "the MCP server must answer 401 with 'WWW-Authenticate: Bearer resource_metadata=…' "
        "through the front door (an Application Load Balancer passes it untouched; API Gateway "
        "REST APIs rename it)"
    ),
    "authorization-server metadata": (
        "serve the façade's RFC 8414 document at the issuer's well-known path (ISSUER must be "
        "the façade's public URL)"
    ),
    "Cognito sign-in page": (
        "check COGNITO_DOMAIN and that the backing app client has the façade's /callback as its "
        "callback URL (authproxy clients reconcile)"
    ),
}


class ClientCheck(Checker):
    """The steps of one client profile, over one HTTP client that keeps the browser's cookies."""

    def __init__(self, url: str, http: httpx.Client, profile: ClientProfile) -> None:
        super().__init__(url, http, {**_GENERIC_FIXES, **profile.fixes})
        self.profile = profile
        self.client: dict[str, Any] = {}
        self.verifier = secrets.token_urlsafe(48)
        self.redirect_uri = ""

    @property
    def origin(self) -> str:
        return "{0.scheme}://{0.netloc}".format(urlsplit(self.url))

    def discovery(self) -> None:
        """The root documents on the MCP origin, which Claude reads before anything else, and its
        synthesized endpoints when they are missing (design D7)."""
        with self.step("discovery") as say:
            root_prm = self.http.get(f"{self.origin}/.well-known/oauth-protected-resource")
            if root_prm.status_code != 200:
                raise StepFailed(
                    f"the root protected-resource document on the MCP origin answered "
                    f"{root_prm.status_code} (this client aborts discovery on it)"
                )
            root_as = self.http.get(f"{self.origin}/.well-known/oauth-authorization-server")
            if root_as.status_code == 200:
                document = json_body(root_as, "the root RFC 8414 document")
                self.found["as"] = document
                say("root RFC 8414 document on the MCP origin")
                return
            # The client then synthesizes the default endpoints on the MCP origin.
            endpoints = {
                "authorization_endpoint": f"{self.origin}/authorize",
                "token_endpoint": f"{self.origin}/token",
                "registration_endpoint": f"{self.origin}/register",
            }
            probe = self.http.get(endpoints["authorization_endpoint"])
            if probe.status_code == 404:
                raise StepFailed(
                    "no root RFC 8414 document and no /authorize on the MCP origin "
                    f"({root_as.status_code}, {probe.status_code})"
                )
            self.found["as"] = endpoints
            say("no root RFC 8414 document: synthesized /authorize, /token, /register")

    def cors(self, origin: str) -> None:
        """A browser-based client reads discovery and calls /register and /token from its page's
        origin (Fetch standard, CORS protocol)."""
        document = self.found["as"]
        with self.step("CORS") as say:
            targets = [
                ("GET", self.found["resource_metadata"]),
                *(
                    ("POST", document[k])
                    for k in ("registration_endpoint", "token_endpoint")
                    if k in document
                ),
            ]
            for method, url in targets:
                response = self.http.options(
                    url,
                    headers={
                        "Origin": origin,
                        "Access-Control-Request-Method": method,
                        "Access-Control-Request-Headers": "content-type",
                    },
                )
                allowed = response.headers.get("access-control-allow-origin")
                if allowed not in ("*", origin):
                    raise StepFailed(f"{urlsplit(url).path} allows no cross-origin {method}")
            say(f"{len(targets)} endpoints allow {origin}")

    def registration(self) -> None:
        """CIMD when the server advertises it with ``none`` (what Claude and VS Code require),
        else RFC 7591 with the client's own body."""
        document = self.found["as"]
        cimd = (
            self.profile.cimd_client_id
            and document.get("client_id_metadata_document_supported") is True
            and "none" in (document.get("token_endpoint_auth_methods_supported") or [])
        )
        with self.step("registration") as say:
            if cimd:
                self.client = {
                    "client_id": self.profile.cimd_client_id,
                    "token_endpoint_auth_method": "none",
                }
                say(f"client ID metadata document {self.profile.cimd_client_id}")
                return
            endpoint = document.get("registration_endpoint")
            if not endpoint:
                raise StepFailed("the authorization server offers neither CIMD nor registration")
            response = self.http.post(endpoint, json=self.profile.registration_body(_DCR_PORT))
            if response.status_code != 201:
                raise StepFailed(
                    f"registration answered {response.status_code}: {response.text[:300]}"
                )
            self.client = response.json()
            method = self.client.get("token_endpoint_auth_method")
            say(f"client_id={self.client['client_id']} ({method})")

    def _scope(self) -> str | None:
        if self.profile.scope_source == "none":
            return None
        if self.profile.scope_source == "fixed":
            return self.profile.scope_extra
        found = self.found.get("challenge_scope") or " ".join(
            self.found.get("prm", {}).get("scopes_supported") or []
        )
        return " ".join(s for s in (found, self.profile.scope_extra) if s) or None

    def authorization_request(self) -> httpx.Response:
        """``/authorize`` as the client sends it; the consent page answered as a person would."""
        self.redirect_uri = self.profile.authorize_redirect(_DCR_PORT, _LATER_PORT)
        params = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": self.redirect_uri,
            "code_challenge": create_s256_code_challenge(self.verifier),
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(16),
            "scope": self._scope(),
            "resource": self.url if self.profile.sends_resource else None,
            "prompt": self.profile.prompt,
        }
        query = urlencode({k: v for k, v in params.items() if v is not None})
        with self.step("authorization request") as say:
            response = self.http.get(f"{self.found['as']['authorization_endpoint']}?{query}")
            if response.status_code == 200 and _form(response, "consent"):
                say("consent page shown")
                response = self._submit(response, "consent", {"decision": "approve"})
                say("approved")
            if not response.is_redirect:
                raise StepFailed(
                    f"answered {response.status_code}: {_page_text(response)}",
                    self._metadata_document_fix(response),
                )
            target = _location(response)
            if target.startswith(self.redirect_uri.split("?")[0]):
                raise StepFailed(f"the client was sent back with an error: {target[:300]}")
            say(f"sent to {urlsplit(target).netloc}")
        with self.step("Cognito sign-in page") as say:
            response = self._follow(self.http.get(target))
            if not (response.status_code == 200 and _form(response, "login")):
                raise StepFailed(f"no sign-in form: {response.status_code} {response.url}")
            say(f"{urlsplit(str(response.url)).netloc}{urlsplit(str(response.url)).path}")
        return response

    def sign_in(self, login_page: httpx.Response, username: str, password: str) -> None:
        """The test user signs in; the code arrives on the client's redirect URI."""
        with self.step("sign-in") as say:
            _check_password_destination(login_page)
            response = self._submit(
                login_page, "login", {"username": username, "password": password}
            )
            response = self._follow(response, stop_at=self.redirect_uri.split("?")[0])
            if not response.is_redirect:
                raise StepFailed(
                    f"sign-in stopped at {response.status_code}: {_page_text(response)}"
                )
            answer = dict((k, v) for k, v in httpx.URL(_location(response)).params.multi_items())
            if "code" not in answer:
                raise StepFailed(
                    f"no code: {answer.get('error')} {answer.get('error_description')}"
                )
            self.found["code"] = answer["code"]
            say(f"code received with iss={answer.get('iss')}")
        with self.step("token") as say:
            form = {
                "grant_type": "authorization_code",
                "code": self.found["code"],
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.verifier,
                "client_id": self.client["client_id"],
            }
            if self.client.get("client_secret"):
                form["client_secret"] = self.client["client_secret"]
            if self.profile.sends_resource:
                form["resource"] = self.url
            tokens = json_body(
                self.http.post(self.found["as"]["token_endpoint"], data=form), "the token response"
            )
            if not tokens.get("access_token"):
                raise StepFailed("no access_token in the token response")
            self.found["access_token"] = tokens["access_token"]
            say(f"access token, scope={tokens.get('scope', '')}")

    def cleanup(self) -> None:
        """Delete the registration made for the check (RFC 7592 §2.3)."""
        uri, token = (
            self.client.get("registration_client_uri"),
            self.client.get("registration_access_token"),
        )
        if not (uri and token):
            return
        with self.step("cleanup") as say:
            response = self.http.delete(uri, headers={"Authorization": f"Bearer {token}"})
            if response.status_code not in (200, 204):
                raise StepFailed(f"deleting the registration answered {response.status_code}")
            say("registration deleted")

    def _metadata_document_fix(self, response: httpx.Response) -> str:
        """A CIMD client whose document the façade could not fetch: say where it must reach."""
        client_id = self.client["client_id"]
        if client_id != self.profile.cimd_client_id or "metadata" not in _page_text(response):
            return ""
        return (
            f"the façade fetches {client_id} when this client signs in: let it reach "
            f"{urlsplit(client_id).netloc} over https (outbound internet, e.g. a NAT gateway, "
            "for the façade's function)"
        )

    def _submit(self, page: httpx.Response, kind: str, values: dict[str, str]) -> httpx.Response:
        form = _form(page, kind)
        assert form is not None
        action = urljoin(str(page.url), form.action)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(action))
        return self.http.post(action, data={**form.fields, **values}, headers={"Origin": origin})

    def _follow(self, response: httpx.Response, stop_at: str | None = None) -> httpx.Response:
        """Follow redirects within the façade and Cognito, never onto the client's redirect URI."""
        for _ in range(MAX_HOPS):
            if not response.is_redirect:
                return response
            target = _location(response)
            if stop_at and target.startswith(stop_at):
                return response
            response = self.http.get(target)
        raise StepFailed("too many redirects")


def _check_password_destination(login_page: httpx.Response) -> None:
    """RFC 9700 §4.17: the test user's password goes only where the sign-in page itself is served,
    over https (or on loopback, the local stack). A form posting elsewhere, reached through
    whatever redirects the deployment chose, is a phishing page: the password is not sent."""
    form = _form(login_page, "login")
    assert form is not None
    page, target = (
        urlsplit(str(login_page.url)),
        urlsplit(urljoin(str(login_page.url), form.action)),
    )
    if (target.scheme, target.netloc) != (page.scheme, page.netloc):
        raise StepFailed(
            f"the sign-in form on {page.netloc} posts to {target.scheme}://{target.netloc}: "
            "the test user's password was not sent"
        )
    if target.scheme != "https" and (target.hostname or "") not in LOOPBACK_HOSTS:
        raise StepFailed(
            f"the sign-in page {page.netloc} is not served over https: "
            "the test user's password was not sent"
        )


def _location(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])


def _form(response: httpx.Response, kind: str) -> Any:
    if "text/html" not in response.headers.get("content-type", ""):
        return None
    for form in forms(response.text):
        if (kind == "consent" and form.is_consent) or (kind == "login" and form.is_login):
            return form
    return None


def _page_text(response: httpx.Response) -> str:
    """An HTML error page's heading and first paragraph, or the start of any other body."""
    text = response.text
    found = re.search(r"<h1>(.*?)</h1>\s*<p>(.*?)</p>", text, re.DOTALL)
    if found:
        return html.unescape(f"{found[1]}: {found[2]}")
    return text[:200]


def run_client_check(
    url: str,
    profile: ClientProfile,
    *,
    user: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> Report:
    """Replay ``profile``'s sign-in against ``url``: stop at the first broken step, clean up."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        check = ClientCheck(url, http, profile)
        try:
            check.challenge(profile.protocol_version)
            check.protected_resource()
            if profile.discovery == "origin":
                check.discovery()
            else:
                check.authorization_server()
            if profile.browser_origin:
                check.cors(profile.browser_origin)
            check.registration()
            login_page = check.authorization_request()
            if user:
                check.sign_in(login_page, *user)
                check.authenticated(check.found["access_token"], profile.protocol_version)
        except StepFailed:
            pass
        finally:
            with contextlib.suppress(StepFailed):
                check.cleanup()
        return check.report

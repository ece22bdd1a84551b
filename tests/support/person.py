"""A person signing in without a browser: follows redirects, fills the login form, answers the
consent page. The real-browser version of this walk lives in the e2e tests (headless chromium)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from authproxy.html_forms import forms


class SignInError(AssertionError):
    """The walk ended somewhere unexpected; carries the last response."""

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(f"{message}: {response.status_code} {response.url}\n{response.text[:500]}")
        self.response = response


@dataclass
class Person:
    """Someone with a user name, a password and a browser (cookies persist between sign-ins)."""

    username: str
    password: str
    own_origins: tuple[str, ...]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    pages_seen: list[str] = field(default_factory=list)

    def _ours(self, url: str) -> bool:
        return any(url.startswith(origin) for origin in self.own_origins)

    def sign_in(self, authorize_url: str, *, approve: bool = True, max_hops: int = 20) -> str:
        """Follow ``authorize_url`` until the browser is sent to a URL outside the façade and
        Cognito (the client's redirect URI); return that URL without visiting it."""
        response = self.http.get(authorize_url)
        for _ in range(max_hops):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if not self._ours(target):
                    return target
                response = self.http.get(target)
                continue
            if response.status_code != 200 or "text/html" not in response.headers.get(
                "content-type", ""
            ):
                raise SignInError("sign-in stopped", response)
            page = forms(response.text)
            if not page:
                raise SignInError("a page without a form", response)
            form = page[0]
            action = urljoin(str(response.url), form.action)
            data = dict(form.fields)
            if form.is_login:
                self.pages_seen.append("login")
                data.update(username=self.username, password=self.password)
            elif form.is_consent:
                self.pages_seen.append("consent")
                data["decision"] = "approve" if approve else "deny"
            else:
                raise SignInError("an unknown form", response)
            headers = {"Origin": "{0.scheme}://{0.netloc}".format(urlsplit(action))}
            response = self.http.post(action, data=data, headers=headers)
        raise SignInError("too many redirects", response)

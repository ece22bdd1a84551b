"""Sign in at the managed login with httpx, the way a browser would (for tests and tools).

``sign_in`` follows the authorize URL to the login form, fills ``username`` and ``password``
(echoing the form's ``_csrf`` field; the client keeps the cookies) and returns the response that
leaves the domain: normally the 302 to the redirect URI carrying ``code`` and ``state``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

_MAX_HOPS = 10


class _LoginForm(HTMLParser):
    """Collects the first form's action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("type") == "hidden" and "name" in attributes:
            self.hidden[attributes["name"]] = attributes.get("value", "")


def _same_origin(a: str, b: str) -> bool:
    return urlsplit(a)[:2] == urlsplit(b)[:2]


def sign_in(http: httpx.Client, authorize_url: str, username: str, password: str) -> httpx.Response:
    """Run the managed-login sign-in starting at ``authorize_url``.

    Redirects are followed only while they stay on the authorize URL's origin, so the returned
    response is the one pointing elsewhere (the client's redirect URI), an error page, or the
    login form again when the password was wrong.
    """
    url = authorize_url
    response = http.get(url, follow_redirects=False)
    for _ in range(_MAX_HOPS):
        location = response.headers.get("location")
        if response.is_redirect and location is not None:
            target = urljoin(url, location)
            if not _same_origin(target, authorize_url):
                return response
            url = target
            response = http.get(url, follow_redirects=False)
            continue
        form = _LoginForm()
        form.feed(response.text)
        if response.status_code != 200 or form.action is None:
            return response
        fields = {**form.hidden, "username": username, "password": password}
        return http.post(urljoin(url, form.action), data=fields, follow_redirects=False)
    raise RuntimeError(f"too many redirects from {authorize_url}")

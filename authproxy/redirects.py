"""Redirect-URI policy: what a client may register and how a request matches it.

RFC 8252 (OAuth 2.0 for Native Apps) §7.1 private-use URI schemes, §7.3 loopback redirection with
any port, §8.4 no other plain-http hosts; RFC 6749 §3.1.2 absolute, no fragment; RFC 3986 §2 no
character a URI cannot hold (a browser reads "\\" as "/") and no percent-encoded host, so the host
the consent page names is the one the browser visits; RFC 9700 §4.1 exact matching for everything
else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from .errors import OAuthError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URI_LENGTH = 2048
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# Schemes that execute or reference local content in a browser: never a redirect target.
_FORBIDDEN_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"}
)
# Characters RFC 3986 §2 allows nowhere in a URI. Browsers read "\\" as "/" (WHATWG URL), so a
# host written with one is not the host the browser visits, nor the one the consent page names.
_NOT_IN_URIS = frozenset('\\<>"{}|^`')


def invalid_redirect_uri(uri: str, why: str) -> OAuthError:
    return OAuthError("invalid_redirect_uri", f"{uri[:200]!r}: {why}")


def check_redirect_uri(uri: object, allowed_https_hosts: Iterable[str] = ()) -> str:
    """Return ``uri`` if a client may register it, else raise ``invalid_redirect_uri``.

    ``allowed_https_hosts``, when not empty, limits https redirect URIs to those hosts; loopback and
    private-use redirects stay allowed because they never leave the user's device.
    """
    if not isinstance(uri, str) or not uri:
        raise invalid_redirect_uri(str(uri), "must be a non-empty string")
    if len(uri) > MAX_URI_LENGTH:
        raise invalid_redirect_uri(uri, f"longer than {MAX_URI_LENGTH} characters")
    if "#" in uri:
        raise invalid_redirect_uri(uri, "must not contain a fragment (RFC 6749 §3.1.2)")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in uri):
        raise invalid_redirect_uri(uri, "must not contain whitespace or control characters")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise invalid_redirect_uri(uri, "is not a valid URI") from None
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        raise invalid_redirect_uri(uri, "must be an absolute URI")
    if scheme in _FORBIDDEN_SCHEMES:
        raise invalid_redirect_uri(uri, f"the {scheme}: scheme is not allowed")
    if any(ch in _NOT_IN_URIS for ch in uri):
        raise invalid_redirect_uri(uri, "contains characters not allowed in a URI (RFC 3986 §2)")
    if "@" in parts.netloc:
        raise invalid_redirect_uri(uri, "must not contain user information")
    host = (parts.hostname or "").lower()
    if "%" in host:
        # Browsers decode it ("claude.ai%2eevil.com" is claude.ai.evil.com); the page would not.
        raise invalid_redirect_uri(uri, "must not percent-encode its host")
    if scheme == "https":
        if not host:
            raise invalid_redirect_uri(uri, "has no host")
        allowed = {h.lower() for h in allowed_https_hosts}
        if allowed and host not in allowed:
            raise invalid_redirect_uri(uri, f"host {host} is not allowed by this server")
    elif scheme == "http":
        if host not in LOOPBACK_HOSTS:
            raise invalid_redirect_uri(
                uri, "plain http is allowed only for loopback (localhost, 127.0.0.1, [::1])"
            )
    elif scheme in ("ws", "wss", "ftp"):
        raise invalid_redirect_uri(uri, f"the {scheme}: scheme is not a redirect target")
    elif port is not None and not host:
        raise invalid_redirect_uri(uri, "is not a valid URI")
    return uri


def is_loopback(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme == "http" and (parts.hostname or "").lower() in LOOPBACK_HOSTS


def loopback_key(uri: str) -> tuple[str, str, str, str]:
    """A loopback redirect URI without its port: what RFC 8252 §7.3 compares."""
    parts = urlsplit(uri)
    return (parts.scheme, (parts.hostname or "").lower(), parts.path or "/", parts.query)


def match_redirect_uri(registered: Iterable[str], requested: str) -> bool:
    """RFC 8252 §7.3: a loopback redirect matches whatever its port; all others match exactly.

    ``requested`` must already have passed :func:`check_redirect_uri` (a valid port, no user
    information, no fragment): matching compares components, not the raw string.
    """
    registered = list(registered)
    if requested in registered:
        return True
    if not is_loopback(requested):
        return False
    wanted = loopback_key(requested)
    return any(is_loopback(r) and loopback_key(r) == wanted for r in registered)


def redirect_host(uri: str) -> str:
    """What the consent page names as the destination: the host, or the scheme for an app."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return (parts.hostname or "").lower()
    return f"{parts.scheme}:" + (f"//{parts.hostname}" if parts.hostname else "")

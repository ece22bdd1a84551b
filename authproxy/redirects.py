"""Redirect-URI policy: what a client may register and how a request matches it.

RFC 8252 (OAuth 2.0 for Native Apps) §7.1 private-use URI schemes, §7.3 loopback redirection with
any port, §8.4 no other plain-http hosts; RFC 6749 §3.1.2 absolute, no fragment; RFC 9700 §4.1
exact matching for everything else.

Hosts are compared and shown in their ASCII (A-label) form, as a browser resolves them (UTS #46
non-transitional processing, IDNA 2008): the consent page cannot be fooled by look-alike Unicode,
and a trusted host matches whatever way it is spelt.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import idna

from .errors import OAuthError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URI_LENGTH = 2048
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# An ASCII host name as DNS knows it; IDNA 2008 would refuse its underscores, browsers do not.
_ASCII_HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
# What percent-encoding leaves alone when a URI is shown: printable ASCII.
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
# Schemes that execute or reference local content in a browser: never a redirect target.
_FORBIDDEN_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"}
)


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
    if "@" in parts.netloc:
        raise invalid_redirect_uri(uri, "must not contain user information")
    host = (parts.hostname or "").lower()
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


def ascii_host(host: str) -> str | None:
    """``host`` as a browser resolves it, in ASCII: an IP address, or a DNS name in A-labels,
    lowercase, without the trailing dot of a fully qualified name (UTS #46, IDNA 2008). None if
    it is neither: such a host is never trusted and is shown escaped."""
    try:
        return ipaddress.ip_address(host.strip("[]")).compressed
    except ValueError:
        pass
    name = host.removesuffix(".")
    if _ASCII_HOST.fullmatch(name.lower()) and not any(
        label.startswith("xn--") for label in name.lower().split(".")
    ):
        return name.lower()
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


@dataclass(frozen=True)
class DisplayHost:
    """A host as the consent page shows it: ASCII first, Unicode beside it only if different."""

    ascii: str
    unicode: str | None = None


def display_host(host: str) -> DisplayHost:
    """The ASCII form of ``host`` and, when it differs, its Unicode form, so a look-alike name
    (Cyrillic ``аррӏе.com``) shows as what it is (``xn--80ak6aa92e.com``)."""
    canonical = ascii_host(host)
    if canonical is None:
        # Not a host name: escaped (control and non-ASCII characters alike), never rendered.
        return DisplayHost(host.encode("unicode_escape").decode("ascii"))
    try:
        decoded = idna.decode(canonical)
    except idna.IDNAError:
        decoded = canonical
    return DisplayHost(canonical, decoded if decoded != canonical else None)


def ascii_uri(uri: str) -> str:
    """``uri`` for display: its host in ASCII form and anything else outside printable ASCII
    percent-encoded. User information is left out: it is not where the browser goes."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return quote(uri, safe=_PRINTABLE)
    netloc = parts.netloc
    if parts.hostname:
        host = display_host(parts.hostname).ascii
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
    return quote(parts._replace(netloc=netloc).geturl(), safe=_PRINTABLE)


def redirect_destination(uri: str) -> DisplayHost:
    """What the consent page names as the destination: the host, or the scheme (and host) for an
    app's private-use URI (RFC 8252 §7.1)."""
    parts = urlsplit(uri)
    host = display_host(parts.hostname) if parts.hostname else DisplayHost("")
    if parts.scheme in ("http", "https"):
        return host
    prefix = f"{parts.scheme}:" + ("//" if parts.hostname else "")
    return DisplayHost(
        prefix + host.ascii, prefix + host.unicode if host.unicode is not None else None
    )


def is_trusted_redirect(uri: str, trusted_hosts: Iterable[str]) -> bool:
    """The redirect URI goes to an operator-trusted host, so consent may be skipped: ``https``
    only, on the default port, host equal once both sides are in ASCII form. A private-use or
    loopback URI is never trusted: any app on the device can claim ``someapp://claude.ai/``."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or port not in (None, 443) or not parts.hostname:
        return False
    host = ascii_host(parts.hostname)
    return host is not None and host in {ascii_host(h) for h in trusted_hosts}

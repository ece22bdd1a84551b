"""The one parser of ``Authorization: Bearer`` headers (RFC 6750 §2.1), for both deployables."""

from __future__ import annotations


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header value, or None when it carries no bearer token.

    The scheme is case-insensitive (RFC 9110 §11.1); surrounding whitespace is not part of the
    token. Any other scheme, or an empty token, is no bearer token at all.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token

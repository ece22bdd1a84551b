"""The verifier remembers tokens it accepted (resourcekit.verifier), and that memory must never
accept what a fresh verification would refuse: an expired token, a token whose signing key the
issuer withdrew, a tampered copy of a remembered token."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from resourcekit.jwks import RemoteJWKS, StaticJWKS
from resourcekit.verifier import CognitoTokenVerifier, token_digest


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier_for(tokens: Any, keys: Any, **options: Any) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(
        issuer=tokens.issuer, resource=tokens.resource, scopes=["read"], keys=keys, **options
    )


async def test_rfc7519_4_1_4_a_remembered_token_is_refused_once_it_expires(tokens: Any) -> None:
    clock = Clock()
    verifier = verifier_for(tokens, StaticJWKS({tokens.key.kid: tokens.key}), clock=clock)
    token = tokens.access(exp=int(clock.now) + 60)
    assert await verifier.verify_token(token) is not None
    assert token_digest(token) in verifier.remembered
    clock.now += 60 + verifier.leeway  # the last second the leeway still covers
    assert await verifier.verify_token(token) is not None
    clock.now += 1
    assert await verifier.verify_token(token) is None
    assert token_digest(token) not in verifier.remembered


async def test_rfc7515_4_1_4_a_remembered_token_is_refused_once_its_key_is_withdrawn(
    tokens: Any, fresh_jwks: Any, new_key: Callable[[str], RSAKey]
) -> None:
    verifier = verifier_for(tokens, RemoteJWKS(fresh_jwks.url, min_refresh_interval=0))
    withdrawn = fresh_jwks.keys[0]
    token = jwt.encode({"alg": "RS256", "kid": withdrawn.kid}, tokens.claims(), withdrawn)
    assert await verifier.verify_token(token) is not None
    # The issuer withdraws k1; the next token naming an unknown kid makes the key set refresh.
    replacement = new_key("k2")
    fresh_jwks.keys = [replacement]
    fresh = jwt.encode({"alg": "RS256", "kid": "k2"}, tokens.claims(), replacement)
    assert await verifier.verify_token(fresh) is not None
    assert await verifier.verify_token(token) is None


async def test_rfc7515_5_2_a_tampered_copy_of_a_remembered_token_is_refused(tokens: Any) -> None:
    verifier = verifier_for(tokens, StaticJWKS({tokens.key.kid: tokens.key}))
    token = tokens.access()
    assert await verifier.verify_token(token) is not None
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert await verifier.verify_token(f"{header}.{payload}.{flipped}") is None
    forged_payload = jwt.encode(
        {"alg": "RS256", "kid": tokens.key.kid}, tokens.claims(("read", "write")), tokens.key
    ).split(".")[1]
    assert await verifier.verify_token(f"{header}.{forged_payload}.{signature}") is None


async def test_the_memory_is_bounded_and_keyed_by_digest_not_token(tokens: Any) -> None:
    verifier = verifier_for(tokens, StaticJWKS({tokens.key.kid: tokens.key}), cache_size=2)
    issued = [tokens.access() for _ in range(3)]
    for token in issued:
        assert await verifier.verify_token(token) is not None
    assert list(verifier.remembered) == [token_digest(t) for t in issued[1:]]
    assert all(isinstance(digest, bytes) and len(digest) == 32 for digest in verifier.remembered)
    # The evicted token is simply verified again.
    assert await verifier.verify_token(issued[0]) is not None

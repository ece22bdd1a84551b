import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from resourcekit.jwks import KeySetUnavailable, RemoteJWKS, StaticJWKS, parse_key_set

NewKey = Callable[[str], RSAKey]


class Clock:
    """Monotonic time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_key_set_keeps_rsa_signature_keys_only(new_key: NewKey) -> None:
    signing = new_key("sig").as_dict(private=False)
    encrypting = {**new_key("enc").as_dict(private=False), "use": "enc"}
    elliptic = ECKey.generate_key("P-256", parameters={"kid": "ec"}).as_dict(private=False)
    keys = parse_key_set({"keys": [signing, encrypting, elliptic, {"kty": "RSA", "kid": "bad"}]})
    assert list(keys) == ["sig"]
    with pytest.raises(ValueError, match="not a JWK Set"):
        parse_key_set({"kty": "RSA"})


async def test_static_key_set_from_a_file(tmp_path: Path, new_key: NewKey) -> None:
    key = new_key("file-key")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    source = StaticJWKS.from_file(str(path))
    found = await source.get_key("file-key")
    assert isinstance(found, RSAKey)
    assert found.thumbprint() == key.thumbprint()
    assert await source.get_key("other") is None


async def test_keys_are_fetched_once_and_cached(fresh_jwks: Any) -> None:
    source = RemoteJWKS(fresh_jwks.url)
    assert await source.get_key("k1") is not None
    assert await source.get_key("k1") is not None
    assert fresh_jwks.fetches == 1


async def test_an_unknown_kid_refreshes_at_a_bounded_rate(fresh_jwks: Any, new_key: NewKey) -> None:
    clock = Clock()
    source = RemoteJWKS(fresh_jwks.url, min_refresh_interval=60, clock=clock)
    assert await source.get_key("k1") is not None
    fresh_jwks.keys.append(new_key("k2"))

    clock.now += 10
    assert await source.get_key("k2") is None  # too soon after the last fetch
    assert await source.get_key("forged") is None
    assert fresh_jwks.fetches == 1

    clock.now += 60
    assert await source.get_key("k2") is not None  # rotation picked up
    assert fresh_jwks.fetches == 2


async def test_known_keys_are_served_while_the_issuer_is_down(fresh_jwks: Any) -> None:
    clock = Clock()
    source = RemoteJWKS(fresh_jwks.url, min_refresh_interval=60, clock=clock)
    assert await source.get_key("k1") is not None
    fresh_jwks.failing = True
    clock.now += 120
    assert await source.get_key("unknown") is None
    assert fresh_jwks.fetches == 2
    assert await source.get_key("k1") is not None


async def test_no_key_set_at_all_is_unavailable_not_invalid(fresh_jwks: Any) -> None:
    fresh_jwks.failing = True
    source = RemoteJWKS(fresh_jwks.url)
    with pytest.raises(KeySetUnavailable):
        await source.get_key("k1")


async def test_an_unreachable_issuer_is_unavailable(refused_url: str) -> None:
    source = RemoteJWKS(refused_url, timeout=2)
    with pytest.raises(KeySetUnavailable):
        await source.get_key("k1")


async def test_a_failed_first_fetch_is_retried_within_seconds(fresh_jwks: Any) -> None:
    """Without any key set every request is refused, so a cold start that met an outage must
    not wait out the whole refresh interval once the issuer is back."""
    clock = Clock()
    source = RemoteJWKS(fresh_jwks.url, min_refresh_interval=60, clock=clock)
    fresh_jwks.failing = True
    with pytest.raises(KeySetUnavailable):
        await source.get_key("k1")
    fresh_jwks.failing = False
    clock.now += 1
    with pytest.raises(KeySetUnavailable):
        await source.get_key("k1")  # not hammering the issuer either
    clock.now += 5
    assert await source.get_key("k1") is not None
    assert fresh_jwks.fetches == 2


async def test_a_key_set_loaded_in_the_init_phase_serves_the_first_request(
    fresh_jwks: Any,
) -> None:
    """``load`` fetches once (a SnapStart snapshot then holds the keys); the first request
    fetches nothing, and loading again does nothing."""
    source = RemoteJWKS(fresh_jwks.url)
    await source.load()
    assert fresh_jwks.fetches == 1
    await source.load()
    assert await source.get_key("k1") is not None
    assert fresh_jwks.fetches == 1
    static = StaticJWKS({})
    await static.load()
    assert await static.get_key("k1") is None


async def test_a_failed_load_is_retried_by_the_first_request_at_once(fresh_jwks: Any) -> None:
    """An outage during init neither raises nor counts against the refresh rate: the first
    request, even within the first-fetch retry interval, tries again."""
    clock = Clock()
    source = RemoteJWKS(fresh_jwks.url, min_refresh_interval=60, clock=clock)
    fresh_jwks.failing = True
    await source.load()
    fresh_jwks.failing = False
    assert await source.get_key("k1") is not None
    assert fresh_jwks.fetches == 2

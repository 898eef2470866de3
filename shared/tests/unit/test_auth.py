"""Token verification: local secret, local Ed25519 keys with rotation, an issuer's JWKS."""

from __future__ import annotations

import base64
import os
import time

import jwt
import pytest
from shared.auth import (
    AuthenticationError,
    CompositeTokenVerifier,
    JwksTokenVerifier,
    KeySetTokenVerifier,
    LocalSigningKeys,
    LocalTokenVerifier,
    issue_local_token,
    token_claims,
)

ISS, AUD, SECRET = "vigie-test", "vigie", "s" * 40


def _seed() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _local() -> LocalTokenVerifier:
    return LocalTokenVerifier(secret=SECRET, issuer=ISS, audience=AUD)


def test_a_local_token_carries_subject_client_and_known_roles_only() -> None:
    token = issue_local_token(
        secret=SECRET, issuer=ISS, audience=AUD, roles=["marketer"], subject="ann", client="crm"
    )
    principal = _local().verify(token)
    assert (principal.subject, principal.client, principal.roles) == ("ann", "crm", frozenset({"marketer"}))
    assert principal.actor == "crm/ann"


def test_unknown_roles_cannot_be_issued() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        issue_local_token(secret=SECRET, issuer=ISS, audience=AUD, roles=["root"], subject="x")


@pytest.mark.parametrize("tamper", ["expired", "issuer", "audience", "secret", "garbage", "no_exp"])
def test_invalid_local_tokens_are_refused(tamper: str) -> None:
    claims = token_claims(issuer=ISS, audience=AUD, roles=["admin"], subject="x", client="c", ttl_seconds=60)
    secret = SECRET
    if tamper == "expired":
        claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    elif tamper == "issuer":
        claims["iss"] = "someone-else"
    elif tamper == "audience":
        claims["aud"] = "another-api"
    elif tamper == "secret":
        secret = "t" * 40
    elif tamper == "no_exp":
        del claims["exp"]
    token = "not.a.jwt" if tamper == "garbage" else jwt.encode(claims, secret, algorithm="HS256")
    with pytest.raises(AuthenticationError):
        _local().verify(token)


async def test_after_rotating_the_signing_key_old_tokens_still_verify_and_new_ones_use_the_new_key() -> None:
    old_seed, new_seed = _seed(), _seed()
    before = LocalSigningKeys.parse(f"k1:{old_seed}")
    old_token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["auditor"], subject="a", signing_keys=before
    )
    rotated = LocalSigningKeys.parse(f"k2:{new_seed},k1:{old_seed}")
    new_token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["auditor"], subject="a", signing_keys=rotated
    )
    verifier = CompositeTokenVerifier(
        symmetric=None, asymmetric=[KeySetTokenVerifier(jwks=rotated.jwks(), issuer=ISS, audience=AUD)]
    )
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert (await verifier.verify(old_token)).subject == "a"
    assert (await verifier.verify(new_token)).subject == "a"
    retired = CompositeTokenVerifier(
        symmetric=None,
        asymmetric=[
            KeySetTokenVerifier(
                jwks=LocalSigningKeys.parse(f"k2:{new_seed}").jwks(), issuer=ISS, audience=AUD
            )
        ],
    )
    with pytest.raises(AuthenticationError):
        await retired.verify(old_token)


async def test_hs256_tokens_are_refused_where_no_local_secret_is_accepted() -> None:
    token = issue_local_token(secret=SECRET, issuer=ISS, audience=AUD, roles=["admin"], subject="x")
    with pytest.raises(AuthenticationError, match="HS256"):
        await CompositeTokenVerifier(symmetric=None, asymmetric=[]).verify(token)


async def test_the_jwks_verifier_refetches_when_the_issuer_rotates_and_caches_otherwise() -> None:
    first, second = LocalSigningKeys.parse(f"a:{_seed()}"), LocalSigningKeys.parse(f"b:{_seed()}")
    published = {"jwks": first.jwks()}
    fetches: list[str] = []

    async def fetcher(url: str) -> dict:
        fetches.append(url)
        return published["jwks"]

    verifier = JwksTokenVerifier(
        url="https://issuer.example/jwks", issuer=ISS, audience=AUD, min_refetch_seconds=0, fetcher=fetcher
    )
    token_a = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["reviewer"], subject="r", signing_keys=first
    )
    assert (await verifier.verify(token_a)).roles == {"reviewer"}
    assert (await verifier.verify(token_a)).subject == "r"
    assert len(fetches) == 1, "the key set is cached"
    published["jwks"] = {"keys": first.jwks()["keys"] + second.jwks()["keys"]}
    token_b = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["reviewer"], subject="r2", signing_keys=second
    )
    assert (await verifier.verify(token_b)).subject == "r2"
    assert len(fetches) == 2, "an unknown key id triggers one refetch"


async def test_a_token_from_another_issuer_is_refused_even_with_a_known_key() -> None:
    keys = LocalSigningKeys.parse(f"a:{_seed()}")
    token = issue_local_token(
        secret="", issuer="evil", audience=AUD, roles=["admin"], subject="x", signing_keys=keys
    )
    verifier = KeySetTokenVerifier(jwks=keys.jwks(), issuer=ISS, audience=AUD)
    with pytest.raises(AuthenticationError):
        verifier.verify(token)


class _Clock:
    """A wall clock the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts full verifications (PyJWT decodes) from now on."""
    calls: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    return calls


async def test_a_verified_token_is_cached_and_a_hit_skips_the_signature_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _count_decodes(monkeypatch)
    verifier = CompositeTokenVerifier(symmetric=_local(), asymmetric=[])
    token = issue_local_token(secret=SECRET, issuer=ISS, audience=AUD, roles=["integrator"], subject="i")
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert first == again and again.roles == {"integrator"}
    assert len(decodes) == 1


async def test_a_cached_token_past_its_expiry_is_refused() -> None:
    clock = _Clock()
    verifier = CompositeTokenVerifier(symmetric=_local(), asymmetric=[], clock=clock)
    token = issue_local_token(
        secret=SECRET, issuer=ISS, audience=AUD, roles=["admin"], subject="x", ttl_seconds=60
    )
    assert (await verifier.verify(token)).subject == "x"
    clock.offset = 60 + 29  # inside the 30 s leeway: still accepted from the cache
    assert (await verifier.verify(token)).subject == "x"
    clock.offset = 60 + 31
    with pytest.raises(AuthenticationError):
        await verifier.verify(token)


async def test_a_cached_token_not_yet_valid_by_the_clock_is_refused() -> None:
    # A clock set back after the token was cached (nbf and iat are checked on every hit too).
    clock = _Clock()
    verifier = CompositeTokenVerifier(symmetric=_local(), asymmetric=[], clock=clock)
    claims = token_claims(issuer=ISS, audience=AUD, roles=["admin"], subject="x", client="c", ttl_seconds=600)
    claims["nbf"] = claims["iat"]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    await verifier.verify(token)
    clock.offset = -120
    with pytest.raises(AuthenticationError):
        await verifier.verify(token)


@pytest.mark.parametrize("part", ["header", "payload", "signature"])
async def test_a_tampered_copy_of_a_cached_token_is_verified_and_refused(part: str) -> None:
    verifier = CompositeTokenVerifier(symmetric=_local(), asymmetric=[])
    token = issue_local_token(secret=SECRET, issuer=ISS, audience=AUD, roles=["reviewer"], subject="r")
    await verifier.verify(token)
    header, payload, signature = token.split(".")
    admin = base64.urlsafe_b64encode(
        jwt.api_jws.json.dumps(  # type: ignore[attr-defined]
            {**jwt.decode(token, options={"verify_signature": False}), "scope": "admin"}
        ).encode()
    ).rstrip(b"=")
    tampered = {
        "header": f"{header}x.{payload}.{signature}",
        "payload": f"{header}.{admin.decode()}.{signature}",
        "signature": f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
    }[part]
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await verifier.verify(tampered)
    assert (await verifier.verify(token)).roles == {"reviewer"}


async def test_a_failure_is_not_cached_a_key_added_later_verifies_the_same_token() -> None:
    old, new = LocalSigningKeys.parse(f"k1:{_seed()}"), LocalSigningKeys.parse(f"k2:{_seed()}")
    keys = KeySetTokenVerifier(jwks=old.jwks(), issuer=ISS, audience=AUD)
    verifier = CompositeTokenVerifier(symmetric=None, asymmetric=[keys])
    token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["auditor"], subject="a", signing_keys=new
    )
    with pytest.raises(AuthenticationError):
        await verifier.verify(token)
    keys.replace_keys({"keys": old.jwks()["keys"] + new.jwks()["keys"]})
    assert (await verifier.verify(token)).subject == "a"


async def test_a_cached_token_whose_key_was_retired_is_refused() -> None:
    old, new = LocalSigningKeys.parse(f"k1:{_seed()}"), LocalSigningKeys.parse(f"k2:{_seed()}")
    keys = KeySetTokenVerifier(
        jwks={"keys": old.jwks()["keys"] + new.jwks()["keys"]}, issuer=ISS, audience=AUD
    )
    verifier = CompositeTokenVerifier(symmetric=None, asymmetric=[keys])
    old_token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["auditor"], subject="a", signing_keys=old
    )
    new_token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["auditor"], subject="b", signing_keys=new
    )
    assert (await verifier.verify(old_token)).subject == "a"
    assert (await verifier.verify(new_token)).subject == "b"
    keys.replace_keys(new.jwks())  # k1 retired
    with pytest.raises(AuthenticationError):
        await verifier.verify(old_token)
    assert (await verifier.verify(new_token)).subject == "b"


async def test_a_cached_token_is_refused_once_the_issuers_jwks_drops_its_key() -> None:
    first, second = LocalSigningKeys.parse(f"a:{_seed()}"), LocalSigningKeys.parse(f"b:{_seed()}")
    published = {"jwks": {"keys": first.jwks()["keys"] + second.jwks()["keys"]}}
    fetches: list[str] = []

    async def fetcher(url: str) -> dict:
        fetches.append(url)
        return published["jwks"]

    jwks = JwksTokenVerifier(
        url="https://issuer.example/jwks", issuer=ISS, audience=AUD, ttl_seconds=0.2, fetcher=fetcher
    )
    verifier = CompositeTokenVerifier(symmetric=None, asymmetric=[jwks])
    token_a = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["reviewer"], subject="r", signing_keys=first
    )
    assert (await verifier.verify(token_a)).subject == "r"
    assert (await verifier.verify(token_a)).subject == "r"
    assert len(fetches) == 1
    published["jwks"] = second.jwks()  # the issuer revoked key "a"
    time.sleep(0.25)  # past the key set's TTL: the next hit refetches it
    with pytest.raises(AuthenticationError):
        await verifier.verify(token_a)
    assert len(fetches) >= 2


async def test_the_cache_is_bounded_and_each_entry_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _count_decodes(monkeypatch)
    verifier = CompositeTokenVerifier(symmetric=_local(), asymmetric=[], cache_size=2, cache_seconds=0.2)
    tokens = [
        issue_local_token(secret=SECRET, issuer=ISS, audience=AUD, roles=["admin"], subject=str(n))
        for n in range(3)
    ]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])
    await verifier.verify(tokens[1])
    assert len(decodes) == 3, "the two most recent are cached"
    await verifier.verify(tokens[0])
    assert len(decodes) == 4, "the least recently used was dropped"
    time.sleep(0.25)
    await verifier.verify(tokens[0])
    assert len(decodes) == 5, "an entry older than cache_seconds is verified again"


async def test_concurrent_hits_during_a_key_set_refetch_are_refused_cleanly() -> None:
    import asyncio

    first, second = LocalSigningKeys.parse(f"a:{_seed()}"), LocalSigningKeys.parse(f"b:{_seed()}")
    published = {"jwks": first.jwks()}

    async def slow_fetcher(url: str) -> dict:
        await asyncio.sleep(0.05)  # both requests wait on the same refetch
        return published["jwks"]

    jwks = JwksTokenVerifier(
        url="https://issuer.example/jwks", issuer=ISS, audience=AUD, ttl_seconds=0.2, fetcher=slow_fetcher
    )
    verifier = CompositeTokenVerifier(symmetric=None, asymmetric=[jwks])
    token = issue_local_token(
        secret="", issuer=ISS, audience=AUD, roles=["reviewer"], subject="r", signing_keys=first
    )
    await verifier.verify(token)  # the first fetch changes the key set: verified, not yet cached
    await verifier.verify(token)  # cached
    published["jwks"] = second.jwks()
    time.sleep(0.25)
    results = await asyncio.gather(verifier.verify(token), verifier.verify(token), return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) for r in results), results

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

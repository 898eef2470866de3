"""Proofs from the API verify with vigie_verify; checkpoints advance only after a consistency check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from audit_log.adapters import orm
from shared.testing.harness import auth
from vigie_verify.checkpoint import open_checkpoint
from vigie_verify.errors import ProofError
from vigie_verify.merkle import verify_consistency, verify_inclusion

from .conftest import Log, tamper

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")


async def _signed(log: Log):
    vkey = (await log.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]
    return open_checkpoint((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text, vkey=vkey)


async def test_every_inclusion_and_consistency_proof_verifies_against_the_signed_roots(log: Log) -> None:
    checkpoints = []
    for batch_size in (1, 2, 4, 3, 7):
        await log.ingest(*(f"c-{n}" for n in range(batch_size)))
        assert await log.checkpoint() is not None
        checkpoints.append(await _signed(log))
    assert [c.size for c in checkpoints] == [1, 3, 7, 10, 17]

    for checkpoint in checkpoints:
        for index in range(checkpoint.size):
            answer = (
                await log.client.get(
                    "/v1/proofs/inclusion",
                    params={"index": index, "tree_size": checkpoint.size},
                    headers=AUDITOR,
                )
            ).json()
            assert answer["root_hash"] == checkpoint.root_hash.hex()
            verify_inclusion(
                leaf_hash=bytes.fromhex(answer["leaf_hash"]),
                index=index,
                tree_size=checkpoint.size,
                proof=[bytes.fromhex(h) for h in answer["audit_path"]],
                root=checkpoint.root_hash,
            )
    for first in checkpoints:
        for second in checkpoints:
            if first.size > second.size:
                continue
            answer = (
                await log.client.get(
                    "/v1/proofs/consistency",
                    params={"first": first.size, "second": second.size},
                    headers=AUDITOR,
                )
            ).json()
            verify_consistency(
                first=first.size,
                second=second.size,
                first_root=first.root_hash,
                second_root=second.root_hash,
                proof=[bytes.fromhex(h) for h in answer["consistency_path"]],
            )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"index": 3, "tree_size": 3}, "index"),
        ({"index": 0, "tree_size": 4}, "tree_size"),
        ({"index": -1, "tree_size": 1}, "index"),
        ({"index": "x", "tree_size": 1}, "index"),
    ],
)
async def test_an_inclusion_proof_outside_the_log_is_a_problem_naming_the_field(
    log: Log, params: dict, field: str
) -> None:
    await log.ingest(*(f"c-{n}" for n in range(3)))

    response = await log.client.get("/v1/proofs/inclusion", params=params, headers=AUDITOR)

    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_no_checkpoint_is_signed_over_a_tree_that_is_not_an_extension_of_the_last_one(log: Log) -> None:
    await log.ingest(*(f"c-{n}" for n in range(4)))
    await log.checkpoint()
    signed = await _signed(log)
    # The stored root of the first four leaves is rewritten, as a superuser rewriting history would.
    await tamper(log.url, "UPDATE tree_nodes SET hash = ? WHERE level = 2 AND idx = 0", b"\x42" * 32)
    await log.ingest(*(f"c-{n}" for n in range(4, 8)))

    with pytest.raises(ProofError):
        await log.checkpoint()

    async with log.service.runtime.engine.connect() as conn:
        sizes = (await conn.execute(sa.select(orm.checkpoints.c.tree_size))).scalars().all()
    assert sizes == [4]
    assert (await _signed(log)).root_hash == signed.root_hash


async def test_a_checkpoint_is_signed_only_when_the_tree_grew(log: Log) -> None:
    assert await log.checkpoint() is None
    assert (await log.client.get("/v1/checkpoint", headers=AUDITOR)).status_code == 404
    await log.ingest("c-1")
    assert await log.checkpoint() is not None
    assert await log.checkpoint() is None
    assert (await _signed(log)).size == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"first": 2, "second": 4}, "second"),
        ({"first": 3, "second": 2}, "first"),
        ({"first": 0, "second": 2}, "first"),
    ],
)
async def test_a_consistency_proof_outside_the_log_is_a_problem_naming_the_field(
    log: Log, params: dict, field: str
) -> None:
    await log.ingest(*(f"c-{n}" for n in range(3)))

    response = await log.client.get("/v1/proofs/consistency", params=params, headers=AUDITOR)

    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text

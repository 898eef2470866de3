"""The log's tables refuse UPDATE, DELETE and TRUNCATE in the database itself, whoever asks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from shared.testing.harness import auth
from sqlalchemy.exc import DBAPIError

from .conftest import Log, in_process

pytestmark = pytest.mark.integration

STATEMENTS = [
    "UPDATE entries SET actor = 'mallory' WHERE idx = 0",
    "DELETE FROM entries WHERE idx = 1",
    "DELETE FROM entries",
    "UPDATE tree_nodes SET hash = hash WHERE level = 0 AND idx = 0",
    "DELETE FROM tree_nodes",
    "UPDATE checkpoints SET note = 'forged'",
    "DELETE FROM checkpoints",
]


async def _counts(log: Log) -> tuple[int, int, int]:
    async with log.service.runtime.engine.connect() as conn:
        return tuple(
            [
                (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar()
                for table in ("entries", "tree_nodes", "checkpoints")
            ]
        )


@pytest.mark.parametrize("statement", STATEMENTS)
async def test_updates_and_deletes_on_the_log_fail_at_the_database(log: Log, statement: str) -> None:
    await log.ingest("c-1", "c-2", "c-3")
    await log.checkpoint()
    before = await _counts(log)

    with pytest.raises(DBAPIError, match="append-only"):
        async with log.service.runtime.engine.begin() as conn:
            await conn.execute(sa.text(statement))

    assert await _counts(log) == before
    verdict = (await log.client.get("/v1/verify", headers=auth("auditor"))).json()
    assert verdict["ok"] and verdict["tree_size"] == 3


@pytest.mark.parametrize("table", ["entries", "tree_nodes", "checkpoints"])
async def test_truncate_fails_on_postgresql(postgres_url: str, table: str) -> None:
    async with in_process(postgres_url) as log:
        await log.ingest("c-1")
        await log.checkpoint()
        with pytest.raises(DBAPIError, match="append-only"):
            async with log.service.runtime.engine.begin() as conn:
                await conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
        assert await _counts(log) == (1, 1, 1)

"""The log's tables refuse UPDATE, DELETE and TRUNCATE in the database itself, whoever asks."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from shared.testing.harness import auth
from sqlalchemy.exc import DBAPIError

from .conftest import OWNER_URL, SERVICE_ROLE, Log, in_process

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

    # The service's role on PostgreSQL lacks the privilege; whoever has it meets the trigger.
    with pytest.raises(DBAPIError, match="append-only|permission denied"):
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
        with pytest.raises(DBAPIError, match="append-only|permission denied"):
            async with log.service.runtime.engine.begin() as conn:
                await conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
        assert await _counts(log) == (1, 1, 1)


GUARD_STATEMENTS = [
    "ALTER TABLE entries DISABLE TRIGGER entries_no_update_delete",
    "ALTER TABLE entries DISABLE TRIGGER USER",
    "ALTER TABLE tree_nodes DISABLE TRIGGER ALL",
    "DROP TRIGGER checkpoints_no_update_delete ON checkpoints",
    "SET session_replication_role = replica",
    "UPDATE entries SET actor = 'mallory' WHERE idx = 0",
    "UPDATE tree_nodes SET hash = hash WHERE level = 1",
    "DELETE FROM checkpoints",
    "TRUNCATE entries",
    "ALTER TABLE entries ADD COLUMN note text",
]


@pytest.mark.parametrize("statement", GUARD_STATEMENTS)
async def test_the_services_role_can_neither_lift_the_guards_nor_change_the_log(
    postgres_url: str, statement: str
) -> None:
    async with in_process(postgres_url) as log:
        await log.ingest("c-1", "c-2")
        await log.checkpoint()
        async with log.service.runtime.engine.connect() as conn:
            role = (await conn.execute(sa.text("SELECT current_user"))).scalar()
            owner = (
                await conn.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'entries'"))
            ).scalar()
        assert role == SERVICE_ROLE and owner != role

        with pytest.raises(DBAPIError, match="permission denied|must be owner|append-only"):
            async with log.service.runtime.engine.begin() as conn:
                await conn.execute(sa.text(statement))

        assert await _counts(log) == (2, 3, 1)
        verdict = (await log.client.get("/v1/verify", headers=auth("auditor"))).json()
        assert verdict["ok"] and verdict["tree_size"] == 2


async def test_the_guards_fire_for_the_owner_even_in_replica_mode(postgres_url: str) -> None:
    owner = OWNER_URL[postgres_url].replace("postgresql+asyncpg://", "postgresql://")
    async with in_process(postgres_url) as log:
        await log.ingest("c-1")
        conn = await asyncpg.connect(owner)
        try:
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
                    await conn.execute("UPDATE entries SET actor = 'mallory'")
        finally:
            await conn.close()
        assert await _counts(log) == (1, 1, 0)

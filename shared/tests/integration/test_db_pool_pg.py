"""On a real PostgreSQL: a burst past the pool's size waits for pooled connections instead of opening
and closing new ones (the overflow churn that collapsed B6's open loop), and a pooled connection the
server dropped is never handed out again, even to code that runs statements on asyncpg directly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from shared.db import asyncpg_connection, make_engine, make_sessionmaker
from shared.testing.harness import create_postgres_database

pytestmark = pytest.mark.integration


async def test_a_burst_past_the_pool_reuses_its_connections(postgres_admin_url: str) -> None:
    url = await create_postgres_database(postgres_admin_url, f"pool_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url, pool_size=4)
    backends: list[int] = []

    async def request() -> None:
        async with engine.connect() as conn:
            backends.append((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(0.01)

    try:
        for _ in range(3):
            await asyncio.gather(*(request() for _ in range(40)))
        # 120 requests, at most 4 at a time: the same 4 backends served them all.
        assert len(backends) == 120
        assert len(set(backends)) == 4
        async with engine.connect() as conn:
            ssl = (
                await conn.execute(sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            ).scalar_one_or_none()
        assert not ssl
    finally:
        await engine.dispose()


async def test_a_connection_the_server_dropped_is_replaced_for_statements_run_on_asyncpg(
    postgres_admin_url: str,
) -> None:
    import asyncpg

    url = await create_postgres_database(postgres_admin_url, f"pool_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url, pool_size=1)  # one pooled connection: every checkout gets the same one
    sessions = make_sessionmaker(engine)

    async def backend_on_asyncpg() -> int:
        # As contacts' create and audit-log's append do: the statement bypasses SQLAlchemy.
        async with sessions() as session:
            driver = await asyncpg_connection(await session.connection())
            return int(await driver.fetchval("SELECT pg_backend_pid()"))

    try:
        first = await backend_on_asyncpg()
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.3)
        for _ in range(3):
            assert await backend_on_asyncpg() != first, "the dropped connection was handed out again"
    finally:
        await engine.dispose()

"""Alembic glue: one `env.py` body for every service, and a programmatic upgrade for tools and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shared.db import async_url, make_engine


class ForeignKeyViolationError(RuntimeError):
    """A SQLite migration left rows that reference no row of their parent table."""


def _do_run(connection: Connection, metadata: MetaData) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Because batch mode rebuilds a table (copy, drop, rename), and with foreign keys enforced the
        # drop of a table other rows reference fails; the references are checked once all ran instead.
        # (Outside a transaction: SQLite ignores this pragma inside one.)
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite and (dangling := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
            raise ForeignKeyViolationError(f"rows reference no parent after the migration: {dangling[:5]}")


def run_env(metadata: MetaData) -> None:
    """Runs migrations online against the URL in the Alembic config (called from a service's env.py)."""
    url = async_url(context.config.get_main_option("sqlalchemy.url") or "")

    async def _run() -> None:
        engine = make_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(_do_run, metadata)
            await conn.commit()
        await engine.dispose()

    asyncio.run(_run())


def upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    """Upgrades a service's database to `revision` (blocking; run it outside an event loop)."""
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)

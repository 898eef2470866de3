"""Async SQLAlchemy engines and sessions for SQLite (embedded default) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import DateTime, MetaData, event, exc, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp column that always reads back as an aware UTC datetime.

    PostgreSQL keeps the zone (`timestamptz`); SQLite stores text without one, so values read back
    naive there. This type stores UTC and tags what it reads, so no caller needs its own fix-up.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """Returns an aware datetime in UTC; a naive one is read as UTC (what SQLite hands back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_metadata() -> MetaData:
    """Returns a MetaData with the naming convention every service's migrations rely on."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Returns the URL with the async driver named (asyncpg, aiosqlite)."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def is_postgres(engine: AsyncEngine) -> bool:
    """Tells whether the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


#: Connections a process keeps to PostgreSQL at most (`<SERVICE>_DATABASE_POOL_SIZE`): as many as the
#: former pool of 10 plus 10 overflow could open, but kept instead of opened and closed per request.
DEFAULT_POOL_SIZE = 20

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _connect_args(url: str) -> dict[str, Any]:
    """Returns asyncpg's connect arguments: no TLS negotiation on loopback when nothing asks for it.

    asyncpg's default `ssl` is `prefer` (or `PGSSLMODE`): every new TCP connection first asks the
    server for TLS, and completes a TLS handshake if the server offers it. On loopback that buys
    nothing; elsewhere `prefer` stays (an unset URL keeps asyncpg's default), and an URL that names
    `ssl`/`sslmode`, or `PGSSLMODE`, decides as before.
    """
    parsed = make_url(url)
    if "ssl" in parsed.query or "sslmode" in parsed.query or os.environ.get("PGSSLMODE"):
        return {}
    host = parsed.host or parsed.query.get("host")
    if host is None or (isinstance(host, str) and (host in _LOOPBACK_HOSTS or host.startswith("/"))):
        return {"ssl": False}
    return {}


def make_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """Creates the engine; SQLite gets WAL, foreign keys and a busy timeout, PostgreSQL a fixed pool."""
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            # Because WAL lets the API, the relay and the consumer read while one of them writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pre-ping: on asyncpg it costs three round trips (BEGIN, a ping, ROLLBACK) per checkout, more
    # than the work of a typical request. A connection the server dropped fails one statement, which
    # invalidates the pool (SQLAlchemy's disconnect handling), and recycling bounds idle lifetimes.
    # No overflow: an overflow connection is closed as soon as it is returned while the pool is full,
    # so under a burst past `pool_size` every request opened (TCP, TLS probe, authentication, backend
    # start-up) and closed a connection of its own. A fixed pool keeps its connections (opened as
    # needed) and makes requests beyond it wait their turn, up to `pool_timeout` seconds.
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=1800,
        connect_args=_connect_args(url),
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """Makes the pool drop a connection the server closed (DisconnectionError) and hand out another."""
    # Because statements run on asyncpg's own connection (`asyncpg_connection`) bypass SQLAlchemy's
    # disconnect handling: a connection the server dropped (a restart, a terminated backend) would be
    # checked in as good and fail every later checkout. asyncpg marks it closed as soon as it reads the
    # end of the stream or fails on it, so this costs no round trip.
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Returns the session factory; objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Runs one round trip to the database or raises."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class AsyncpgConnection(Protocol):
    """The part of asyncpg's own connection that Vigie calls directly (asyncpg ships no type hints)."""

    async def fetch(self, query: str, *args: object) -> list[Any]: ...

    async def execute(self, query: str, *args: object) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    def is_closed(self) -> bool: ...

    async def copy_records_to_table(
        self, table_name: str, *, columns: Sequence[str], records: Iterable[Sequence[object]]
    ) -> str: ...

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None: ...

    async def remove_listener(self, channel: str, callback: Callable[..., None]) -> None: ...


async def asyncpg_connection(conn: AsyncConnection) -> AsyncpgConnection:
    """Returns the asyncpg connection under a PostgreSQL connection, in that connection's transaction."""
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the connection has no driver connection (it was invalidated or detached)")
    return cast(AsyncpgConnection, driver)


@asynccontextmanager
async def pooled_asyncpg(engine: AsyncEngine) -> AsyncIterator[AsyncpgConnection]:
    """Checks a connection out of the engine's pool and yields asyncpg's own connection under it (one
    the server dropped is replaced at checkout: `make_engine`'s checkout hook)."""
    async with engine.connect() as conn:
        yield await asyncpg_connection(conn)

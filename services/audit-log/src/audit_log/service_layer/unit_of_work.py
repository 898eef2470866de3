"""The audit log's unit of work: one transaction on the log store, committed once.

The SQL implementation stands on a connection rather than on `shared.uow.SqlAlchemyUnitOfWork`'s
session, because the audit log publishes nothing (no outbox rows to write, no relay to wake, no
aggregates carrying events) and its group commit goes through the driver's own COPY on the
transaction's connection.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from shared.uow import AbstractUnitOfWork
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit_log.adapters.repository import AbstractLogRepository, LogKeys, SqlLogRepository, SubjectKeyCache

#: Who commits: the audit log writes only events other services' actors caused (each entry keeps its own).
SELF = "audit-log"


class AbstractAuditUnitOfWork(AbstractUnitOfWork):
    """The port the audit log's handlers use: `async with uow:` … `uow.log` … `await uow.commit()`."""

    log: AbstractLogRepository

    async def commit(self, *, actor: str = SELF) -> None:
        """Commits the transaction, then tells the log store (the writer learns its batch's keys only now)."""
        await self._commit()
        self.committed = True
        self.log.committed()

    @abc.abstractmethod
    async def _commit(self) -> None:
        """Commits the transaction."""


class SqlAlchemyAuditUnitOfWork(AbstractAuditUnitOfWork):
    """A connection and its transaction per `async with`, with the SQL log store on it."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        keys: LogKeys,
        key_cache: SubjectKeyCache,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if clock is not None:
            self.clock = clock
        self._engine = engine
        self._keys = keys
        self._key_cache = key_cache
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        self.log = SqlLogRepository(self._conn, keys=self._keys, key_cache=self._key_cache)
        return await super().__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def _commit(self) -> None:
        assert self._conn is not None, "commit outside `async with`"
        await self._conn.commit()

    async def rollback(self) -> None:
        if self._conn is not None:
            await self._conn.rollback()

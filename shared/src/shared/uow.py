"""The SQLAlchemy unit of work every service builds on: one transaction, events into the outbox,
one commit."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import outbox
from shared.events import EventEnvelope
from shared.inbox import mark_processed_or_skip
from shared.logging import correlation_id

#: Turns one domain event into (topic, envelope) given the actor and correlation id.
EnvelopeFactory = Callable[..., tuple[str, EventEnvelope]]


class AbstractUnitOfWork(abc.ABC):
    """The port handlers depend on: `async with uow:` … `await uow.commit(actor=…)`."""

    committed: bool = False
    clock: Callable[[], datetime] = staticmethod(lambda: datetime.now(UTC))

    async def __aenter__(self) -> Self:
        self.committed = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    @abc.abstractmethod
    async def commit(self, *, actor: str) -> None:
        """Writes the aggregates' changes and their events in one transaction."""

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Discards whatever was not committed."""


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """A session per `async with`; on commit, pending domain events become outbox rows first.

    Subclasses create their repositories in `_open(session)` and list them in `_repositories()`;
    each repository keeps the aggregates it handed out in `seen`.
    """

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        outbox_table: sa.Table,
        to_envelope: EnvelopeFactory,
        inbox_table: sa.Table | None = None,
        after_commit: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if clock is not None:
            self.clock = clock
        self._session_factory = session_factory
        self._outbox_table = outbox_table
        self._inbox_table = inbox_table
        self._to_envelope = to_envelope
        self._after_commit = after_commit
        self._loose_events: list[Any] = []
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self._loose_events = []
        self._open(self.session)
        return await super().__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        await self.session.close()

    @abc.abstractmethod
    def _open(self, session: AsyncSession) -> None:
        """Creates the repositories on the session."""

    @abc.abstractmethod
    def _repositories(self) -> Iterable[Any]:
        """Lists the repositories whose `seen` aggregates may carry events."""

    async def _flush(self) -> None:
        """Writes the repositories' pending state to the session (before the outbox rows)."""

    def publish(self, event: Any) -> None:
        """Queues an event that belongs to no loaded aggregate (a receipt, an erasure) for the outbox."""
        self._loose_events.append(event)

    def collect_events(self) -> list[Any]:
        """Pops the pending events of every aggregate the repositories handed out, then the loose ones."""
        pending = []
        for repository in self._repositories():
            for aggregate in repository.seen:
                pending.extend(aggregate.events)
                aggregate.events.clear()
        pending.extend(self._loose_events)
        self._loose_events = []
        return pending

    async def first_delivery(self, *, event_id: str, topic: str) -> bool:
        """Records a consumed event id in the inbox; False when it was already processed (a duplicate)."""
        if self._inbox_table is None:
            raise TypeError(f"{type(self).__name__} consumes no topic: it was built without an inbox table")
        return await mark_processed_or_skip(self.session, self._inbox_table, event_id=event_id, topic=topic)

    async def commit(self, *, actor: str) -> None:
        """Flushes state, writes one outbox row per event, commits, then wakes the relay."""
        await self._flush()
        cid = correlation_id.get()
        await outbox.add_many(
            self.session,
            self._outbox_table,
            [self._to_envelope(event, actor=actor, correlation_id=cid) for event in self.collect_events()],
        )
        await self.session.commit()
        self.committed = True
        if self._after_commit is not None:
            self._after_commit()

    async def rollback(self) -> None:
        """Rolls the session back (a no-op after a commit)."""
        await self.session.rollback()

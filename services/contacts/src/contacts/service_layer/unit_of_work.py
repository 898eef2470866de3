"""The contacts unit of work: contacts, interactions, data-subject requests and outbox in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from shared.logging import correlation_id
from shared.uow import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters import orm, outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.adapters.repository import (
    AbstractContactRepository,
    AbstractRequestRepository,
    SqlAlchemyContactRepository,
    SqlAlchemyRequestRepository,
    copy_rows,
)
from contacts.domain import events
from shared import outbox

#: The outbox columns an import writes, in the order of its prepared rows (the id and the publication
#: time are the database's and the relay's).
OUTBOX_COLUMNS = ["event_id", "topic", "key", "value", "headers", "created_at"]


class AbstractContactsUnitOfWork(AbstractUnitOfWork):
    """The port handlers take: the contacts and requests repositories, the vault and a clock."""

    contacts: AbstractContactRepository
    requests: AbstractRequestRepository
    vault: PersonalDataVault

    async def add_outbox_rows(self, rows: Sequence[tuple[Any, ...] | bytes]) -> None:
        """Writes ready outbox rows in this transaction, in list order."""
        raise NotImplementedError


class ContactsUnitOfWork(SqlAlchemyUnitOfWork, AbstractContactsUnitOfWork):
    """Opens a session with both repositories; commit writes state, then outbox rows, once."""

    def __init__(self, *, vault: PersonalDataVault, **kwargs: Any) -> None:
        super().__init__(outbox_table=orm.outbox, to_envelope=outgoing.to_envelope, **kwargs)
        self.vault = vault
        self.contacts: SqlAlchemyContactRepository
        self.requests: SqlAlchemyRequestRepository

    def _open(self, session: AsyncSession) -> None:
        self.contacts = SqlAlchemyContactRepository(session, self.vault)
        self.requests = SqlAlchemyRequestRepository(session)

    def _repositories(self) -> Iterable[Any]:
        return [self.contacts, self.requests]

    async def _flush(self) -> None:
        await self.contacts.flush()
        await self.requests.flush()

    async def add_outbox_rows(self, rows: Sequence[tuple[Any, ...] | bytes]) -> None:
        """Writes ready outbox rows (values in OUTBOX_COLUMNS order, built by `outbox.row_for`, or on
        PostgreSQL those values as binary COPY rows) in this transaction, in list order: COPY on
        PostgreSQL, one batched INSERT elsewhere."""
        if not rows:
            return
        if self.contacts.postgres:
            await copy_rows(self.session, orm.outbox, OUTBOX_COLUMNS, rows)
        else:
            await self.session.execute(
                orm.outbox.insert(),
                [dict(zip(OUTBOX_COLUMNS, cast(tuple[Any, ...], row), strict=True)) for row in rows],
            )

    async def commit(self, *, actor: str) -> None:
        """Commits; a lone new contact on PostgreSQL goes in one statement with its event (creates)."""
        contact = self.contacts.lone_new_contact()
        if contact is None or self.requests.has_changes():
            await super().commit(actor=actor)
            return
        [event] = self.collect_events()
        if isinstance(event, events.ContactCreated):
            # The same row as outbox.row_for(to_envelope(…)), byte for byte, without the envelope model.
            row = outgoing.created_outbox_row(event, actor=actor, correlation_id=correlation_id.get())
        else:
            topic, envelope = outgoing.to_envelope(event, actor=actor, correlation_id=correlation_id.get())
            row = outbox.row_for(envelope, topic=topic)
        await self.contacts.insert_with_event(contact, row)
        self.committed = True
        if self._after_commit is not None:
            self._after_commit()

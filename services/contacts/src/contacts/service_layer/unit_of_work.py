"""The contacts unit of work: the contacts repository, interactions and the outbox in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters import orm, outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.adapters.repository import AbstractContactRepository, SqlAlchemyContactRepository
from shared import outbox
from shared.logging import correlation_id
from shared.uow import AbstractUnitOfWork, SqlAlchemyUnitOfWork


class AbstractContactsUnitOfWork(AbstractUnitOfWork):
    """The port handlers take: a contacts repository, the vault and a clock."""

    contacts: AbstractContactRepository
    vault: PersonalDataVault


class ContactsUnitOfWork(SqlAlchemyUnitOfWork, AbstractContactsUnitOfWork):
    """Opens a session with the contacts repository; commit writes state, then outbox rows, once."""

    def __init__(self, *, vault: PersonalDataVault, **kwargs: Any) -> None:
        super().__init__(outbox_table=orm.outbox, to_envelope=outgoing.to_envelope, **kwargs)
        self.vault = vault
        self.contacts: SqlAlchemyContactRepository

    def _open(self, session: AsyncSession) -> None:
        self.contacts = SqlAlchemyContactRepository(session, self.vault)

    def _repositories(self) -> Iterable[Any]:
        return [self.contacts]

    async def _flush(self) -> None:
        await self.contacts.flush()

    async def commit(self, *, actor: str) -> None:
        """Commits; a lone new contact on PostgreSQL goes with its event in one statement (the create path)."""
        contact = self.contacts.lone_new_contact()
        if contact is None:
            await super().commit(actor=actor)
            return
        [event] = self.collect_events()
        topic, envelope = outgoing.to_envelope(event, actor=actor, correlation_id=correlation_id.get())
        await self.contacts.insert_with_event(contact, outbox.row_for(envelope, topic=topic))
        self.committed = True
        if self._after_commit is not None:
            self._after_commit()

"""The contacts repository: maps rows to aggregates, sealing and opening personal data on the way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters import orm
from contacts.adapters.protection import PersonalDataVault, SealedPersonalData
from contacts.domain.errors import ContactNotFoundError, VersionConflictError
from contacts.domain.model import BlindIndexes, Contact, Kind, Origin, PersonalData, Relationship, Status


class SqlAlchemyContactRepository:
    """Loads and saves contacts; remembers every aggregate it handed out in `seen`."""

    def __init__(self, session: AsyncSession, vault: PersonalDataVault) -> None:
        self._session = session
        self._vault = vault
        self._loaded: dict[str, tuple[int, bytes | None]] = {}
        self._seen: dict[str, Contact] = {}

    @property
    def seen(self) -> list[Contact]:
        """Returns the aggregates handed out or added in this unit of work."""
        return list(self._seen.values())

    def add(self, contact: Contact) -> None:
        """Registers a new contact to be inserted on flush."""
        self._seen[contact.id] = contact

    async def get_or_raise(self, contact_id: str, *, for_update: bool = False) -> Contact:
        """Returns the contact or raises ContactNotFoundError."""
        query = sa.select(orm.contacts).where(orm.contacts.c.id == contact_id)
        if for_update and self._session.bind is not None and self._session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            raise ContactNotFoundError(contact_id)
        contact = self._to_domain(row)
        self._loaded[contact.id] = (contact.version, row["wrapped_key"])
        self._seen[contact.id] = contact
        return contact

    async def find_by_index(self, *, email_index: str | None = None, phone_index: str | None = None) -> list[str]:
        """Returns the ids of live contacts whose blind index matches."""
        clauses = []
        if email_index:
            clauses.append(orm.contacts.c.email_index == email_index)
        if phone_index:
            clauses.append(orm.contacts.c.phone_index == phone_index)
        if not clauses:
            return []
        query = sa.select(orm.contacts.c.id).where(sa.or_(*clauses),
                                                    orm.contacts.c.status != Status.ERASED.value)
        return list((await self._session.execute(query)).scalars())

    async def flush(self) -> None:
        """Writes every seen aggregate: inserts new ones, updates changed ones with a version check."""
        for contact in self.seen:
            loaded = self._loaded.get(contact.id)
            if loaded is None:
                await self._session.execute(orm.contacts.insert().values(**self._to_row(contact, None)))
                self._loaded[contact.id] = (contact.version, None)
            elif loaded[0] != contact.version:
                row = self._to_row(contact, loaded[1])
                result = await self._session.execute(
                    orm.contacts.update().where(orm.contacts.c.id == contact.id,
                                                orm.contacts.c.version == loaded[0]).values(**row))
                if result.rowcount != 1:
                    raise VersionConflictError(contact.id, loaded[0], -1)
                self._loaded[contact.id] = (contact.version, row["wrapped_key"])

    def _to_row(self, contact: Contact, wrapped_key: bytes | None) -> dict[str, Any]:
        if contact.status is Status.ERASED:
            # Because destroying the data key is what makes any copy of the ciphertext unreadable.
            wrapped, ciphertext = None, None
        else:
            sealed = self._vault.seal(contact.id, contact.personal, wrapped_key=wrapped_key)
            wrapped, ciphertext = sealed.wrapped_key, sealed.ciphertext
        return {
            "id": contact.id, "kind": contact.kind.value, "relationship": contact.relationship.value,
            "status": contact.status.value, "version": contact.version,
            "collected_from_person": contact.origin.collected_from_person, "source": contact.origin.source,
            "broker_name": contact.origin.broker_name, "obtained_at": contact.obtained_at,
            "last_contact_from_person_at": contact.last_contact_from_person_at,
            "relationship_end_at": contact.relationship_end_at, "attributes": contact.attributes,
            "wrapped_key": wrapped, "personal_data": ciphertext,
            "email_index": None if contact.status is Status.ERASED else contact.indexes.email,
            "phone_index": None if contact.status is Status.ERASED else contact.indexes.phone,
            "created_at": contact.created_at, "updated_at": contact.updated_at,
        }

    def _to_domain(self, row: Any) -> Contact:
        if row["wrapped_key"] is None:
            personal = PersonalData()
        else:
            personal = self._vault.open(row["id"], SealedPersonalData(row["wrapped_key"], row["personal_data"]))
        return Contact(
            id=row["id"], kind=Kind(row["kind"]), relationship=Relationship(row["relationship"]), personal=personal,
            indexes=BlindIndexes(email=row["email_index"], phone=row["phone_index"]),
            origin=Origin(collected_from_person=row["collected_from_person"], source=row["source"],
                          broker_name=row["broker_name"]),
            obtained_at=_aware(row["obtained_at"]), last_contact_from_person_at=_aware(row["last_contact_from_person_at"]),
            relationship_end_at=_aware(row["relationship_end_at"]), attributes=dict(row["attributes"] or {}),
            status=Status(row["status"]), version=row["version"], created_at=_aware(row["created_at"]),
            updated_at=_aware(row["updated_at"]),
        )


def _aware(value: Any) -> Any:
    # Because SQLite hands back naive datetimes for timezone-aware columns; Vigie stores UTC only.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value

"""The contacts repository: maps rows to aggregates, sealing and opening personal data on the way."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters import orm
from contacts.adapters.protection import PersonalDataVault, SealedPersonalData
from contacts.domain.errors import ContactNotFoundError, DuplicateContactError, VersionConflictError
from contacts.domain.model import (BlindIndexes, Contact, ContractRecord, Kind, Origin, PersonalData, PhoneCollection,
                                   Purchase, Relationship, Status)


@dataclass(frozen=True)
class InteractionRow:
    """One recorded interaction as stored (no personal data)."""

    id: str
    contact_id: str
    kind: str
    channel: str | None
    occurred_at: datetime
    recorded_at: datetime
    seller: str | None = None
    product_categories: list[str] | None = None
    outcome: str | None = None


class AbstractContactRepository(abc.ABC):
    """The port handlers use: contacts by id or blind index, interactions, and the aggregates handed out.

    `flush` raises DuplicateContactError naming the existing contact when a new or changed e-mail or
    phone index is already taken by a live contact (the storage enforces it, not a prior lookup).
    """

    def __init__(self) -> None:
        self._seen: dict[str, Contact] = {}

    @property
    def seen(self) -> list[Contact]:
        """Returns the aggregates handed out or added in this unit of work."""
        return list(self._seen.values())

    def add(self, contact: Contact) -> None:
        """Registers a new contact to be inserted on flush."""
        self._seen[contact.id] = contact

    def add_all(self, contacts: list[Contact]) -> None:
        """Registers new contacts to be inserted on flush (in one batch)."""
        for contact in contacts:
            self._seen[contact.id] = contact

    async def get_or_raise(self, contact_id: str, *, for_update: bool = False) -> Contact:
        """Returns the contact or raises ContactNotFoundError."""
        contact = await self._get(contact_id, for_update=for_update)
        if contact is None:
            raise ContactNotFoundError(contact_id)
        self._seen[contact.id] = contact
        return contact

    async def find_by_index(self, *, email_index: str | None = None, phone_index: str | None = None) -> list[str]:
        """Returns the ids of live contacts whose e-mail or phone blind index matches."""
        known = await self.find_known(email_indexes=[email_index] if email_index else [],
                                      phone_indexes=[phone_index] if phone_index else [])
        return list(dict.fromkeys(known.values()))

    @abc.abstractmethod
    async def _get(self, contact_id: str, *, for_update: bool) -> Contact | None: ...

    @abc.abstractmethod
    async def find_known(self, *, email_indexes: list[str], phone_indexes: list[str]) -> dict[tuple[str, str], str]:
        """Returns {("email"|"phone", index): contact id} for the indexes held by live contacts (one batch)."""

    @abc.abstractmethod
    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        """Returns, in id order after `after`, ids of live contacts with some clock date at or before `cutoff`."""

    @abc.abstractmethod
    async def add_interaction(self, interaction: InteractionRow) -> None:
        """Stores an interaction."""

    @abc.abstractmethod
    async def delete_interactions(self, contact_id: str) -> None:
        """Deletes the interactions of a contact."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Writes every seen aggregate: inserts new ones, updates changed ones with a version check."""


def _create_with_event_statement() -> Any:
    # Built once: an INSERT of the contact as a data-modifying CTE feeding the INSERT of its outbox
    # row, so that PostgreSQL runs both as one atomic statement, in one round trip, with no BEGIN.
    contact = orm.contacts.insert().values(
        {c.name: sa.bindparam(f"c_{c.name}", type_=c.type) for c in orm.contacts.columns}).cte("new_contact")
    event_columns = [c for c in orm.outbox.columns if c.name not in ("id", "published_at")]
    return orm.outbox.insert().values(
        {c.name: sa.bindparam(f"o_{c.name}", type_=c.type) for c in event_columns}).add_cte(contact)


_CREATE_WITH_EVENT = _create_with_event_statement()


class SqlAlchemyContactRepository(AbstractContactRepository):
    """Loads and saves contacts with Core statements on the unit of work's session."""

    def __init__(self, session: AsyncSession, vault: PersonalDataVault) -> None:
        super().__init__()
        self._session = session
        self._vault = vault
        self._loaded: dict[str, tuple[int, bytes | None]] = {}
        self._postgres = session.bind is not None and session.bind.dialect.name == "postgresql"

    async def _get(self, contact_id: str, *, for_update: bool) -> Contact | None:
        query = sa.select(orm.contacts).where(orm.contacts.c.id == contact_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        contact = self._to_domain(row)
        self._loaded[contact.id] = (contact.version, row["wrapped_key"])
        return contact

    async def find_known(self, *, email_indexes: list[str], phone_indexes: list[str]) -> dict[tuple[str, str], str]:
        c = orm.contacts.c
        found: dict[tuple[str, str], str] = {}
        for kind, column, values in (("email", c.email_index, email_indexes), ("phone", c.phone_index, phone_indexes)):
            unique = list(dict.fromkeys(v for v in values if v))
            # Because a bound-parameter list has limits (SQLite: 32,766 variables), large lookups go in slices.
            for start in range(0, len(unique), 5000):
                query = sa.select(column, c.id).where(column.in_(unique[start:start + 5000]),
                                                     c.status != Status.ERASED.value)
                for index, contact_id in (await self._session.execute(query)).all():
                    found[(kind, index)] = contact_id
        return found

    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        c = orm.contacts.c
        query = sa.select(c.id).where(
            c.status != Status.ERASED.value,
            sa.or_(c.obtained_at <= cutoff, c.last_contact_from_person_at <= cutoff,
                   c.relationship_end_at <= cutoff))
        if after is not None:
            query = query.where(c.id > after)
        return list((await self._session.execute(query.order_by(c.id).limit(limit))).scalars())

    async def add_interaction(self, interaction: InteractionRow) -> None:
        await self._session.execute(orm.interactions.insert().values(
            id=interaction.id, contact_id=interaction.contact_id, kind=interaction.kind,
            channel=interaction.channel, occurred_at=interaction.occurred_at, recorded_at=interaction.recorded_at,
            seller=interaction.seller, product_categories=interaction.product_categories,
            outcome=interaction.outcome))

    async def delete_interactions(self, contact_id: str) -> None:
        await self._session.execute(orm.interactions.delete().where(orm.interactions.c.contact_id == contact_id))

    def lone_new_contact(self) -> Contact | None:
        """Returns the only aggregate of this unit of work if it is a new contact on PostgreSQL, else None."""
        seen = self.seen
        if self._postgres and len(seen) == 1 and not self._loaded and len(seen[0].events) == 1:
            return seen[0]
        return None

    async def insert_with_event(self, contact: Contact, outbox_row: dict[str, Any]) -> None:
        """Inserts a new contact and its outbox row in one autocommitted statement (DuplicateContactError)."""
        params = {f"c_{k}": v for k, v in self._to_row(contact, None).items()}
        params.update({f"o_{k}": v for k, v in outbox_row.items()})
        bind = self._session.bind
        try:
            async with bind.connect() as conn:  # type: ignore[union-attr]
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(_CREATE_WITH_EVENT, params)
        except sa.exc.IntegrityError as error:
            await self._raise_duplicate([contact], error)
            raise
        self._loaded[contact.id] = (contact.version, params["c_wrapped_key"])

    async def flush(self) -> None:
        new_rows = []
        for contact in self.seen:
            loaded = self._loaded.get(contact.id)
            if loaded is None:
                new_rows.append(self._to_row(contact, None))
                self._loaded[contact.id] = (contact.version, new_rows[-1]["wrapped_key"])
            elif loaded[0] != contact.version:
                row = self._to_row(contact, loaded[1])
                statement = orm.contacts.update().where(orm.contacts.c.id == contact.id,
                                                        orm.contacts.c.version == loaded[0]).values(**row)
                result = await self._guarded(statement, [contact])
                if result.rowcount != 1:
                    raise VersionConflictError(contact.id, loaded[0], -1)
                self._loaded[contact.id] = (contact.version, row["wrapped_key"])
        if len(new_rows) == 1:
            await self._guarded(orm.contacts.insert(), [self._seen[new_rows[0]["id"]]], new_rows[0])
        elif new_rows:
            await self._guarded(orm.contacts.insert(), [self._seen[r["id"]] for r in new_rows], new_rows)

    async def _guarded(self, statement: Any, contacts: list[Contact], params: Any = None) -> Any:
        # Because the unique partial indexes on the blind indexes decide duplicates atomically, a
        # create costs no prior lookup; the lookup happens only to name the existing contact.
        try:
            if params is not None:
                return await self._session.execute(statement, params)
            return await self._session.execute(statement)
        except sa.exc.IntegrityError as error:
            # The failed statement spoiled the transaction; the lookup runs in a fresh one.
            await self._session.rollback()
            await self._raise_duplicate(contacts, error)
            raise

    async def _raise_duplicate(self, contacts: list[Contact], error: Exception) -> None:
        """Raises DuplicateContactError naming the live contact that holds one of the contacts' indexes."""
        for contact in contacts:
            for matched_on, index in (("email", contact.indexes.email), ("phone", contact.indexes.phone)):
                if index is None:
                    continue
                existing = [cid for cid in await self.find_by_index(**{f"{matched_on}_index": index})
                            if cid != contact.id]
                if existing:
                    raise DuplicateContactError(existing[0], matched_on) from error

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
            "timezone": contact.timezone, "timezone_source": contact.timezone_source,
            "profession": contact.profession,
            "phone_collection": contact.phone_collection.as_dict() if contact.phone_collection else None,
            "stop_pub": contact.stop_pub, "purchases": [p.as_dict() for p in contact.purchases],
            "contracts": [c.as_dict() for c in contact.contracts],
            "call_attempts": [t.isoformat() for t in contact.call_attempts],
            "last_call_refusal_at": contact.last_call_refusal_at,
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
            timezone=row["timezone"], timezone_source=row["timezone_source"], profession=row["profession"],
            phone_collection=PhoneCollection(**row["phone_collection"]) if row["phone_collection"] else None,
            stop_pub=bool(row["stop_pub"]),
            purchases=[Purchase(seller=p["seller"], categories=tuple(p["categories"]),
                                last_at=datetime.fromisoformat(p["last_at"])) for p in row["purchases"] or []],
            contracts=[ContractRecord(seller=c["seller"], categories=tuple(c["categories"]),
                                      started_at=datetime.fromisoformat(c["started_at"]),
                                      ended_at=datetime.fromisoformat(c["ended_at"]) if c["ended_at"] else None)
                       for c in row["contracts"] or []],
            call_attempts=[datetime.fromisoformat(t) for t in row["call_attempts"] or []],
            last_call_refusal_at=_aware(row["last_call_refusal_at"]),
            status=Status(row["status"]), version=row["version"], created_at=_aware(row["created_at"]),
            updated_at=_aware(row["updated_at"]),
        )


def _aware(value: Any) -> Any:
    # Because SQLite hands back naive datetimes for timezone-aware columns; Vigie stores UTC only.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value

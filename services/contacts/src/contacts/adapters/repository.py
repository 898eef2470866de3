"""The contacts repositories: contacts (sealing and opening personal data on the way), their interactions,
and data-subject requests with their objection forwards; every query of the service lives here."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa
from shared.db import UtcDateTime, as_utc, asyncpg_connection, pooled_asyncpg
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contacts.adapters import copy_binary, orm
from contacts.adapters.protection import OpenedPersonalData, PersonalDataVault, SealedPersonalData
from contacts.domain import requests as rq
from contacts.domain.errors import ContactNotFoundError, DuplicateContactError, VersionConflictError
from contacts.domain.model import (
    BlindIndexes,
    Contact,
    ContractRecord,
    Kind,
    Origin,
    PersonalData,
    PhoneCollection,
    Purchase,
    Relationship,
    Restriction,
    Status,
)


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

    async def find_by_index(
        self,
        *,
        email_index: str | None = None,
        phone_index: str | None = None,
        external_ref_index: str | None = None,
    ) -> list[str]:
        """Returns the ids of live contacts whose e-mail, phone or external-reference blind index matches."""
        known = await self.find_known(
            email_indexes=[email_index] if email_index else [],
            phone_indexes=[phone_index] if phone_index else [],
            external_ref_indexes=[external_ref_index] if external_ref_index else [],
        )
        return list(dict.fromkeys(known.values()))

    @abc.abstractmethod
    async def _get(self, contact_id: str, *, for_update: bool) -> Contact | None: ...

    @abc.abstractmethod
    async def find_known(
        self,
        *,
        email_indexes: Sequence[str],
        phone_indexes: Sequence[str],
        external_ref_indexes: Sequence[str] = (),
    ) -> dict[tuple[str, str], str]:
        """Returns {("email"|"phone"|"external_ref", index): contact id} for the indexes held by live
        contacts (one batch)."""

    async def insert_rows(self, rows: Sequence[tuple[Any, ...] | bytes]) -> None:
        """Inserts new contacts given as stored rows (`contact_row` values in CONTACT_COLUMNS order, or
        on PostgreSQL those values as binary COPY rows), in one batch; the duplicates were decided by
        the caller (a concurrent writer's raises DuplicateContactError)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        """Returns, in id order after `after`,
        ids of live contacts with some clock date at or before `cutoff`."""

    @abc.abstractmethod
    async def add_interaction(self, interaction: InteractionRow) -> None:
        """Stores an interaction."""

    @abc.abstractmethod
    async def delete_interactions(self, contact_id: str) -> None:
        """Deletes the interactions of a contact."""

    @abc.abstractmethod
    async def interactions_of(self, contact_id: str) -> list[InteractionRow]:
        """Returns the interactions recorded for a contact, oldest first."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Writes every seen aggregate: inserts new ones, updates changed ones with a version check."""


def _asyncpg_values(table: sa.Table, columns: list[str]) -> Callable[[dict[str, Any]], list[Any]]:
    """Returns what turns a row dict into asyncpg arguments in `columns` order: json columns as text
    (asyncpg's json codec takes text) and times in UTC, as SQLAlchemy's bind processing does."""
    # The positions to convert, found once: a create converts two rows, and a test per column and row
    # cost more than the conversions themselves.
    json_at = [n for n, name in enumerate(columns) if isinstance(table.c[name].type, sa.JSON)]
    time_at = [n for n, name in enumerate(columns) if isinstance(table.c[name].type, UtcDateTime)]

    def convert(row: dict[str, Any]) -> list[Any]:
        out = [row[name] for name in columns]
        for n in json_at:
            if out[n] is not None:
                out[n] = orjson.dumps(out[n]).decode()
        for n in time_at:
            if out[n] is not None:
                out[n] = as_utc(out[n])
        return out

    return convert


def _create_with_event_sql() -> tuple[str, tuple[Callable[[dict[str, Any]], list[Any]], ...]]:
    # An INSERT of the contact as a data-modifying CTE feeding the INSERT of its outbox row, so that
    # PostgreSQL runs both as one atomic statement, in one round trip, with no BEGIN.
    contact = [c.name for c in orm.contacts.columns]
    event = [c.name for c in orm.outbox.columns if c.name not in ("id", "published_at")]
    first = ", ".join(f"${n}" for n in range(1, len(contact) + 1))
    second = ", ".join(f"${n}" for n in range(len(contact) + 1, len(contact) + len(event) + 1))
    sql = (
        f"WITH new_contact AS (INSERT INTO contacts ({', '.join(contact)}) VALUES ({first})) "
        f"INSERT INTO outbox ({', '.join(event)}) VALUES ({second})"
    )
    return sql, (_asyncpg_values(orm.contacts, contact), _asyncpg_values(orm.outbox, event))


_CREATE_WITH_EVENT_SQL, _CREATE_ARGS = _create_with_event_sql()


def contact_row(
    contact: Contact, vault: PersonalDataVault, wrapped_key: bytes | None = None
) -> dict[str, Any]:
    """Returns the stored row of a contact: its identifiers and attributes sealed (a new data key when
    `wrapped_key` is None), nothing sealed once erased (the data key is gone)."""
    if contact.status is Status.ERASED:
        # Because destroying the data key is what makes any copy of the ciphertext unreadable.
        wrapped, ciphertext = None, None
    elif wrapped_key is None:
        # A new contact: the batch sealing (what `seal` gives, with one draw of random bytes and the
        # active KEK's cipher at hand) spares the key ring's per-key checks and two more draws.
        [sealed] = vault.seal_new_many([(contact.id, contact.personal, contact.attributes)])
        wrapped, ciphertext = sealed.wrapped_key, sealed.ciphertext
    else:
        sealed = vault.seal(
            contact.id, contact.personal, attributes=contact.attributes, wrapped_key=wrapped_key
        )
        wrapped, ciphertext = sealed.wrapped_key, sealed.ciphertext
    return {
        "id": contact.id,
        "kind": contact.kind.value,
        "relationship": contact.relationship.value,
        "status": contact.status.value,
        "version": contact.version,
        "collected_from_person": contact.origin.collected_from_person,
        "source": contact.origin.source,
        "broker_name": contact.origin.broker_name,
        "obtained_at": contact.obtained_at,
        "last_contact_from_person_at": contact.last_contact_from_person_at,
        "relationship_end_at": contact.relationship_end_at,
        "timezone": contact.timezone,
        "timezone_source": contact.timezone_source,
        "profession": contact.profession,
        "phone_collection": contact.phone_collection.as_dict() if contact.phone_collection else None,
        "stop_pub": contact.stop_pub,
        "purchases": [p.as_dict() for p in contact.purchases],
        "contracts": [c.as_dict() for c in contact.contracts],
        "call_attempts": [t.isoformat() for t in contact.call_attempts],
        "last_call_refusal_at": contact.last_call_refusal_at,
        "restriction": contact.restriction.as_dict() if contact.restriction else None,
        "wrapped_key": wrapped,
        "personal_data": ciphertext,
        "email_index": None if contact.status is Status.ERASED else contact.indexes.email,
        "phone_index": None if contact.status is Status.ERASED else contact.indexes.phone,
        "external_ref_index": None if contact.status is Status.ERASED else contact.indexes.external_ref,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


#: The contacts columns in table order: the order of `contact_row` values in a COPY or a bulk insert.
CONTACT_COLUMNS = [c.name for c in orm.contacts.columns]


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def copy_rows(
    session: AsyncSession, table: sa.Table, columns: list[str], rows: Sequence[tuple[Any, ...] | bytes]
) -> None:
    """Writes rows (values in `columns` order, or each already a binary COPY row) with PostgreSQL's
    COPY, in the session's transaction.

    Because COPY is the fastest way PostgreSQL takes many rows (one stream, no statement per row); json
    columns go as text, which is how asyncpg encodes them.
    """
    connection = await asyncpg_connection(await session.connection())
    if rows and isinstance(rows[0], bytes):
        # Rows already encoded by `copy_binary.RowEncoder` (in the import's workers): joined, not re-encoded.
        # cast: shared.db's protocol of the asyncpg connection names only the calls other services use.
        await cast(Any, connection).copy_to_table(
            table.name, source=copy_binary.stream(cast(list[bytes], rows)), columns=columns, format="binary"
        )
        return
    json_at = [n for n, name in enumerate(columns) if isinstance(table.c[name].type, sa.JSON)]
    if json_at:
        converted = []
        for row in rows:
            values = list(row)
            for n in json_at:
                values[n] = _json_text(values[n])
            converted.append(tuple(values))
        rows = converted
    await connection.copy_records_to_table(table.name, records=rows, columns=columns)


def _is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, sa.exc.IntegrityError):
        return True
    return type(error).__name__ == "UniqueViolationError"


class SqlAlchemyContactRepository(AbstractContactRepository):
    """Loads and saves contacts with Core statements on the unit of work's session."""

    def __init__(self, session: AsyncSession, vault: PersonalDataVault) -> None:
        super().__init__()
        self._session = session
        self._vault = vault
        self._loaded: dict[str, tuple[int, bytes | None]] = {}
        self._postgres = session.bind is not None and session.bind.dialect.name == "postgresql"

    @property
    def postgres(self) -> bool:
        """Tells whether the session talks to PostgreSQL (COPY and single-statement creates)."""
        return self._postgres

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

    async def find_known(
        self,
        *,
        email_indexes: Sequence[str],
        phone_indexes: Sequence[str],
        external_ref_indexes: Sequence[str] = (),
    ) -> dict[tuple[str, str], str]:
        c = orm.contacts.c
        found: dict[tuple[str, str], str] = {}
        for kind, column, values in (
            ("email", c.email_index, email_indexes),
            ("phone", c.phone_index, phone_indexes),
            ("external_ref", c.external_ref_index, external_ref_indexes),
        ):
            unique = list(dict.fromkeys(v for v in values if v))
            if self._postgres and unique:
                # One array parameter instead of an IN list: SQLAlchemy renders each bound value of an
                # expanding IN, which cost more than the lookup itself on an import batch.
                connection = await asyncpg_connection(await self._session.connection())
                rows = await connection.fetch(
                    f"SELECT {column.name}, id FROM contacts WHERE {column.name} = ANY($1::text[])"
                    " AND status <> $2",
                    unique,
                    Status.ERASED.value,
                )
                found.update(((kind, index), contact_id) for index, contact_id in rows)
                continue
            # Because a bound-parameter list has limits (SQLite: 32,766 variables),
            # large lookups go in slices.
            for start in range(0, len(unique), 5000):
                query = sa.select(column, c.id).where(
                    column.in_(unique[start : start + 5000]), c.status != Status.ERASED.value
                )
                for index, contact_id in (await self._session.execute(query)).all():
                    found[(kind, index)] = contact_id
        return found

    async def ids_for_retention_sweep(self, *, cutoff: datetime, after: str | None, limit: int) -> list[str]:
        c = orm.contacts.c
        query = sa.select(c.id).where(
            c.status != Status.ERASED.value,
            sa.or_(
                c.obtained_at <= cutoff,
                c.last_contact_from_person_at <= cutoff,
                c.relationship_end_at <= cutoff,
            ),
        )
        if after is not None:
            query = query.where(c.id > after)
        return list((await self._session.execute(query.order_by(c.id).limit(limit))).scalars())

    async def add_interaction(self, interaction: InteractionRow) -> None:
        await self._session.execute(
            orm.interactions.insert().values(
                id=interaction.id,
                contact_id=interaction.contact_id,
                kind=interaction.kind,
                channel=interaction.channel,
                occurred_at=interaction.occurred_at,
                recorded_at=interaction.recorded_at,
                seller=interaction.seller,
                product_categories=interaction.product_categories,
                outcome=interaction.outcome,
            )
        )

    async def delete_interactions(self, contact_id: str) -> None:
        await self._session.execute(
            orm.interactions.delete().where(orm.interactions.c.contact_id == contact_id)
        )

    async def interactions_of(self, contact_id: str) -> list[InteractionRow]:
        i = orm.interactions.c
        rows = (
            await self._session.execute(
                sa.select(orm.interactions).where(i.contact_id == contact_id).order_by(i.occurred_at)
            )
        ).mappings()
        return [InteractionRow(**row) for row in rows]

    async def insert_rows(self, rows: Sequence[tuple[Any, ...] | bytes]) -> None:
        if not rows:
            return
        try:
            if self._postgres:
                await copy_rows(self._session, orm.contacts, CONTACT_COLUMNS, rows)
            else:
                await self._session.execute(
                    orm.contacts.insert(),
                    [dict(zip(CONTACT_COLUMNS, cast(tuple[Any, ...], row), strict=True)) for row in rows],
                )
        except Exception as error:
            if _is_unique_violation(error):
                # A concurrent writer took one of the indexes after the caller's lookup.
                await self._session.rollback()
                raise DuplicateContactError("(concurrent writer)", "index") from error
            raise

    def lone_new_contact(self) -> Contact | None:
        """Returns the only aggregate of this unit of work if it is a new contact on PostgreSQL, else None."""
        seen = self.seen
        if self._postgres and len(seen) == 1 and not self._loaded and len(seen[0].events) == 1:
            return seen[0]
        return None

    async def insert_with_event(self, contact: Contact, outbox_row: dict[str, Any]) -> None:
        """Inserts a new contact and its outbox row in one autocommitted statement (DuplicateContactError)."""
        row = self._to_row(contact, None)
        bind = self._session.bind
        if not isinstance(bind, AsyncEngine):
            raise TypeError(
                "insert_with_event needs a session bound to an engine (it opens its own connection)"
            )
        # On asyncpg's own connection, outside any transaction (so autocommitted), with the values
        # converted once here: SQLAlchemy's statement execution (parameter processing, greenlet
        # switches) cost more CPU than the rest of the write.
        args = [*_CREATE_ARGS[0](row), *_CREATE_ARGS[1](outbox_row)]
        try:
            async with pooled_asyncpg(bind) as driver:
                await driver.execute(_CREATE_WITH_EVENT_SQL, *args)
        except Exception as error:
            if not _is_unique_violation(error):
                raise
            await self._raise_duplicate([contact], error)
            # The holder of the index went away (erased) in between: the generic conflict (409).
            raise sa.exc.IntegrityError("INSERT INTO contacts", None, error) from error
        self._loaded[contact.id] = (contact.version, row["wrapped_key"])

    async def flush(self) -> None:
        new_rows = []
        for contact in self.seen:
            loaded = self._loaded.get(contact.id)
            if loaded is None:
                new_rows.append(self._to_row(contact, None))
                self._loaded[contact.id] = (contact.version, new_rows[-1]["wrapped_key"])
            elif loaded[0] != contact.version:
                row = self._to_row(contact, loaded[1])
                statement = (
                    orm.contacts.update()
                    .where(orm.contacts.c.id == contact.id, orm.contacts.c.version == loaded[0])
                    .values(**row)
                )
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
            for matched_on, index in (
                ("external_ref", contact.indexes.external_ref),
                ("email", contact.indexes.email),
                ("phone", contact.indexes.phone),
            ):
                if index is None:
                    continue
                existing = [
                    cid
                    for cid in await self.find_by_index(**{f"{matched_on}_index": index})
                    if cid != contact.id
                ]
                if existing:
                    raise DuplicateContactError(existing[0], matched_on) from error

    def _to_row(self, contact: Contact, wrapped_key: bytes | None) -> dict[str, Any]:
        return contact_row(contact, self._vault, wrapped_key)

    def _to_domain(self, row: Any) -> Contact:
        if row["wrapped_key"] is None:
            opened = OpenedPersonalData(PersonalData())
        else:
            opened = self._vault.open(row["id"], SealedPersonalData(row["wrapped_key"], row["personal_data"]))
        return Contact(
            id=row["id"],
            kind=Kind(row["kind"]),
            relationship=Relationship(row["relationship"]),
            personal=opened.personal,
            indexes=BlindIndexes(
                email=row["email_index"], phone=row["phone_index"], external_ref=row["external_ref_index"]
            ),
            origin=Origin(
                collected_from_person=row["collected_from_person"],
                source=row["source"],
                broker_name=row["broker_name"],
            ),
            obtained_at=row["obtained_at"],
            last_contact_from_person_at=row["last_contact_from_person_at"],
            relationship_end_at=row["relationship_end_at"],
            attributes=dict(opened.attributes),
            timezone=row["timezone"],
            timezone_source=row["timezone_source"],
            profession=row["profession"],
            phone_collection=PhoneCollection(**row["phone_collection"]) if row["phone_collection"] else None,
            stop_pub=bool(row["stop_pub"]),
            purchases=[
                Purchase(
                    seller=p["seller"],
                    categories=tuple(p["categories"]),
                    last_at=datetime.fromisoformat(p["last_at"]),
                )
                for p in row["purchases"] or []
            ],
            contracts=[
                ContractRecord(
                    seller=c["seller"],
                    categories=tuple(c["categories"]),
                    started_at=datetime.fromisoformat(c["started_at"]),
                    ended_at=datetime.fromisoformat(c["ended_at"]) if c["ended_at"] else None,
                )
                for c in row["contracts"] or []
            ],
            call_attempts=[datetime.fromisoformat(t) for t in row["call_attempts"] or []],
            last_call_refusal_at=row["last_call_refusal_at"],
            restriction=_restriction_of(row["restriction"]),
            status=Status(row["status"]),
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def _restriction_of(value: Any) -> Restriction | None:
    if not value:
        return None
    return Restriction(
        request_id=value["request_id"], grounds=value["grounds"], since=datetime.fromisoformat(value["since"])
    )


class AbstractRequestRepository(abc.ABC):
    """The port handlers use for data-subject requests and the objection forwards of unknown people."""

    def __init__(self) -> None:
        self._seen: dict[str, rq.DataSubjectRequest] = {}

    @property
    def seen(self) -> list[rq.DataSubjectRequest]:
        """Returns the requests handed out or added in this unit of work."""
        return list(self._seen.values())

    def add(self, request: rq.DataSubjectRequest) -> None:
        """Registers a new request to be inserted on flush."""
        self._seen[request.id] = request

    @abc.abstractmethod
    async def get_or_raise(self, request_id: str, *, for_update: bool = False) -> rq.DataSubjectRequest:
        """Returns the request or raises RequestNotFoundError."""

    @abc.abstractmethod
    async def open_for_contact(
        self, contact_id: str, *, kind: rq.RequestKind | None = None, for_update: bool = False
    ) -> list[rq.DataSubjectRequest]:
        """Returns the open requests about a contact (of one kind if given), oldest first."""

    @abc.abstractmethod
    async def open_requests(
        self, *, due_before: datetime | None = None, kind: rq.RequestKind | None = None, limit: int = 500
    ) -> list[rq.DataSubjectRequest]:
        """Returns open requests, oldest due first, optionally only those due before a time or of one kind."""

    @abc.abstractmethod
    async def of_contact(self, contact_id: str, *, kind: rq.RequestKind) -> list[rq.DataSubjectRequest]:
        """Returns every request of one kind about a contact, open or closed, oldest first (for update)."""

    @abc.abstractmethod
    def add_forward(self, forward: rq.ObjectionForward) -> None:
        """Registers a pending objection forward to be inserted on flush."""

    @abc.abstractmethod
    async def get_forward(self, forward_id: str) -> rq.ObjectionForward | None:
        """Returns an objection forward (saved on flush when changed), or None."""

    @abc.abstractmethod
    async def pending_forwards(
        self, *, request_id: str | None = None, limit: int = 500
    ) -> list[rq.ObjectionForward]:
        """Returns the objection forwards consent has not accepted yet (of one request if given), oldest
        first."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Inserts new requests and updates changed ones with a version check; saves objection forwards."""


class SqlAlchemyRequestRepository(AbstractRequestRepository):
    """Loads and saves requests and objection forwards with Core statements on the unit of work's session."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session
        self._loaded: dict[str, int] = {}
        self._forwards: dict[str, rq.ObjectionForward] = {}
        self._forwards_new: set[str] = set()
        self._postgres = session.bind is not None and session.bind.dialect.name == "postgresql"

    async def get_or_raise(self, request_id: str, *, for_update: bool = False) -> rq.DataSubjectRequest:
        query = sa.select(orm.data_subject_requests).where(orm.data_subject_requests.c.id == request_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            raise rq.RequestNotFoundError(request_id)
        return self._track(row)

    async def open_for_contact(
        self, contact_id: str, *, kind: rq.RequestKind | None = None, for_update: bool = False
    ) -> list[rq.DataSubjectRequest]:
        c = orm.data_subject_requests.c
        query = sa.select(orm.data_subject_requests).where(
            c.contact_id == contact_id, c.status.notin_([s.value for s in rq.FINAL_STATUSES])
        )
        if kind is not None:
            query = query.where(c.kind == kind.value)
        if for_update and self._postgres:
            query = query.with_for_update()
        rows = (await self._session.execute(query.order_by(c.received_at))).mappings()
        return [self._track(row) for row in rows]

    async def open_requests(
        self, *, due_before: datetime | None = None, kind: rq.RequestKind | None = None, limit: int = 500
    ) -> list[rq.DataSubjectRequest]:
        c = orm.data_subject_requests.c
        query = sa.select(orm.data_subject_requests).where(
            c.status.notin_([s.value for s in rq.FINAL_STATUSES])
        )
        if due_before is not None:
            query = query.where(c.due_at < due_before)
        if kind is not None:
            query = query.where(c.kind == kind.value)
        rows = (await self._session.execute(query.order_by(c.due_at, c.id).limit(limit))).mappings()
        return [self._track(row) for row in rows]

    async def of_contact(self, contact_id: str, *, kind: rq.RequestKind) -> list[rq.DataSubjectRequest]:
        c = orm.data_subject_requests.c
        query = sa.select(orm.data_subject_requests).where(c.contact_id == contact_id, c.kind == kind.value)
        if self._postgres:
            query = query.with_for_update()
        rows = (await self._session.execute(query.order_by(c.received_at))).mappings()
        return [self._track(row) for row in rows]

    def add_forward(self, forward: rq.ObjectionForward) -> None:
        self._forwards[forward.id] = forward
        self._forwards_new.add(forward.id)

    async def get_forward(self, forward_id: str) -> rq.ObjectionForward | None:
        row = (
            (
                await self._session.execute(
                    sa.select(orm.objection_forwards).where(orm.objection_forwards.c.id == forward_id)
                )
            )
            .mappings()
            .first()
        )
        return self._track_forward(row) if row is not None else None

    async def pending_forwards(
        self, *, request_id: str | None = None, limit: int = 500
    ) -> list[rq.ObjectionForward]:
        c = orm.objection_forwards.c
        query = sa.select(orm.objection_forwards).where(c.forwarded_at.is_(None))
        if request_id is not None:
            query = query.where(c.request_id == request_id)
        rows = (await self._session.execute(query.order_by(c.created_at, c.id).limit(limit))).mappings()
        return [self._track_forward(row) for row in rows]

    def has_changes(self) -> bool:
        """Tells whether this unit of work touched any request or objection forward."""
        return bool(self._seen or self._forwards)

    async def flush(self) -> None:
        table, forwards = orm.data_subject_requests, orm.objection_forwards
        for forward in self._forwards.values():
            values = {
                "id": forward.id,
                "request_id": forward.request_id,
                "blind_indexes": forward.blind_indexes,
                "created_at": forward.created_at,
                "attempts": forward.attempts,
                "last_attempt_at": forward.last_attempt_at,
                "forwarded_at": forward.forwarded_at,
            }
            if forward.id in self._forwards_new:
                await self._session.execute(forwards.insert().values(**values))
                self._forwards_new.discard(forward.id)
            else:
                await self._session.execute(
                    forwards.update().where(forwards.c.id == forward.id).values(**values)
                )
        for request in self.seen:
            values = _request_row(request)
            loaded = self._loaded.get(request.id)
            if loaded is None:
                await self._session.execute(table.insert().values(**values))
            elif loaded != request.version:
                result = await self._session.execute(
                    table.update().where(table.c.id == request.id, table.c.version == loaded).values(**values)
                )
                # An UPDATE's result is a CursorResult, which the session's signature does not say.
                if cast("CursorResult[Any]", result).rowcount != 1:
                    raise rq.RequestError(f"request {request.id} changed concurrently; retry")
            self._loaded[request.id] = request.version

    def _track(self, row: Any) -> rq.DataSubjectRequest:
        request = self._seen.get(row["id"])
        if request is None:
            request = _request_of(row)
            self._seen[request.id] = request
            self._loaded[request.id] = request.version
        return request

    def _track_forward(self, row: Any) -> rq.ObjectionForward:
        forward = self._forwards.get(row["id"])
        if forward is None:
            forward = rq.ObjectionForward(
                id=row["id"],
                request_id=row["request_id"],
                blind_indexes=list(row["blind_indexes"]),
                created_at=row["created_at"],
                attempts=row["attempts"],
                last_attempt_at=row["last_attempt_at"],
                forwarded_at=row["forwarded_at"],
            )
            self._forwards[forward.id] = forward
        return forward


def _request_row(request: rq.DataSubjectRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "kind": request.kind.value,
        "contact_id": request.contact_id,
        "status": request.status.value,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "extended_months": request.extended_months,
        "confirmations": {s: t.isoformat() for s, t in request.confirmations.items()},
        "history": [h.as_dict() for h in request.history],
        "overdue_reported_at": request.overdue_reported_at,
        "completed_at": request.completed_at,
        "version": request.version,
        "details": request.details or None,
    }


def _request_of(row: Any) -> rq.DataSubjectRequest:
    return rq.DataSubjectRequest(
        id=row["id"],
        kind=rq.RequestKind(row["kind"]),
        contact_id=row["contact_id"],
        received_at=row["received_at"],
        due_at=row["due_at"],
        status=rq.RequestStatus(row["status"]),
        extended_months=row["extended_months"],
        confirmations={s: datetime.fromisoformat(t) for s, t in (row["confirmations"] or {}).items()},
        history=[
            rq.HistoryEntry(at=datetime.fromisoformat(h["at"]), action=h["action"], note=h.get("note"))
            for h in row["history"] or []
        ],
        overdue_reported_at=row["overdue_reported_at"],
        completed_at=row["completed_at"],
        version=row["version"],
        details=dict(row["details"] or {}),
    )

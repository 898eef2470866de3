"""The projection of contacts and consent in the gate's database: upserts from events, reads into facts."""

from __future__ import annotations

import abc
import dataclasses
import enum
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import dialect as pg_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters import orm
from campaign_gate.domain.facts import (
    BrokerVerification,
    Channel,
    ConsentRecord,
    ConsentStatus,
    ContactKind,
    ContractFact,
    Objection,
    PhoneCollection,
    Purchase,
    RecipientFacts,
    Relationship,
    SuppressionHit,
    SuppressionKind,
)

#: One bit per channel in `gate_contacts.channel_mask`.
CHANNEL_BITS: dict[Channel, int] = {ch: 1 << i for i, ch in enumerate(Channel)}
#: What contacts calls a channel in its facts → the gate's channels (a phone number reaches two).
CONTACT_CHANNELS: dict[str, tuple[Channel, ...]] = {
    "email": (Channel.EMAIL,),
    "phone": (Channel.PHONE_HUMAN, Channel.AUTOMATED_CALL),
    "sms_mms": (Channel.SMS_MMS,),
    "postal_addressed": (Channel.POSTAL_ADDRESSED,),
    "fax": (Channel.FAX,),
}
ALL_DIRECT_MARKETING = "all_direct_marketing"
#: The other scopes of an objection: one channel (every purpose), one register purpose (every channel).
CHANNEL_SCOPE, PURPOSE_SCOPE = "channel", "purpose"
_CHANNEL_NAMES = frozenset(ch.value for ch in Channel)


def objection_scope(
    scope: Any, channel: Any = None, purpose_id: Any = None
) -> tuple[str, str | None, str | None]:
    """Returns an objection's (scope, channel, purpose id) as the gate stores them, from consent's event.

    A channel's name as the scope (consent's events before scopes were explicit) is scope `channel` on
    that channel. A scope the gate cannot read, or one without its channel or purpose, is stored as an
    objection to all direct marketing: an objection is never dropped, and when in doubt it covers more.
    """
    text = str(scope) if scope is not None else ALL_DIRECT_MARKETING
    if text in _CHANNEL_NAMES:
        return CHANNEL_SCOPE, text, None
    if text == CHANNEL_SCOPE and str(channel) in _CHANNEL_NAMES:
        return CHANNEL_SCOPE, str(channel), None
    if text == PURPOSE_SCOPE and isinstance(purpose_id, str) and purpose_id:
        return PURPOSE_SCOPE, None, purpose_id
    return ALL_DIRECT_MARKETING, None, None


def objection_applies(
    scope: str, channel: str | None, purpose_id: str | None, *, to_channel: Channel, to_purpose: str
) -> bool:
    """Says whether a stored objection forbids a send on `to_channel` for `to_purpose`."""
    scope, channel, purpose_id = objection_scope(scope, channel, purpose_id)
    if scope == CHANNEL_SCOPE:
        return channel == to_channel.value
    if scope == PURPOSE_SCOPE:
        return purpose_id == to_purpose
    return True


_CHUNK = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def channel_mask(channels: Iterable[str]) -> int:
    """Returns the bit mask of the gate channels a contact's channel names reach."""
    mask = 0
    for name in channels:
        for channel in CONTACT_CHANNELS.get(name, ()):
            mask |= CHANNEL_BITS[channel]
    return mask


def parse_time(value: Any) -> datetime | None:
    """Parses an ISO-8601 time from an event (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def normalise_term(value: Any) -> str | None:
    """Returns a profession or product category as compared by the rules: stripped, lower-case."""
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split()).casefold()


def _terms(values: Any) -> list[str]:
    return sorted({t for t in map(normalise_term, values or ()) if t})


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if _is_mapping(v)] if isinstance(value, list) and value else []


def _phone_collection(value: Any) -> dict[str, bool] | None:
    if value is None or not _is_mapping(value):
        return None
    return {
        key: bool(value.get(key, False))
        for key in ("told_calls_need_consent", "during_contract", "contract_states_calls_need_consent")
    }


def _restriction(value: Any) -> dict[str, Any]:
    """The restriction of processing (Art. 18) contacts publishes: an object while it holds, null once
    lifted or never asked (a producer from before restrictions published no key: none was possible)."""
    if value is None:
        return {"restricted": False, "restriction_request_id": None}
    if not _is_mapping(value):
        raise ValueError("a contact restriction that is not an object")
    request_id = value.get("request_id")
    return {"restricted": True, "restriction_request_id": str(request_id)[:64] if request_id else None}


def _is_mapping(value: Any) -> bool:
    # Because a plain dict (what a decoded event holds) needs no abstract-class check.
    return type(value) is dict or isinstance(value, Mapping)


def _enum_value(kind: type[enum.StrEnum], values: frozenset[str], value: Any) -> str:
    """Returns `kind(str(value)).value` (raising its ValueError), without building the member."""
    text = str(value)
    return text if text in values else kind(text).value


_KINDS = frozenset(k.value for k in ContactKind)
_RELATIONSHIPS = frozenset(r.value for r in Relationship)

#: The facts without which a contact row would rest on assumed values (an "active" consumer prospect).
CONTACT_REQUIRED_FACTS = ("kind", "relationship", "status", "obtained_at", "version")
_CONTACT_STATUSES = frozenset({"active", "retention_flagged", "erased"})


def contact_row(contact_id: str, facts: Any, *, at: datetime) -> dict[str, Any]:
    """Returns the `gate_contacts` row of a contact's published gate facts, or raises ValueError.

    The keys are contacts' `gate_facts` (see `docs/facts.md`). Without the required ones (an event
    with `data: {}`) nothing is stored: a phantom active contact would be allowed on assumptions.
    An optional key an older producer did not publish is stored as unknown (None, empty), never as
    an assumed value.
    """
    if not contact_id:
        raise ValueError("a contact event without a subject")
    if not _is_mapping(facts):
        raise ValueError("a contact event without its facts")
    missing = [key for key in CONTACT_REQUIRED_FACTS if facts.get(key) in (None, "")]
    if missing:
        raise ValueError(f"contact facts without {', '.join(missing)}")
    version = facts["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("a contact version that is not an integer")
    status = str(facts["status"])
    if status not in _CONTACT_STATUSES:
        raise ValueError(f"unknown contact status {status[:40]!r}")
    channels = facts.get("channels") or ()
    if not isinstance(channels, list | tuple):
        raise ValueError("contact channels that are not a list")
    return {
        "contact_id": contact_id,
        "kind": _enum_value(ContactKind, _KINDS, facts["kind"]),
        "relationship": _enum_value(Relationship, _RELATIONSHIPS, facts["relationship"]),
        "status": status,
        "collected_from_person": bool(facts.get("collected_from_person", False)),
        "source": facts.get("source"),
        "broker_name": facts.get("broker_name"),
        "obtained_at": parse_time(facts["obtained_at"]),
        "last_contact_from_person_at": parse_time(facts.get("last_contact_from_person_at")),
        "relationship_end_at": parse_time(facts.get("relationship_end_at")),
        "majority_on": _day(facts.get("majority_on")),
        "digital_consent_age_on": _day(facts.get("digital_consent_age_on")),
        "timezone": facts.get("timezone") or None,
        "profession": normalise_term(facts.get("profession")),
        "channel_mask": channel_mask(str(c) for c in channels),
        "email_index": facts.get("email_index"),
        "phone_index": facts.get("phone_index"),
        "purchases": [
            {"seller": str(p["seller"]), "categories": _terms(p.get("categories"))}
            for p in _records(facts.get("purchases"))
            if p.get("seller")
        ],
        "contracts": [
            {
                "seller": str(k["seller"]),
                "categories": _terms(k.get("categories")),
                "ended": k.get("ended_at") is not None,
            }
            for k in _records(facts.get("contracts"))
            if k.get("seller")
        ],
        "call_attempts": [t.isoformat() for t in map(parse_time, facts.get("call_attempts") or ()) if t],
        "last_call_refusal_at": parse_time(facts.get("last_call_refusal_at")),
        "phone_collection": _phone_collection(facts.get("phone_collection")),
        "stop_pub": bool(facts.get("stop_pub", False)),
        **_restriction(facts.get("restriction")),
        "version": version,
        "updated_at": at,
    }


async def upsert(
    session: AsyncSession,
    table: sa.Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    unless_newer: str | None = None,
) -> None:
    """Inserts a row or updates it on its primary key (with `unless_newer`, only when the stored value
    of that column is not greater than the incoming one)."""
    await upsert_all(session, table, [values], keys=keys, unless_newer=unless_newer)


async def upsert_all(
    session: AsyncSession,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    unless_newer: str | None = None,
) -> None:
    """Upserts rows of the same columns in one statement (see `upsert`); no row, no statement."""
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    update = {k: insert.excluded[k] for k in rows[0] if k not in keys}
    where = table.c[unless_newer] <= insert.excluded[unless_newer] if unless_newer else None
    await session.execute(
        insert.on_conflict_do_update(index_elements=list(keys), set_=update, where=where)
        if update
        else insert.on_conflict_do_nothing(index_elements=list(keys)),
        [dict(row) for row in rows],
    )


# --- PostgreSQL: a batch's rows as column arrays, one statement per table -------------------------


async def pg_driver(session: AsyncSession) -> Any | None:
    """Returns the session's asyncpg connection, inside the session's transaction, on PostgreSQL (None
    elsewhere): for the statements of a batch that pass whole columns as arrays."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return None
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is not None and not driver.is_in_transaction():
        # Because SQLAlchemy's asyncpg adapter begins the transaction on its first statement, not before.
        await connection.execute(sa.text("SELECT 1"))
    return driver


_PG_DIALECT = pg_dialect()


def _pg_type(column: sa.Column[Any]) -> str:
    return str(column.type.compile(dialect=_PG_DIALECT))


#: Column types whose values travel as JSON to `json_to_recordset` and read back as they would from
#: asyncpg's arrays (text, numbers, booleans, ISO times and days, JSON documents).
_JSON_SAFE_TYPES = (sa.String, sa.Integer, sa.Boolean, sa.DateTime, sa.Date, sa.JSON)
#: The options of a batch's JSON: a naive time is UTC (as the projection writes every time), a dict's
#: non-text key is written as text (as `json` does).
_ORJSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def _base_type(column: sa.Column[Any]) -> Any:
    """A column's type, under its decorator if it has one (UtcDateTime is a timestamp with time zone)."""
    kind = column.type
    return kind.impl if isinstance(kind, sa.TypeDecorator) else kind


def _recordset_type(column: sa.Column[Any]) -> str:
    """The type a column is read as from a batch's JSON: `json` for a JSON document, `text` for a string
    (cast to its own type after, so that a value too long is cut as the array path cuts it), else its own."""
    kind = _base_type(column)
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.String):
        return "text"
    return _pg_type(column)


def _pg_column(column: sa.Column[Any], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Returns one column of rows as asyncpg takes it (JSON as its text, None as NULL)."""
    name = column.name
    if isinstance(column.type, sa.JSON):
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        return [None if (v := row.get(name)) is None else dumps(v) for row in rows]
    return [row.get(name) for row in rows]


def _pg_out(column: sa.Column[Any], value: Any) -> Any:
    """Returns a value asyncpg read as SQLAlchemy would hand it back (JSON parsed)."""
    if value is not None and isinstance(column.type, sa.JSON) and isinstance(value, str):
        return json.loads(value)
    return value


def _json_document(columns: Sequence[sa.Column[Any]], rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Returns the rows as one JSON document for `json_to_recordset`, or None when they must go as
    column arrays: a column type JSON cannot carry, or a value orjson does not write (an integer
    beyond 64 bits, say), which the array path stores as it always did."""
    if not all(isinstance(_base_type(c), _JSON_SAFE_TYPES) for c in columns):
        return None
    document = [row if isinstance(row, dict) else dict(row) for row in rows]
    try:
        return orjson.dumps(document, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return None


async def pg_upsert(
    driver: Any,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    unless_newer: str | None = None,
    keep_stored: bool = False,
) -> list[Any]:
    """Upserts rows in one statement, `INSERT … SELECT … ON CONFLICT … DO UPDATE` (DO NOTHING with
    `keep_stored` or when every column is in the key); with `unless_newer`, a stored row whose value of
    that column is greater is kept. Returns the keys of the rows written.

    The rows travel as one JSON document read by `json_to_recordset`, each column cast to its own type
    (a table with a column JSON cannot carry, as one array per column through `unnest`): encoding a
    batch's rows is then one call into orjson instead of asyncpg checking and encoding every value of
    every column array, the larger part of a batch's CPU in the consumer.
    """
    if not rows:
        return []
    columns = list(table.columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    document = _json_document(columns, rows)
    if document is not None:
        fields = ", ".join(f'"{c.name}" {_recordset_type(c)}' for c in columns)
        casts = ", ".join(f'x."{c.name}"::{_pg_type(c)}' for c in columns)
        source = f"SELECT {casts} FROM json_to_recordset($1::json) AS x({fields})"
        values: list[Any] = [document]
    else:
        arrays = ", ".join(f"${i}::{_pg_type(c)}[]" for i, c in enumerate(columns, start=1))
        source = f"SELECT * FROM unnest({arrays})"
        values = [_pg_column(c, rows) for c in columns]
    conflict = ", ".join(f'"{k}"' for k in keys)
    update = ", ".join(f'"{c.name}" = EXCLUDED."{c.name}"' for c in columns if c.name not in keys)
    action = f"DO UPDATE SET {update}" if update and not keep_stored else "DO NOTHING"
    guard = (
        f' WHERE "{table.name}"."{unless_newer}" <= EXCLUDED."{unless_newer}"'
        if unless_newer and update
        else ""
    )
    returning = ", ".join(f'"{k}"' for k in keys)
    statement = (
        f'INSERT INTO "{table.name}" ({names}) {source} '
        f"ON CONFLICT ({conflict}) {action}{guard} RETURNING {returning}"
    )
    return list(await driver.fetch(statement, *values))


async def pg_select(driver: Any, table: sa.Table, column: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    """Returns the rows whose `column` is one of `values`, in one statement (`= ANY($1)`)."""
    found = await driver.fetch(
        f'SELECT * FROM "{table.name}" WHERE "{column}" = ANY($1::{_pg_type(table.c[column])}[])',
        list(values),
    )
    return [{c.name: _pg_out(c, record[c.name]) for c in table.columns} for record in found]


class AbstractProjectionRepository(abc.ABC):
    """The projection port: writes from contacts' and consent's events, reads into the rules' facts.

    Writes may be held until `flush` (the unit of work flushes before it commits): an implementation
    applies them in call order, so a batch of events ends in the state their one-by-one application
    would leave.
    """

    # --- Writes (from events) ---------------------------------------------------------------------

    async def prefetch(self, *, contact_ids: Iterable[str] = (), consent_ids: Iterable[str] = ()) -> None:  # noqa: B027 - optional hook
        """Reads, in one go, the stored rows the coming writes will build on (a hint; none is needed)."""

    async def flush(self) -> None:  # noqa: B027 - optional hook
        """Writes what the writes so far hold back (nothing for an implementation that holds nothing)."""

    @abc.abstractmethod
    async def put_contact(self, values: Mapping[str, Any]) -> None:
        """Stores a contact's row (see `contact_row`), ignoring a version older than the stored one."""

    @abc.abstractmethod
    async def set_contact_status(
        self, contact_id: str, status: str, *, at: datetime, retention_rule: str | None = None
    ) -> None:
        """Changes a projected contact's status (retention flag, with the rule contacts cited)."""

    @abc.abstractmethod
    async def erase_contact(self, contact_id: str, *, at: datetime) -> None:
        """Keeps only the erased status of a contact: no channel, no blind index, no attribute."""

    @abc.abstractmethod
    async def put_consent(self, values: Mapping[str, Any]) -> None:
        """Stores a consent's latest state."""

    @abc.abstractmethod
    async def withdraw_consent(
        self,
        *,
        consent_id: str,
        contact_id: str,
        purpose_id: str,
        channel: str,
        granted_at: datetime | None,
        withdrawn_at: datetime,
        at: datetime,
    ) -> None:
        """Marks a consent withdrawn, creating its row if the grant was never seen."""

    @abc.abstractmethod
    async def erase_consent_data(
        self, contact_id: str, consent_ids: Iterable[str], delivery_ids: Iterable[str]
    ) -> None:
        """Drops a contact's consents and notice deliveries (its objections and their indexes stay)."""

    @abc.abstractmethod
    async def put_objection(
        self,
        *,
        objection_id: str,
        contact_id: str | None,
        scope: str,
        at: datetime,
        blind_indexes: Iterable[str],
        channel: str | None = None,
        purpose_id: str | None = None,
    ) -> None:
        """Stores an objection (its scope as `objection_scope` returns it) and the blind indexes it also
        applies to."""

    @abc.abstractmethod
    async def put_notice(
        self, *, notice_id: str, version: int, article: str, purpose_ids: Iterable[str]
    ) -> None:
        """Stores which article a notice version answers (13 or 14) and the purposes it covers."""

    @abc.abstractmethod
    async def put_delivery(self, values: Mapping[str, Any]) -> None:
        """Stores a notice delivery to a contact."""

    @abc.abstractmethod
    async def put_purpose(
        self,
        *,
        purpose_id: str,
        version: int,
        lawful_basis: str | None,
        name: str | None,
        retired: bool,
        art14_exemption_claimed: bool | None = None,
        entry: Mapping[str, Any] | None = None,
    ) -> None:
        """Stores a purpose's version in force (a retirement keeps the last basis, claims and entry facts)."""

    @abc.abstractmethod
    async def put_party(self, *, party_id: str, values: Mapping[str, Any]) -> None:
        """Stores what consent says of a party: roles, status, its contract and a broker's verification."""

    @abc.abstractmethod
    async def put_processor(
        self,
        *,
        processor_id: str,
        legal_name: str | None,
        role: str | None,
        status: str,
        contract: Mapping[str, Any] | None,
    ) -> None:
        """Stores a processor's status and, when the event carries it, its contract."""

    @abc.abstractmethod
    async def record_offset(
        self, *, topic: str, partition: int, offset: int, event_time: datetime | None
    ) -> None:
        """Records the next offset to consume on a partition, with the event's effect."""

    @abc.abstractmethod
    async def offsets(self) -> dict[tuple[str, int], int]:
        """Returns the next offset to consume per (topic, partition)."""

    @abc.abstractmethod
    async def reset(self, topics: Iterable[str]) -> None:
        """Empties the projection, its offsets and the inbox of its topics, before a rebuild."""

    # --- Reads (for reviews and checks) -----------------------------------------------------------

    @abc.abstractmethod
    async def purpose(self, purpose_id: str) -> Mapping[str, Any] | None:
        """Returns a purpose as consent's events describe it."""

    @abc.abstractmethod
    async def contacts_holding(self, blind_indexes: Iterable[str]) -> set[str]:
        """Returns the ids of the contacts whose e-mail or phone blind index is one of these."""

    @abc.abstractmethod
    async def processor(self, processor_id: str) -> Mapping[str, Any] | None:
        """Returns a processor as consent's events describe it, with the parties that work under it."""

    async def parties(self, party_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Returns the parties among `party_ids` consent registered, by id (an unknown one is absent)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def recipients(
        self, contact_ids: Sequence[str], *, purpose_id: str, channel: Channel, today: date
    ) -> dict[str, RecipientFacts]:
        """Returns the facts of the known contacts among `contact_ids` for one purpose and channel."""


Key = tuple[Any, ...]


class _Rows:
    """The rows of one projection table that a unit of work has read or written, by primary key.

    Writes change these rows in call order, exactly as the equivalent UPDATE or upsert would have
    changed the stored row; `flush` then writes every changed row in one statement. A row is read
    from the database once, when first needed (`load` reads many at once); None means "no such row".
    """

    def __init__(self, table: sa.Table, *, unless_newer: str | None = None) -> None:
        self.table = table
        self.keys = [column.name for column in table.primary_key.columns]
        self.columns = [column.name for column in table.columns]
        self.unless_newer = unless_newer
        self.rows: dict[Key, dict[str, Any] | None] = {}
        self.changed: dict[Key, None] = {}

    def key_of(self, values: Mapping[str, Any]) -> Key:
        """Returns a row's primary key."""
        return tuple(values[k] for k in self.keys)

    async def load(self, session: AsyncSession, keys: Iterable[Key]) -> None:
        """Reads the stored rows of the keys not read yet (tables with a one-column key)."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self.rows]
        if not wanted:
            return
        column = self.table.c[self.keys[0]]
        driver = await pg_driver(session)
        for start in range(0, len(wanted), _CHUNK):
            chunk = [key[0] for key in wanted[start : start + _CHUNK]]
            if driver is not None:
                found = await pg_select(driver, self.table, column.name, chunk)
            else:
                query = sa.select(self.table).where(column.in_(chunk))
                found = [dict(row) for row in (await session.execute(query)).mappings()]
            for row in found:
                self.rows[self.key_of(row)] = row
        for key in wanted:
            self.rows.setdefault(key, None)

    async def get(self, session: AsyncSession, key: Key) -> dict[str, Any] | None:
        """Returns the row as the writes so far left it (reading it first if needed)."""
        if key not in self.rows:
            await self.load(session, [key])
        return self.rows[key]

    def put(self, values: Mapping[str, Any]) -> None:
        """Sets a whole row; a column `values` lacks is NULL, as an INSERT would leave it."""
        key = self.key_of(values)
        row = dict.fromkeys(self.columns)
        row.update(values)
        if len(row) != len(self.columns):  # Because a key that is no column is not stored.
            row = {name: row[name] for name in self.columns}
        self.rows[key] = row
        self.changed[key] = None

    def changed_rows(self) -> list[dict[str, Any]]:
        """Returns the rows changed since the last flush, and forgets that they changed."""
        rows = [row for key in self.changed if (row := self.rows[key]) is not None]
        self.changed.clear()
        return rows

    def forget(self) -> None:
        """Drops what was read (after a DELETE run in SQL): the next access reads again."""
        self.rows.clear()
        self.changed.clear()


class ProjectionRepository(AbstractProjectionRepository):
    """Writes and reads the projection tables on one session.

    Writes are applied in memory, in call order, to rows read once per unit of work (`_Rows`), and
    reach the database at `flush` as one multi-row upsert per table: a polled batch of thousands of
    events costs a few statements, not a few per event. A DELETE (an erasure, a reset) flushes first.
    Reads flush first too, so a read after a write sees it.
    """

    def __init__(self, session: AsyncSession, *, broker_verification_max_age_days: int = 365) -> None:
        self.session = session
        self.broker_verification_max_age_days = broker_verification_max_age_days
        self._contacts = _Rows(orm.gate_contacts, unless_newer="version")
        self._consents = _Rows(orm.gate_consents)
        self._objections = _Rows(orm.gate_objections)
        self._objection_indexes = _Rows(orm.gate_objection_indexes)
        self._notices = _Rows(orm.gate_notices)
        self._deliveries = _Rows(orm.gate_notice_deliveries)
        self._purposes = _Rows(orm.gate_purposes)
        self._parties = _Rows(orm.gate_parties)
        self._processors = _Rows(orm.gate_processors)
        # In dependency order for the flush (none has a foreign key today; kept stable anyway).
        self._tables = (
            self._contacts,
            self._consents,
            self._objections,
            self._objection_indexes,
            self._notices,
            self._deliveries,
            self._purposes,
            self._parties,
            self._processors,
        )

    # --- Writes (from events) ---------------------------------------------------------------------

    async def prefetch(self, *, contact_ids: Iterable[str] = (), consent_ids: Iterable[str] = ()) -> None:
        """Reads the stored contacts and consents the coming writes will update, in one query each."""
        await self._contacts.load(self.session, ((i,) for i in contact_ids))
        await self._consents.load(self.session, ((i,) for i in consent_ids))

    async def flush(self) -> None:
        """Writes every changed row, one multi-row upsert per table (a contact's older version never
        overwrites a newer one stored meanwhile)."""
        driver = None
        for rows in self._tables:
            changed = rows.changed_rows()
            if not changed:
                continue
            driver = driver or await pg_driver(self.session)
            if driver is not None:
                await pg_upsert(driver, rows.table, changed, keys=rows.keys, unless_newer=rows.unless_newer)
            else:
                await upsert_all(
                    self.session, rows.table, changed, keys=rows.keys, unless_newer=rows.unless_newer
                )

    async def _update_or_insert(
        self, rows: _Rows, values: Mapping[str, Any], *, defaults: Mapping[str, Any]
    ) -> None:
        """Updates the stored row with `values` only (a column the event did not carry keeps its
        stored value), or inserts it with `defaults` for those columns."""
        stored = await rows.get(self.session, rows.key_of(values))
        rows.put({**stored, **values} if stored is not None else {**defaults, **values})

    async def put_contact(self, values: Mapping[str, Any]) -> None:
        """Stores a contact's row (see `contact_row`), ignoring a version older than the stored one.

        A column the row does not carry (the retention rule) keeps its stored value.
        """
        stored = await self._contacts.get(self.session, (values["contact_id"],))
        if stored is None:
            self._contacts.put(values)
        elif stored["version"] <= values["version"]:
            self._contacts.put({**stored, **values})

    async def _update_contact(self, contact_id: str, **values: Any) -> None:
        """Changes columns of a projected contact; nothing when the gate never saw the contact."""
        stored = await self._contacts.get(self.session, (contact_id,))
        if stored is not None:
            self._contacts.put({**stored, **values})

    async def set_contact_status(
        self, contact_id: str, status: str, *, at: datetime, retention_rule: str | None = None
    ) -> None:
        """Changes a projected contact's status (retention flag, with the rule contacts cited)."""
        await self._update_contact(contact_id, status=status, retention_rule=retention_rule, updated_at=at)

    async def erase_contact(self, contact_id: str, *, at: datetime) -> None:
        """Keeps only the erased status of a contact: no channel, no blind index, no attribute."""
        await self._update_contact(
            contact_id,
            status="erased",
            channel_mask=0,
            email_index=None,
            phone_index=None,
            purchases=[],
            contracts=[],
            call_attempts=[],
            last_call_refusal_at=None,
            phone_collection=None,
            profession=None,
            majority_on=None,
            digital_consent_age_on=None,
            updated_at=at,
        )

    async def put_consent(self, values: Mapping[str, Any]) -> None:
        """Stores a consent's latest state (a column `values` lacks keeps its stored value)."""
        stored = await self._consents.get(self.session, (values["consent_id"],))
        self._consents.put({**(stored or {}), **values})

    async def withdraw_consent(
        self,
        *,
        consent_id: str,
        contact_id: str,
        purpose_id: str,
        channel: str,
        granted_at: datetime | None,
        withdrawn_at: datetime,
        at: datetime,
    ) -> None:
        """Marks a consent withdrawn, creating its row if the grant was never seen."""
        stored = await self._consents.get(self.session, (consent_id,))
        if stored is not None:
            self._consents.put(
                {**stored, "status": "withdrawn", "withdrawn_at": withdrawn_at, "updated_at": at}
            )
            return
        self._consents.put(
            {
                "consent_id": consent_id,
                "contact_id": contact_id,
                "purpose_id": purpose_id,
                "channel": channel,
                "status": "withdrawn",
                "granted_at": granted_at,
                "withdrawn_at": withdrawn_at,
                "proof_present": False,
                "positive_act": False,
                "withdrawal_info_given": False,
                "explicit": False,
                "given_by": [],
                "out_of_hours_calls": False,
                "partners": [],
                "partner_categories": [],
                "email_tracking": False,
                "updated_at": at,
            }
        )

    async def erase_consent_data(
        self, contact_id: str, consent_ids: Iterable[str], delivery_ids: Iterable[str]
    ) -> None:
        """Drops a contact's consents and notice deliveries (its objections and their indexes stay)."""
        # Because rows of this contact may be stored but never read here: delete them in SQL.
        await self.flush()
        self._consents.forget()
        self._deliveries.forget()
        await self.session.execute(
            sa.delete(orm.gate_consents).where(
                sa.or_(
                    orm.gate_consents.c.contact_id == contact_id,
                    orm.gate_consents.c.consent_id.in_(list(consent_ids)),
                )
            )
        )
        await self.session.execute(
            sa.delete(orm.gate_notice_deliveries).where(
                sa.or_(
                    orm.gate_notice_deliveries.c.contact_id == contact_id,
                    orm.gate_notice_deliveries.c.delivery_id.in_(list(delivery_ids)),
                )
            )
        )

    async def put_objection(
        self,
        *,
        objection_id: str,
        contact_id: str | None,
        scope: str,
        at: datetime,
        blind_indexes: Iterable[str],
        channel: str | None = None,
        purpose_id: str | None = None,
    ) -> None:
        """Stores an objection (its scope as `objection_scope` returns it) and the blind indexes it also
        applies to."""
        self._objections.put(
            {
                "objection_id": objection_id,
                "contact_id": contact_id,
                "scope": scope,
                "at": at,
                "channel": channel,
                "purpose_id": purpose_id,
            }
        )
        for index in blind_indexes:
            self._objection_indexes.put({"objection_id": objection_id, "blind_index": index})

    async def put_notice(
        self, *, notice_id: str, version: int, article: str, purpose_ids: Iterable[str]
    ) -> None:
        """Stores which article a notice version answers (13 or 14) and the purposes it covers."""
        self._notices.put(
            {
                "notice_id": notice_id,
                "version": version,
                "article": article,
                "purpose_ids": sorted(set(purpose_ids)),
            }
        )

    async def put_delivery(self, values: Mapping[str, Any]) -> None:
        """Stores a notice delivery to a contact."""
        self._deliveries.put(values)

    async def put_purpose(
        self,
        *,
        purpose_id: str,
        version: int,
        lawful_basis: str | None,
        name: str | None,
        retired: bool,
        art14_exemption_claimed: bool | None = None,
        entry: Mapping[str, Any] | None = None,
    ) -> None:
        """Stores a purpose's version in force (a retirement keeps the last basis, claims and entry facts)."""
        values: dict[str, Any] = {"purpose_id": purpose_id, "version": version, "retired": retired}
        if art14_exemption_claimed is not None:
            values["art14_exemption_claimed"] = art14_exemption_claimed
        if lawful_basis is not None:
            values["lawful_basis"] = lawful_basis
        if name is not None:
            values["name"] = name
        if entry is not None:
            values["entry"] = dict(entry)
        await self._update_or_insert(
            self._purposes,
            values,
            defaults={
                "lawful_basis": "unknown",
                "name": None,
                "art14_exemption_claimed": False,
                "entry": None,
            },
        )

    async def put_party(self, *, party_id: str, values: Mapping[str, Any]) -> None:
        """Stores what consent says of a party: roles, status, its contract and a broker's verification."""
        await self._update_or_insert(
            self._parties,
            {**values, "party_id": party_id},
            defaults={"legal_name": party_id, "roles": [], "status": "active"},
        )

    async def put_processor(
        self,
        *,
        processor_id: str,
        legal_name: str | None,
        role: str | None,
        status: str,
        contract: Mapping[str, Any] | None,
    ) -> None:
        """Stores a processor's status and, when the event carries it, its contract."""
        values: dict[str, Any] = {"processor_id": processor_id, "status": status}
        if legal_name is not None:
            values["legal_name"] = legal_name
        if role is not None:
            values["role"] = role
        if contract is not None:
            values["contract"] = dict(contract)
        await self._update_or_insert(
            self._processors,
            values,
            defaults={"legal_name": processor_id, "role": None, "contract": None},
        )

    async def record_offset(
        self, *, topic: str, partition: int, offset: int, event_time: datetime | None
    ) -> None:
        """Records the next offset to consume on a partition, in the same transaction as the event's
        effect (an offset never goes back: a redelivered batch cannot rewind it)."""
        values = {
            "topic": topic,
            "partition": partition,
            "next_offset": offset + 1,
            "last_event_time": event_time,
            "updated_at": datetime.now(UTC),
        }
        await upsert(
            self.session,
            orm.projection_offsets,
            values,
            keys=["topic", "partition"],
            unless_newer="next_offset",
        )

    async def offsets(self) -> dict[tuple[str, int], int]:
        """Returns the next offset to consume per (topic, partition)."""
        rows = await self.session.execute(
            sa.select(
                orm.projection_offsets.c.topic,
                orm.projection_offsets.c.partition,
                orm.projection_offsets.c.next_offset,
            )
        )
        return {(t, p): o for t, p, o in rows}

    async def reset(self, topics: Iterable[str]) -> None:
        """Empties the projection, its offsets and the inbox of its topics, before a rebuild."""
        for rows in self._tables:
            rows.forget()
        for table in (
            orm.gate_contacts,
            orm.gate_consents,
            orm.gate_objections,
            orm.gate_objection_indexes,
            orm.gate_notices,
            orm.gate_notice_deliveries,
            orm.gate_purposes,
            orm.gate_processors,
            orm.gate_parties,
            orm.projection_offsets,
        ):
            await self.session.execute(sa.delete(table))
        await self.session.execute(sa.delete(orm.inbox).where(orm.inbox.c.topic.in_(list(topics))))

    # --- Reads (for reviews and checks) -----------------------------------------------------------

    async def _brokers(
        self, names: set[str], *, today: date
    ) -> dict[str, tuple[BrokerVerification, date | None]]:
        """Returns, per broker name, whether its consent collection counts as verified today (UNI-05).

        Verified means: a data-broker party of that name, active, with a contract in force today and
        a verification of its consent records no older than the configured bound.
        """
        if not names:
            return {}
        p = orm.gate_parties.c
        out: dict[str, tuple[BrokerVerification, date | None]] = {}
        for row in (
            await self.session.execute(sa.select(orm.gate_parties).where(p.legal_name.in_(names)))
        ).mappings():
            if "data_broker" not in (row["roles"] or []):
                continue
            verified = row["broker_last_verified_at"]
            expires = row["contract_expires_at"]
            signed = row["contract_signed_at"]
            in_force = (
                signed is not None and signed.date() <= today and (expires is None or expires.date() >= today)
            )
            fresh = (
                verified is not None
                and (today - verified.date()).days <= self.broker_verification_max_age_days
            )
            ok = row["status"] == "active" and in_force and fresh
            state = BrokerVerification.VERIFIED if ok else BrokerVerification.NOT_VERIFIED
            if out.get(row["legal_name"], (None,))[0] is not BrokerVerification.VERIFIED:
                out[row["legal_name"]] = (state, verified.date() if verified else None)
        return out

    async def contacts_holding(self, blind_indexes: Iterable[str]) -> set[str]:
        """Returns the ids of the contacts whose e-mail or phone blind index is one of these."""
        indexes = sorted(set(blind_indexes))
        if not indexes:
            return set()
        c = orm.gate_contacts.c
        rows = await self.session.scalars(
            sa.select(c.contact_id).where(sa.or_(c.email_index.in_(indexes), c.phone_index.in_(indexes)))
        )
        return set(rows)

    async def purpose(self, purpose_id: str) -> Mapping[str, Any] | None:
        """Returns a purpose as consent's events describe it."""
        await self.flush()
        row = (
            (
                await self.session.execute(
                    sa.select(orm.gate_purposes).where(orm.gate_purposes.c.purpose_id == purpose_id)
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    async def parties(self, party_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Returns the parties among `party_ids` consent registered, by id (an unknown one is absent)."""
        await self.flush()
        rows = await self.session.execute(
            sa.select(orm.gate_parties).where(orm.gate_parties.c.party_id.in_(list(party_ids)))
        )
        return {row["party_id"]: dict(row) for row in rows.mappings()}

    async def processor(self, processor_id: str) -> Mapping[str, Any] | None:
        """Returns a processor as consent's events describe it, with the parties that work under it."""
        await self.flush()
        row = (
            (
                await self.session.execute(
                    sa.select(orm.gate_processors).where(orm.gate_processors.c.processor_id == processor_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        p = orm.gate_parties.c
        parties = (
            (
                await self.session.execute(
                    sa.select(p.party_id, p.legal_name, p.roles, p.status, p.missing_clauses)
                    .where(p.processor_id == processor_id)
                    .order_by(p.party_id)
                )
            )
            .mappings()
            .all()
        )
        return {**row, "parties": [dict(party) for party in parties]}

    async def bloctel_imports(self) -> list[date]:
        """Returns the days of every import into a Bloctel-type list, oldest first."""
        rows = await self.session.scalars(
            sa.select(orm.suppression_imports.c.imported_at)
            .join(orm.suppression_lists, orm.suppression_lists.c.name == orm.suppression_imports.c.list_name)
            .where(orm.suppression_lists.c.kind == SuppressionKind.BLOCTEL.value)
        )
        return sorted({at.date() for at in rows if at is not None})

    async def recipients(
        self, contact_ids: Sequence[str], *, purpose_id: str, channel: Channel, today: date
    ) -> dict[str, RecipientFacts]:
        """Returns the facts of the known contacts among `contact_ids` for one purpose and channel."""
        await self.flush()
        # Because only the phone rules (TEL-02, RET-08) read the Bloctel cleaning date.
        bloctel = await self.bloctel_imports() if channel is Channel.PHONE_HUMAN else []
        purpose = await self.purpose(purpose_id)
        exemption = bool(purpose and purpose.get("art14_exemption_claimed"))
        out: dict[str, RecipientFacts] = {}
        for start in range(0, len(contact_ids), _CHUNK):
            chunk = list(dict.fromkeys(contact_ids[start : start + _CHUNK]))
            out.update(
                await self._chunk(
                    chunk,
                    purpose_id=purpose_id,
                    channel=channel,
                    today=today,
                    bloctel=bloctel,
                    art14_exemption=exemption,
                )
            )
        return out

    async def _chunk(
        self,
        ids: list[str],
        *,
        purpose_id: str,
        channel: Channel,
        today: date,
        bloctel: list[date],
        art14_exemption: bool,
    ) -> dict[str, RecipientFacts]:
        s = self.session
        contacts = (
            (await s.execute(sa.select(orm.gate_contacts).where(orm.gate_contacts.c.contact_id.in_(ids))))
            .mappings()
            .all()
        )
        if not contacts:
            return {}
        indexes = {
            row["contact_id"]: [i for i in (row["email_index"], row["phone_index"]) if i] for row in contacts
        }
        all_indexes = sorted({i for values in indexes.values() for i in values})

        consents: dict[str, list[ConsentRecord]] = defaultdict(list)
        c = orm.gate_consents.c
        for row in (
            await s.execute(
                sa.select(orm.gate_consents).where(
                    c.contact_id.in_(ids), c.purpose_id == purpose_id, c.channel == channel.value
                )
            )
        ).mappings():
            consents[row["contact_id"]].append(_consent(row))

        objections: dict[str, list[Objection]] = defaultdict(list)
        o = orm.gate_objections.c
        for row in (await s.execute(sa.select(orm.gate_objections).where(o.contact_id.in_(ids)))).mappings():
            objections[row["contact_id"]].append(_objection(row))
        if all_indexes:
            by_index: dict[str, list[tuple[str | None, Objection]]] = defaultdict(list)
            query = (
                sa.select(orm.gate_objections, orm.gate_objection_indexes.c.blind_index)
                .join(
                    orm.gate_objection_indexes,
                    orm.gate_objection_indexes.c.objection_id == orm.gate_objections.c.objection_id,
                )
                .where(orm.gate_objection_indexes.c.blind_index.in_(all_indexes))
            )
            for row in (await s.execute(query)).mappings():
                by_index[row["blind_index"]].append((row["contact_id"], _objection(row)))
            for contact_id, values in indexes.items():
                for index in values:
                    # Because an objection found by another record's hash is this person coming
                    # back from a new source (UNI-02), not their own record's objection (UNI-01).
                    objections[contact_id].extend(
                        objection
                        if owner == contact_id
                        else dataclasses.replace(objection, matched_by_hash=True)
                        for owner, objection in by_index.get(index, ())
                    )

        # Because a notice informs only about the purposes it names: a billing notice does not
        # inform anyone about prospection (Art. 13(1)(c), 14(1)(c)).
        notices: dict[str, dict[str, tuple[datetime, str]]] = defaultdict(dict)
        d, n = orm.gate_notice_deliveries.c, orm.gate_notices.c
        query = (
            sa.select(d.contact_id, d.delivery_id, d.delivered_at, n.article, n.purpose_ids)
            .join(orm.gate_notices, sa.and_(n.notice_id == d.notice_id, n.version == d.notice_version))
            .where(d.contact_id.in_(ids))
            .order_by(d.delivered_at)
        )
        for contact_id, delivery_id, delivered_at, article, purposes in await s.execute(query):
            if purpose_id in (purposes or ()):
                notices[contact_id].setdefault(str(article), (delivered_at, delivery_id))

        hits: dict[str, list[SuppressionHit]] = defaultdict(list)
        if all_indexes:
            e, lists, imports = orm.suppression_entries.c, orm.suppression_lists.c, orm.suppression_imports.c
            query = (
                sa.select(
                    e.blind_index, e.list_name, e.import_id, lists.kind, lists.channel, imports.imported_at
                )
                .join(orm.suppression_lists, lists.name == e.list_name)
                .join(orm.suppression_imports, imports.import_id == e.import_id)
                .where(e.blind_index.in_(all_indexes))
            )
            by_index_hits: dict[str, list[SuppressionHit]] = defaultdict(list)
            for index, name, import_id, kind, list_channel, imported_at in await s.execute(query):
                by_index_hits[index].append(
                    SuppressionHit(
                        list_name=name,
                        list_kind=SuppressionKind(kind),
                        import_id=import_id,
                        imported_at=imported_at,
                        channel=Channel(list_channel) if list_channel else None,
                    )
                )
            for contact_id, values in indexes.items():
                for index in values:
                    hits[contact_id].extend(by_index_hits.get(index, ()))

        # Because UNI-07's "first communication" is one the gate never allowed before.
        r = orm.check_receipts.c
        allowed: dict[str, int] = dict(
            (
                await s.execute(
                    sa.select(r.contact_id, sa.func.count())
                    .where(r.contact_id.in_(ids), r.decision == "allow")
                    .group_by(r.contact_id)
                )
            ).all()
        )

        brokers = await self._brokers(
            {row["broker_name"] for row in contacts if row["broker_name"]}, today=today
        )

        out = {}
        for row in contacts:
            contact_id = row["contact_id"]
            art13 = notices[contact_id].get("13")
            art14 = notices[contact_id].get("14")
            informed = art13 is not None or art14 is not None
            obtained_at: datetime = row["obtained_at"]
            broker = brokers.get(row["broker_name"], (BrokerVerification.NOT_VERIFIED, None))
            purchases = tuple(
                Purchase(p["seller"], frozenset(p["categories"])) for p in row["purchases"] or ()
            )
            phone = row["phone_collection"]
            out[contact_id] = RecipientFacts(
                contact_id=contact_id,
                kind=ContactKind(row["kind"]),
                relationship=Relationship(row["relationship"]),
                collected_from_person=row["collected_from_person"],
                obtained_at=obtained_at,
                channel_addresses=frozenset(
                    ch for ch, bit in CHANNEL_BITS.items() if row["channel_mask"] & bit
                ),
                source=row["source"],
                broker_name=row["broker_name"],
                broker_verification=broker[0],
                broker_verified_at=broker[1],
                last_contact_from_person_at=row["last_contact_from_person_at"],
                relationship_end_at=row["relationship_end_at"],
                retention_flagged_rule=row["retention_rule"]
                if row["status"] == "retention_flagged"
                else None,
                majority_on=row["majority_on"],
                digital_consent_age_on=row["digital_consent_age_on"],
                objections=tuple(dict.fromkeys(objections.get(contact_id, ()))),
                suppression_hits=tuple(hits.get(contact_id, ())),
                consents=tuple(consents.get(contact_id, ())),
                # Because consent refuses an Art. 13/14 notice that omits the right to object (H.1).
                informed_at_collection=informed,
                objection_offered_at_collection=informed,
                art13_notice_given_at=art13[0] if art13 else None,
                art14_notice_delivered_at=art14[0] if art14 else None,
                art14_delivery_id=art14[1] if art14 else (art13[1] if art13 else None),
                art14_exemption_claimed=art14_exemption,
                # Because the soft opt-in needs the details collected "à l'occasion d'une vente": a
                # contact created at a sale, or one with a recorded purchase.
                collected_at_sale=row["source"] == "sale" or bool(purchases),
                purchases=purchases,
                contracts=tuple(
                    ContractFact(k["seller"], frozenset(k["categories"]), bool(k["ended"]))
                    for k in row["contracts"] or ()
                ),
                profession=row["profession"],
                bloctel_checked_on=_cleaned_on(bloctel, obtained_at.date()),
                call_attempts_at=tuple(t for t in map(parse_time, row["call_attempts"] or ()) if t),
                last_phone_refusal_at=row["last_call_refusal_at"],
                phone_collection=PhoneCollection(**phone) if phone else None,
                timezone=row["timezone"],
                marketing_messages_received=int(allowed.get(contact_id, 0)),
                stop_pub=bool(row["stop_pub"]),
                restricted=bool(row["restricted"]),
                restriction_request_id=row["restriction_request_id"],
            )
        return out


def _cleaned_on(imports: list[date], obtained_on: date) -> date | None:
    """Returns the latest Bloctel cleaning that could include a contact obtained on a day, if any."""
    # Because a number added to the file after the last cleaning was never submitted to Bloctel.
    latest = imports[-1] if imports else None
    return latest if latest is not None and latest >= obtained_on else None


def _consent(row: RowMapping) -> ConsentRecord:
    """Reads a projected consent as consent recorded it (proof, positive act, information, who gave it)."""
    given_by = set(row["given_by"] or ())
    requested = row["requested_at"]
    return ConsentRecord(
        consent_id=row["consent_id"],
        purpose_id=row["purpose_id"],
        channel=Channel(row["channel"]),
        status=ConsentStatus(row["status"]),
        granted_at=row["granted_at"] or requested or _EPOCH,
        withdrawn_at=row["withdrawn_at"],
        proof_present=bool(row["proof_present"]),
        positive_act=bool(row["positive_act"]),
        explicit=bool(row["explicit"]),
        withdrawal_info_given=bool(row["withdrawal_info_given"]),
        given_by_minor="data_subject" in given_by,
        given_by_parent="parental_authority_holder" in given_by,
        out_of_hours_calls=bool(row["out_of_hours_calls"]),
        collector=row["collector_name"],
        partners=frozenset(row["partners"] or ()),
        partner_categories=frozenset(row["partner_categories"] or ()),
        email_tracking=bool(row["email_tracking"]),
        notice_version=None if row["notice_version"] is None else str(row["notice_version"]),
    )


def _objection(row: RowMapping) -> Objection:
    scope, channel, purpose_id = objection_scope(row["scope"], row.get("channel"), row.get("purpose_id"))
    return Objection(
        objection_id=row["objection_id"],
        at=row["at"],
        channel=Channel(channel) if channel else None,
        purpose_id=purpose_id,
    )


def unknown_recipient(contact_id: str) -> RecipientFacts:
    """Returns the facts of a contact the projection has never seen: no address, nothing to rely on."""
    return RecipientFacts(
        contact_id=contact_id,
        kind=ContactKind.CONSUMER,
        relationship=Relationship.PROSPECT,
        collected_from_person=False,
        obtained_at=_EPOCH,
    )

"""A bulk import's rows for PostgreSQL's binary COPY, built per batch (issue 15, third round).

The import workers hand the API process each created contact's stored row and its ContactCreated
outbox row as binary COPY rows. Built one value at a time (`repository.contact_row`, then
`outgoing.created_outbox_row`, then `copy_binary.RowEncoder.row`) they cost ≈ 38 µs of CPU per row
(the event's row 19.8, the encoding 18, measured in issue 15's second round), much of it on values
every row of a batch shares (the actor, the batch's time, the topic, the event's constant
attributes, the enums, the source, the empty lists). `ImportCopyRows` encodes those once per batch
and joins them with each row's own fields; its bytes are that path's, which
`tests/unit/test_import_copy.py` compares on many contacts (and `tests/integration/test_copy_binary.py`
COPYs a batch's rows into the service's tables).
"""

from __future__ import annotations

import os
import struct
from datetime import datetime
from typing import Any

import orjson
from shared.copy_binary import RowEncoder
from shared.events import CONTENT_TYPE
from shared.outbox import MAX_EVENT_BYTES, EventTooLargeError
from shared.tracing import current_trace

from contacts import contracts
from contacts.adapters import orm
from contacts.adapters.protection import SealedPersonalData
from contacts.domain.events import ContactCreated
from contacts.domain.model import Contact, Status

#: The contacts columns, in the order the rows below are built; `repository.CONTACT_COLUMNS` must match
#: (checked when the module is imported, so that a new column cannot be left out silently).
CONTACT_COLUMNS = [
    "id",
    "kind",
    "relationship",
    "status",
    "version",
    "collected_from_person",
    "source",
    "broker_name",
    "obtained_at",
    "last_contact_from_person_at",
    "relationship_end_at",
    "timezone",
    "timezone_source",
    "profession",
    "phone_collection",
    "stop_pub",
    "purchases",
    "contracts",
    "call_attempts",
    "last_call_refusal_at",
    "restriction",
    "wrapped_key",
    "personal_data",
    "email_index",
    "phone_index",
    "external_ref_index",
    "created_at",
    "updated_at",
]
#: The outbox columns a row fills (`unit_of_work.OUTBOX_COLUMNS`).
OUTBOX_COLUMNS = ["event_id", "topic", "key", "value", "headers", "created_at"]
if CONTACT_COLUMNS != [c.name for c in orm.contacts.columns]:  # pragma: no cover - a schema change
    raise RuntimeError("contacts' columns changed: update import_copy.CONTACT_COLUMNS and its rows")

_CONTACT = RowEncoder(orm.contacts, CONTACT_COLUMNS)
_OUTBOX = RowEncoder(orm.outbox, OUTBOX_COLUMNS)
_ENCODE_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
_EMPTY_JSON_LIST = _CONTACT.field("purchases", [])
_NULL = _CONTACT.field("restriction", None)


_LENGTH = struct.Struct(">i")


def _bytes_field(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def uuid4_strings(count: int) -> list[str]:
    """Returns `count` random version-4 UUIDs as text, `str(uuid.uuid4())` each, from one call for
    random bytes instead of one per id."""
    randomness = os.urandom(16 * count)
    ids = []
    for start in range(0, 16 * count, 16):
        # The version (4) and variant (RFC 4122) bits, set as uuid.UUID(bytes=…, version=4) sets them.
        value = int.from_bytes(randomness[start : start + 16], "big")
        value = (value & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
        text = f"{value:032x}"
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


class ImportCopyRows:
    """Binary COPY rows of one batch's new contacts and of their ContactCreated outbox rows, as
    `copy_binary.RowEncoder` encodes `repository.contact_row` and `outgoing.created_outbox_row`.

    `now` is the events' time and their outbox rows' `created_at` (one clock reading per batch, where
    that path read it twice per row); the trace header is the caller's at construction.
    """

    def __init__(self, *, actor: str, correlation_id: str | None, now: datetime) -> None:
        self._shared: dict[tuple[Any, ...], bytes] = {}
        self._times: dict[tuple[datetime | None, datetime | None], bytes] = {}
        self._at: tuple[datetime, bytes] | None = None
        self._topic = _OUTBOX.field("topic", contracts.CONTACTS_EVENTS)
        self._created_at = _OUTBOX.field("created_at", now)
        # The envelope's canonical JSON (sorted keys, UTC times with Z) cut around each row's values.
        self._value_head = (
            b'{"actor":'
            + orjson.dumps(actor)
            + b',"correlationid":'
            + orjson.dumps(correlation_id)
            + b',"data":{"at":'
        )
        self._value_source = (
            b',"source":' + orjson.dumps(contracts.SOURCE) + b',"specversion":"1.0","subject":'
        )
        self._value_tail = (
            b',"time":'
            + orjson.dumps(now, option=orjson.OPT_UTC_Z)
            + b',"type":'
            + orjson.dumps(contracts.CONTACT_CREATED)
            + b"}"
        )
        headers = [["content-type", CONTENT_TYPE], ["ce_id", ""], ["ce_type", contracts.CONTACT_CREATED]]
        if correlation_id:
            headers.append(["correlationid", correlation_id])
        if trace := current_trace.get():
            headers.append(["traceparent", trace.header()])
        self._headers_head = b'[["content-type",' + orjson.dumps(CONTENT_TYPE) + b'],["ce_id",'
        self._headers_tail = b"]," + b",".join(orjson.dumps(h) for h in headers[2:]) + b"]"
        # Everything the size check counts but the event id and the value.
        self._headers_size = sum(len(k) + len(v.encode()) for k, v in headers)

    def contact_row(self, contact: Contact, sealed: SealedPersonalData) -> bytes:
        """Returns the stored row of a new contact (not erased) with its sealed personal data."""
        if contact.status is Status.ERASED:
            raise ValueError("an erased contact is not imported")
        origin = contact.origin
        key = (
            contact.kind,
            contact.relationship,
            contact.status,
            contact.version,
            origin.collected_from_person,
            origin.source,
            origin.broker_name,
            contact.obtained_at,
            contact.last_contact_from_person_at,
            contact.relationship_end_at,
            contact.timezone,
            contact.timezone_source,
            contact.profession,
            contact.phone_collection,
            contact.stop_pub,
        )
        shared = self._shared.get(key)
        if shared is None:
            # Only values whose encoding their equality decides (times as instants, not as text).
            shared = self._shared[key] = b"".join(
                (
                    _CONTACT.field("kind", contact.kind.value),
                    _CONTACT.field("relationship", contact.relationship.value),
                    _CONTACT.field("status", contact.status.value),
                    _CONTACT.field("version", contact.version),
                    _CONTACT.field("collected_from_person", origin.collected_from_person),
                    _CONTACT.field("source", origin.source),
                    _CONTACT.field("broker_name", origin.broker_name),
                    _CONTACT.field("obtained_at", contact.obtained_at),
                    _CONTACT.field("last_contact_from_person_at", contact.last_contact_from_person_at),
                    _CONTACT.field("relationship_end_at", contact.relationship_end_at),
                    _CONTACT.field("timezone", contact.timezone),
                    _CONTACT.field("timezone_source", contact.timezone_source),
                    _CONTACT.field("profession", contact.profession),
                    _CONTACT.field(
                        "phone_collection",
                        contact.phone_collection.as_dict() if contact.phone_collection else None,
                    ),
                    _CONTACT.field("stop_pub", contact.stop_pub),
                )
            )
        times_key = (contact.created_at, contact.updated_at)
        times = self._times.get(times_key)
        if times is None:
            times = self._times[times_key] = _CONTACT.field("created_at", times_key[0]) + _CONTACT.field(
                "updated_at", times_key[1]
            )
        indexes = contact.indexes
        return b"".join(
            (
                _CONTACT.count,
                _bytes_field(contact.id.encode()),
                shared,
                _CONTACT.field("purchases", [p.as_dict() for p in contact.purchases])
                if contact.purchases
                else _EMPTY_JSON_LIST,
                _CONTACT.field("contracts", [c.as_dict() for c in contact.contracts])
                if contact.contracts
                else _EMPTY_JSON_LIST,
                _CONTACT.field("call_attempts", [t.isoformat() for t in contact.call_attempts])
                if contact.call_attempts
                else _EMPTY_JSON_LIST,
                _CONTACT.field("last_call_refusal_at", contact.last_call_refusal_at),
                _CONTACT.field("restriction", contact.restriction.as_dict())
                if contact.restriction
                else _NULL,
                _bytes_field(sealed.wrapped_key),
                _bytes_field(sealed.ciphertext),
                _bytes_field(indexes.email.encode()) if indexes.email is not None else _NULL,
                _bytes_field(indexes.phone.encode()) if indexes.phone is not None else _NULL,
                _bytes_field(indexes.external_ref.encode()) if indexes.external_ref is not None else _NULL,
                times,
            )
        )

    def event_row(self, event: ContactCreated, event_id: str) -> bytes:
        """Returns the outbox row of a ContactCreated: `outgoing.created_outbox_row`'s values, encoded.

        Raises EventTooLargeError as that function does.
        """
        at = self._at
        if at is None or at[0] is not event.at:
            at = self._at = (event.at, orjson.dumps(event.at.isoformat()))
        contact_id = orjson.dumps(event.contact_id)
        identifier = orjson.dumps(event_id)
        value = b"".join(
            (
                self._value_head,
                at[1],
                b',"contact_id":',
                contact_id,
                b',"facts":',
                orjson.dumps(event.facts, option=_ENCODE_OPTIONS),
                b'},"datacontenttype":"application/json","id":',
                identifier,
                self._value_source,
                contact_id,
                self._value_tail,
            )
        )
        key = event.contact_id.encode()
        if len(value) + len(key) + self._headers_size + len(event_id.encode()) > MAX_EVENT_BYTES:
            raise EventTooLargeError(
                contracts.CONTACT_CREATED,
                len(value) + len(key) + self._headers_size + len(event_id.encode()),
            )
        return b"".join(
            (
                _OUTBOX.count,
                _bytes_field(event_id.encode()),
                self._topic,
                _bytes_field(key),
                _bytes_field(value),
                _bytes_field(self._headers_head + identifier + self._headers_tail),
                self._created_at,
            )
        )

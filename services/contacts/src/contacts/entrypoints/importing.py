"""Bulk import bodies (CSV or NDJSON) → numbered, validated create commands and per-row errors.

An NDJSON line is a `POST /v1/contacts` body. A CSV row has one column per field of that body, with
dotted names for objects and an empty cell for an absent field:

- `postal_address.line1`, `postal_address.postal_code`, `postal_address.city`, `postal_address.country`;
- `attributes.<name>` (free-form, stored but never published);
- `timezone` (IANA name), `profession`, `stop_pub` (`true`/`false`);
- `phone_collection.told_calls_need_consent`, `phone_collection.during_contract`,
  `phone_collection.contract_states_calls_need_consent` (`true`/`false`, all three when one is given);
- `purchase.seller`, `purchase.categories` (separated by `|`), `purchase.last_at`: one purchase of an
  existing customer (NDJSON takes a `purchases` list).

Before any row is stored, a CSV body is read through once: a header that names a column twice (or
both `x` and `x.y`), a cell longer than the CSV reader's limit (128 KiB) or broken quoting refuse the
whole body (422, nothing stored). An NDJSON line longer than `MAX_ROW_BYTES` is that row's error.
The report lists the first `MAX_REPORTED_ROWS` rows in error, each with at most `MAX_ROW_PROBLEMS`
problems, and counts the rows in error it leaves out (`errors_omitted`).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from pydantic import ValidationError
from shared.blind_index import InvalidIdentifierError, normalise_email, normalise_phone

from contacts.domain import timezones
from contacts.domain.model import Kind, Origin, PersonalData, PhoneCollection, Purchase, Relationship
from contacts.entrypoints import schemas
from contacts.service_layer import commands

#: Content types accepted by `POST /v1/contacts:import`.
CSV_TYPES = ("text/csv", "application/csv")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")


#: The longest NDJSON line read as a row: a `POST /v1/contacts` body's own limit.
MAX_ROW_BYTES = 1_048_576
#: The rows in error an import report lists; it counts the others in `errors_omitted`.
MAX_REPORTED_ROWS = 1000
#: The problems an import report lists per row in error.
MAX_ROW_PROBLEMS = 20


class UnsupportedImportFormatError(ValueError):
    """The body is neither CSV nor NDJSON."""


class MalformedImportError(ValueError):
    """The body cannot be read as rows (bad header, oversized cell, broken quoting): nothing is imported."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ImportRows:
    """The rows of an import body, read through once before any is stored: how many, and the rows."""

    #: The data rows the body holds (NDJSON lines that are not blank, CSV rows that are not empty).
    total: int
    #: (row number, fields or raw NDJSON line, parse error) for each data row, in order.
    rows: Iterable[tuple[int, dict[str, Any] | bytes | None, str | None]]


def open_rows(body: bytes, content_type: str) -> ImportRows:
    """Checks the body as a whole and counts its rows; raises UnsupportedImportFormatError,
    MalformedImportError (CSV header, quoting, oversized cell) or UnicodeDecodeError (CSV not UTF-8).

    An NDJSON row comes as its raw line (parsed where it is validated, in a worker process); blank
    lines are skipped and an oversized line is that row's error.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        lines = body.split(b"\n")
        # isspace() rather than strip(): the same test without copying every line.
        total = sum(1 for line in lines if len(line) > MAX_ROW_BYTES or (line and not line.isspace()))
        return ImportRows(total=total, rows=_raw_ndjson_rows(lines))
    if media in CSV_TYPES:
        text = body.decode("utf-8-sig")
        names, total = _checked_csv(text)
        return ImportRows(total=total, rows=_csv_rows(text, names) if names is not None else ())
    raise UnsupportedImportFormatError(
        f"content type {media or '(none)'} is not one of {', '.join(CSV_TYPES + NDJSON_TYPES)}"
    )


def rows_of(body: bytes, content_type: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yields (row number, fields, parse error) for each data row; CSV rows count from 1 after the header."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        yield from _ndjson_rows(body)
        return
    yield from cast(
        Iterator[tuple[int, dict[str, Any] | None, str | None]], open_rows(body, content_type).rows
    )


def _raw_ndjson_rows(lines: list[bytes]) -> Iterator[tuple[int, dict[str, Any] | bytes | None, str | None]]:
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_ROW_BYTES:
            yield number, None, f"is longer than {MAX_ROW_BYTES} bytes"
        elif line and not line.isspace():
            yield number, line, None


def _csv_rows(text: str, names: list[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for number, cells in enumerate(reader, start=1):
        if not cells:
            continue
        if len(cells) != len(names):
            yield number, None, f"has {len(cells)} cells, the header has {len(names)}"
            continue
        yield number, _purchase_columns(_unflatten(names, cells)), None


def _checked_csv(text: str) -> tuple[list[str] | None, int]:
    """Returns the header's column names and the number of data rows after reading the whole body once;
    raises MalformedImportError.

    Because the import stores rows batch by batch, a body that breaks off half-way must be refused
    before its first batch is stored.
    """
    reader = csv.reader(io.StringIO(text))
    total = 0
    try:
        header = next(reader, None)
        if header is None:
            return None, 0
        names = [name.strip() for name in header]
        _check_header(names)
        for cells in reader:
            if cells:
                total += 1
    except csv.Error as error:
        line = reader.line_num
        if "field larger than field limit" in str(error):
            message = f"line {line} has a cell longer than {csv.field_size_limit()} characters"
        else:
            message = f"line {line} is not valid CSV"
        raise MalformedImportError(message, field=f"line {line}") from None
    return names, total


def _check_header(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise MalformedImportError(f"the header names the column {name!r} twice", field=name)
        seen.add(name)
    objects = {name.partition(".")[0] for name in names if "." in name}
    for name in names:
        if "." not in name and name in objects:
            raise MalformedImportError(f"the header has both {name!r} and {name}.* columns", field=name)


#: What separates the categories of a CSV `purchase.categories` cell.
CATEGORY_SEPARATOR = "|"


def _purchase_columns(fields: dict[str, Any]) -> dict[str, Any]:
    # Because a CSV row is flat, its one purchase arrives as `purchase.*` columns; the body takes a list.
    purchase = fields.pop("purchase", None)
    if not isinstance(purchase, dict):
        if purchase is not None:
            fields["purchase"] = purchase  # A plain `purchase` column: refused as an unknown field.
    else:
        categories = purchase.get("categories")
        if categories is not None:
            purchase["categories"] = [c.strip() for c in categories.split(CATEGORY_SEPARATOR) if c.strip()]
        fields["purchases"] = [purchase]
    return fields


def _unflatten(names: list[str], cells: list[str]) -> dict[str, Any]:
    # Empty cells are absent fields; `postal_address.city` and `attributes.segment` build nested objects.
    fields: dict[str, Any] = {}
    for name, cell in zip(names, cells, strict=True):
        if cell == "":
            continue
        head, dot, tail = name.partition(".")
        if dot:
            fields.setdefault(head, {})[tail] = cell
        else:
            fields[name] = cell
    return fields


def _ndjson_rows(body: bytes) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    for number, line in enumerate(body.split(b"\n"), start=1):
        if len(line) > MAX_ROW_BYTES:
            yield number, None, f"is longer than {MAX_ROW_BYTES} bytes"
            continue
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield number, None, "is not valid JSON"
            continue
        if not isinstance(value, dict):
            yield number, None, "is not a JSON object"
            continue
        yield number, value, None


def to_command(fields: dict[str, Any], *, actor: str) -> commands.CreateContact:
    """Validates one row as a `POST /v1/contacts` body (raises pydantic's ValidationError)."""
    body = schemas.ContactCreate.model_validate(fields)
    return create_command(body, actor=actor)


def row_command(
    fields: dict[str, Any], *, actor: str, now: datetime | None = None
) -> tuple[commands.CreateContact, str | None]:
    """Validates one import row as a `POST /v1/contacts` body: its command and its normalised e-mail
    (None without one); raises pydantic's ValidationError.

    The common rows take `quick_command`, which accepts a subset of what `schemas.ContactCreate` accepts
    and builds the same command; any other row (an invalid one, one with a field or a form it leaves to
    the model) goes through the model, so a row in error gets the model's problems, word for word.
    """
    quick = quick_command(fields, actor=actor)
    if quick is not None:
        return quick
    cmd = to_command(fields, actor=actor)
    # The model checked the address already; its normalised form is the blind index's input.
    return cmd, normalise_email(cmd.personal.email) if cmd.personal.email else None


#: The fields `quick_command` validates itself; a row with any other goes through the model.
_QUICK_FIELDS = frozenset(
    {
        "kind",
        "relationship",
        "given_name",
        "family_name",
        "email",
        "phone",
        "postal_address",
        "external_ref",
        "collected_from_person",
        "source",
        "broker_name",
        "obtained_at",
        "last_contact_from_person_at",
        "attributes",
        "timezone",
        "profession",
        "stop_pub",
    }
)
_ADDRESS_FIELDS = frozenset({"line1", "line2", "postal_code", "city", "country"})
_KINDS = {k.value: k for k in Kind}
_RELATIONSHIPS = {r.value: r for r in Relationship}
# RFC 3339 with a numeric or Z offset, the one form of an aware time `quick_command` parses itself.
_AWARE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$")


class _Unsure(Exception):
    """The row is invalid, or not in a form `quick_command` checks: the model decides."""


def _text(value: Any, low: int, high: int) -> str:
    if type(value) is not str or not low <= len(value) <= high:
        raise _Unsure
    return value


def _optional_text(fields: dict[str, Any], name: str, low: int, high: int) -> str | None:
    value = fields.get(name)
    return None if value is None else _text(value, low, high)


def _past_time(value: Any, now: datetime) -> datetime:
    if type(value) is not str:
        raise _Unsure
    parsed = _aware_time(value)
    if parsed is None or parsed > now:
        raise _Unsure
    return parsed


@functools.lru_cache(maxsize=256)
def _aware_time(value: str) -> datetime | None:
    # Cached because an import's rows mostly share a few times (its `obtained_at`): the match and the
    # parse once per distinct text. Only the parse: whether it is past is decided on every call.
    return datetime.fromisoformat(value) if _AWARE_TIME.match(value) else None


def _flag(fields: dict[str, Any], name: str, default: bool | None) -> bool:
    value = fields.get(name, default)
    if type(value) is not bool:
        raise _Unsure
    return value


def _external_ref_value(value: Any) -> str | None:
    if value is None:
        return None
    ref = _text(value, 1, schemas.MAX_EXTERNAL_REF)
    # The model's pattern (^\S(.*\S)?$): no space at either end, no line break inside. Only printable
    # ends are taken here, where the model's and Python's ideas of a space could differ.
    first, last = ref[0], ref[-1]
    if "\n" in ref or not (first.isprintable() and last.isprintable()) or first.isspace() or last.isspace():
        raise _Unsure
    return ref


def _address(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if type(value) is not dict or not value.keys() <= _ADDRESS_FIELDS:
        raise _Unsure
    address = {"line1": _text(value.get("line1"), 1, 300)}
    line2 = value.get("line2")
    if line2 is not None:
        address["line2"] = _text(line2, 0, 300)
    address["postal_code"] = _text(value.get("postal_code"), 1, 20)
    address["city"] = _text(value.get("city"), 1, 200)
    address["country"] = _text(value.get("country", "FR"), 2, 2)
    return address


def quick_command(
    fields: dict[str, Any], *, actor: str, now: datetime | None = None
) -> tuple[commands.CreateContact, str | None] | None:
    """Validates a common import row without the model: its command and normalised e-mail, or None when
    the row is invalid or uses a field or form this leaves to `schemas.ContactCreate` (which then
    decides, and names the problems).

    It accepts only rows the model accepts, and builds the same command from them (the unit tests
    compare both on many rows): the model's pydantic validation, with the e-mail normalised twice, was
    the largest part of an import row's CPU.
    """
    try:
        if not fields.keys() <= _QUICK_FIELDS:
            raise _Unsure
        if now is None:
            now = datetime.now(UTC)
        kind = _KINDS[fields["kind"]] if type(fields.get("kind")) is str else None
        relationship = _RELATIONSHIPS[fields.get("relationship", "prospect")]
        if kind is None:
            raise _Unsure
        email = fields.get("email")
        normalised = None
        if email is not None:
            normalised = normalise_email(_text(email, 0, 254))
            email = email.strip()
        phone = fields.get("phone")
        if phone is not None:
            phone = normalise_phone(_text(phone, 0, 40))
        collected = _flag(fields, "collected_from_person", None)
        source = _text(fields.get("source"), 1, 200)
        broker = _optional_text(fields, "broker_name", 1, 200)
        if not collected and not broker and source in ("broker", "partner"):
            raise _Unsure
        last_contact = fields.get("last_contact_from_person_at")
        attributes = fields.get("attributes", {})
        if type(attributes) is not dict or len(attributes) > schemas.MAX_ATTRIBUTES:
            raise _Unsure
        schemas._bounded_attributes(attributes)  # noqa: SLF001 - the model's own check, shared on purpose.
        zone = _optional_text(fields, "timezone", 0, 64)
        if zone is not None and not timezones.is_valid_timezone(zone):
            raise _Unsure
        personal = PersonalData(
            given_name=_optional_text(fields, "given_name", 1, 200),
            family_name=_optional_text(fields, "family_name", 1, 200),
            email=email,
            phone=phone,
            postal_address=_address(fields.get("postal_address")),
            external_ref=_external_ref_value(fields.get("external_ref")),
        )
        cmd = commands.CreateContact(
            actor=actor,
            kind=kind,
            relationship=relationship,
            personal=personal,
            origin=Origin(collected_from_person=collected, source=source, broker_name=broker),
            obtained_at=_past_time(fields.get("obtained_at"), now),
            last_contact_from_person_at=None if last_contact is None else _past_time(last_contact, now),
            attributes=dict(attributes),
            timezone=zone,
            profession=_optional_text(fields, "profession", 1, 200),
            stop_pub=_flag(fields, "stop_pub", False),
        )
    except (_Unsure, KeyError, TypeError, ValueError, InvalidIdentifierError):
        return None
    return cmd, normalised


def create_command(body: schemas.ContactCreate, *, actor: str) -> commands.CreateContact:
    """Returns the create command of a validated body."""
    personal = PersonalData(
        given_name=body.given_name,
        family_name=body.family_name,
        email=body.email,
        phone=body.phone,
        postal_address=body.postal_address.model_dump(exclude_none=True) if body.postal_address else None,
        birth_date=body.birth_date,
        external_ref=body.external_ref,
    )
    return commands.CreateContact(
        actor=actor,
        kind=body.kind,
        relationship=body.relationship,
        personal=personal,
        origin=Origin(
            collected_from_person=body.collected_from_person, source=body.source, broker_name=body.broker_name
        ),
        obtained_at=body.obtained_at,
        last_contact_from_person_at=body.last_contact_from_person_at,
        relationship_end_at=body.relationship_end_at,
        attributes=body.attributes,
        timezone=body.timezone,
        profession=body.profession,
        phone_collection=phone_collection(body.phone_collection),
        stop_pub=body.stop_pub,
        purchases=[
            Purchase(seller=p.seller, categories=tuple(p.categories), last_at=p.last_at)
            for p in body.purchases
        ],
    )


def contact_changes(body: schemas.ContactUpdate) -> commands.ContactChanges:
    """Returns the changes a PATCH body (or a rectification) names; the fields it leaves out stay unset."""
    given: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    if "postal_address" in given and body.postal_address is not None:
        given["postal_address"] = body.postal_address.model_dump(exclude_none=True)
    if "phone_collection" in given:
        given["phone_collection"] = phone_collection(body.phone_collection)
    return commands.ContactChanges(**given)


def phone_collection(body: schemas.PhoneCollection | None) -> PhoneCollection | None:
    """Returns the domain value of the `phone_collection` object (None when absent)."""
    return PhoneCollection(**body.model_dump()) if body is not None else None


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Returns one {field, message, type} per problem of a row, without echoing the input."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "(row)", "message": e["msg"], "type": e["type"]}
        for e in error.errors(include_input=False, include_url=False)
    ]

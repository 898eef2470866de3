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
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
from pydantic import ValidationError

from contacts.domain.model import Origin, PersonalData, PhoneCollection, Purchase
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

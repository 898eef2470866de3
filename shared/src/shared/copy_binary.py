"""PostgreSQL's binary COPY format, written row by row where the rows are prepared.

asyncpg's `copy_records_to_table` encodes value tuples into this same format; rows encoded here can
be made where they are prepared (contacts' import workers: a row crosses the process pipe as one
bytes object, cheaper to pickle than its values) or by a writer that knows its columns (audit-log's
entries). The encoders follow the stored columns' types (text, integer, boolean, timestamptz, json,
bytea); contacts' `tests/integration/test_copy_binary.py` and audit-log's `tests/integration/
test_streamed_append.py` copy the same rows both ways and compare the tables.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

#: The file header (signature, flags, no extension) and trailer of a binary COPY stream.
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT4 = struct.Struct(">i")
_INT8 = struct.Struct(">q")

Encoder = Callable[[Any], bytes]


def _text(value: Any) -> bytes:
    return str(value).encode()


def _int4(value: Any) -> bytes:
    return _INT4.pack(value)


def _int8(value: Any) -> bytes:
    return _INT8.pack(value)


def _bool(value: Any) -> bytes:
    return b"\x01" if value else b"\x00"


def timestamptz_micros(value: datetime) -> int:
    """Returns a time as timestamptz's binary value: microseconds since 2000-01-01 UTC (a naive value
    is read as UTC, as `shared.db.UtcDateTime` does)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _PG_EPOCH) // _MICROSECOND


def _timestamptz(value: datetime) -> bytes:
    return _INT8.pack(timestamptz_micros(value))


def _json(value: Any) -> bytes:
    # json's binary form is its text (asyncpg sends the same bytes for `orjson.dumps(value).decode()`).
    return orjson.dumps(value)


def _bytea(value: Any) -> bytes:
    return bytes(value)


def _encoder(column: sa.Column[Any]) -> Encoder:
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):
        kind = kind.impl if isinstance(kind.impl, sa.types.TypeEngine) else kind.impl()
    if isinstance(kind, sa.JSON):
        return _json
    if isinstance(kind, sa.LargeBinary):
        return _bytea
    if isinstance(kind, sa.Boolean):
        return _bool
    if isinstance(kind, sa.DateTime):
        if not kind.timezone:
            raise TypeError(f"{column.name}: only timestamptz columns are encoded")
        return _timestamptz
    if isinstance(kind, sa.BigInteger):
        return _int8
    if isinstance(kind, sa.Integer):
        return _int4
    if isinstance(kind, sa.String):
        return _text
    raise TypeError(f"{column.name}: no binary COPY encoder for {kind!r}")


class RowEncoder:
    """Encodes value tuples (in `columns` order) of a table as binary COPY rows."""

    def __init__(self, table: sa.Table, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._encoders = [_encoder(table.c[name]) for name in self.columns]
        self._count = struct.pack(">h", len(self.columns))

    @property
    def count(self) -> bytes:
        """Returns the field count every row of this encoder opens with."""
        return self._count

    def field(self, column: str, value: Any) -> bytes:
        """Returns one column's field as `row` writes it (its length and bytes, or -1 for NULL): a writer
        that builds rows itself encodes the values many rows share once, and joins `count` and the
        fields in column order."""
        if value is None:
            return _NULL
        data = self._encoders[self.columns.index(column)](value)
        return _INT4.pack(len(data)) + data

    def row(self, values: Sequence[Any]) -> bytes:
        """Returns one row: its field count, then each field's length and bytes (-1 for NULL)."""
        parts = [self._count]
        for value, encode in zip(values, self._encoders, strict=True):
            if value is None:
                parts.append(_NULL)
            else:
                data = encode(value)
                parts.append(_INT4.pack(len(data)))
                parts.append(data)
        return b"".join(parts)


def stream(rows: Sequence[bytes]) -> memoryview:
    """Returns a whole binary COPY stream of encoded rows, as a buffer for asyncpg's `copy_to_table`
    (which would read plain bytes as a file name)."""
    return memoryview(b"".join((HEADER, *rows, TRAILER)))

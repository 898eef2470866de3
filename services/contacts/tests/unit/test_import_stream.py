"""The import's streamed report (issue 18): each batch's row results once the batch commits, in row
order, with a progress line after each batch and a summary at the end; an error line when a batch
fails; rows in error reported with their problems and never stored; a client gone away stops it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pytest
from contacts.adapters.repository import CONTACT_COLUMNS
from contacts.entrypoints import import_run, importing
from contacts.entrypoints.import_pool import RowPreparer
from contacts_fakes import T0, make_vault

_INDEXES = {kind: CONTACT_COLUMNS.index(f"{kind}_index") for kind in ("email", "phone", "external_ref")}


@dataclass
class _Db:
    """What the fake database committed: contact ids per batch, outbox rows; a batch may be made to fail."""

    batches: list[list[str]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    fail_on_batch: int | None = None
    known: dict[tuple[str, str], str] = field(default_factory=dict)


class _Repo:
    def __init__(self, db: _Db, staged: list[tuple[Any, ...]]) -> None:
        self.db, self.staged = db, staged

    async def find_known(self, **indexes: list[str]) -> dict[tuple[str, str], str]:
        kinds = {"email_indexes": "email", "phone_indexes": "phone", "external_ref_indexes": "external_ref"}
        return {
            (kind, i): self.db.known[(kind, i)]
            for name, kind in kinds.items()
            for i in indexes.get(name, [])
            if (kind, i) in self.db.known
        }

    async def insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.staged.extend(rows)


class _Uow:
    """The part of a unit of work the import's write uses: lookup, insert, outbox, one commit."""

    def __init__(self, db: _Db) -> None:
        self.db = db
        self.rows: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []
        self.contacts = _Repo(db, self.rows)

    async def __aenter__(self) -> _Uow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def add_outbox_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.outbox.extend(rows)

    async def commit(self, *, actor: str) -> None:
        if self.db.fail_on_batch == len(self.db.batches) + 1:
            raise RuntimeError("the database went away")
        self.db.batches.append([row[0] for row in self.rows])
        for row in self.rows:
            self.db.known.update({(kind, row[i]): row[0] for kind, i in _INDEXES.items() if row[i]})
        self.db.outbox.extend(self.outbox)


@dataclass
class _Settings:
    import_batch_rows: int


class _Service:
    def __init__(self, db: _Db, batch_rows: int) -> None:
        self.db = db
        self.settings = _Settings(batch_rows)

    def now(self) -> datetime:
        return T0

    def uow(self) -> _Uow:
        return _Uow(self.db)


def _row(n: int, **extra: Any) -> bytes:
    fields = {
        "kind": "consumer",
        "relationship": "prospect",
        "email": f"p{n}@example.org",
        "collected_from_person": True,
        "source": "crm",
        "obtained_at": "2026-01-01T10:00:00+00:00",
        "external_ref": f"R{n}",
        **extra,
    }
    return orjson.dumps(fields)


def _run(db: _Db, body: bytes, batch_rows: int = 3) -> tuple[import_run.ImportRun, importing.ImportRows]:
    rows = importing.open_rows(body, "application/x-ndjson")
    preparer = RowPreparer(vault=make_vault(), keys=({}, "", b""), workers=1)
    run = import_run.ImportRun(
        service=_Service(db, batch_rows),  # type: ignore[arg-type]
        preparer=preparer,
        actor="crm",
        total=rows.total,
    )
    return run, rows


async def _chunks(run: import_run.ImportRun, rows: importing.ImportRows, db: _Db) -> list[tuple[int, list]]:
    """The streamed chunks, each with the number of batches committed when it came out."""
    out = []
    async for chunk in run.stream(rows.rows):
        out.append((len(db.batches), [orjson.loads(line) for line in chunk.splitlines()]))
    return out


@pytest.mark.parametrize(
    ("accept", "streams"),
    [
        ("application/x-ndjson", True),
        ("application/json, application/x-ndjson;q=0.5", True),
        ("application/ndjson", True),
        ("application/x-ndjson;q=0", False),
        ("application/json", False),
        ("*/*", False),
        (None, False),
    ],
)
def test_the_report_streams_when_accept_names_ndjson(accept: str | None, streams: bool) -> None:
    assert import_run.wants_stream(accept) is streams


async def test_each_batch_is_reported_once_committed_in_row_order_then_a_summary() -> None:
    db = _Db()
    lines = [_row(1), _row(2), b"not json", _row(4, email="broken"), _row(5), b"", _row(7), _row(8), _row(2)]
    run, rows = _run(db, b"\n".join(lines))

    chunks = await _chunks(run, rows, db)

    *batches, (_, [summary]) = chunks
    # A batch's lines come out once it (and no later batch) is committed.
    assert [committed for committed, _ in batches] == [1, 2, 3]
    row_lines = [line for _, chunk in batches for line in chunk if line["type"] == "row"]
    assert [line["row"] for line in row_lines] == [1, 2, 3, 4, 5, 7, 8, 9]
    by_row = {line["row"]: line for line in row_lines}
    assert {n: line["status"] for n, line in by_row.items()} == {
        1: "created", 2: "created", 3: "error", 4: "error", 5: "created", 7: "created", 8: "created",
        9: "existing",
    }  # fmt: skip
    assert by_row[9]["contact_id"] == by_row[2]["contact_id"] and by_row[9]["matched_on"] == "external_ref"
    assert by_row[4]["errors"][0]["field"] == "email" and by_row[4]["external_ref"] == "R4"
    assert by_row[3]["errors"][0]["message"] == "row is not valid JSON" and by_row[3]["contact_id"] is None
    # The rows in error are in no batch; each created contact's id is what was stored.
    stored = [cid for batch in db.batches for cid in batch]
    assert stored == [by_row[n]["contact_id"] for n in (1, 2, 5, 7, 8)]
    assert len(db.outbox) == len(stored)
    for _, chunk in batches:
        assert chunk[-1]["type"] == "progress" and chunk[-1]["rows_total"] == 8
    assert batches[-1][1][-1]["rows_done"] == 8
    assert {k: summary[k] for k in ("type", "rows", "created", "matched", "rejected", "errors_omitted")} == {
        "type": "summary", "rows": 8, "created": 5, "matched": 1, "rejected": 2, "errors_omitted": 0,
    }  # fmt: skip


async def test_a_batch_that_fails_ends_the_stream_with_an_error_line_after_what_committed() -> None:
    db = _Db(fail_on_batch=2)
    run, rows = _run(db, b"\n".join(_row(n) for n in range(1, 8)))

    chunks = await _chunks(run, rows, db)

    lines = [line for _, chunk in chunks for line in chunk]
    assert [line["row"] for line in lines if line["type"] == "row"] == [1, 2, 3]
    assert lines[-1]["type"] == "error" and lines[-1]["rows_done"] == 3
    assert "summary" not in {line["type"] for line in lines}
    assert len(db.batches) == 1 and len(db.outbox) == 3


async def test_a_client_gone_after_the_first_batch_stops_the_import_there() -> None:
    db = _Db()
    run, rows = _run(db, b"\n".join(_row(n) for n in range(1, 10)))
    stream = run.stream(rows.rows)

    first = await anext(stream)
    await stream.aclose()

    assert [orjson.loads(line)["row"] for line in first.splitlines()[:-1]] == [1, 2, 3]
    assert len(db.batches) == 1, "no batch is written after the client went away"


async def test_rows_in_error_past_the_cap_are_counted_without_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_REPORTED_ROWS", 2)
    db = _Db()
    run, rows = _run(db, b"\n".join([b"[1]", b"2", _row(3), b"x", b"y"]))

    lines = [line for _, chunk in await _chunks(run, rows, db) for line in chunk]

    assert [line["row"] for line in lines if line["type"] == "row"] == [1, 2, 3]
    assert lines[-1]["rejected"] == 4 and lines[-1]["errors_omitted"] == 2 and lines[-1]["created"] == 1


async def test_the_json_report_is_built_from_the_same_run() -> None:
    db = _Db()
    run, rows = _run(db, b"\n".join([_row(1), b"nope", _row(1, email="p9@example.org")]))

    report = orjson.loads(await run.report(rows.rows))

    assert report["rows"] == 3 and report["created"] == 1
    assert [r["status"] for r in report["results"]] == ["created", "error", "existing"]
    assert report["known"] == [
        {"row": 3, "existing_contact_id": report["results"][0]["contact_id"], "matched_on": "external_ref"}
    ]
    assert report["errors"][0]["row"] == 2 and "errors" not in report["results"][1]


def test_the_rows_total_counts_data_rows_as_the_import_reads_them() -> None:
    ndjson = importing.open_rows(
        b'{"a": 1}\n\n  \n' + b"x" * (importing.MAX_ROW_BYTES + 1) + b"\nnot json\n", "application/x-ndjson"
    )
    csv_body = b"email,kind\r\na@example.org,consumer\r\n\r\nb@example.org\r\n"
    csv_rows = importing.open_rows(csv_body, "text/csv; charset=utf-8")

    assert ndjson.total == len(list(ndjson.rows)) == 3, "blank lines are no rows; an oversized line is one"
    assert csv_rows.total == len(list(csv_rows.rows)) == 2, "an empty CSV line is no row; a short one is"
    with pytest.raises(importing.MalformedImportError):
        importing.open_rows(b"email,email\r\nx,y\r\n", "text/csv")
    with pytest.raises(importing.UnsupportedImportFormatError):
        importing.open_rows(b"{}", "application/json")

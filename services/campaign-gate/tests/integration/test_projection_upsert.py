"""A batch's upsert on PostgreSQL stores what the per-column arrays stored: the rows now travel as one
JSON document read by `json_to_recordset` (issue 14, projection ingest CPU), and every value must come
back as the `unnest` path wrote it — strings cut to their column's length, JSON documents and nulls,
times (naive ones as UTC, other zones converted), days, booleans, integers — with the same version
guard and the same keys returned.

Real PostgreSQL; both paths write the same rows into two databases, which are then read back whole.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from campaign_gate.adapters import orm, projection
from shared.db import make_engine
from shared.testing.harness import migrated_database

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 10, 30, 15, 123456, tzinfo=UTC)


def _contact(contact_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(c.name for c in orm.gate_contacts.columns)
    row.update(
        contact_id=contact_id,
        kind="consumer",
        relationship="prospect",
        status="active",
        collected_from_person=True,
        obtained_at=AT,
        channel_mask=5,
        purchases=[],
        contracts=[],
        call_attempts=[],
        stop_pub=False,
        restricted=False,
        version=1,
        updated_at=AT,
    )
    row.update(values)
    return row


ROWS = [
    _contact("plain"),
    _contact(
        "everything",
        source="s" * 250,  # String(200): cut, as the arrays' cast cut it
        broker_name='Courtier ☃ «données» "quoted" back\\slash',
        last_contact_from_person_at=datetime(2026, 1, 2, 3, 4, 5),  # naive: UTC
        relationship_end_at=datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        retention_rule="RET-01",
        majority_on=date(2030, 5, 17),
        digital_consent_age_on=date(2025, 5, 17),
        timezone="Europe/Paris",
        profession="boulangère",
        email_index="e" * 64,
        phone_index="p" * 70,  # String(64): cut
        purchases=[{"seller": "Acme SAS", "categories": ["pain", "vin"]}],
        contracts=[{"seller": "Acme SAS", "categories": [], "ended": True}],
        call_attempts=["2026-12-01T09:00:00+00:00"],
        last_call_refusal_at=AT,
        phone_collection={"told_calls_need_consent": True, "during_contract": False},
        stop_pub=True,
        restricted=True,
        restriction_request_id="req-1",
        version=2**31 - 1,
    ),
    _contact("x" * 80),  # a primary key longer than its column: cut on both paths
]


async def _write(
    url: str, rows: list[dict[str, Any]], *, via_json: bool, monkeypatch: pytest.MonkeyPatch
) -> list[list[Any]]:
    """Upserts `rows` on one path; returns the keys each statement reported written."""
    import asyncpg

    monkeypatch.setattr(projection, "_JSON_SAFE_TYPES", projection._JSON_SAFE_TYPES if via_json else ())
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        written = []
        async with conn.transaction():
            written.append(
                [
                    r[0]
                    for r in await projection.pg_upsert(
                        conn, orm.gate_contacts, rows, keys=["contact_id"], unless_newer="version"
                    )
                ]
            )
        # An older version of a stored row is kept out by the guard; a newer one replaces it.
        older = {**rows[1], "version": 5, "profession": "older"}
        newer = {**rows[0], "version": 2, "profession": "newer"}
        async with conn.transaction():
            written.append(
                [
                    r[0]
                    for r in await projection.pg_upsert(
                        conn, orm.gate_contacts, [older, newer], keys=["contact_id"], unless_newer="version"
                    )
                ]
            )
        # A value orjson does not write (an integer beyond 64 bits): the rows go as column arrays.
        huge = _contact("huge", purchases=[{"seller": "Acme SAS", "categories": [], "n": 2**70}])
        async with conn.transaction():
            written.append(
                [
                    r[0]
                    for r in await projection.pg_upsert(
                        conn, orm.gate_contacts, [huge], keys=["contact_id"], unless_newer="version"
                    )
                ]
            )
        inbox = [{"event_id": "ev-1", "topic": "contacts.events", "processed_at": AT}]
        async with conn.transaction():
            written.append(
                [
                    r[0]
                    for r in await projection.pg_upsert(
                        conn, orm.inbox, inbox, keys=["event_id"], keep_stored=True
                    )
                ]
            )
            written.append(
                [
                    r[0]
                    for r in await projection.pg_upsert(
                        conn, orm.inbox, inbox, keys=["event_id"], keep_stored=True
                    )
                ]
            )
        return written
    finally:
        await conn.close()


async def _read(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            # Because a JSON null and an SQL NULL both read back as None: tell them apart.
            sql_null = orm.gate_contacts.c.phone_collection.is_(None).label("phone_collection_is_sql_null")
            query = sa.select(orm.gate_contacts, sql_null).order_by(orm.gate_contacts.c.contact_id)
            return [dict(row) for row in (await conn.execute(query)).mappings()]
    finally:
        await engine.dispose()


async def test_the_json_recordset_upsert_stores_what_the_column_arrays_stored(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_json, by_arrays = (
        await migrated_database(postgres_admin_url, "campaign-gate"),
        await migrated_database(postgres_admin_url, "campaign-gate"),
    )
    written_json = await _write(by_json, ROWS, via_json=True, monkeypatch=monkeypatch)
    written_arrays = await _write(by_arrays, ROWS, via_json=False, monkeypatch=monkeypatch)

    assert written_json == written_arrays
    assert written_json[0] == ["plain", "everything", "x" * 64]
    assert written_json[1] == ["plain"]  # the older version of "everything" was kept out
    assert written_json[2:] == [["huge"], ["ev-1"], []]
    stored = await _read(by_json)
    assert stored == await _read(by_arrays)
    everything = next(row for row in stored if row["contact_id"] == "everything")
    assert everything["source"] == "s" * 200 and everything["phone_index"] == "p" * 64
    assert everything["last_contact_from_person_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert everything["relationship_end_at"] == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert everything["purchases"] == [{"seller": "Acme SAS", "categories": ["pain", "vin"]}]
    assert everything["version"] == 2**31 - 1 and everything["profession"] == "boulangère"
    huge = next(row for row in stored if row["contact_id"] == "huge")
    assert huge["purchases"][0]["n"] == 2**70
    plain = next(row for row in stored if row["contact_id"] == "plain")
    assert plain["phone_collection"] is None and plain["phone_collection_is_sql_null"]
    assert plain["profession"] == "newer"

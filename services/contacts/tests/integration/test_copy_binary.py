"""Import rows encoded for PostgreSQL's binary COPY in the workers (issue 15) store exactly what
asyncpg's own COPY of the same values stores, in every column of contacts and of the outbox."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from contacts.adapters import copy_binary, orm
from contacts.adapters.protection import SealedPersonalData
from contacts.adapters.repository import CONTACT_COLUMNS
from contacts.entrypoints import import_pool
from contacts.service_layer import commands
from contacts.service_layer.unit_of_work import OUTBOX_COLUMNS
from contacts_fakes import make_vault
from shared.testing.harness import migrated_database

pytestmark = pytest.mark.integration


def _rows(count: int) -> list[tuple[int, dict[str, Any]]]:
    rng = random.Random(15)
    rows = []
    for n in range(count):
        row: dict[str, Any] = {
            "kind": rng.choice(["consumer", "professional_named"]),
            "given_name": rng.choice(["Zoé", "O'Brien\t\\", "名前"]),
            "email": f"p{n}@example.org",
            "collected_from_person": True,
            "source": "crm",
            "obtained_at": rng.choice(["2026-01-01T10:00:00+00:00", "1999-12-31T23:59:59.999999-05:00"]),
            "external_ref": f"R{n}",
            "attributes": rng.choice([{}, {"a": [1, "é", None, {"b": 1.5}]}]),
            "stop_pub": rng.choice([True, False]),
        }
        if n % 3 == 0:
            row["phone"] = f"06 12 34 {n % 100:02d} 78"
        if n % 4 == 0:
            row["purchases"] = [{"seller": "Acme", "categories": ["x"], "last_at": "2025-05-05T05:05:05Z"}]
            row["relationship"] = "customer_sale_done"
        if n % 5 == 0:
            row["phone_collection"] = {"told_calls_need_consent": True, "during_contract": False,
                                       "contract_states_calls_need_consent": True}  # fmt: skip
        rows.append((n + 1, row))
    return rows


def _prepared(binary: bool) -> list[commands.PreparedContact]:
    at = datetime(2026, 1, 15, 9, 30, tzinfo=UTC) + timedelta(microseconds=7)
    out = import_pool.prepare_rows(
        _rows(60), vault=make_vault(), actor="crm", at=at, correlation_id="c", binary=binary
    )
    prepared = [item for item, _ in out]
    assert all(isinstance(p, commands.PreparedContact) for p in prepared)
    return prepared  # type: ignore[return-value]


async def test_binary_rows_store_what_asyncpgs_copy_stores(postgres_admin_url: str) -> None:
    url = await migrated_database(postgres_admin_url, "contacts")
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        for table in ("contacts", "outbox"):
            columns = CONTACT_COLUMNS if table == "contacts" else OUTBOX_COLUMNS
            for copy in ("by_asyncpg", "by_worker"):
                await conn.execute(
                    f"CREATE TABLE {table}_{copy} AS SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
                )
        values = _prepared(binary=False)
        for table, columns, pick in (
            (orm.contacts, CONTACT_COLUMNS, lambda p: p.contact_row),
            (orm.outbox, OUTBOX_COLUMNS, lambda p: p.outbox_row),
        ):
            json_at = {n for n, name in enumerate(columns) if str(table.c[name].type) == "JSON"}
            import orjson

            records = [
                tuple(
                    orjson.dumps(v).decode() if n in json_at and v is not None else v
                    for n, v in enumerate(pick(p))
                )
                for p in values
            ]
            await conn.copy_records_to_table(f"{table.name}_by_asyncpg", records=records, columns=columns)
            encoder = copy_binary.RowEncoder(table, columns)
            await conn.copy_to_table(
                f"{table.name}_by_worker",
                source=copy_binary.stream([encoder.row(pick(p)) for p in values]),
                columns=columns,
                format="binary",
            )
            both = [
                await conn.fetch(f"SELECT row_to_json(t)::text AS r FROM {table.name}_{c} t ORDER BY 1")
                for c in ("by_asyncpg", "by_worker")
            ]
            assert len(both[0]) == len(values)
            assert [r["r"] for r in both[0]] == [r["r"] for r in both[1]]
        # The rows a batch is prepared into (ids, keys and times its own) go into the service's tables,
        # and read back as the values path's rows (compared field by field in test_import_copy).
        batch = _prepared(binary=True)
        for table, pick in (("contacts", lambda p: p.contact_row), ("outbox", lambda p: p.outbox_row)):
            columns = CONTACT_COLUMNS if table == "contacts" else OUTBOX_COLUMNS
            await conn.copy_to_table(
                table, source=copy_binary.stream([pick(p) for p in batch]), columns=columns, format="binary"
            )
        stored = await conn.fetch("SELECT id, source, wrapped_key, personal_data FROM contacts ORDER BY id")
        assert sorted(p.contact_id for p in batch) == [r["id"] for r in stored]
        vault = make_vault()
        for record in stored:
            sealed = SealedPersonalData(record["wrapped_key"], record["personal_data"])
            assert vault.open(record["id"], sealed).personal.email is not None
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE key = ANY($1)", [p.contact_id for p in batch]
        ) == len(batch)
    finally:
        await conn.close()


def test_a_worker_encodes_the_rows_it_would_hand_over_as_values() -> None:
    # The binary rows the pool hands back are the encoding of the very values the tuple form carries
    # (the sealed personal data aside, whose nonce and data key are new each time).
    values = _prepared(binary=False)
    encoded = _prepared(binary=True)
    assert [len(p.contact_row) for p in encoded] and all(isinstance(p.contact_row, bytes) for p in encoded)
    assert all(isinstance(p.outbox_row, bytes) for p in encoded)
    assert [p.row for p in encoded] == [p.row for p in values]
    assert [p.indexes for p in encoded] == [p.indexes for p in values]

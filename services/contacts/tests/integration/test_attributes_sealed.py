"""A contact's free-form attributes are sealed like its identifiers (issue 17, item 8): never in a raw
PostgreSQL row nor in a raw Kafka record, served decrypted to readers, shredded with the data key;
migration 0005 seals the attributes of rows written before it."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from contacts import contracts
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.service_layer import commands, handlers
from contacts.settings import ContactsSettings
from shared.envelope_crypto import KeyRing, encrypt_fields
from shared.migrations import upgrade
from shared.testing.harness import (
    ROOT,
    auth,
    common_settings,
    create_postgres_database,
    eventually,
    migrated_database,
    running,
)

pytestmark = pytest.mark.integration

WRITER = auth("integrator")


def _body(secret: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {
        "kind": "consumer",
        "relationship": "prospect",
        "email": f"attr.{tag}@example.org",
        "collected_from_person": True,
        "source": "crm",
        "obtained_at": "2026-01-01T10:00:00+00:00",
        "attributes": {"segment": secret, "notes": {"diet": f"{secret}-nested"}},
    }


async def _raw_rows(url: str) -> bytes:
    """Every column of every row of the contacts database as text, as a database login would see it."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        chunks = []
        for table in ("contacts", "outbox", "interactions"):
            for row in await conn.fetch(f'SELECT row_to_json(t)::text AS j FROM "{table}" t'):
                chunks.append(row["j"])
        return "\n".join(chunks).encode()
    finally:
        await conn.close()


async def _fetchrow(url: str, query: str, *args: Any) -> tuple[Any, ...] | None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        row = await conn.fetchrow(query, *args)
        return tuple(row) if row is not None else None
    finally:
        await conn.close()


async def _records(kafka: str, subject: str, *, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        contracts.CONTACTS_EVENTS,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    found: list[Any] = []
    try:

        async def _enough() -> bool:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(r for r in batch if r.key == subject.encode())
            return len(found) >= expected

        await eventually(_enough, timeout=30)
    finally:
        await consumer.stop()
    return found


async def test_attributes_are_in_no_raw_row_nor_kafka_record_are_served_and_are_shredded(
    postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    url = await migrated_database(postgres_admin_url, "contacts")
    settings = ContactsSettings(
        database_url=url, retention_sweep_interval_seconds=0, **common_settings(kafka_bootstrap)
    )
    secrets = [f"Attr{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with running(create_app(service=bootstrap(settings))) as app:
        created = await app.client.post("/v1/contacts", json=_body(secrets[0]), headers=WRITER)
        assert created.status_code == 201, created.text
        contact = created.json()
        patched = await app.client.patch(
            f"/v1/contacts/{contact['id']}", json={"attributes": {"segment": secrets[1]}}, headers=WRITER
        )
        assert patched.status_code == 200 and patched.json()["attributes"] == {"segment": secrets[1]}
        row = _body(secrets[2])
        imported = await app.client.post(
            "/v1/contacts:import",
            content=orjson.dumps(row),
            headers={**WRITER, "content-type": "application/x-ndjson"},
        )
        assert imported.status_code == 200 and imported.json()["created"] == 1, imported.text
        found = await app.client.get("/v1/contacts", params={"email": row["email"]}, headers=WRITER)
        imported_id = found.json()["items"][0]["id"]

        got = await app.client.get(f"/v1/contacts/{imported_id}", headers=WRITER)
        assert got.json()["attributes"] == {"segment": secrets[2], "notes": {"diet": f"{secrets[2]}-nested"}}
        raw = await _raw_rows(url)
        records = await _records(kafka_bootstrap, contact["id"], expected=2)
        records += await _records(kafka_bootstrap, imported_id, expected=1)

        await handlers.erase_contact(
            commands.EraseContact(actor="tests", contact_id=contact["id"], reason="test"),
            app.app.state.service.uow(),
        )
        erased = await app.client.get(f"/v1/contacts/{contact['id']}", headers=WRITER)

    assert contact["id"].encode() in raw and imported_id.encode() in raw, "the scan must see the rows"
    kafka_raw = b"\n".join(r.value + b"".join(v for _, v in r.headers) for r in records)
    assert contact["id"].encode() in kafka_raw, "the scan must see the records"
    for secret in secrets:
        assert secret.encode() not in raw, "an attribute value is in a raw PostgreSQL row"
        assert secret.encode() not in kafka_raw, "an attribute value is in a raw Kafka record"
    assert b"segment" not in raw and b"segment" not in kafka_raw
    assert erased.json()["attributes"] == {}
    row = await _fetchrow(url, "SELECT wrapped_key, personal_data FROM contacts WHERE id = $1", contact["id"])
    assert row == (None, None), "erasure destroys the data key and the sealed attributes"


async def test_migration_0005_seals_the_attributes_of_existing_rows(
    postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    url = await create_postgres_database(postgres_admin_url, f"contacts_m5_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", url, "0004")
    settings = ContactsSettings(
        database_url=url, retention_sweep_interval_seconds=0, **common_settings(kafka_bootstrap)
    )
    keks, active = settings.kek_ring()
    ring = KeyRing(keks, active)
    contact_id, secret = str(uuid.uuid4()), f"Legacy{uuid.uuid4().hex[:8]}"
    key = ring.new_data_key()
    # A row as revision 0004 wrote it: identifiers sealed, attributes in plaintext.
    legacy = encrypt_fields(
        key.plaintext,
        {
            "given_name": "Anne",
            "family_name": None,
            "email": "anne.legacy@example.org",
            "phone": None,
            "postal_address": None,
            "birth_date": None,
        },
        associated_data=contact_id.encode(),
    )
    await _fetchrow(
        url,
        "INSERT INTO contacts (id, kind, relationship, status, version, collected_from_person, source,"
        " obtained_at, attributes, wrapped_key, personal_data, created_at, updated_at) VALUES"
        " ($1, 'consumer', 'prospect', 'active', 1, true, 'crm', now(), $2::json, $3, $4, now(), now())",
        contact_id,
        orjson.dumps({"segment": secret}).decode(),
        key.wrapped,
        legacy,
    )

    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", url)

    assert secret.encode() not in await _raw_rows(url)
    async with running(
        create_app(service=bootstrap(settings.model_copy(update={"run_relay": False})))
    ) as app:
        got = await app.client.get(f"/v1/contacts/{contact_id}", headers=WRITER)
    assert got.status_code == 200
    assert got.json()["attributes"] == {"segment": secret} and got.json()["given_name"] == "Anne"


def test_migration_0005_upgrades_a_sqlite_database_whose_contacts_have_interactions(tmp_path: Path) -> None:
    """`make run`'s SQLite: rebuilding `contacts` must not trip over the interactions that reference it."""
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    upgrade(ROOT / "services" / "contacts", url, "0004")
    with sqlite3.connect(tmp_path / "contacts.db") as db:
        db.execute(
            "INSERT INTO contacts (id, kind, relationship, status, version, collected_from_person, source,"
            " obtained_at, attributes, created_at, updated_at) VALUES"
            " ('c-1', 'consumer', 'prospect', 'erased', 1, 1, 'crm', '2026-01-01', '{}', '2026-01-01',"
            " '2026-01-01')"
        )
        db.execute(
            "INSERT INTO interactions (id, contact_id, kind, occurred_at, recorded_at) VALUES"
            " ('i-1', 'c-1', 'purchase', '2026-01-02', '2026-01-02')"
        )

    upgrade(ROOT / "services" / "contacts", url)

    with sqlite3.connect(tmp_path / "contacts.db") as db:
        assert db.execute("SELECT contact_id FROM interactions").fetchall() == [("c-1",)]
        columns = {row[1] for row in db.execute("PRAGMA table_info(contacts)")}
        assert "attributes" not in columns
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []

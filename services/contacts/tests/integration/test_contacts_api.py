"""The contacts API for real, on SQLite and on PostgreSQL, with the relay publishing to a real Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from contacts import contracts
from contacts.adapters import orm
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.service_layer import commands, handlers
from contacts.settings import ContactsSettings
from shared.migrations import upgrade
from shared.testing.harness import (
    ROOT,
    ManualClock,
    RunningApp,
    auth,
    common_settings,
    eventually,
    migrated_database,
    running,
)

pytestmark = pytest.mark.integration

WRITER = auth("integrator")


def person(tag: str | None = None) -> dict[str, Any]:
    """Returns a create body with identifiers unique to this test (so raw-storage searches are meaningful)."""
    tag = tag or uuid.uuid4().hex[:10]
    return {
        "kind": "consumer",
        "relationship": "prospect",
        "given_name": f"Gwenaelle{tag}",
        "family_name": f"Kerbrat{tag}",
        "email": f"gwen.{tag}@example.org",
        "postal_address": {"line1": f"{tag} rue des Lilas", "postal_code": "29200", "city": f"Brest{tag}"},
        "collected_from_person": True,
        "source": "web_form",
        "obtained_at": "2026-01-01T10:00:00+00:00",
    }


def plaintexts(body: dict[str, Any]) -> list[str]:
    """Returns every identifier of a body as it could appear in storage or events."""
    values = [
        body.get("given_name"),
        body.get("family_name"),
        body.get("email"),
        *(body.get("postal_address") or {}).values(),
    ]
    if body.get("phone"):
        digits = "".join(ch for ch in body["phone"] if ch.isdigit() or ch == "+")
        values += [body["phone"], digits, digits.lstrip("+")[2:]]
    return [v for v in values if v and len(v) > 4 and v not in ("29200", "FR")]


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str) -> dict[str, Any]:
    """Returns the settings of a migrated contacts database of each kind, and where its raw bytes live."""
    if request.param == "sqlite":
        path = tmp_path / "contacts.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", url)
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await migrated_database(admin, "contacts")
        path = None
    settings = ContactsSettings(
        database_url=url, retention_sweep_interval_seconds=0, **common_settings(kafka_bootstrap)
    )
    return {"kind": request.param, "settings": settings, "path": path, "url": url}


async def _app(backend: dict[str, Any], clock: ManualClock | None = None, **overrides: Any) -> Any:
    settings = backend["settings"].model_copy(update=overrides)
    return create_app(service=bootstrap(settings, clock=clock))


@pytest.fixture
async def api(backend: dict[str, Any]) -> AsyncIterator[RunningApp]:
    async with running(await _app(backend)) as app:
        yield app


async def _count(app: RunningApp, table: sa.Table) -> int:
    async with app.app.state.service.runtime.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def _create(app: RunningApp, body: dict[str, Any]) -> dict[str, Any]:
    response = await app.client.post("/v1/contacts", json=body, headers=WRITER)
    assert response.status_code == 201, response.text
    return response.json()


async def _raw_storage(backend: dict[str, Any], app: RunningApp) -> bytes:
    """Returns the storage as an attacker with the disk or a database login would see it."""
    if backend["kind"] == "sqlite":
        await app.app.state.service.runtime.engine.dispose()
        path: Path = backend["path"]
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    chunks = []
    async with app.app.state.service.runtime.engine.connect() as conn:
        for table in ("contacts", "interactions", "outbox", "inbox"):
            columns = (
                (
                    await conn.execute(
                        sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                        {"t": table},
                    )
                )
                .scalars()
                .all()
            )
            select = ", ".join(f'"{c}"::text' for c in columns)
            for row in (await conn.execute(sa.text(f'SELECT {select} FROM "{table}"'))).all():
                chunks.append(" ".join(v or "" for v in row))
    text = "\n".join(chunks).encode()
    pg_dump = shutil.which("pg_dump") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))), None
    )
    assert pg_dump, "pg_dump is needed to scan the PostgreSQL database as a dump"
    dump = await asyncio.to_thread(
        subprocess.run,
        [str(pg_dump), "--data-only", "--no-owner", backend["url"].replace("+asyncpg", "")],
        capture_output=True,
        check=True,
        env={**os.environ},
    )
    return text + b"\n" + dump.stdout


async def test_neither_the_database_nor_its_dump_contains_any_plaintext_identifier(
    backend: dict[str, Any],
) -> None:
    bodies = [person(), {**person(), "phone": "+33 6 98 76 54 32"}]
    async with running(await _app(backend)) as app:
        created = [await _create(app, body) for body in bodies]
        patched = await app.client.patch(
            f"/v1/contacts/{created[0]['id']}", json={"given_name": "Maelwenn9x7"}, headers=WRITER
        )
        assert patched.status_code == 200
        click = await app.client.post(
            f"/v1/contacts/{created[1]['id']}/interactions",
            json={"kind": "click", "occurred_at": "2026-02-01T00:00:00+00:00"},
            headers=WRITER,
        )
        assert click.status_code == 201
        back = await app.client.get(f"/v1/contacts/{created[1]['id']}", headers=WRITER)
        assert back.json()["email"] == bodies[1]["email"] and back.json()["phone"] == "+33698765432"
        raw = await _raw_storage(backend, app)

    assert created[0]["id"].encode() in raw, "the scan must see the stored rows"
    for value in [*plaintexts(bodies[0]), *plaintexts(bodies[1]), "Maelwenn9x7"]:
        assert value.encode() not in raw, f"plaintext found in raw {backend['kind']} storage"
        assert value.lower().encode() not in raw.lower()


async def test_no_record_on_the_contacts_topic_carries_a_plaintext_identifier(
    backend: dict[str, Any], kafka_bootstrap: str
) -> None:
    body = {**person(), "phone": "+33 6 11 22 33 44", "birth_date": "1990-04-02"}
    async with running(await _app(backend)) as app:
        created = await _create(app, body)
        await app.client.patch(
            f"/v1/contacts/{created['id']}", json={"family_name": "Lozachmeur7q"}, headers=WRITER
        )
        await app.client.post(
            f"/v1/contacts/{created['id']}/interactions",
            json={"kind": "reply", "occurred_at": "2026-03-01T00:00:00+00:00"},
            headers=WRITER,
        )
        records = await _records_for(kafka_bootstrap, created["id"], expected=3)

    assert [dict(r.headers)["ce_type"].decode() for r in records] == [
        contracts.CONTACT_CREATED,
        contracts.CONTACT_UPDATED,
        contracts.INTERACTION_RECORDED,
    ]
    raw = b"\n".join(r.value + b"".join(v for _, v in r.headers) for r in records)
    for value in [*plaintexts(body), "Lozachmeur7q", "1990-04-02"]:
        assert value.lower().encode() not in raw.lower()
    assert b'"majority_on":"2008-04-02"' in raw.replace(b" ", b"")
    assert b'"birth_year"' not in raw and b'"minor_until"' not in raw


async def _records_for(kafka: str, subject: str, *, expected: int) -> list[Any]:
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
    return sorted(found, key=lambda r: r.offset)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "body.email"),
        ({"phone": "12"}, "body.phone"),
        ({"phone": "call me maybe"}, "body.phone"),
        ({"kind": "alien"}, "body.kind"),
        ({"relationship": "friend"}, "body.relationship"),
        ({"birth_date": "2999-01-01"}, "body.birth_date"),
    ],
)
async def test_bad_input_gets_a_422_naming_the_field_and_nothing_is_stored(
    api: RunningApp, change: dict[str, Any], field: str
) -> None:
    body = {**person(), **change}

    response = await api.client.post("/v1/contacts", json=body, headers=WRITER)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}
    assert body["given_name"] not in response.text
    assert (await _count(api, orm.contacts), await _count(api, orm.outbox)) == (0, 0)


async def test_a_patch_changes_only_given_fields_and_a_stale_if_match_gets_412(api: RunningApp) -> None:
    body = person()
    created = await api.client.post("/v1/contacts", json=body, headers=WRITER)
    contact_id, etag = created.json()["id"], created.headers["etag"]

    patched = await api.client.patch(
        f"/v1/contacts/{contact_id}", json={"given_name": "Nolwenn"}, headers={**WRITER, "If-Match": etag}
    )
    stale = await api.client.patch(
        f"/v1/contacts/{contact_id}", json={"given_name": "Soizic"}, headers={**WRITER, "If-Match": etag}
    )
    current = await api.client.get(f"/v1/contacts/{contact_id}", headers=WRITER)

    assert patched.status_code == 200 and patched.headers["etag"] == '"2"'
    assert patched.json()["given_name"] == "Nolwenn" and patched.json()["email"] == body["email"]
    assert patched.json()["postal_address"]["city"] == body["postal_address"]["city"]
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    assert current.json()["given_name"] == "Nolwenn" and current.headers["etag"] == '"2"'


async def test_a_contact_is_found_by_email_and_phone_written_in_other_formats(api: RunningApp) -> None:
    tag = uuid.uuid4().hex[:8]
    created = await _create(
        api, {**person(tag), "email": f"Yann.{tag}@Example.ORG", "phone": "+33 6 45 67 89 01"}
    )

    finds = [
        await api.client.get("/v1/contacts", params=params, headers=WRITER)
        for params in (
            {"email": f"  yann.{tag}@example.org "},
            {"email": f"YANN.{tag}@EXAMPLE.ORG"},
            {"phone": "06 45 67 89 01"},
            {"phone": "0033645678901"},
            {"phone": "+33 (0)6-45-67-89-01"},
        )
    ]
    nobody = await api.client.get("/v1/contacts", params={"email": "nobody@example.org"}, headers=WRITER)

    for found in finds:
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [created["id"]]
    assert nobody.json()["items"] == []


async def test_a_duplicate_by_email_or_phone_gets_409_naming_the_existing_contact(api: RunningApp) -> None:
    tag = uuid.uuid4().hex[:8]
    first = await _create(api, {**person(tag), "phone": "+33 6 55 44 33 22"})

    same_email = await api.client.post(
        "/v1/contacts", json={**person(), "email": first["email"].upper()}, headers=WRITER
    )
    same_phone = await api.client.post(
        "/v1/contacts", json={**person(), "phone": "06 55 44 33 22"}, headers=WRITER
    )

    assert same_email.status_code == 409
    assert (
        same_email.json()["existing_contact_id"] == first["id"] and same_email.json()["matched_on"] == "email"
    )
    assert same_phone.status_code == 409
    assert (
        same_phone.json()["existing_contact_id"] == first["id"] and same_phone.json()["matched_on"] == "phone"
    )
    assert first["email"] not in same_email.text
    assert await _count(api, orm.contacts) == 1 and await _count(api, orm.outbox) == 1


async def test_a_sale_makes_a_customer_an_open_leaves_the_last_contact_and_a_click_moves_it(
    api: RunningApp,
) -> None:
    contact = await _create(api, person())
    url = f"/v1/contacts/{contact['id']}/interactions"

    opened = await api.client.post(
        url, json={"kind": "open", "occurred_at": "2026-02-01T00:00:00+00:00"}, headers=WRITER
    )
    after_open = (await api.client.get(f"/v1/contacts/{contact['id']}", headers=WRITER)).json()
    await api.client.post(
        url, json={"kind": "click", "occurred_at": "2026-02-02T00:00:00+00:00"}, headers=WRITER
    )
    after_click = (await api.client.get(f"/v1/contacts/{contact['id']}", headers=WRITER)).json()
    await api.client.post(
        url,
        json={"kind": "sale", "occurred_at": "2026-02-03T00:00:00+00:00", "seller": "Vigie Retail SAS"},
        headers=WRITER,
    )
    after_sale = (await api.client.get(f"/v1/contacts/{contact['id']}", headers=WRITER)).json()
    unknown = await api.client.post(
        "/v1/contacts/nobody/interactions",
        json={"kind": "click", "occurred_at": "2026-02-02T00:00:00+00:00"},
        headers=WRITER,
    )

    assert opened.status_code == 201
    assert after_open["last_contact_from_person_at"] is None and after_open["relationship"] == "prospect"
    assert after_click["last_contact_from_person_at"].startswith("2026-02-02")
    assert after_sale["relationship"] == "customer_sale_done"
    assert after_sale["last_contact_from_person_at"].startswith("2026-02-03")
    assert unknown.status_code == 404
    assert await _count(api, orm.interactions) == 3


async def test_the_retention_route_flags_then_erases_after_the_grace_and_an_open_does_not_save_a_prospect(
    backend: dict[str, Any], kafka_bootstrap: str
) -> None:
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    admin = auth("admin")
    async with running(await _app(backend, clock, retention_grace_days=30)) as app:
        opened = await _create(app, {**person(), "obtained_at": "2026-01-01T00:00:00+00:00"})
        clicked = await _create(app, {**person(), "obtained_at": "2026-01-01T00:00:00+00:00"})
        for contact, kind in ((opened, "open"), (clicked, "click")):
            await app.client.post(
                f"/v1/contacts/{contact['id']}/interactions",
                json={"kind": kind, "occurred_at": "2026-05-01T00:00:00+00:00"},
                headers=WRITER,
            )
        forbidden = await app.client.post("/v1/retention:sweep", headers=WRITER)

        clock.now = datetime(2029, 1, 2, tzinfo=UTC)
        first = await app.client.post("/v1/retention:sweep", headers=admin)
        flagged = (await app.client.get(f"/v1/contacts/{opened['id']}", headers=WRITER)).json()
        kept = (await app.client.get(f"/v1/contacts/{clicked['id']}", headers=WRITER)).json()
        clock.now = datetime(2029, 2, 2, tzinfo=UTC)
        second = await app.client.post("/v1/retention:sweep", headers=admin)
        erased = (await app.client.get(f"/v1/contacts/{opened['id']}", headers=WRITER)).json()
        records = await _records_for(kafka_bootstrap, opened["id"], expected=4)

    assert forbidden.status_code == 403
    assert first.json()["flagged"] == 1 and first.json()["erased"] == 0
    assert flagged["status"] == "retention_flagged" and kept["status"] == "active"
    assert second.json()["erased"] == 1
    assert erased["status"] == "erased" and erased["email"] is None and erased["given_name"] is None
    assert [dict(r.headers)["ce_type"].decode() for r in records][-2:] == [
        contracts.CONTACT_RETENTION_FLAGGED,
        contracts.CONTACT_ERASED,
    ]


async def test_the_lifespan_sweeps_retention_periodically(backend: dict[str, Any]) -> None:
    clock = ManualClock(datetime(2029, 1, 2, tzinfo=UTC))
    async with running(await _app(backend, clock, retention_sweep_interval_seconds=0.2)) as app:
        contact = await _create(app, {**person(), "obtained_at": "2026-01-01T00:00:00+00:00"})

        async def _flagged() -> bool:
            got = await app.client.get(f"/v1/contacts/{contact['id']}", headers=WRITER)
            return got.json()["status"] == "retention_flagged"

        await eventually(_flagged, timeout=10)


async def test_an_ndjson_import_keeps_valid_rows_reports_bad_ones_by_row_and_recognises_known_people(
    api: RunningApp,
) -> None:
    existing = await _create(api, person())
    fresh = [person() for _ in range(3)]
    lines = [
        fresh[0],
        {**person(), "email": existing["email"].upper()},  # row 2: known contact
        {**person(), "email": "broken"},  # row 3: bad e-mail
        fresh[1],
        "not json",  # row 5
        {**fresh[2], "phone": "06 77 88 99 00"},
        {**person(), "email": fresh[0]["email"]},  # row 7: row 1 again
        {**person(), "kind": "alien", "birth_date": "2999-01-01"},  # row 8: two field errors
    ]
    body = b"\n".join(line.encode() if isinstance(line, str) else json.dumps(line).encode() for line in lines)

    response = await api.client.post(
        "/v1/contacts:import", content=body, headers={**WRITER, "content-type": "application/x-ndjson"}
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rows"] == 8 and report["created"] == 3
    assert {(k["row"], k["matched_on"]) for k in report["known"]} == {(2, "email"), (7, "email")}
    assert next(k for k in report["known"] if k["row"] == 2)["existing_contact_id"] == existing["id"]
    errors = {e["row"]: {f["field"] for f in e["errors"]} for e in report["errors"]}
    assert errors == {3: {"email"}, 5: {"(row)"}, 8: {"kind", "birth_date"}}
    assert "broken" not in response.text
    assert await _count(api, orm.contacts) == 4 and await _count(api, orm.outbox) == 4


async def test_a_csv_import_reads_nested_columns_and_refuses_an_unknown_content_type(api: RunningApp) -> None:
    tag = uuid.uuid4().hex[:6]
    csv_body = (
        "kind,email,phone,given_name,postal_address.line1,postal_address.postal_code,postal_address.city,"
        "collected_from_person,source,obtained_at,attributes.segment\n"
        f"consumer,a.{tag}@example.org,06 12 00 00 01,Anna,1 rue A,75001,Paris,"
        "true,web_form,2026-01-01T00:00:00Z,vip\n"
        f"consumer,b.{tag}@example.org,+33 6 12 00 00 01,Bob,,,,true,web_form,2026-01-01T00:00:00Z,\n"
        f"robot,c.{tag}@example.org,,Cid,,,,true,web_form,2026-01-01T00:00:00Z,\n"
        f"consumer,d.{tag}@example.org,,Dan,,,,yes-ish,web_form,2026-01-01T00:00:00Z\n"
    )

    response = await api.client.post(
        "/v1/contacts:import",
        content=csv_body.encode(),
        headers={**WRITER, "content-type": "text/csv; charset=utf-8"},
    )
    wrong = await api.client.post(
        "/v1/contacts:import", content=b"<xml/>", headers={**WRITER, "content-type": "application/xml"}
    )

    report = response.json()
    assert (report["rows"], report["created"]) == (4, 1)
    assert [(k["row"], k["matched_on"]) for k in report["known"]] == [(2, "phone")]
    assert {e["row"]: {f["field"] for f in e["errors"]} for e in report["errors"]} == {
        3: {"kind"},
        4: {"(row)"},
    }
    found = (
        await api.client.get("/v1/contacts", params={"email": f"A.{tag}@example.org"}, headers=WRITER)
    ).json()
    [anna] = found["items"]
    assert anna["postal_address"]["city"] == "Paris" and anna["attributes"] == {"segment": "vip"}
    assert wrong.status_code == 415


async def _outbox_values(app: RunningApp, subject: str) -> list[dict[str, Any]]:
    """Returns the CloudEvents the outbox holds for a subject, decoded from the stored bytes, in order."""
    o = orm.outbox.c
    async with app.app.state.service.runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(o.value).where(o.key == subject).order_by(o.id))).scalars().all()
    return [json.loads(value) for value in rows]


async def test_the_outbox_carries_every_gate_fact_entered_through_the_api_and_no_direct_identifier(
    api: RunningApp,
) -> None:
    body = {
        **person(),
        "phone": "+262 692 12 34 56",
        "birth_date": "2008-02-29",
        "profession": " Pharmacien ",
        "stop_pub": True,
        "attributes": {"segment": "vip-Ploumanach"},
        "phone_collection": {
            "told_calls_need_consent": True,
            "during_contract": False,
            "contract_states_calls_need_consent": False,
        },
    }
    created = await _create(api, body)
    url = f"/v1/contacts/{created['id']}/interactions"
    for interaction in (
        {
            "kind": "sale",
            "occurred_at": "2026-02-01T10:00:00+00:00",
            "seller": "Chaussures SA",
            "product_categories": ["shoes"],
        },
        {
            "kind": "contract_start",
            "occurred_at": "2026-02-02T10:00:00+00:00",
            "seller": "Énergie SA",
            "product_categories": ["electricity"],
        },
        {
            "kind": "call_attempt",
            "occurred_at": "2026-02-03T10:00:00+00:00",
            "outcome": "refused",
            "channel": "phone_human",
        },
    ):
        response = await api.client.post(url, json=interaction, headers=WRITER)
        assert response.status_code == 201, response.text
    got = (await api.client.get(f"/v1/contacts/{created['id']}", headers=WRITER)).json()

    events = await _outbox_values(api, created["id"])
    raw = b"\n".join(json.dumps(e).encode() for e in events).lower()
    created_facts, sale, contract, call = (e["data"] for e in events)
    facts = call["facts"]
    assert created_facts["facts"]["timezone"] == "Indian/Reunion"
    assert created_facts["facts"]["majority_on"] == "2026-03-01"
    assert created_facts["facts"]["digital_consent_age_on"] == "2023-03-01"
    assert created_facts["facts"]["profession"] == "pharmacien" and created_facts["facts"]["stop_pub"] is True
    assert created_facts["facts"]["phone_collection"]["told_calls_need_consent"] is True
    assert (sale["seller"], sale["product_categories"], sale["outcome"]) == ("Chaussures SA", ["shoes"], None)
    assert contract["facts"]["relationship"] == "contract_in_progress"
    assert (call["seller"], call["product_categories"], call["outcome"]) == (None, None, "refused")
    assert facts["purchases"] == [
        {"seller": "Chaussures SA", "categories": ["shoes"], "last_at": "2026-02-01T10:00:00+00:00"}
    ]
    assert facts["contracts"] == [
        {
            "seller": "Énergie SA",
            "categories": ["electricity"],
            "started_at": "2026-02-02T10:00:00+00:00",
            "ended_at": None,
        }
    ]
    assert facts["call_attempts"] == ["2026-02-03T10:00:00+00:00"]
    assert facts["last_call_refusal_at"] == "2026-02-03T10:00:00+00:00"
    assert facts["last_contact_from_person_at"] == "2026-02-02T10:00:00+00:00", (
        "a call is not the person's contact"
    )
    for event in events:
        assert not {"birth_year", "minor_until", "attributes"} & set(event["data"]["facts"])
    for value in [*plaintexts(body), "2008-02-29", "ploumanach"]:
        assert value.lower().encode() not in raw
    assert got["timezone"] == "Indian/Reunion" and got["timezone_source"] == "phone"
    assert got["profession"] == "pharmacien" and got["attributes"] == {"segment": "vip-Ploumanach"}
    assert got["majority_on"] == "2026-03-01" and got["purchases"][0]["seller"] == "Chaussures SA"
    assert got["contracts"][0]["ended_at"] is None and got["last_call_refusal_at"].startswith("2026-02-03")


async def test_an_erasure_publishes_the_blind_indexes_the_contact_had(api: RunningApp) -> None:
    created = await _create(api, {**person(), "phone": "+33 6 11 22 33 99"})
    service = api.app.state.service
    await handlers.erase_contact(
        commands.EraseContact(actor="tests", contact_id=created["id"], reason="test"), service.uow()
    )

    erased = (await _outbox_values(api, created["id"]))[-1]

    indexer = service.vault.indexer
    assert erased["type"] == contracts.CONTACT_ERASED
    assert erased["data"]["blind_indexes"] == [indexer.email(created["email"]), indexer.phone("+33611223399")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sale", "occurred_at": "2026-02-01T00:00:00+00:00"}, "seller"),
        (
            {"kind": "purchase", "occurred_at": "2026-02-01T00:00:00+00:00", "product_categories": ["x"]},
            "seller",
        ),
        ({"kind": "call_attempt", "occurred_at": "2026-02-01T00:00:00+00:00"}, "outcome"),
        ({"kind": "call_attempt", "occurred_at": "2026-02-01T00:00:00+00:00", "outcome": "busy"}, "outcome"),
        (
            {"kind": "contract_end", "occurred_at": "2026-02-01T00:00:00+00:00", "seller": "Nobody SA"},
            "seller",
        ),
    ],
)
async def test_an_interaction_missing_what_its_kind_needs_gets_a_422_naming_the_field_and_nothing_is_stored(
    api: RunningApp, body: dict[str, Any], field: str
) -> None:
    created = await _create(api, person())

    response = await api.client.post(f"/v1/contacts/{created['id']}/interactions", json=body, headers=WRITER)

    assert response.status_code == 422, response.text
    assert [e["field"].removeprefix("body.") for e in response.json()["errors"]] == [field]
    assert await _count(api, orm.interactions) == 0 and await _count(api, orm.outbox) == 1


async def test_an_unknown_time_zone_gets_a_422_and_a_patch_of_the_phone_moves_a_derived_zone(
    api: RunningApp,
) -> None:
    bad = await api.client.post("/v1/contacts", json={**person(), "timezone": "Europe/Brest"}, headers=WRITER)
    created = await _create(api, person())
    patched = await api.client.patch(
        f"/v1/contacts/{created['id']}", json={"phone": "+596 696 12 34 56"}, headers=WRITER
    )

    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["body.timezone"]
    assert created["timezone"] == "Europe/Paris" and created["timezone_source"] == "country"
    assert patched.json()["timezone"] == "America/Martinique" and patched.json()["timezone_source"] == "phone"

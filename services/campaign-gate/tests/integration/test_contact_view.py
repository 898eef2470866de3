"""The API's in-memory columnar view of `gate_contacts` (`adapters.contact_view`) follows the database
written by another process, and a check never decides on a view older than the projection it waited for.

- Table level (real PostgreSQL, two engines: the projection's writer and the API's view): after inserts,
  updates (a restriction, an erasure), deletes, a TRUNCATE, and a transaction that took its id before
  another one but committed after it (the case a sequence number would miss), each refresh leaves the
  view equal to the table read whole.
- Service level (real Kafka and PostgreSQL, the gate app with its consumer): contacts allowed by a first
  check (which loads the view) are restricted (Art. 18), erased, have their consent withdrawn, object;
  the events are published and the very next check, with no retry, blocks each of them for that reason.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.adapters.columns import CONSENT_COLUMNS, CONTACTS_SELECT, DELIVERY_COLUMNS, contact_arrays
from campaign_gate.adapters.contact_view import ContactColumnsView
from campaign_gate.main import create_app
from campaign_gate.settings import CampaignGateSettings
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.testing.harness import common_settings, migrated_database, running
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.producers import Upstream, now

pytestmark = pytest.mark.integration

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
AT = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)


def _gate_service_tests() -> Any:
    """The gate service tests' module (its campaign and informed-contact helpers)."""
    if "campaign_gate_service_tests" not in sys.modules:
        path = Path(__file__).resolve().parent / "test_gate_service.py"
        spec = importlib.util.spec_from_file_location("campaign_gate_service_tests", path)
        assert spec is not None and spec.loader is not None
        sys.modules["campaign_gate_service_tests"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["campaign_gate_service_tests"])
    return sys.modules["campaign_gate_service_tests"]


def _contact(contact_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "kind": "consumer",
        "relationship": "prospect",
        "status": "active",
        "collected_from_person": True,
        "source": "web_form",
        "broker_name": None,
        "obtained_at": AT - timedelta(days=30),
        "last_contact_from_person_at": None,
        "relationship_end_at": None,
        "retention_rule": None,
        "majority_on": None,
        "digital_consent_age_on": None,
        "timezone": "Europe/Paris",
        "profession": None,
        "channel_mask": 1,
        "email_index": f"e-{contact_id}",
        "phone_index": None,
        "purchases": [],
        "contracts": [],
        "call_attempts": [],
        "last_call_refusal_at": None,
        "phone_collection": None,
        "stop_pub": False,
        "restricted": False,
        "restriction_request_id": None,
        "version": 1,
        "updated_at": AT,
        **changes,
    }


def _consent(consent_id: str, contact_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "consent_id": consent_id,
        "contact_id": contact_id,
        "purpose_id": "P",
        "channel": "email",
        "status": "granted",
        "granted_at": AT - timedelta(days=int(consent_id.rsplit("-", 1)[-1]) % 7),
        "withdrawn_at": None,
        "requested_at": None,
        "proof_present": True,
        "positive_act": True,
        "withdrawal_info_given": True,
        "explicit": False,
        "given_by": ["data_subject"],
        "out_of_hours_calls": False,
        "partners": None,
        "partner_categories": None,
        "email_tracking": False,
        "updated_at": AT,
        **changes,
    }


def _delivery(delivery_id: str, contact_id: str, days: int) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "contact_id": contact_id,
        "notice_id": "N",
        "notice_version": 1,
        "channel": "email",
        "delivered_at": AT - timedelta(days=days),
    }


async def _table(engine: AsyncEngine) -> tuple[list[str], dict[str, np.ndarray]]:
    """Returns the table read whole, by contact id."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        rows = await raw.driver_connection.fetch(CONTACTS_SELECT + " ORDER BY contact_id")  # type: ignore[union-attr]
    arrays = contact_arrays(rows)
    return arrays["contact_id"].tolist(), arrays


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind == "M":
        return bool(np.array_equal(a.view("i8"), b.view("i8")))
    return a.tolist() == b.tolist()


async def _assert_in_step(view: ContactColumnsView, engine: AsyncEngine) -> None:
    """The view holds what the tables hold: every contact's columns, the consent the query path picks
    for each contact and channel, every delivery."""
    ids, table = await _table(engine)
    assert len(view) == len(ids)
    held = view.take(ids)
    assert [name for name in table if not _equal(held[name], table[name])] == []
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        conn: Any = raw.driver_connection
        contacts = [r[0] for r in await conn.fetch("SELECT DISTINCT contact_id FROM gate_consents")]
        for channel in ("email", "sms_mms"):
            picked = await conn.fetch(
                f"SELECT DISTINCT ON (contact_id) {CONSENT_COLUMNS} FROM gate_consents "
                "WHERE contact_id = ANY($1::text[]) AND purpose_id = 'P' AND channel = $2 "
                "ORDER BY contact_id, COALESCE(granted_at, requested_at, 'epoch'::timestamptz) DESC, "
                'consent_id COLLATE "C"',
                contacts,
                channel,
            )
            assert sorted(view.consents_for(contacts, purpose_id="P", channel=channel)) == sorted(
                tuple(r) for r in picked
            )
        delivered = [r[0] for r in await conn.fetch("SELECT DISTINCT contact_id FROM gate_notice_deliveries")]
        rows = await conn.fetch(f"SELECT {DELIVERY_COLUMNS} FROM gate_notice_deliveries")
        allowed = {
            r[0] for r in await conn.fetch("SELECT contact_id FROM check_receipts WHERE decision = 'allow'")
        }
    assert sorted(view.deliveries_for(delivered)) == sorted(tuple(r) for r in rows)
    assert view.allowed_among([*ids, "never-seen"]) == allowed & set(ids)


async def _write(engine: AsyncEngine, *statements: Any) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def _insert(
    engine: AsyncEngine, rows: list[dict[str, Any]], table: sa.Table = orm.gate_contacts
) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(table), rows)


async def test_the_view_follows_every_committed_change_of_another_process(postgres_admin_url: str) -> None:
    url = await migrated_database(postgres_admin_url, "campaign-gate")
    writer, reader = make_engine(url), make_engine(url)
    c = orm.gate_contacts.c
    try:
        await _insert(writer, [_contact(f"c-{i}") for i in range(40)])
        # Several consents per contact (on two channels, granted on different days), deliveries.
        await _insert(
            writer,
            [
                _consent(f"k-{i}-{j}", f"c-{i}", channel="email" if j % 3 else "sms_mms")
                for i in range(30)
                for j in range(i % 4)
            ],
            orm.gate_consents,
        )
        await _insert(
            writer,
            [_delivery(f"d-{i}-{j}", f"c-{i}", days=i + j) for i in range(25) for j in range(i % 3)],
            orm.gate_notice_deliveries,
        )
        view = ContactColumnsView(reader)
        await view.refresh()
        assert view.last_refresh["kind"] == "load"
        await _assert_in_step(view, writer)

        # Nothing written: a refresh reads nothing.
        await view.refresh()
        assert view.last_refresh == {**view.last_refresh, "kind": "changes", "rows": 0}

        # Receipts of a check (in one COPY-like statement): the allowed contacts are no first contacts.
        await _insert(
            writer,
            [
                {"check_id": "chk-1", "contact_id": f"c-{i}", "decision": d, "reasons": [], "evidence": []}
                for i, d in ((1, "allow"), (2, "block"), (3, "allow"), (4, "needs_review"))
            ],
            orm.check_receipts,
        )
        await view.refresh()
        assert view.allowed_among(["c-1", "c-2", "c-3", "c-4"]) == {"c-1", "c-3"}

        # A withdrawal, a new consent that is now the latest, an erasure's deletions, a new delivery.
        k = orm.gate_consents.c
        await _write(
            writer, sa.update(orm.gate_consents).where(k.consent_id == "k-5-1").values(withdrawn_at=AT)
        )
        # Two consents granted at the same instant: the smaller consent id is the one read.
        tie = AT + timedelta(days=1)
        await _insert(
            writer,
            [_consent("k-6-9", "c-6", granted_at=tie), _consent("k-6-10", "c-6", granted_at=tie)],
            orm.gate_consents,
        )
        await _write(
            writer,
            sa.delete(orm.gate_consents).where(k.contact_id == "c-7"),
            sa.delete(orm.gate_notice_deliveries).where(orm.gate_notice_deliveries.c.contact_id == "c-7"),
        )
        await _insert(writer, [_delivery("d-new", "c-39", days=0)], orm.gate_notice_deliveries)
        await view.refresh()
        await _assert_in_step(view, writer)
        assert view.consents_for(["c-7"], purpose_id="P", channel="email") == []
        assert [r[1] for r in view.consents_for(["c-6"], purpose_id="P", channel="email")] == ["k-6-10"]

        # A restriction, an erasure, a new contact, a deletion; one transaction each.
        await _write(
            writer, sa.update(orm.gate_contacts).where(c.contact_id == "c-1").values(restricted=True)
        )
        await _write(
            writer,
            sa.update(orm.gate_contacts)
            .where(c.contact_id == "c-2")
            .values(status="erased", channel_mask=0, email_index=None),
        )
        await _write(
            writer, sa.insert(orm.gate_contacts).values(_contact("c-new", kind="professional_named"))
        )
        await _write(writer, sa.delete(orm.gate_contacts).where(c.contact_id == "c-3"))
        await view.refresh()
        assert view.last_refresh["kind"] == "changes"
        await _assert_in_step(view, writer)
        assert "c-3" not in view.take(["c-3", "c-new"])["contact_id"].tolist()

        # A transaction takes its id first and commits last: the refresh between the two commits does not
        # see its row, the next one does.
        async with writer.connect() as first, writer.connect() as second:
            await first.execute(
                sa.update(orm.gate_contacts).where(c.contact_id == "c-4").values(stop_pub=True)
            )
            await second.execute(
                sa.update(orm.gate_contacts).where(c.contact_id == "c-5").values(restricted=True)
            )
            await second.commit()
            await view.refresh()
            assert view.take(["c-4", "c-5"])["restricted"].tolist() == [False, True]
            assert view.take(["c-4"])["stop_pub"].tolist() == [False]
            await first.commit()
        await view.refresh()
        assert view.take(["c-4"])["stop_pub"].tolist() == [True]
        await _assert_in_step(view, writer)

        # A contact deleted and projected again (a reset and replay), then a TRUNCATE: loaded afresh.
        await _write(writer, sa.delete(orm.gate_contacts).where(c.contact_id == "c-6"))
        await _write(
            writer, sa.insert(orm.gate_contacts).values(_contact("c-6", relationship="customer_sale_done"))
        )
        await view.refresh()
        await _assert_in_step(view, writer)
        await _write(writer, sa.text("TRUNCATE gate_contacts"))
        await _write(writer, sa.insert(orm.gate_contacts).values(_contact("c-after")))
        await view.refresh()
        assert view.last_refresh["kind"] == "load"
        await _assert_in_step(view, writer)
        assert len(view) == 1

        # Growth past the first capacity.
        await _insert(writer, [_contact(f"g-{i}") for i in range(3000)])
        await view.refresh()
        await _assert_in_step(view, writer)
    finally:
        await writer.dispose()
        await reader.dispose()


async def test_the_next_check_sees_a_restriction_an_erasure_a_withdrawal_and_an_objection(
    kafka_bootstrap: str, postgres_admin_url: str
) -> None:
    service_tests = _gate_service_tests()
    marketer = service_tests.MARKETER
    approved_campaign, informed_contact = service_tests._approved_campaign, service_tests._informed_contact
    await ensure_topics(kafka_bootstrap, [*contracts.CONSUMED_TOPICS, contracts.CAMPAIGNS_EVENTS])
    settings = CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"gate-{uuid.uuid4().hex[:8]}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        # Because the invariant is about the next check, not an eventual one: on this loaded machine the
        # check may wait longer for the consumer than the default half second (it would fail closed).
        projection_catch_up_seconds=15.0,
        **common_settings(kafka_bootstrap),
    )
    purpose_id = str(uuid.uuid4())
    ids = {name: str(uuid.uuid4()) for name in ("restricted", "erased", "withdrawn", "objecting", "kept")}
    async with Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as upstream:
        async with running(create_app(settings)) as gate:
            await upstream.purpose(purpose_id)
            informed = {
                name: await informed_contact(upstream, cid, purpose_id, email=f"{name}@example.org")
                for name, cid in ids.items()
            }
            campaign_id = await approved_campaign(gate, purpose_id)

            async def check() -> dict[str, dict[str, Any]]:
                response = await gate.client.post(
                    f"/v1/campaigns/{campaign_id}/checks",
                    json={"contact_ids": list(ids.values())},
                    headers=marketer,
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["stale"] is False, body
                return {r["contact_id"]: r for r in body["recipients"]}

            first = await check()
            assert {r["decision"] for r in first.values()} == {"allow"}, first
            view = gate.app.state.service.contact_view
            assert view is not None and view.loaded

            restricted = informed["restricted"].contact
            restricted.restrict(request_id="req-1", grounds="accuracy_contested", at=now())
            await upstream.contacts_publish(restricted)
            await upstream.erase(informed["erased"].contact)
            consent = informed["withdrawn"].consent
            assert consent is not None
            await upstream.withdraw(consent)
            await upstream.objection(contact_id=ids["objecting"], email="objecting@example.org")

            second = await check()
            rules = {name: [r["rule"] for r in second[cid]["reasons"]] for name, cid in ids.items()}
            decisions = {name: second[cid]["decision"] for name, cid in ids.items()}
            assert decisions == {
                "restricted": "block",
                "erased": "block",
                "withdrawn": "block",
                "objecting": "block",
                "kept": "allow",
            }, rules
            assert "restriction:req-1" in second[ids["restricted"]]["evidence"], second[ids["restricted"]]
            assert rules["withdrawn"][0] == "UNI-03", rules
            assert "UNI-01" in rules["objecting"], rules

"""Data-subject rights end to end (SPEC §7) on Kafka and PostgreSQL, the four services in-process.

Contacts reaches its peers over HTTP through ASGI transports (what `make run` does over the loopback),
and everything else goes through the real topics: erasure confirmations, audit entries, the gate's
projection.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.adapters import orm as gate_orm
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from contacts.bootstrap import bootstrap as bootstrap_contacts
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running, token

from tests.bodies import STUDY, notice_body, purpose_body, study_sign_offs

pytestmark = pytest.mark.e2e

ADMIN, INTEGRATOR, AUDITOR = auth("admin"), auth("integrator"), auth("auditor")
MARKETER = {"Authorization": f"Bearer {token('marketer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}


class Clock:
    """The real time plus an offset the test moves (the due dates are a month away)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _campaign(purpose_id: str) -> dict[str, Any]:
    return {
        "purpose_id": purpose_id,
        "channel": "email",
        "sender_entity": "Acme SAS",
        "message": {
            "subject": "Nos nouvelles chaussures",
            "body": "Découvrez la collection de printemps.",
            "unsubscribe_mechanism": "https://acme.example/stop",
            "unsubscribe_free": True,
            "right_to_object_statement": True,
            "sender_identification": "Acme SAS",
            "subject_related_to_offer": True,
            "objection_reminder": True,
        },
        "product_category": "shoes",
        "send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "study": STUDY,
    }


async def _created(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


async def _approved_campaign(gate: Any, purpose_id: str) -> str:
    """Once the gate has projected the purpose: a campaign created and submitted by the marketer, its
    study signed off and approved by the reviewer; returns its id."""
    engine = gate.app.state.service.runtime.engine

    async def _purpose_projected() -> Any:
        async with engine.connect() as conn:
            return await conn.scalar(
                sa.select(sa.func.count())
                .select_from(gate_orm.gate_purposes)
                .where(gate_orm.gate_purposes.c.purpose_id == purpose_id)
            )

    await eventually(_purpose_projected, timeout=30)
    campaign_id: str = (await _created(gate.client, "/v1/campaigns", _campaign(purpose_id), MARKETER))["id"]
    submitted = await _created(gate.client, f"/v1/campaigns/{campaign_id}/submit", {}, MARKETER)
    signed = {"sign_offs": study_sign_offs(submitted["findings"])}
    await _created(gate.client, f"/v1/campaigns/{campaign_id}/approve", signed, REVIEWER)
    return campaign_id


async def _plaintext_rows(database_url: str, needles: list[str]) -> list[str]:
    """Returns `table: needle` for every row of every table of a database holding a needle, in text or hex."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    found = []
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            for row in await conn.fetch(f'SELECT row_to_json(t)::text AS doc FROM "{table}" t'):
                text = row["doc"].lower()
                for needle in needles:
                    if needle.lower() in text or needle.encode().hex() in text:
                        found.append(f"{table}: {needle[:4]}…")
    finally:
        await conn.close()
    return found


@pytest.fixture
async def stack(kafka_bootstrap: str, postgres_admin_url: str) -> dict[str, Any]:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    urls = {
        name: await migrated_database(postgres_admin_url, name)
        for name in ("contacts", "consent", "campaign-gate", "audit-log")
    }
    return {
        "urls": urls,
        "contacts": ContactsSettings(
            database_url=urls["contacts"],
            retention_sweep_interval_seconds=0,
            requests_consumer_group=f"contacts-requests-{suffix}",
            requests_watch_interval_seconds=0.2,
            **common,
        ),
        "consent": ConsentSettings(
            database_url=urls["consent"], consumer_group=f"consent-{suffix}", **common
        ),
        "gate": CampaignGateSettings(
            database_url=urls["campaign-gate"], consumer_group=f"gate-{suffix}", **common
        ),
        "audit": AuditLogSettings(
            database_url=urls["audit-log"],
            consumer_group=f"audit-{suffix}",
            checkpoint_every_seconds=0.2,
            **common,
        ),
    }


def _contacts_app(stack: dict[str, Any], clock: Clock, peers: dict[str, Any]) -> Any:
    service = bootstrap_contacts(
        stack["contacts"],
        clock=clock,
        peer_transports={name: httpx.ASGITransport(app=app) for name, app in peers.items()},
    )
    return create_contacts_app(service=service)


async def test_access_then_erasure_reaches_every_service_and_leaves_no_plaintext_anywhere(
    stack: dict[str, Any],
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, phone = f"ysolde.{tag}@example.org", "+33 6 55 44 33 22"
    given, family, rectified = f"Ysolde{tag}", f"Le Goff{tag}", f"Ysoldine{tag}"
    clock = Clock()
    consent_app, gate_app, audit_app = (
        create_consent_app(stack["consent"]),
        create_gate_app(stack["gate"]),
        create_audit_app(stack["audit"]),
    )
    contacts_app = _contacts_app(
        stack, clock, {"consent": consent_app, "campaign-gate": gate_app, "audit-log": audit_app}
    )
    async with (
        running(audit_app) as audit,
        running(consent_app) as consent,
        running(gate_app) as gate,
        running(contacts_app) as contacts,
    ):
        created = await _created(
            contacts.client,
            "/v1/contacts",
            {
                "kind": "consumer",
                "given_name": given,
                "family_name": family,
                "email": email,
                "phone": phone,
                "collected_from_person": True,
                "source": "web_form",
                "obtained_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
            },
            INTEGRATOR,
        )
        contact_id = created["id"]

        # Consent: a purpose, its notice delivered to the person, and their consent with its proof.
        newsletter = purpose_body(
            "Newsletter", description="Envoyer la lettre d'information aux clients et prospects"
        )
        purpose_id = (await _created(consent.client, "/v1/purposes", newsletter, ADMIN))["purpose_id"]
        notice = await _created(consent.client, "/v1/notices", notice_body([purpose_id]), ADMIN)
        await _created(
            consent.client,
            f"/v1/notices/{notice['notice_id']}/deliveries",
            {"contact_id": contact_id, "channel": "email"},
            INTEGRATOR,
        )
        await _created(
            consent.client,
            "/v1/consents",
            {
                "contact_id": contact_id,
                "purpose_id": purpose_id,
                "channel": "email",
                "collection_method": "web_form",
                "wording": "J'accepte de recevoir la lettre d'Acme.",
                "notice_id": notice["notice_id"],
                "proof": {
                    "captured_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                    "source": "https://acme.example/form#v3",
                    "ip": "203.0.113.77",
                },
            },
            INTEGRATOR,
        )

        # The gate: an approved campaign checked against the person.
        campaign_id = await _approved_campaign(gate, purpose_id)
        check = await _created(
            gate.client, f"/v1/campaigns/{campaign_id}/checks", {"contact_ids": [contact_id]}, MARKETER
        )
        decision = check["recipients"][0]["decision"]

        async def _audited(event_type: str) -> Any:
            response = await audit.client.get(
                "/v1/entries", params={"subject": contact_id, "type": event_type}, headers=AUDITOR
            )
            return response.json()["items"]

        await eventually(lambda: _audited("vigie.consent.notice_delivered.v1"), timeout=30)

        # Access, the person named by e-mail (typed differently): an export from all four services.
        access = await _created(
            contacts.client, "/v1/requests", {"kind": "access", "email": email.upper()}, INTEGRATOR
        )
        assert access["status"] == "completed" and access["contact_id"] == contact_id, access
        assert access["due_at"].startswith(
            (datetime.fromisoformat(access["received_at"]).replace(day=1) + timedelta(days=32)).strftime(
                "%Y-%m"
            )
        ), "due one month later"
        export = (await contacts.client.get(f"/v1/requests/{access['id']}/export", headers=INTEGRATOR)).json()
        assert (
            export["contacts"]["contact"]["email"] == email
            and export["contacts"]["contact"]["family_name"] == family
        )
        consents = export["consent"]["consents"]
        assert consents[0]["purpose_id"] == purpose_id and consents[0]["proof"]["source"].startswith(
            "https://acme"
        )
        assert consents[0]["proof"]["ip"] != "203.0.113.77", "the stored IP is truncated"
        assert export["consent"]["notice_deliveries"][0]["notice_id"] == notice["notice_id"]
        # The gate's decisions come from the gate itself (its receipts, each provable into a chunk root
        # the audit log holds under the campaign, not under the person).
        decisions = export["campaign_gate"]["decisions"]
        assert [(d["decision"], d["check_id"]) for d in decisions] == [(decision, check["check_id"])]
        types = {e["type"] for e in export["audit_log"]["entries"]}
        assert {"vigie.contacts.contact_created.v1", "vigie.consent.notice_delivered.v1"} <= types

        portability = await _created(
            contacts.client, "/v1/requests", {"kind": "portability", "contact_id": contact_id}, INTEGRATOR
        )
        csv_export = await contacts.client.get(
            f"/v1/requests/{portability['id']}/export", params={"format": "csv"}, headers=INTEGRATOR
        )
        assert csv_export.headers["content-type"].startswith("text/csv")
        assert f"contact.email,{email}" in csv_export.text.splitlines()
        assert "consents[0].purpose_id," + purpose_id in csv_export.text.splitlines()

        # Rectification: the contact changes and the audit log records which field changed.
        rectification = await _created(
            contacts.client,
            "/v1/requests",
            {"kind": "rectification", "contact_id": contact_id, "changes": {"given_name": rectified}},
            INTEGRATOR,
        )
        assert rectification["status"] == "completed", rectification
        fetched = (await contacts.client.get(f"/v1/contacts/{contact_id}", headers=INTEGRATOR)).json()
        assert fetched["given_name"] == rectified
        updates = await eventually(lambda: _audited("vigie.contacts.contact_updated.v1"), timeout=30)
        assert updates[-1]["event"]["data"]["changed"] == ["given_name"]

        # Objection: recorded in consent with the person's blind indexes, effective in the gate.
        objection = await _created(
            contacts.client, "/v1/requests", {"kind": "objection", "contact_id": contact_id}, INTEGRATOR
        )
        assert objection["status"] == "completed", objection
        held = (await consent.client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)).json()
        assert held["objections"] and len(held["objections"][0]["blind_indexes"]) == 2

        async def _blocked_by_objection() -> Any:
            rechecked = await _created(
                gate.client, f"/v1/campaigns/{campaign_id}/checks", {"contact_ids": [contact_id]}, MARKETER
            )
            rules = [r["rule"] for r in rechecked["recipients"][0]["reasons"]]
            return rechecked["recipients"][0]["decision"] == "block" and "UNI-01" in rules

        await eventually(_blocked_by_objection, timeout=30, interval=0.2)

        # Erasure: completes only once contacts, consent, the gate and the audit log have confirmed.
        erasure = await _created(
            contacts.client, "/v1/requests", {"kind": "erasure", "contact_id": contact_id}, INTEGRATOR
        )
        assert erasure["status"] == "in_progress"

        last_seen: dict[str, Any] = {}

        async def _erasure_done() -> Any:
            response = await contacts.client.get(f"/v1/requests/{erasure['id']}", headers=INTEGRATOR)
            last_seen.update(response.json())
            return response.json() if response.json()["status"] == "completed" else None

        try:
            done = await eventually(_erasure_done, timeout=60, interval=0.2)
        except AssertionError as error:
            raise AssertionError(
                f"erasure still awaits {last_seen.get('awaiting_confirmation_from')}"
            ) from error
        assert set(done["confirmations"]) == {"contacts", "consent", "campaign-gate", "audit-log"}
        erased = (await contacts.client.get(f"/v1/contacts/{contact_id}", headers=INTEGRATOR)).json()
        assert erased["status"] == "erased" and erased["email"] is None and erased["family_name"] is None

        # The confirmations are audit-log entries (the events each service published).
        for event_type in (
            "vigie.contacts.contact_erased.v1",
            "vigie.consent.consent_data_erased.v1",
            "vigie.campaigns.contact_forgotten.v1",
            "vigie.contacts.request_completed.v1",
        ):
            await eventually(lambda t=event_type: _audited(t), timeout=30)
        entries = (
            await audit.client.get(
                "/v1/entries", params={"subject": contact_id, "limit": 1000}, headers=AUDITOR
            )
        ).json()["items"]
        erased_at = min(e["index"] for e in entries if e["type"] == "vigie.contacts.contact_erased.v1")
        assert all(e["redacted"] for e in entries if e["index"] < erased_at), "the subject key is destroyed"
        assert not any(email in str(e) or family in str(e) for e in entries), (
            "the erasure record holds no plaintext"
        )
        verified = (await audit.client.get("/v1/verify", headers=AUDITOR)).json()
        assert verified["ok"], verified

        # A re-import of the same e-mail meets the objection kept as a blind index (UNI-02).
        rematch = await consent.client.get("/v1/objections", params={"email": email}, headers=INTEGRATOR)
        assert rematch.json()["matched_blind_indexes"] and rematch.json()["items"][0]["contact_id"] is None
        reimported = await _created(
            contacts.client,
            "/v1/contacts",
            {
                "kind": "consumer",
                "email": email,
                "collected_from_person": False,
                "source": "broker_list",
                "obtained_at": datetime.now(UTC).isoformat(),
            },
            INTEGRATOR,
        )

        async def _reimport_blocked() -> Any:
            rechecked = await _created(
                gate.client,
                f"/v1/campaigns/{campaign_id}/checks",
                {"contact_ids": [reimported["id"]]},
                MARKETER,
            )
            rules = [r["rule"] for r in rechecked["recipients"][0]["reasons"]]
            # A re-import matched by the erased person's hash (rule book A, UNI-02).
            return rechecked["recipients"][0]["decision"] == "block" and "UNI-02" in rules

        await eventually(_reimport_blocked, timeout=30, interval=0.2)
        erase_again = await _created(
            contacts.client, "/v1/requests", {"kind": "erasure", "contact_id": reimported["id"]}, INTEGRATOR
        )
        await eventually(
            lambda: _erasure_done_for(contacts.client, erase_again["id"]), timeout=60, interval=0.2
        )
        await asyncio.sleep(0.5)  # Let the last consumers commit before the databases are searched.

    needles = [email, given, family, rectified, "55 44 33 22", "+33655443322"]
    for name, url in stack["urls"].items():
        assert await _plaintext_rows(url, needles) == [], f"{name} still holds plaintext of the person"


async def _erasure_done_for(client: httpx.AsyncClient, request_id: str) -> bool:
    response = await client.get(f"/v1/requests/{request_id}", headers=INTEGRATOR)
    return response.json()["status"] == "completed"


async def test_an_unknown_person_gets_no_data_found_and_an_open_request_past_its_due_date_is_overdue(
    stack: dict[str, Any],
) -> None:
    clock = Clock()
    consent_app, audit_app = create_consent_app(stack["consent"]), create_audit_app(stack["audit"])
    contacts_app = _contacts_app(stack, clock, {"consent": consent_app, "audit-log": audit_app})
    async with running(audit_app) as audit, running(consent_app), running(contacts_app) as contacts:
        known = await _created(
            contacts.client,
            "/v1/contacts",
            {
                "kind": "consumer",
                "email": f"known.{uuid.uuid4().hex[:6]}@example.org",
                "collected_from_person": True,
                "source": "web_form",
                "obtained_at": datetime.now(UTC).isoformat(),
            },
            INTEGRATOR,
        )

        for body in (
            {"kind": "access", "email": f"nobody.{uuid.uuid4().hex[:6]}@example.org"},
            {"kind": "erasure", "phone": "+33 7 81 23 45 67"},
            {"kind": "access", "contact_id": str(uuid.uuid4())},
        ):
            unknown = await _created(contacts.client, "/v1/requests", body, INTEGRATOR)
            assert unknown["status"] == "no_data_found" and unknown["contact_id"] is None, unknown
            assert known["id"] not in str(unknown)
            export = await contacts.client.get(f"/v1/requests/{unknown['id']}/export", headers=INTEGRATOR)
            assert export.status_code in (200, 409)
            if export.status_code == 200:
                assert export.json()["contact"] is None and export.json()["status"] == "no_data_found"

        # No gate runs here: the erasure waits for its confirmation, and the month passes.
        erasure = await _created(
            contacts.client, "/v1/requests", {"kind": "erasure", "contact_id": known["id"]}, INTEGRATOR
        )
        assert erasure["status"] == "in_progress"
        listed = (
            await contacts.client.get("/v1/requests", params={"overdue": "true"}, headers=INTEGRATOR)
        ).json()
        assert erasure["id"] not in [r["id"] for r in listed["items"]]

        extended = await contacts.client.post(
            f"/v1/requests/{erasure['id']}/extension",
            json={"months": 3, "reason": "too long"},
            headers=INTEGRATOR,
        )
        assert extended.status_code == 422
        clock.offset = timedelta(days=32)
        late = await contacts.client.post(
            f"/v1/requests/{erasure['id']}/extension",
            json={"months": 1, "reason": "archives to search"},
            headers=INTEGRATOR,
        )
        assert late.status_code == 422, "an extension must be announced within the first month"

        async def _overdue() -> Any:
            found = (
                await contacts.client.get("/v1/requests", params={"overdue": "true"}, headers=INTEGRATOR)
            ).json()["items"]
            return [r for r in found if r["id"] == erasure["id"] and r["overdue"]]

        assert await eventually(_overdue, timeout=10)

        async def _overdue_event() -> Any:
            response = await audit.client.get(
                "/v1/entries",
                params={"subject": known["id"], "type": "vigie.contacts.request_overdue.v1"},
                headers=AUDITOR,
            )
            return response.json()["items"]

        entries = await eventually(_overdue_event, timeout=30)
        assert entries[0]["event"]["data"]["request_id"] == erasure["id"]
        history = (await contacts.client.get(f"/v1/requests/{erasure['id']}", headers=INTEGRATOR)).json()[
            "history"
        ]
        assert [h["action"] for h in history][:2] == ["received", "started"] and "overdue" in [
            h["action"] for h in history
        ]
        assert (
            await contacts.client.get(f"/v1/requests/{erasure['id']}", headers=auth("marketer"))
        ).status_code == 403
        assert (
            await contacts.client.get(f"/v1/requests/{uuid.uuid4()}", headers=INTEGRATOR)
        ).status_code == 404
        bad = await contacts.client.post(
            "/v1/requests",
            json={"kind": "forget-me", "email": "x@example.org", "phone": "+33 6 00 00 00 00"},
            headers=INTEGRATOR,
        )
        assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} >= {"body.kind"}

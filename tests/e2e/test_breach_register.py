"""A breach's every step reaches the audit log through the real consent.events topic (issue 19):
HTTP → consent (PostgreSQL + outbox) → Kafka → audit-log entries an auditor reads, with no free text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from consent.bootstrap import bootstrap as bootstrap_consent
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.e2e

DPO, AUDITOR = auth("reviewer"), auth("auditor")
H = timedelta(hours=1)
FREE_TEXT = ("camille.durand@example.org", "Jeanne Martin", "dpo@acme.example", "phishing", "Friday night")


class Clock:
    """The real time plus an offset the test moves (the 72 hours must pass)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def stack(kafka_bootstrap: str, postgres_admin_url: str) -> tuple[ConsentSettings, AuditLogSettings]:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    consent = ConsentSettings(
        database_url=await migrated_database(postgres_admin_url, "consent"),
        consumer_group=f"consent-{suffix}",
        contract_watch_interval_seconds=0,
        breach_watch_interval_seconds=0,
        **common,
    )
    audit = AuditLogSettings(
        database_url=await migrated_database(postgres_admin_url, "audit-log"),
        consumer_group=f"audit-{suffix}",
        checkpoint_every_seconds=0.2,
        **common,
    )
    return consent, audit


async def _entries(audit: Any, subject: str, count: int) -> list[dict[str, Any]] | None:
    response = await audit.client.get("/v1/entries", params={"subject": subject}, headers=AUDITOR)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return items if len(items) >= count else None


async def test_every_step_of_a_breach_lands_in_the_audit_log_without_its_free_text(stack) -> None:
    consent_settings, audit_settings = stack
    clock = Clock()
    aware_at = clock() - H
    async with (
        running(create_consent_app(service=bootstrap_consent(consent_settings, clock=clock))) as consent,
        running(create_audit_app(audit_settings)) as audit,
    ):
        created = await consent.client.post(
            "/v1/breaches",
            json={
                "aware_at": aware_at.isoformat(),
                "nature": ["confidentiality"],
                "description": "The export of camille.durand@example.org and 1,199 others was public.",
                "data_categories": ["identity", "contact"],
                "subject_categories": ["prospects"],
                "approx_subjects": 1200,
                "approx_records": 1500,
                "likely_consequences": "Targeted phishing.",
                "measures_taken": "Link revoked.",
                "dpo": {"name": "Jeanne Martin", "contact": "dpo@acme.example"},
                "risk": "high",
                "risk_justification": "Contact data usable for phishing.",
            },
            headers=DPO,
        )
        assert created.status_code == 201, created.text
        breach_id = created.json()["breach_id"]

        clock.offset = 73 * H  # the 72 hours pass with no notification
        watched = await consent.client.post("/v1/breaches:watch", headers=DPO)
        assert watched.json()["newly_overdue"] == [breach_id]
        notified = await consent.client.post(
            f"/v1/breaches/{breach_id}/notification",
            json={
                "notified_at": clock().isoformat(),
                "reference": "CNIL-2026-0077",
                "delay_reasons": "Aware on a Friday night; the DPO was reached on Monday.",
            },
            headers=DPO,
        )
        assert notified.status_code == 200 and notified.json()["state"] == "notified_late", notified.text
        told = await consent.client.post(
            f"/v1/breaches/{breach_id}/communication",
            json={"communicated_at": clock().isoformat(), "means": "email", "subjects_informed": 1200},
            headers=DPO,
        )
        assert told.status_code == 200, told.text
        served = told.json()

        entries = await eventually(lambda: _entries(audit, breach_id, 5), timeout=60)

    assert [e["type"] for e in entries] == [
        "vigie.consent.breach_recorded.v1",
        "vigie.consent.breach_assessed.v1",
        "vigie.consent.breach_overdue.v1",
        "vigie.consent.breach_notified.v1",
        "vigie.consent.breach_communicated.v1",
    ]
    assert [e["event"]["actor"] for e in entries] == ["e2e/tester"] * 5
    for entry in entries:
        assert entry["event"]["subject"] == breach_id
        text = str(entry["event"]).lower()
        for secret in FREE_TEXT:
            assert secret.lower() not in text, f"{secret!r} in {entry['type']}"
    recorded, _, overdue, notified_entry, last = (e["event"]["data"] for e in entries)
    assert recorded["approx_subjects"] == 1200 and recorded["risk"] is None
    assert overdue["state"] == "overdue" and overdue["hours_overdue"] >= 0
    assert notified_entry["state"] == "notified_late" and notified_entry["delay_reasons_given"] is True
    assert last["means"] == "email" and last["risk"] == "high"
    # The register consent serves is the one the log saw last.
    assert served["record_hash"] == last["record_hash"]

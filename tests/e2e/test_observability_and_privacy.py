"""One trace across HTTP, Kafka and every consumer; metrics that move; no personal data in any log line."""

from __future__ import annotations

import io
import logging
import uuid

import pytest
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from shared.logging import JsonFormatter
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.e2e


@pytest.fixture
def captured_logs():
    """Routes every log record of the process, at INFO and above, through the JSON formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("e2e"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_one_trace_follows_a_request_into_every_consumer_and_no_log_line_holds_personal_data(
    kafka_bootstrap: str, postgres_admin_url: str, captured_logs: io.StringIO
) -> None:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    contacts = ContactsSettings(
        database_url=await migrated_database(postgres_admin_url, "contacts"), **common
    )
    consent = ConsentSettings(
        database_url=await migrated_database(postgres_admin_url, "consent"),
        consumer_group=f"consent-{suffix}",
        **common,
    )
    audit = AuditLogSettings(
        database_url=await migrated_database(postgres_admin_url, "audit-log"),
        consumer_group=f"audit-{suffix}",
        checkpoint_every_seconds=0.2,
        **common,
    )
    gate = CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"gate-{suffix}",
        **common,
    )
    email, phone, family = f"zoe.marchal.{suffix}@example.org", "+33 6 98 76 54 32", f"Marchal{suffix}"
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"

    async with (
        running(create_contacts_app(contacts)) as contacts_app,
        running(create_consent_app(consent)) as consent_app,
        running(create_audit_app(audit)) as audit_app,
        running(create_gate_app(gate)) as gate_app,
    ):
        created = await contacts_app.client.post(
            "/v1/contacts",
            headers={**auth("integrator"), "traceparent": traceparent},
            json={
                "kind": "consumer",
                "given_name": "Zoé",
                "family_name": family,
                "email": email,
                "phone": phone,
                "collected_from_person": True,
                "source": "web_form",
                "obtained_at": "2026-10-01T10:00:00+00:00",
            },
        )
        assert created.status_code == 201, created.text
        assert created.headers["traceparent"].split("-")[1] == trace_id
        contact_id = created.json()["id"]
        found = await contacts_app.client.get(
            "/v1/contacts", params={"email": email}, headers=auth("integrator")
        )
        assert found.json()["items"][0]["id"] == contact_id

        async def _entry() -> list:
            response = await audit_app.client.get(
                "/v1/entries", params={"subject": contact_id}, headers=auth("auditor")
            )
            return response.json()["items"]

        await eventually(_entry)

        def _lines_with_trace(marker: str) -> list[str]:
            return [
                line for line in captured_logs.getvalue().splitlines() if trace_id in line and marker in line
            ]

        async def _consent_saw_it() -> list[str]:
            return [line for line in _lines_with_trace('"event handled"') if f'"consent-{suffix}"' in line]

        async def _gate_saw_it() -> list[str]:
            # Because the gate's projection, like the audit log, applies a polled batch at a time.
            return [line for line in _lines_with_trace('"integrated batch"') if f'"gate-{suffix}"' in line]

        async def _audit_saw_it() -> list[str]:
            return [line for line in _lines_with_trace('"integrated batch"') if f'"audit-{suffix}"' in line]

        await eventually(_consent_saw_it)
        await eventually(_gate_saw_it)
        await eventually(_audit_saw_it)

        async def _gate_caught_up() -> bool:
            # Because the gate fails closed until it has applied the topics' history (earlier tests'
            # events on the session's broker), and this test wants the campaign's own reason.
            freshness = await gate_app.app.state.service.projection_freshness()
            return not freshness.stale and not any(freshness.lag.values())

        await eventually(_gate_caught_up, timeout=60)

        campaign = await gate_app.client.post(
            "/v1/campaigns",
            headers=auth("marketer"),
            json={
                "purpose_id": str(uuid.uuid4()),
                "channel": "email",
                "sender_entity": "Acme SAS",
                "message": {
                    "subject": "Offre",
                    "body": "Bonjour",
                    "unsubscribe_mechanism": "https://acme.example/stop",
                },
                "product_category": "shoes",
                "send_at": "2027-01-15T10:00:00+00:00",
            },
        )
        assert campaign.status_code == 201, campaign.text
        check = await gate_app.client.post(
            f"/v1/campaigns/{campaign.json()['id']}/checks",
            json={"contact_ids": [contact_id]},
            headers=auth("marketer"),
        )
        assert check.status_code == 200 and check.json()["recipients"][0]["decision"] == "block", check.text
        assert _lines_with_trace('"request"'), "the API's access line carries the trace"

        contacts_metrics = (await contacts_app.client.get("/metrics")).text
        consent_metrics = (await consent_app.client.get("/metrics")).text
        audit_metrics = (await audit_app.client.get("/metrics")).text
        gate_metrics = (await gate_app.client.get("/metrics")).text

    assert 'http_request_duration_seconds_count{method="POST",route="/v1/contacts"}' in contacts_metrics
    assert "outbox_published_total" in contacts_metrics and "outbox_backlog" in contacts_metrics
    assert 'kafka_consumer_handled_total{group="consent-' in consent_metrics
    assert 'kafka_consumer_lag{group="audit-' in audit_metrics
    assert "audit_log_entries" in audit_metrics and "audit_log_checkpoint_age_seconds" in audit_metrics
    assert 'gate_decisions_total{decision="block",rule_id="CAMPAIGN_NOT_APPROVED"} 1.0' in gate_metrics
    assert 'kafka_consumer_handled_total{group="gate-' in gate_metrics

    logs = captured_logs.getvalue()
    assert logs, "the services logged"
    for personal in (email, "98 76 54 32", "+33698765432", family):
        assert personal not in logs, f"a log line holds personal data ({personal[:3]}…)"

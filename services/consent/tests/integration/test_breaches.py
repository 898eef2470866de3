"""The breach register and structured contract terms for real: HTTP → PostgreSQL + outbox → consent.events,
with a clock the test moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from consent import contracts
from consent.bootstrap import bootstrap
from consent.main import create_app
from consent.settings import ConsentSettings
from shared.testing.harness import (
    ManualClock,
    auth,
    common_settings,
    migrated_database,
    read_events,
    running,
)

pytestmark = pytest.mark.integration

DPO, ADMIN, AUDITOR, MARKETER = auth("reviewer"), auth("admin"), auth("auditor"), auth("marketer")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
SECRET_TEXT = "Jeanne Martin's export of camille.durand@example.org"

BREACH: dict[str, Any] = {
    "aware_at": T0.isoformat(),
    "reference": "INC-2026-017",
    "nature": ["confidentiality"],
    "description": f"{SECRET_TEXT} was left on a public link of the e-mail router.",
    "data_categories": ["identity", "contact"],
    "subject_categories": ["prospects"],
    "approx_subjects": 1200,
    "approx_records": 1500,
    "likely_consequences": "Phishing of the prospects concerned.",
    "measures_taken": "Link revoked, router credentials rotated.",
    "dpo": {"name": "Jeanne Martin", "contact": "dpo@acme.example"},
}


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> ConsentSettings:
    url = await migrated_database(postgres_admin_url, "consent")
    return ConsentSettings(
        database_url=url,
        consumer_group=f"consent-{uuid.uuid4().hex[:8]}",
        contract_watch_interval_seconds=0,
        breach_watch_interval_seconds=0,
        **common_settings(kafka_bootstrap),
    )


def _app(settings: ConsentSettings, clock: ManualClock) -> Any:
    return create_app(service=bootstrap(settings, clock=clock))


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in response.json()["errors"]}


async def test_a_breach_from_record_to_late_notification_and_communication_reaches_consent_events(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    clock = ManualClock(T0 + H)
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        refused = await client.post(
            "/v1/breaches", json={**BREACH, "nature": [], "description": " "}, headers=DPO
        )
        assert _fields(refused) == {"nature", "description"}
        assert (await client.post("/v1/breaches", json=BREACH, headers=MARKETER)).status_code == 403

        created = await client.post("/v1/breaches", json=BREACH, headers=DPO)
        assert created.status_code == 201, created.text
        breach = created.json()
        breach_id = breach["breach_id"]
        assert created.headers["location"] == f"/v1/breaches/{breach_id}"
        assert _t(breach["deadline_at"]) == T0 + 72 * H and breach["state"] == "open"
        assert breach["findings"] == [] and not breach["overdue"]

        assessed = await client.post(
            f"/v1/breaches/{breach_id}/assessment",
            json={"risk": "high", "justification": "Contact data of 1,200 people, usable for phishing."},
            headers=DPO,
        )
        assert assessed.status_code == 200, assessed.text
        assert [f["rule"] for f in assessed.json()["findings"]] == ["BRE-09"]

        clock.now = T0 + 80 * H
        late = {"notified_at": (T0 + 79 * H).isoformat(), "reference": "CNIL-2026-0042"}
        assert _fields(
            await client.post(f"/v1/breaches/{breach_id}/notification", json=late, headers=DPO)
        ) == {"delay_reasons"}
        notified = await client.post(
            f"/v1/breaches/{breach_id}/notification",
            json={**late, "delay_reasons": "The router handed over its logs on day 3."},
            headers=DPO,
        )
        assert notified.status_code == 200, notified.text
        assert notified.json()["state"] == "notified_late"
        again = await client.post(
            f"/v1/breaches/{breach_id}/notification", json={**late, "delay_reasons": "x"}, headers=DPO
        )
        assert again.status_code == 409

        told = await client.post(
            f"/v1/breaches/{breach_id}/communication",
            json={"communicated_at": (T0 + 80 * H).isoformat(), "means": "email", "subjects_informed": 1180},
            headers=DPO,
        )
        assert told.status_code == 200, told.text
        assert told.json()["findings"] == []

        read = await client.get(f"/v1/breaches/{breach_id}", headers=AUDITOR)
        assert read.status_code == 200 and read.json()["description"] == BREACH["description"]
        assert read.json()["notification"]["delay_reasons"] == "The router handed over its logs on day 3."
        assert (await client.get("/v1/breaches/nope", headers=AUDITOR)).status_code == 404

        expected = [
            contracts.BREACH_RECORDED,
            contracts.BREACH_ASSESSED,
            contracts.BREACH_NOTIFIED,
            contracts.BREACH_COMMUNICATED,
        ]
        events = await read_events(
            kafka_bootstrap, contracts.CONSENT_EVENTS, lambda seen: len(seen) >= len(expected), {breach_id}
        )
    assert [e.type for e in events] == expected, "in order, keyed by the breach id"
    for event in events:
        text = event.encode().decode()
        for secret in ("Jeanne", "camille", "dpo@acme", "Phishing", "logs on day 3"):
            assert secret not in text, f"{secret!r} leaked into {event.type}"
    recorded, assessed_event, notified_event, told_event = (e.data for e in events)
    assert recorded["approx_subjects"] == 1200 and recorded["subject_categories"] == ["prospects"]
    assert _t(recorded["deadline_at"]) == T0 + 72 * H and recorded["dpo_named"] is True
    assert assessed_event["risk"] == "high" and assessed_event["justification_given"] is True
    assert notified_event["state"] == "notified_late" and notified_event["hours_after_awareness"] == 79.0
    assert notified_event["delay_reasons_given"] is True
    assert notified_event["authority_reference"] == "CNIL-2026-0042"
    assert told_event["means"] == "email" and told_event["subjects_informed"] == 1180
    assert len({e.data["record_hash"] for e in events}) == 4, "each step changed the record"
    assert all(e.actor == "e2e/tester" for e in events)


async def test_an_overdue_breach_is_visible_to_the_dpo_in_the_list_the_watch_and_the_metrics(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    clock = ManualClock(T0)
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        overdue_id = (await client.post("/v1/breaches", json=BREACH, headers=DPO)).json()["breach_id"]
        justified = await client.post(
            "/v1/breaches",
            json={
                **BREACH,
                "risk": "unlikely",
                "risk_justification": "The file was encrypted; key not exposed.",
            },
            headers=ADMIN,
        )
        assert justified.status_code == 201 and justified.json()["state"] == "not_notifiable"
        unjustified = await client.post("/v1/breaches", json={**BREACH, "risk": "unlikely"}, headers=DPO)
        assert _fields(unjustified) == {"justification"}

        clock.now = T0 + 73 * H
        listed = await client.get("/v1/breaches", params={"overdue": "true"}, headers=DPO)
        assert listed.status_code == 200, listed.text
        assert [b["breach_id"] for b in listed.json()["items"]] == [overdue_id]
        item = listed.json()["items"][0]
        assert item["state"] == "overdue" and item["overdue"]
        assert [f["rule"] for f in item["findings"]] == ["BRE-08"]
        assert len((await client.get("/v1/breaches", headers=AUDITOR)).json()["items"]) == 2
        assert (await client.get("/v1/breaches", headers=MARKETER)).status_code == 403

        watched = await client.post("/v1/breaches:watch", headers=DPO)
        assert watched.json() == {"overdue": [overdue_id], "newly_overdue": [overdue_id]}
        assert (await client.post("/v1/breaches:watch", headers=DPO)).json()["newly_overdue"] == []
        metrics = (await client.get("/metrics")).text
        assert "consent_breaches_overdue 1.0" in metrics

        notified = await client.post(
            f"/v1/breaches/{overdue_id}/notification",
            json={
                "notified_at": (T0 + 73 * H).isoformat(),
                "reference": "CNIL-2026-0050",
                "delay_reasons": "Awareness on a Friday night; the DPO was reached on Monday.",
            },
            headers=DPO,
        )
        assert notified.status_code == 200, notified.text
        assert (await client.get("/v1/breaches", params={"overdue": "true"}, headers=DPO)).json()[
            "items"
        ] == []
        assert (await client.post("/v1/breaches:watch", headers=DPO)).json()["overdue"] == []
        assert "consent_breaches_overdue 0.0" in (await client.get("/metrics")).text

        kinds = [contracts.BREACH_RECORDED, contracts.BREACH_OVERDUE, contracts.BREACH_NOTIFIED]
        events = await read_events(
            kafka_bootstrap, contracts.CONSENT_EVENTS, lambda seen: len(seen) >= len(kinds), {overdue_id}
        )
    assert [e.type for e in events] == kinds
    assert events[1].data["hours_overdue"] == 1.0 and events[1].actor == "e2e/tester"


INTEGRATOR_TERMS: dict[str, Any] = {
    "developments_owner": "controller",
    "parameterisation_owner": "integrator",
    "assignment": {
        "document": "Contrat d'intégration, art. 12",
        "covers": ["developments"],
        "rights": ["reproduction", "adaptation", "distribution"],
        "territory": ["fr", "BE"],
        "duration_years": 20,
    },
    "licence": {
        "scope": "Deploy and run the CRM's parameterisation in the group's entities",
        "territory": ["worldwide"],
    },
    "confidentiality": {"staff_bound": True, "instrument": "nda", "reference": "NDA per consultant"},
}


async def test_structured_contract_terms_are_validated_stored_and_published(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    clock = ManualClock(T0)
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        party = await client.post(
            "/v1/parties", json={"legal_name": "Intégra SARL", "roles": ["integrator"]}, headers=ADMIN
        )
        assert party.status_code == 201, party.text
        party_id = party.json()["party_id"]
        assert {f["rule"] for f in party.json()["term_findings"]} == {
            "TERM-01",
            "TERM-04",
            "TERM-05",
            "TERM-06",
        }
        url = f"/v1/parties/{party_id}/contracts"

        broken = {
            **INTEGRATOR_TERMS,
            "assignment": {
                "document": "art. 12",
                "covers": ["developments"],
                "rights": ["use"],
                "territory": ["France"],
            },
            "confidentiality": {"staff_bound": True},
        }
        refused = await client.post(url, json={"reference": "INT-1", "terms": broken}, headers=ADMIN)
        assert _fields(refused) == {
            "terms.assignment.territory",
            "terms.assignment.duration_years",
            "terms.confidentiality.instrument",
        }
        assert {e["type"] for e in refused.json()["errors"]} == {"TERM-02", "TERM-04"}
        shape = await client.post(
            url, json={"reference": "INT-1", "terms": {"owner": "controller"}}, headers=ADMIN
        )
        assert _fields(shape) == {"body.terms.owner"}

        signed = await client.post(
            url,
            json={"reference": "INT-1", "signed_at": T0.isoformat(), "terms": INTEGRATOR_TERMS},
            headers=ADMIN,
        )
        assert signed.status_code == 201, signed.text
        contract = signed.json()
        assert contract["terms"]["assignment"]["territory"] == ["FR", "BE"]
        assert {"ownership_of_developments", "licence_of_use", "confidentiality"} <= set(
            contract["clauses_present"]
        )
        assert [(f["rule"], f["field"]) for f in contract["term_findings"]] == [
            ("TERM-05", "terms.security.art32_measures"),
            ("TERM-06", "terms.reversibility.returns_data"),
            ("TERM-06", "terms.reversibility.returns_parameterisation"),
            ("TERM-06", "terms.reversibility.deletes_copies"),
        ]

        reread = (await client.get(f"/v1/parties/{party_id}", headers=AUDITOR)).json()
        assert reread["current_contract"]["terms"] == contract["terms"]
        assert [f["rule"] for f in reread["term_findings"]] == ["TERM-05", "TERM-06", "TERM-06", "TERM-06"]

        claimed = {
            **INTEGRATOR_TERMS,
            "parameterisation_owner": "shared",
            "licence": None,
            "reversibility": {
                "returns_data": True,
                "deletes_copies": True,
                "format": "CSV",
                "within_days": 30,
            },
        }
        second = await client.post(url, json={"reference": "INT-2", "terms": claimed}, headers=ADMIN)
        assert second.status_code == 201, second.text
        assert ("TERM-02", "terms.assignment") in [
            (f["rule"], f["field"]) for f in second.json()["term_findings"]
        ]
        assert "ownership_of_developments" not in second.json()["clauses_present"]
        assert "return_or_deletion_at_end" in second.json()["clauses_present"]
        assert second.json()["terms"]["reversibility"]["within_days"] == 30

        events = await read_events(
            kafka_bootstrap, contracts.CONSENT_EVENTS, lambda seen: len(seen) >= 3, {party_id}
        )
    registered, first, then = (e.data for e in events)
    assert [e.type for e in events] == [
        contracts.PARTY_REGISTERED,
        contracts.CONTRACT_SIGNED,
        contracts.CONTRACT_SIGNED,
    ]
    assert first["terms"]["developments_owner"] == "controller"
    assert first["terms"]["confidentiality"] == {"staff_bound": True, "instrument": "nda"}
    assert first["term_gaps"][0] == {"rule": "TERM-05", "field": "terms.security.art32_measures"}
    assert [g["rule"] for g in first["term_gaps"]] == ["TERM-05", "TERM-06", "TERM-06", "TERM-06"]
    assert "NDA per consultant" not in events[1].encode().decode()
    assert {"rule": "TERM-02", "field": "terms.assignment"} in then["term_gaps"]
    assert registered["party_id"] == party_id

"""Issue 19 end to end: a campaign held to its register entry and every party on every send.

Consent runs for real (its HTTP API and outbox relay) beside the gate on the same Kafka and PostgreSQL;
contacts' events are made by contacts' own code (`tests.producers.Upstream`). The register entry and the
parties are entered on consent's API, reach the gate as consent publishes them, and the gate's review and
checks cite REG-* and PAR-*; the new campaign fields are validated (422 naming the field, nothing stored)
and land in the audit trail (`campaigns.events`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from campaign_gate import contracts
from campaign_gate.adapters import orm
from consent.domain.parties import ALL_CLAUSES
from shared.events import EventEnvelope
from shared.testing.harness import auth, eventually, token

from tests.bodies import STUDY, study_sign_offs
from tests.producers import Upstream, now

pytestmark = pytest.mark.integration

ADMIN = auth("admin")
MARKETER = {"Authorization": f"Bearer {token('marketer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}
#: Terms that settle everything consent's TERM rules ask of a processor (no TERM gap).
PROCESSOR_TERMS = {
    "confidentiality": {"staff_bound": True, "instrument": "contract_clause"},
    "security": {"art32_measures": True, "assists_with_rights": True, "assists_with_breaches": True},
    "reversibility": {"returns_data": True, "deletes_copies": True, "format": "CSV", "within_days": 30},
}


async def _created(client: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _until(gate: Any, query: Any) -> None:
    """Waits until the gate's projection answers `query` with a true value."""
    engine = gate.app.state.service.runtime.engine

    async def _holds() -> Any:
        async with engine.connect() as conn:
            return await conn.scalar(query)

    await eventually(_holds, timeout=30, interval=0.1)


def _entry_version(purpose_id: str, version: int) -> Any:
    p = orm.gate_purposes.c
    return sa.select(sa.func.count()).where(
        p.purpose_id == purpose_id, p.version == version, p.entry.is_not(None)
    )


def _party_with_contract(party_id: str) -> Any:
    p = orm.gate_parties.c
    return sa.select(sa.func.count()).where(p.party_id == party_id, p.term_gaps.is_not(None))


def _campaign(purpose_id: str, **overrides: Any) -> dict[str, Any]:
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
        "send_at": (now() + timedelta(days=1)).isoformat(),
        "study": STUDY,
        **overrides,
    }


async def _register(consent: Any) -> tuple[str, str, str]:
    """A register entry on e-mail, a router linked to it with a complete contract, a call centre without."""
    signed = (now() - timedelta(days=30)).isoformat()
    purpose = await _created(
        consent.client,
        "/v1/purposes",
        {
            "name": f"Prospection {uuid.uuid4().hex[:6]}",
            "description": "Offres commerciales par e-mail",
            "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris"},
            "lawful_basis": "legitimate_interests",
            "legitimate_interest": "Prospection de nos clients",
            "data_categories": {"identity": ["e-mail"], "economic_financial": ["achats"]},
            "data_subjects": ["clients"],
            "retention": {"clients": "3 ans après la fin de la relation"},
            "channels": ["email"],
            "retention_months": 36,
        },
        ADMIN,
    )
    router = await _created(
        consent.client,
        "/v1/parties",
        {"legal_name": "Routeur SAS", "roles": ["processor"], "purpose_ids": [purpose["purpose_id"]]},
        ADMIN,
    )
    await _created(
        consent.client,
        f"/v1/parties/{router['party_id']}/contracts",
        {
            "reference": "DPA-R",
            "signed_at": signed,
            "clauses": list(ALL_CLAUSES),
            "breach_notification_hours": 24,
            "terms": PROCESSOR_TERMS,
        },
        ADMIN,
    )
    call_centre = await _created(
        consent.client,
        "/v1/parties",
        {
            "legal_name": "Centre d'appels SARL",
            "roles": ["consultant"],
            "purpose_ids": [purpose["purpose_id"]],
        },
        ADMIN,
    )
    return purpose["purpose_id"], router["party_id"], call_centre["party_id"]


async def test_bad_register_and_party_fields_are_refused_naming_them_and_nothing_is_stored(
    both: tuple[Any, Any],
) -> None:
    consent, gate = both
    before = len((await gate.client.get("/v1/campaigns", headers=MARKETER)).json()["items"])
    for overrides, field in (
        ({"parties": [{"party_id": "PA-1", "role": "ceo"}]}, "role"),
        ({"parties": [{"party_id": "PA-1", "role": "router"}] * 2}, "parties"),
        ({"data_categories": ["horoscope"]}, "data_categories"),
        ({"special_categories": ["shoe_size"]}, "special_categories"),
        ({"retention_months": 0}, "retention_months"),
    ):
        response = await gate.client.post(
            "/v1/campaigns", json=_campaign("P-1", **overrides), headers=MARKETER
        )
        assert response.status_code == 422, (overrides, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in response.json()["errors"]), (field, response.json())
    after = len((await gate.client.get("/v1/campaigns", headers=MARKETER)).json()["items"])
    assert after == before, "a refused campaign is not stored"

    refused = await consent.client.post(
        "/v1/purposes",
        json={
            "name": "P",
            "description": "d",
            "controller": {"name": "Acme SAS", "contact": "Paris"},
            "lawful_basis": "consent",
            "channels": ["pigeon"],
            "retention_months": -1,
        },
        headers=ADMIN,
    )
    assert refused.status_code == 422, refused.text
    fields = {e["field"] for e in refused.json()["errors"]}
    assert any("channels" in f for f in fields) and any("retention_months" in f for f in fields), fields


async def test_the_review_holds_the_campaign_to_its_entry_and_checks_every_party(
    both: tuple[Any, Any], kafka_bootstrap: str
) -> None:
    consent, gate = both
    purpose_id, router, call_centre = await _register(consent)
    await _until(gate, _entry_version(purpose_id, 1))
    await _until(gate, _party_with_contract(router))

    body = _campaign(
        purpose_id,
        channel="sms_mms",
        data_categories=["identity", "location"],
        retention_months=60,
        parties=[
            {"party_id": router, "role": "router"},
            {"party_id": call_centre, "role": "call_centre"},
            {"party_id": "never-registered", "role": "data_source"},
        ],
    )
    created = await _created(gate.client, "/v1/campaigns", body, MARKETER)
    submitted = await gate.client.post(f"/v1/campaigns/{created['id']}/submit", headers=MARKETER)
    assert submitted.status_code == 200, submitted.text
    blocks = {
        (f["rule"], e)
        for f in submitted.json()["findings"]
        if f["severity"] == "block"
        for e in f["evidence"]
    }
    assert ("REG-01", f"purpose:{purpose_id}@1") in blocks
    assert ("REG-02", f"purpose:{purpose_id}@1") in blocks
    assert ("REG-05", f"purpose:{purpose_id}@1") in blocks
    assert ("PAR-01", "party:never-registered") in blocks
    # The call centre: no contract, and registered as a consultant, not a processor.
    assert {("PAR-02", f"party:{call_centre}"), ("PAR-03", f"party:{call_centre}")} <= blocks
    assert not {r for r, e in blocks if e == f"party:{router}"}, "the router's contract is complete"
    approve = await gate.client.post(f"/v1/campaigns/{created['id']}/approve", json={}, headers=REVIEWER)
    assert approve.status_code == 422

    # The audit trail: the submission the relay publishes on campaigns.events names the parties and roles.
    engine = gate.app.state.service.runtime.engine
    async with engine.connect() as conn:
        values = (
            await conn.execute(
                sa.select(orm.outbox.c.value).where(
                    orm.outbox.c.key == created["id"], orm.outbox.c.topic == contracts.CAMPAIGNS_EVENTS
                )
            )
        ).scalars()
        events = [EventEnvelope.decode(bytes(v)) for v in values]
    (submission,) = [e for e in events if e.type == contracts.CAMPAIGN_SUBMITTED]
    uses = submission.data["uses"]
    assert {"party_id": call_centre, "role": "call_centre"} in uses["parties"]
    assert uses["retention_months"] == 60 and uses["data_categories"] == ["identity", "location"]
    assert uses["register_version"] == 1, "the entry version the review held the campaign to"
    assert {f["rule"] for f in submission.data["findings"]} >= {"REG-01", "PAR-01", "PAR-02"}


async def test_an_approved_campaign_is_blocked_at_check_time_once_its_entry_or_party_changes(
    both: tuple[Any, Any], upstream: Upstream
) -> None:
    consent, gate = both
    purpose_id, router, _ = await _register(consent)
    contact = await upstream.contact(relationship="customer_sale_done")
    await _until(gate, _entry_version(purpose_id, 1))
    await _until(gate, _party_with_contract(router))
    await _until(gate, sa.select(sa.func.count()).where(orm.gate_contacts.c.contact_id == contact.id))

    body = _campaign(
        purpose_id, parties=[{"party_id": router, "role": "router"}], data_categories=["identity"]
    )
    created = await _created(gate.client, "/v1/campaigns", body, MARKETER)
    submitted = (await gate.client.post(f"/v1/campaigns/{created['id']}/submit", headers=MARKETER)).json()
    assert not [f for f in submitted["findings"] if f["rule"].startswith(("REG-", "PAR-"))], submitted
    approved = await gate.client.post(
        f"/v1/campaigns/{created['id']}/approve",
        json={"sign_offs": study_sign_offs(submitted["findings"])},
        headers=REVIEWER,
    )
    assert approved.status_code == 200, approved.text

    async def _check() -> dict[str, Any]:
        response = await gate.client.post(
            f"/v1/campaigns/{created['id']}/checks", json={"contact_ids": [contact.id]}, headers=MARKETER
        )
        assert response.status_code == 200, response.text
        (receipt,) = response.json()["recipients"]
        return receipt

    before = await _check()
    assert not {r["rule"] for r in before["reasons"]} & {"REG-01", "PAR-02"}, before

    # The register entry is revised to cover post only: the approved e-mail campaign stops at once.
    revised = await consent.client.patch(
        f"/v1/purposes/{purpose_id}", json={"channels": ["postal_addressed"]}, headers=ADMIN
    )
    assert revised.status_code == 200, revised.text
    versions = revised.json()["versions"]
    assert [v["channels"] for v in versions] == [["email"], ["postal_addressed"]]
    assert versions[-1]["retention_months"] == 36 and versions[-1]["profiling"] is False
    await _until(gate, _entry_version(purpose_id, 2))
    after = await _check()
    assert after["decision"] == "block" and "REG-01" in {r["rule"] for r in after["reasons"]}, after

    # The router's relationship ends: its contract no longer frames the send (PAR-02), entry restored.
    await consent.client.patch(f"/v1/purposes/{purpose_id}", json={"channels": ["email"]}, headers=ADMIN)
    ended = await consent.client.patch(f"/v1/parties/{router}", json={"status": "suspended"}, headers=ADMIN)
    assert ended.status_code == 200, ended.text
    await _until(gate, _entry_version(purpose_id, 3))
    p = orm.gate_parties.c
    await _until(gate, sa.select(sa.func.count()).where(p.party_id == router, p.status == "suspended"))
    blocked = await _check()
    assert blocked["decision"] == "block", blocked
    assert {r["rule"] for r in blocked["reasons"]} >= {"PAR-02"} and "REG-01" not in {
        r["rule"] for r in blocked["reasons"]
    }, blocked
    assert f"party:{router}" in blocked["evidence"], blocked

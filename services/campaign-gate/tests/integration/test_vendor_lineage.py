"""Vendor and erasure facts from where they are entered to the gate's decision (issues 13, 16).

Consent runs for real (its HTTP API, outbox relay and contacts consumer) beside the gate on the same
Kafka; contacts' events are made by contacts' own code (`tests.producers.Upstream`). Nothing here
writes another service's payload by hand, and the gate keeps no clause or EEA list of its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from campaign_gate.adapters import orm
from consent.domain.parties import REQUIRED_CLAUSES, PartyRole
from consent.domain.processors import ART28_3_CHECKLIST
from shared.testing.harness import auth, eventually, token

from tests.bodies import STUDY, study_sign_offs
from tests.producers import Upstream, now

pytestmark = pytest.mark.integration

ADMIN, INTEGRATOR = auth("admin"), auth("integrator")
MARKETER = {"Authorization": f"Bearer {token('marketer', 'reviewer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}


async def _created(client: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _projected(gate: Any, table: sa.Table, column: Any, value: str, *, where: Any = None) -> None:
    engine = gate.app.state.service.runtime.engine

    async def _present() -> Any:
        query = sa.select(sa.func.count()).select_from(table).where(column == value)
        if where is not None:
            query = query.where(where)
        async with engine.connect() as conn:
            return await conn.scalar(query)

    await eventually(_present, timeout=30, interval=0.1)


def _purpose() -> dict[str, Any]:
    return {
        "name": f"Prospection {uuid.uuid4().hex[:6]}",
        "description": "Offres commerciales par e-mail",
        "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris"},
        "lawful_basis": "legitimate_interests",
        "legitimate_interest": "Prospection de nos clients",
        "data_categories": {"identity": ["e-mail"]},
        "data_subjects": ["clients"],
        "retention": {"clients": "3 ans"},
    }


def _campaign(purpose_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "purpose_id": purpose_id,
        "channel": "postal_addressed",
        "sender_entity": "Acme SAS",
        "message": {
            "subject": "Nos nouvelles chaussures",
            "body": "Découvrez la collection de printemps.",
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


async def test_the_gaps_consent_reports_for_a_processor_and_its_party_block_the_campaign_naming_them(
    both: tuple[Any, Any],
) -> None:
    consent, gate = both
    signed = (now() - timedelta(days=30)).isoformat()
    purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
    clauses = {
        c: c not in ("form", "subject_matter_and_duration", "type_of_personal_data")
        for c in ART28_3_CHECKLIST
    }
    processor = await _created(
        consent.client,
        "/v1/processors",
        {
            "legal_name": "Routeur SAS",
            "role": "processor",
            "contract": {"reference": "DPA-7", "signed_at": signed, "clauses": clauses},
            "locations": [{"country": "FR"}, {"country": "BR", "activity": "support"}],
            "transfer_mechanism": "adequacy",
            "sub_processors": [{"name": "SMS Relay Ltd", "country": "IE"}],
        },
        ADMIN,
    )
    party = await _created(
        consent.client,
        "/v1/parties",
        {
            "legal_name": "Hébergeur SAS",
            "roles": ["sub_processor"],
            "processor_id": processor["processor_id"],
        },
        ADMIN,
    )
    required = [c for c in REQUIRED_CLAUSES[PartyRole.SUB_PROCESSOR] if c != "c_security_art32"]
    await _created(
        consent.client,
        f"/v1/parties/{party['party_id']}/contracts",
        {"reference": "DPA-H", "signed_at": signed, "clauses": required, "breach_notification_hours": 48},
        ADMIN,
    )

    await _projected(gate, orm.gate_purposes, orm.gate_purposes.c.purpose_id, purpose["purpose_id"])
    await _projected(gate, orm.gate_processors, orm.gate_processors.c.processor_id, processor["processor_id"])
    await _projected(
        gate,
        orm.gate_parties,
        orm.gate_parties.c.processor_id,
        processor["processor_id"],
        where=orm.gate_parties.c.contract_id.is_not(None),
    )
    body = _campaign(purpose["purpose_id"], processor_id=processor["processor_id"])
    created = await _created(gate.client, "/v1/campaigns", body, MARKETER)
    submitted = await gate.client.post(f"/v1/campaigns/{created['id']}/submit", headers=MARKETER)
    assert submitted.status_code == 200, submitted.text
    findings = submitted.json()["findings"]
    by_rule: dict[str, list[str]] = {}
    for finding in findings:
        by_rule.setdefault(finding.get("rule") or finding["rule_id"], []).append(finding["message"])
    proc_02 = " ".join(by_rule.get("PROC-02", []))
    for named in (
        "form",
        "subject_matter_and_duration",
        "type_of_personal_data",
        "SMS Relay Ltd",
        "Hébergeur SAS",
        "c_security_art32",
    ):
        assert named in proc_02, (named, findings)
    assert any("BR" in m for m in by_rule.get("PROC-03", [])), findings
    refused = await gate.client.post(f"/v1/campaigns/{created['id']}/approve", json={}, headers=REVIEWER)
    assert refused.status_code == 422


async def test_an_erased_contact_reimported_by_a_broker_with_the_same_email_is_blocked_by_its_hash(
    both: tuple[Any, Any], upstream: Upstream
) -> None:
    consent, gate = both
    email = f"camille.{uuid.uuid4().hex[:6]}@example.org"
    purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
    original = await upstream.contact(email=email, relationship="customer_sale_done")
    await _projected(gate, orm.gate_contacts, orm.gate_contacts.c.contact_id, original.id)
    erased = await upstream.erase(original)
    assert erased.data["blind_indexes"], "contacts publishes the erased contact's blind indexes"

    # Consent keeps the indexes as an objection (reason erasure); the gate projects it.
    index = upstream.indexer.email(email)
    await _projected(gate, orm.gate_objection_indexes, orm.gate_objection_indexes.c.blind_index, index)
    matched = await consent.client.get("/v1/objections", params={"email": email}, headers=INTEGRATOR)
    (kept,) = matched.json()["items"]
    assert kept["reason"] == "erasure" and kept["scope"] == "all_direct_marketing"

    reimported = await upstream.contact(
        email=email, collected_from_person=False, source="broker", broker_name="Fichiers & Co"
    )
    await _projected(gate, orm.gate_contacts, orm.gate_contacts.c.contact_id, reimported.id)
    created = await _created(gate.client, "/v1/campaigns", _campaign(purpose["purpose_id"]), MARKETER)
    submitted = await gate.client.post(f"/v1/campaigns/{created['id']}/submit", headers=MARKETER)
    approved = await gate.client.post(
        f"/v1/campaigns/{created['id']}/approve",
        json={"sign_offs": study_sign_offs(submitted.json()["findings"])},
        headers=REVIEWER,
    )
    assert approved.status_code == 200, approved.text
    checked = await gate.client.post(
        f"/v1/campaigns/{created['id']}/checks", json={"contact_ids": [reimported.id]}, headers=MARKETER
    )
    assert checked.status_code == 200, checked.text
    (receipt,) = checked.json()["recipients"]
    assert receipt["decision"] == "block"
    # The gate reads an objection matched by blind index as the person's objection (UNI-01 today; the
    # rule book's UNI-02 names the re-import case): either way the erasure's objection is the evidence.
    assert {"UNI-01", "UNI-02"} & {r["rule"] for r in receipt["reasons"]}, receipt
    assert f"objection:{kept['objection_id']}" in receipt["evidence"], receipt

"""Issue 19, rights, end to end on Kafka and PostgreSQL, the four services in-process: a restriction of
processing (Art. 18) entered in contacts' API blocks the gate's check (RIGHTS-01) once the gate has
projected it, and its lifting (the person informed first) lets the send through again; a contested gate
decision (Art. 22(3)) goes to a human reviewer's queue and is decided with reasons, every step an entry of
the audit log; an unsubscribe from the campaign's purpose blocks it (UNI-01)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from audit_log.main import create_app as create_audit_app
from campaign_gate.main import create_app as create_gate_app
from consent.main import create_app as create_consent_app
from shared.testing.harness import auth, eventually, running, token

from tests.bodies import notice_body, purpose_body
from tests.e2e.test_data_subject_rights import (  # noqa: F401 - stack is a fixture
    Clock,
    _approved_campaign,
    _contacts_app,
    _created,
    stack,
)

pytestmark = pytest.mark.e2e

ADMIN, INTEGRATOR, AUDITOR = auth("admin"), auth("integrator"), auth("auditor")
MARKETER = {"Authorization": f"Bearer {token('marketer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}
DPO = {"Authorization": f"Bearer {token('reviewer', subject='dpo-claire')}"}


async def test_a_restriction_blocks_the_gate_until_lifted_and_a_contested_decision_reaches_a_human(
    stack: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
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
        contact_id = (
            await _created(
                contacts.client,
                "/v1/contacts",
                {
                    "kind": "consumer",
                    "email": f"restreinte.{datetime.now(UTC).timestamp()}@example.org",
                    "collected_from_person": True,
                    "source": "web_form",
                    "obtained_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                },
                INTEGRATOR,
            )
        )["id"]
        newsletter = purpose_body("Newsletter", description="Envoyer la lettre d'information aux clients")
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
                "double_opt_in": False,
                "terms": {"act": "ticked_box", "given_by": ["data_subject"]},
                "notice_id": notice["notice_id"],
                "proof": {
                    "captured_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                    "source": "https://acme.example/form#v3",
                    "ip": "203.0.113.77",
                },
            },
            INTEGRATOR,
        )
        campaign_id = await _approved_campaign(gate, purpose_id)

        async def _check() -> dict[str, Any]:
            answer = await _created(
                gate.client, f"/v1/campaigns/{campaign_id}/checks", {"contact_ids": [contact_id]}, MARKETER
            )
            return {"check_id": answer["check_id"], **answer["recipients"][0]}

        last: dict[str, Any] = {}

        async def _decided(decision: str, rule: str | None = None) -> dict[str, Any] | None:
            receipt = await _check()
            last.update(receipt)
            rules = [r["rule"] for r in receipt["reasons"]]
            if receipt["decision"] != decision:
                return None
            if rule is not None and rule not in rules:
                return None
            return receipt

        try:
            allowed = await eventually(lambda: _decided("allow"), timeout=30, interval=0.2)
        except AssertionError as error:
            raise AssertionError(f"not allowed: {last}") from error
        assert "RIGHTS-01" not in [r["rule"] for r in allowed["reasons"]]

        # A request lacking what its kind needs is refused, each field named, nothing stored.
        for body, field in (
            ({"kind": "restriction"}, "body.grounds"),
            ({"kind": "contestation"}, "body.decision"),
            ({"kind": "access", "grounds": "legal_claims"}, "body.grounds"),
            ({"kind": "contestation", "decision": {"kind": "gate_check"}}, "body.decision"),
        ):
            bad = await contacts.client.post(
                "/v1/requests", json={"contact_id": contact_id, **body}, headers=INTEGRATOR
            )
            assert bad.status_code == 422, (body, bad.text)
            assert field in [e["field"] for e in bad.json()["errors"]], (body, bad.json())
        assert (await contacts.client.get("/v1/requests", headers=INTEGRATOR)).json()["items"] == []

        # Art. 18: restricted on the contacts API; the gate blocks once it has projected the event.
        restriction = await _created(
            contacts.client,
            "/v1/requests",
            {"kind": "restriction", "contact_id": contact_id, "grounds": "accuracy_contested"},
            INTEGRATOR,
        )
        assert (
            restriction["status"] == "completed" and restriction["details"]["grounds"] == "accuracy_contested"
        )
        blocked = await eventually(lambda: _decided("block", "RIGHTS-01"), timeout=30, interval=0.2)
        assert f"restriction:{restriction['id']}" in blocked["evidence"]

        # Lifting needs the person informed beforehand (Art. 18(3)): refused without, naming the field.
        refused = await contacts.client.post(
            f"/v1/requests/{restriction['id']}/restriction-lifting",
            json={"reason": "accuracy verified", "informed_by": "letter"},
            headers=INTEGRATOR,
        )
        assert refused.status_code == 422 and refused.headers["content-type"].startswith(
            "application/problem"
        )
        assert [e["field"] for e in refused.json()["errors"]] == ["informed_at"]
        lifted = await _created(
            contacts.client,
            f"/v1/requests/{restriction['id']}/restriction-lifting",
            {
                "reason": "accuracy verified",
                "informed_at": restriction["received_at"],
                "informed_by": "letter",
            },
            INTEGRATOR,
        )
        assert lifted["details"]["informed_by"] == "letter"
        again = await eventually(lambda: _decided("allow"), timeout=30, interval=0.2)

        # Art. 22(3): the person contests the gate's decision; a human takes it up and decides with reasons.
        contest = await _created(
            contacts.client,
            "/v1/requests",
            {
                "kind": "contestation",
                "contact_id": contact_id,
                "decision": {"kind": "gate_check", "check_id": again["check_id"], "campaign_id": campaign_id},
                "point_of_view": "Je ne veux pas être ciblée par un score automatique.",
            },
            INTEGRATOR,
        )
        assert contest["status"] == "received"
        # The reviewer sees what the gate decided and why: its receipt of that check about the person.
        kept = contest["details"]["contested_receipt"]
        assert (kept["check_id"], kept["decision"]) == (again["check_id"], "allow"), kept
        assert kept["reasons"] == again["reasons"]
        queue = (await contacts.client.get("/v1/contestations", headers=DPO)).json()["items"]
        assert [r["id"] for r in queue] == [contest["id"]]
        assert (await contacts.client.get("/v1/contestations", headers=INTEGRATOR)).status_code == 403
        taken = await _created(contacts.client, f"/v1/requests/{contest['id']}/human-review", {}, DPO)
        assert taken["status"] == "in_progress"
        other = await contacts.client.post(
            f"/v1/requests/{contest['id']}/outcome",
            json={"outcome": "upheld", "reasons": "fine by me"},
            headers=REVIEWER,
        )
        assert other.status_code == 409, "only the human who took it up decides"
        decided = await _created(
            contacts.client,
            f"/v1/requests/{contest['id']}/outcome",
            {"outcome": "overturned", "reasons": "Le ciblage reposait sur un score erroné; il est retiré."},
            DPO,
        )
        assert decided["status"] == "completed" and decided["details"]["outcome"] == "overturned"

        # An unsubscribe from the campaign's purpose (any channel) blocks it (UNI-01).
        await _created(
            consent.client,
            "/v1/objections",
            {"contact_id": contact_id, "scope": "purpose", "purpose_id": purpose_id},
            INTEGRATOR,
        )
        await eventually(lambda: _decided("block", "UNI-01"), timeout=30, interval=0.2)

        # Every step is in the audit log, under the person, with who did it.
        async def _entries() -> list[dict[str, Any]] | None:
            response = await audit.client.get("/v1/entries", params={"subject": contact_id}, headers=AUDITOR)
            items = response.json()["items"]
            types = {e["type"] for e in items}
            wanted = {
                "vigie.contacts.processing_restricted.v1",
                "vigie.contacts.restriction_lifted.v1",
                "vigie.contacts.contestation_review_started.v1",
                "vigie.contacts.contestation_decided.v1",
                "vigie.consent.objection_recorded.v1",
            }
            return items if wanted <= types else None

        entries = await eventually(_entries, timeout=30, interval=0.2)
        by_type = {e["type"]: e for e in entries}
        decided_entry = by_type["vigie.contacts.contestation_decided.v1"]
        assert "dpo-claire" in str(decided_entry["actor"])
        assert decided_entry["event"]["data"]["outcome"] == "overturned"
        assert "score erroné" not in str(entries) and "score automatique" not in str(entries)
        assert by_type["vigie.consent.objection_recorded.v1"]["event"]["data"]["scope"] == "purpose"

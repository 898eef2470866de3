"""Legal acceptance suite: each rule id of the gate's table, where it fires and where it must not.

The four services run once for the module, in-process, on the session's real Kafka broker and PostgreSQL.
Facts are entered where a person or system enters them (contacts' and consent's HTTP APIs, the gate's
suppression lists), reach the gate through its projection of `contacts.events` and `consent.events`, and
each scenario reads its decision from the gate's check API and its receipt from the audit log. Each test id
names the rule (`test_rule[TEL-04-fires-fifth-call-in-30-days]`); the legal source is read from the gate's
rule table, so the suite and the table cannot drift apart.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
import pytest_asyncio
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.bootstrap import bootstrap as bootstrap_gate
from campaign_gate.domain import rules
from campaign_gate.domain.facts import Channel
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.bootstrap import bootstrap as bootstrap_consent
from consent.domain.parties import ALL_CLAUSES
from consent.domain.processors import ART28_3_CHECKLIST
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from contacts.bootstrap import bootstrap as bootstrap_contacts
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from shared.testing.harness import common_settings, eventually, migrated_database, running
from vigie_verify.merkle import leaf_hash, verify_inclusion

from tests.bodies import STUDY
from tests.legal.scenarios import CAMPAIGN_PARTIES, SCENARIOS
from tests.legal.world import AUDITOR, ERAS, MARKETER, MESSAGE, REVIEWER, Clock, Outcome, Scenario, World, at

pytestmark = [pytest.mark.e2e, pytest.mark.legal]

SIGNED, EXPIRES = "2026-01-01T00:00:00+00:00", "2028-12-31T00:00:00+00:00"


def _contract(*, without: tuple[str, ...] = (), expires: str = EXPIRES) -> dict[str, Any]:
    return {
        "reference": f"DPA-{uuid.uuid4().hex[:6]}",
        "signed_at": SIGNED,
        "expires_at": expires,
        "clauses": {clause: clause not in without for clause in ART28_3_CHECKLIST},
    }


def _processor(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "legal_name": name,
        "role": "processor",
        "contract": _contract(),
        "locations": [{"country": "FR", "activity": "storage"}],
        **fields,
    }


PROCESSORS: dict[str, dict[str, Any]] = {
    "ok": _processor("Routeur Conforme SAS"),
    "expired": _processor("Routeur Expiré SAS", contract=_contract(expires="2026-06-01T00:00:00+00:00")),
    "no_security": _processor("Routeur Sans Sécurité SAS", contract=_contract(without=("c_security_art32",))),
    "no_form": _processor("Routeur Sans Écrit SAS", contract=_contract(without=("form",))),
    "no_subject_matter": _processor(
        "Routeur Sans Objet SAS", contract=_contract(without=("subject_matter_and_duration",))
    ),
    "unauthorised_sub": _processor(
        "Routeur Sous-Traité SAS",
        sub_processors=[{"name": "Centre d'appels Inconnu SARL", "country": "FR", "authorisation": "none"}],
    ),
    "party_gap": _processor("Routeur Partie SAS"),
    "adequacy_india": _processor(
        "Routeur Offshore Ltd",
        locations=[{"country": "IN", "activity": "support"}],
        transfer_mechanism="adequacy",
    ),
    "suspended": _processor("Routeur Suspendu SAS", status="suspended"),
    "scc_no_tia": _processor(
        "Routeur Clauses Types Ltd",
        locations=[{"country": "IN", "activity": "support"}],
        transfer_mechanism="scc_2021_914_module_2",
    ),
    "no_mechanism": _processor(
        "Routeur Sans Garantie Ltd",
        locations=[{"country": "IN", "activity": "support"}],
        transfer_mechanism="none",
    ),
}
PARTIES: dict[str, dict[str, Any]] = {
    # The processor's party, whose contract lacks the security clause its role requires (consent reports it).
    "party_gap": {
        "legal_name": "Routeur Partie SAS",
        "roles": ["processor"],
        "processor": "party_gap",
        "contract": {
            "reference": "DPA-PARTIE",
            "signed_at": SIGNED,
            "expires_at": EXPIRES,
            "clauses": [c for c in ALL_CLAUSES if c != "c_security_art32"],
        },
    },
    # A data broker whose consent records were verified this year, under a contract in force.
    "broker_ok": {
        "legal_name": "DataCorp Vérifié SAS",
        "roles": ["data_broker"],
        "broker_last_verified_at": "2026-05-01T00:00:00+00:00",
        "contract": {
            "reference": "BROKER-1",
            "signed_at": SIGNED,
            "expires_at": EXPIRES,
            "clauses": list(ALL_CLAUSES),
        },
    },
}


def source_of(s: Scenario) -> str:
    """The legal source of the scenario's rule, from the gate's rule table row that applies to it."""
    moment = at(s.send_at or ERAS[s.era].send_at).date()
    rows = [r for r in rules.RULES if r.id == s.rule]
    applicable = [r for r in rows if r.applies(Channel(s.channel), moment)] or rows
    return applicable[0].source if applicable else ""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(kafka_bootstrap: str, postgres_admin_url: str) -> AsyncIterator[World]:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    urls = {
        name: await migrated_database(postgres_admin_url, name)
        for name in ("contacts", "consent", "campaign-gate", "audit-log")
    }
    clocks = {"contacts": Clock(), "consent": Clock(), "gate": Clock()}
    gate_service = bootstrap_gate(
        CampaignGateSettings(database_url=urls["campaign-gate"], consumer_group=f"gate-{suffix}", **common),
        clock=clocks["gate"],
    )
    consent_service = bootstrap_consent(
        ConsentSettings(database_url=urls["consent"], consumer_group=f"consent-{suffix}", **common),
        clock=clocks["consent"],
    )
    gate_app, consent_app = create_gate_app(service=gate_service), create_consent_app(service=consent_service)
    audit_app = create_audit_app(
        AuditLogSettings(
            database_url=urls["audit-log"],
            consumer_group=f"audit-{suffix}",
            checkpoint_every_seconds=0.5,
            **common,
        )
    )
    contacts_service = bootstrap_contacts(
        ContactsSettings(
            database_url=urls["contacts"],
            retention_sweep_interval_seconds=0,
            requests_consumer_group=f"contacts-requests-{suffix}",
            requests_watch_interval_seconds=0.2,
            **common,
        ),
        clock=clocks["contacts"],
        peer_transports={
            name: httpx.ASGITransport(app=app)
            for name, app in (("consent", consent_app), ("campaign-gate", gate_app), ("audit-log", audit_app))
        },
    )
    contacts_app = create_contacts_app(service=contacts_service)
    async with (
        running(audit_app) as audit,
        running(consent_app) as consent,
        running(gate_app) as gate,
        running(contacts_app) as contacts,
    ):
        w = World(
            contacts=contacts.client,
            consent=consent.client,
            gate=gate.client,
            audit=audit.client,
            gate_service=gate_service,
            clocks=clocks,
        )
        await build(w)
        yield w


async def build(w: World) -> None:
    """Enters every scenario's facts, waits once for the gate's projection, then runs every campaign."""
    await w.register_purposes_and_notices()
    await w.register_vendors(PROCESSORS, {**PARTIES, **CAMPAIGN_PARTIES})
    for s in SCENARIOS:
        w.outcomes[s.id] = Outcome()
    recipients = [s for s in SCENARIOS if s.scope == "recipient"]
    # Rows that run a retention sweep go first: a sweep examines every contact that exists at that time.
    recipients.sort(key=lambda s: not any(type(step).__name__ == "RetentionSwept" for step in s.steps))
    for s in recipients:
        await w.create_contact(s, w.outcomes[s.id])
        await w.enter_steps(s, w.outcomes[s.id])
    await w.import_lists(recipients)
    await w.wait_for_projection()
    await w.run_campaigns(list(SCENARIOS))


def _explain(s: Scenario, outcome: Outcome) -> str:
    return (
        f"{s.id}: rule {s.rule} ({source_of(s)}) expected {'to fire' if s.fires else 'not to fire'} "
        f"with {s.decision}{f' [issue 13 defect: {s.defect}]' if s.defect else ''}"
    )


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_rule(world: World, s: Scenario) -> None:
    outcome = world.outcomes[s.id]
    why = _explain(s, outcome)
    assert source_of(s), f"{why}: no row of the gate's rule table has the id {s.rule}"
    assert not outcome.setup_errors, f"{why}; the services refused its facts: {outcome.setup_errors}"
    assert outcome.check_error is None, f"{why}; {outcome.check_error}"
    if s.scope == "campaign":
        _assert_campaign(s, outcome, why)
    else:
        await _assert_recipient(world, s, outcome, why)


def _assert_campaign(s: Scenario, outcome: Outcome, why: str) -> None:
    cited = [f for f in outcome.findings if f["rule"] == s.rule]
    summary = [(f["rule"], f["severity"]) for f in outcome.findings]
    if s.fires:
        assert any(f["severity"] == s.decision for f in cited), f"{why}; the review found {summary}"
        if s.message_contains:
            assert any(s.message_contains in f["message"] for f in cited), f"{why}; findings {cited}"
        if s.decision == "block":
            assert outcome.approval != "approved", f"{why}; a block finding must prevent approval"
    else:
        assert not cited, f"{why}; the review found {summary}"


async def _assert_recipient(world: World, s: Scenario, outcome: Outcome, why: str) -> None:
    receipt = outcome.receipt
    assert receipt is not None, f"{why}; no receipt (campaign approval: {outcome.approval})"
    reasons = [(r["rule"], r["message"]) for r in receipt["reasons"]]
    seen = f"decision {receipt['decision']} citing {[r for r, _ in reasons]} (approval: {outcome.approval})"
    assert not receipt["stale"], f"{why}; the check answered from a stale projection"
    assert receipt["decision"] == s.decision, f"{why}; got {seen}; reasons {reasons}"
    cited = [m for r, m in reasons if r == s.rule]
    assert bool(cited) == s.fires, f"{why}; got {seen}"
    if s.message_contains:
        assert any(s.message_contains.lower() in m.lower() for m in cited), f"{why}; messages {cited}"

    # The gate proves the same receipt into its chunk's Merkle root, and the audit log holds that root.
    path = f"/v1/checks/{receipt['check_id']}/receipts/{outcome.contact_id}"
    proven = (await world.gate.get(path, headers=AUDITOR)).json()
    assert proven["decision"] == receipt["decision"], f"{why}; served receipt {proven}"
    assert {r["rule"] for r in proven["reasons"]} == {r for r, _ in reasons}, (
        f"{why}; served receipt {proven}"
    )
    chunk = proven["chunk"]
    verify_inclusion(
        leaf_hash=leaf_hash(base64.b64decode(proven["canonical"])),
        index=proven["index"],
        tree_size=chunk["count"],
        proof=[bytes.fromhex(h) for h in proven["inclusion_proof"]],
        root=bytes.fromhex(chunk["root"]),
    )

    async def _audited() -> Any:
        response = await world.audit.get(
            "/v1/entries", params={"event_id": chunk["event_id"]}, headers=AUDITOR
        )
        return response.json().get("items")

    entries = await eventually(_audited, timeout=30, interval=0.2)
    data = entries[0]["event"]["data"]
    assert (data["check_id"], data["root"]) == (receipt["check_id"], chunk["root"]), (
        f"{why}; audit entry {data}"
    )


def test_every_rule_id_is_covered_both_ways() -> None:
    fires = {s.rule for s in SCENARIOS if s.fires}
    holds = {s.rule for s in SCENARIOS if not s.fires}
    missing = [
        (rule, "fires" if rule not in fires else "holds")
        for rule in rules.RULE_IDS
        if rule not in fires or rule not in holds
    ]
    assert not missing, f"rule ids without a scenario: {missing}"
    assert len(SCENARIOS) >= 80
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS), "scenario ids must be unique"
    unknown = sorted({s.rule for s in SCENARIOS} - set(rules.RULE_IDS))
    assert not unknown, f"scenarios name rule ids the table does not have: {unknown}"
    assert date.fromisoformat(ERAS["bloctel"].send_at[:10]) <= rules.BLOCTEL_REGIME_LAST_DAY


async def test_needs_review_findings_are_approved_only_with_a_structured_sign_off(world: World) -> None:
    """A marketer's flag or a free-text justification never approves by itself (issue 13: marketer flags)."""
    spec = {
        "purpose_id": world.purposes["li"],
        "channel": "email",
        "sender_entity": "Acme SAS",
        "message": {**MESSAGE, "is_promotional_offer": True},
        "product_category": "shoes",
        "commercial": False,
        "send_at": ERAS["now"].send_at,
        "study": STUDY,
    }
    created = await world.post(world.gate, "/v1/campaigns", spec, MARKETER)
    submitted = await world.post(world.gate, f"/v1/campaigns/{created['id']}/submit", {}, MARKETER)
    reviews = {f["rule"]: f for f in submitted["findings"] if f["severity"] == "needs_review"}
    assert {"MSG-05", "ELEC-12"} <= set(reviews), submitted["findings"]
    path = f"/v1/campaigns/{created['id']}/approve"

    free_text = await world.gate.post(path, json={"justification": "ok"}, headers=REVIEWER)
    assert free_text.status_code == 422, free_text.text
    one_missing = [
        {
            "rule": "MSG-05",
            "basis": reviews["MSG-05"]["sign_off"]["bases"][0],
            "explanation": "Les conditions figurent sur la page de l'offre, lien dans le message.",
            "reference": "https://acme.example/conditions",
        }
    ]
    partial = await world.gate.post(path, json={"sign_offs": one_missing}, headers=REVIEWER)
    assert partial.status_code == 422, "every rule with needs-review findings needs its own sign-off"
    wrong_basis = [
        *one_missing,
        {"rule": "ELEC-12", "basis": "because I say so", "explanation": "x" * 60, "reference": "note"},
    ]
    refused = await world.gate.post(path, json={"sign_offs": wrong_basis}, headers=REVIEWER)
    assert refused.status_code == 422, "a basis the rule does not allow is refused"
    by_marketer = await world.gate.post(path, json={"sign_offs": []}, headers=MARKETER)
    assert by_marketer.status_code == 403, "a marketer cannot approve"
    status = await world._approve(created["id"], submitted["findings"])
    assert status == "approved", status


async def test_the_study_and_each_answer_s_sign_off_land_in_the_audit_log(world: World) -> None:
    """Issue 19 (déployer): the per-operation study as answered (campaign_submitted, each answer with its
    digest) and the reviewer's sign-off of each answer, citing that digest (campaign_approved), are entries
    of the audit log under the campaign; a rental's sign-off is a verdict its answer allows."""
    rental = next(s for s in SCENARIOS if s.slug == "file-rented-consent-names-every-partner")
    campaign_id = world.outcomes[rental.id].campaign_id
    assert campaign_id is not None and world.outcomes[rental.id].approval == "approved"
    submitted_type, approved_type = (
        "vigie.campaigns.campaign_submitted.v1",
        "vigie.campaigns.campaign_approved.v1",
    )

    async def _logged() -> dict[str, Any] | None:
        response = await world.audit.get("/v1/entries", params={"subject": campaign_id}, headers=AUDITOR)
        events = {e["event"]["type"]: e["event"]["data"] for e in response.json().get("items") or []}
        return events if {submitted_type, approved_type} <= set(events) else None

    logged = await eventually(_logged, timeout=30, interval=0.2)
    study = logged[submitted_type]["study"]
    assert [p["name"] for p in study["partners"]["answer"]["partners"]] == ["Assur Plus SA", "Voyages Soleil"]
    signed = {s["rule"]: s for s in logged[approved_type]["sign_offs"]}
    assert set(signed) >= {"STUDY-01", "STUDY-02", "STUDY-03", "STUDY-04", "STUDY-05"}
    assert signed["STUDY-04"]["basis"] == "partner_contracts_and_consents_checked"
    assert signed["STUDY-04"]["evidence"] == [f"study:partners:{study['partners']['digest']}"]
    assert logged[approved_type]["reviewer"] == "reviewer-bob"

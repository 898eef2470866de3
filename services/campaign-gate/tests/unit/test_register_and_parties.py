"""Issue 19: a campaign held to its purpose's register entry (REG-*) and every party on every send (PAR-*).

Each rule fires where the register entry or consent's party register says it must, and holds where they
cover the campaign; the campaign's facts are read from the gate's projection rows as consent published
them (the projection's own event parsing is covered at the end).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from campaign_gate.domain import decision, rules
from campaign_gate.domain import model as campaigns
from campaign_gate.domain.facts import (
    CampaignFacts,
    CampaignParty,
    Channel,
    Decision,
    RegisterEntryFacts,
    SendRole,
    TargetingCriterion,
)
from campaign_gate.domain.review import review_campaign
from campaign_gate.domain.rules import Outcome
from campaign_gate.service_layer import commands, handlers
from campaign_gate_examples import PURPOSE, SEND_BLOCTEL, at_for, campaign, recipient
from campaign_gate_fakes import FakeStore, FakeUnitOfWork
from consent.adapters import outgoing as consent_outgoing
from shared.events import EventEnvelope

ENTRY = RegisterEntryFacts(
    version=3,
    channels=frozenset({Channel.EMAIL, Channel.SMS_MMS}),
    data_categories=frozenset({"identity", "economic_financial"}),
    special_categories=False,
    processor_ids=frozenset({"PR-router"}),
    retention_months=36,
)
SIGNED = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2028, 12, 31, tzinfo=UTC)
ROUTER = CampaignParty(
    party_id="PA-router",
    role=SendRole.ROUTER,
    known=True,
    name="Routeur SAS",
    roles=frozenset({"processor"}),
    active=True,
    contract_signed_at=SIGNED,
    contract_expires_at=EXPIRES,
    term_gaps=(),
    purpose_ids=frozenset({PURPOSE}),
)


def registered(**overrides: Any) -> CampaignFacts:
    """The example campaign with a register entry that covers it."""
    return campaign(register=ENTRY, **overrides)


def party(**overrides: Any) -> CampaignParty:
    return dataclasses.replace(ROUTER, **overrides)


def findings(c: CampaignFacts, rule_id: str) -> list[tuple[Outcome, str]]:
    return [(f.outcome, f.message) for f in review_campaign(c, at=at_for(c.send_at)) if f.rule_id == rule_id]


def outcomes(c: CampaignFacts, rule_id: str) -> set[Outcome]:
    return {o for o, _ in findings(c, rule_id)}


# --- REG-01: the channel ---------------------------------------------------------------------------


def test_reg_01_blocks_a_channel_the_entry_does_not_cover() -> None:
    (found,) = findings(registered(channel=Channel.POSTAL_ADDRESSED), "REG-01")
    assert found[0] is Outcome.BLOCK
    assert "postal_addressed" in found[1] and "version 3" in found[1]


def test_reg_01_holds_on_a_covered_channel_and_when_the_entry_names_none() -> None:
    assert not findings(registered(), "REG-01")
    assert not findings(campaign(register=RegisterEntryFacts(version=1), channel=Channel.FAX), "REG-01")
    assert not findings(campaign(channel=Channel.FAX), "REG-01"), "no entry facts: nothing to hold to"


# --- REG-02: data categories -------------------------------------------------------------------------


def test_reg_02_blocks_a_declared_category_the_entry_lacks() -> None:
    c = registered(data_categories=frozenset({"identity", "location"}))
    assert outcomes(c, "REG-02") == {Outcome.BLOCK}
    assert "location" in findings(c, "REG-02")[0][1]


def test_reg_02_asks_review_for_a_category_only_the_targeting_suggests() -> None:
    c = registered(targeting=(TargetingCriterion("situation_familiale", "eq", "marié"),))
    assert outcomes(c, "REG-02") == {Outcome.NEEDS_REVIEW}
    assert "personal_life" in findings(c, "REG-02")[0][1]


def test_reg_02_holds_for_declared_categories_and_targeting_within_the_entry() -> None:
    c = registered(
        data_categories=frozenset({"identity"}),
        targeting=(TargetingCriterion("âge", "gte", "18"), TargetingCriterion("loyalty_card", "eq", "yes")),
    )
    assert not findings(c, "REG-02")


# --- REG-03: special categories -------------------------------------------------------------------------


def test_reg_03_blocks_declared_special_categories_under_an_entry_without_any() -> None:
    assert outcomes(registered(special_categories=frozenset({"health_data"})), "REG-03") == {Outcome.BLOCK}


def test_reg_03_asks_review_when_only_the_targeting_reveals_one() -> None:
    c = registered(targeting=(TargetingCriterion("health_status", "eq", "diabetic"),))
    assert outcomes(c, "REG-03") == {Outcome.NEEDS_REVIEW}


def test_reg_03_holds_when_the_entry_declares_sensitive_data() -> None:
    entry = dataclasses.replace(ENTRY, special_categories=True)
    assert not findings(campaign(register=entry, special_categories=frozenset({"health_data"})), "REG-03")


# --- REG-04: processors and parties -------------------------------------------------------------------


def test_reg_04_blocks_a_processor_the_entry_does_not_list() -> None:
    c = registered(processor_id="PR-other")
    assert outcomes(c, "REG-04") == {Outcome.BLOCK}


def test_reg_04_blocks_a_party_not_linked_to_the_purpose() -> None:
    c = registered(parties=(party(purpose_ids=frozenset({"P-other"})),))
    ((outcome, message),) = findings(c, "REG-04")
    assert outcome is Outcome.BLOCK and "Routeur SAS" in message


def test_reg_04_holds_for_a_listed_processor_and_linked_parties() -> None:
    linked_by_processor = party(party_id="PA-2", purpose_ids=frozenset(), processor_id="PR-router")
    c = registered(processor_id="PR-router", parties=(party(), linked_by_processor))
    assert not findings(c, "REG-04")


# --- REG-05: retention ----------------------------------------------------------------------------------


def test_reg_05_blocks_a_longer_retention_than_the_entry_s() -> None:
    assert outcomes(registered(retention_months=48), "REG-05") == {Outcome.BLOCK}


def test_reg_05_asks_review_when_the_entry_states_no_retention_in_months() -> None:
    c = campaign(register=dataclasses.replace(ENTRY, retention_months=None), retention_months=12)
    assert outcomes(c, "REG-05") == {Outcome.NEEDS_REVIEW}


def test_reg_05_holds_within_the_entry_s_retention() -> None:
    assert not findings(registered(retention_months=36), "REG-05")
    assert not findings(registered(), "REG-05")


# --- REG-06: profiling and DPIA -------------------------------------------------------------------------


def test_reg_06_blocks_large_scale_profiling_without_a_dpia_or_a_declaring_entry() -> None:
    c = registered(uses_profiling=True, large_scale_profiling=True)
    messages = [m for o, m in findings(c, "REG-06") if o is Outcome.BLOCK]
    assert len(messages) == 2, messages


def test_reg_06_blocks_an_entry_that_requires_a_dpia_without_a_reference() -> None:
    c = campaign(register=dataclasses.replace(ENTRY, dpia_required=True))
    assert outcomes(c, "REG-06") == {Outcome.BLOCK}


def test_reg_06_asks_review_for_profiling_the_entry_does_not_declare() -> None:
    assert outcomes(registered(uses_profiling=True), "REG-06") == {Outcome.NEEDS_REVIEW}


def test_reg_06_holds_for_declared_profiling_with_a_dpia() -> None:
    entry = dataclasses.replace(ENTRY, profiling=True, dpia_required=True, dpia_reference="AIPD-2026-01")
    c = campaign(register=entry, uses_profiling=True, large_scale_profiling=True)
    assert not findings(c, "REG-06")


# --- PAR-01..05: every party on every send --------------------------------------------------------------


def test_par_01_blocks_a_party_the_gate_does_not_know() -> None:
    c = campaign(parties=(CampaignParty("PA-ghost", SendRole.CALL_CENTRE),))
    assert outcomes(c, "PAR-01") == {Outcome.BLOCK}
    assert not findings(c, "PAR-02"), "an unknown party is PAR-01's alone"


def test_par_01_holds_for_a_registered_party() -> None:
    assert not findings(campaign(parties=(ROUTER,)), "PAR-01")


@pytest.mark.parametrize(
    "overrides",
    [
        {"contract_signed_at": None},
        {"contract_expires_at": datetime(2026, 3, 1, tzinfo=UTC)},
        {"contract_signed_at": datetime(2026, 6, 1, tzinfo=UTC)},
        {"active": False},
    ],
    ids=["no contract", "expired", "signed after the send", "suspended"],
)
def test_par_02_blocks_a_party_without_a_contract_in_force(overrides: dict[str, Any]) -> None:
    assert outcomes(campaign(parties=(party(**overrides),)), "PAR-02") == {Outcome.BLOCK}


def test_par_02_holds_with_a_contract_in_force() -> None:
    assert not findings(campaign(parties=(ROUTER,)), "PAR-02")


def test_par_03_blocks_a_call_centre_registered_only_as_a_consultant() -> None:
    c = campaign(parties=(party(role=SendRole.CALL_CENTRE, roles=frozenset({"consultant"})),))
    ((outcome, message),) = findings(c, "PAR-03")
    assert outcome is Outcome.BLOCK and "processor" in message


def test_par_03_holds_for_a_data_source_registered_as_a_broker() -> None:
    assert not findings(
        campaign(parties=(party(role=SendRole.DATA_SOURCE, roles=frozenset({"data_broker"})),)), "PAR-03"
    )


def test_par_04_blocks_a_contract_lacking_a_clause_of_its_role() -> None:
    c = campaign(parties=(party(missing_clauses=("processor: c_security_art32",)),))
    ((outcome, message),) = findings(c, "PAR-04")
    assert outcome is Outcome.BLOCK and "c_security_art32" in message


def test_par_04_holds_for_a_complete_contract() -> None:
    assert not findings(campaign(parties=(ROUTER,)), "PAR-04")


def test_par_05_blocks_unsettled_confidentiality_or_security_and_reviews_the_rest() -> None:
    gaps = ("TERM-04 terms.confidentiality.staff_bound", "TERM-06 terms.reversibility.returns_data")
    c = campaign(parties=(party(term_gaps=gaps),))
    found = findings(c, "PAR-05")
    assert {o for o, _ in found} == {Outcome.BLOCK, Outcome.NEEDS_REVIEW}
    assert any("TERM-04" in m for o, m in found if o is Outcome.BLOCK)
    assert any("TERM-06" in m for o, m in found if o is Outcome.NEEDS_REVIEW)


def test_par_05_asks_review_when_consent_never_said_which_terms_are_settled() -> None:
    assert outcomes(campaign(parties=(party(term_gaps=None),)), "PAR-05") == {Outcome.NEEDS_REVIEW}


def test_par_05_holds_when_every_term_is_settled() -> None:
    assert not findings(campaign(parties=(ROUTER,)), "PAR-05")


# --- At check time: a campaign-scope block stops every recipient of an approved campaign -------------


def test_a_party_whose_contract_expired_after_approval_blocks_every_recipient_at_check_time() -> None:
    expired = party(contract_expires_at=datetime(2026, 3, 1, tzinfo=UTC))
    result = decision.decide_recipient(campaign(parties=(expired,)), recipient(), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK
    assert "PAR-02" in [r.rule for r in result.reasons]


def test_a_register_entry_revised_to_drop_the_channel_blocks_at_check_time() -> None:
    entry = dataclasses.replace(ENTRY, channels=frozenset({Channel.POSTAL_ADDRESSED}))
    result = decision.decide_recipient(campaign(register=entry), recipient(), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK
    assert "REG-01" in [r.rule for r in result.reasons]


# --- The campaign's facts, from the spec and the projection rows -------------------------------------


def test_campaign_facts_read_the_entry_and_the_named_parties_as_consent_published_them() -> None:
    spec = {
        "purpose_id": PURPOSE,
        "channel": "email",
        "sender_entity": "Acme SAS",
        "send_at": SEND_BLOCTEL.isoformat(),
        "data_categories": ["identity"],
        "special_categories": ["health_data"],
        "retention_months": 24,
        "parties": [
            {"party_id": "PA-router", "role": "router"},
            {"party_id": "PA-ghost", "role": "data_source"},
        ],
    }
    draft = campaigns.Campaign.draft(spec=spec, by="alice", at=SEND_BLOCTEL)
    entry = {
        "version": 2,
        "channels": ["email"],
        "data_categories": ["identity"],
        "special_categories": False,
        "processor_ids": [],
        "retention_months": 36,
        "profiling": False,
        "dpia_required": False,
        "dpia_reference": None,
    }
    row = {
        "party_id": "PA-router",
        "legal_name": "Routeur SAS",
        "roles": ["processor"],
        "status": "active",
        "contract_signed_at": SIGNED,
        "contract_expires_at": None,
        "missing_clauses": {"processor": ["c_security_art32"]},
        "term_gaps": [{"rule": "TERM-04", "field": "terms.confidentiality.staff_bound"}],
        "purpose_ids": [PURPOSE],
        "processor_id": None,
    }
    facts = campaigns.campaign_facts(
        draft,
        purpose=campaigns.PurposeInfo(PURPOSE, "consent", entry=entry),
        processor=None,
        parties={"PA-router": row},
    )
    assert facts.register == RegisterEntryFacts(
        version=2,
        channels=frozenset({Channel.EMAIL}),
        data_categories=frozenset({"identity"}),
        retention_months=36,
    )
    known, ghost = facts.parties
    assert known.known and known.missing_clauses == ("processor: c_security_art32",)
    assert known.term_gaps == ("TERM-04 terms.confidentiality.staff_bound",)
    assert not ghost.known and ghost.role is SendRole.DATA_SOURCE
    assert facts.special_categories == frozenset({"health_data"}) and facts.retention_months == 24


def test_a_retired_purpose_has_no_entry_to_hold_the_campaign_to() -> None:
    draft = campaigns.Campaign.draft(
        spec={
            "purpose_id": PURPOSE,
            "channel": "email",
            "sender_entity": "A",
            "send_at": SEND_BLOCTEL.isoformat(),
        },
        by="alice",
        at=SEND_BLOCTEL,
    )
    purpose = campaigns.PurposeInfo(
        PURPOSE, "consent", retired=True, entry={"version": 1, "channels": ["fax"]}
    )
    assert campaigns.campaign_facts(draft, purpose=purpose, processor=None).register is None


def _published(aggregate: Any) -> EventEnvelope:
    """Returns the consent aggregate's last event as consent publishes it (its own mapping, its bytes)."""
    _topic, envelope = consent_outgoing.to_envelope(aggregate.events[-1], actor="admin", correlation_id=None)
    return EventEnvelope.decode(envelope.encode())


async def test_the_gate_projects_consent_s_own_entry_facts_and_a_party_s_purposes_and_term_gaps() -> None:
    """Built from consent's domain and outgoing mapping (the producer's output), not a copy of its payload."""
    from consent.domain import parties as consent_parties
    from consent.domain.model import LawfulBasis, Party, Purpose

    at = datetime(2026, 1, 5, tzinfo=UTC)
    purpose = Purpose.register(
        at=at,
        name="Newsletter",
        controller=Party(name="Acme SAS", contact="privacy@acme.example"),
        description="Offres par e-mail",
        lawful_basis=LawfulBasis.CONSENT,
        channels=["email"],
        retention_months=36,
        profiling=True,
        dpia_reference="AIPD-1",
    )
    router = consent_parties.Party.register(
        legal_name="Routeur SAS", roles=["processor"], at=at, purpose_ids=[purpose.purpose_id]
    )
    contract = consent_parties.Contract.sign(
        party=router, version=1, reference="DPA-1", signed_at=at, at=at, clauses=consent_parties.ALL_CLAUSES
    )
    store = FakeStore()
    for offset, envelope in enumerate((_published(purpose), _published(router), _published(contract))):
        event = commands.ProjectEvent(envelope, "consent.events", 0, offset)
        assert await handlers.project_event(event, FakeUnitOfWork(store))
    projected = store.state.purposes[purpose.purpose_id]["entry"]
    assert projected["channels"] == ["email"] and projected["retention_months"] == 36
    party_row = store.state.parties[router.party_id]
    assert party_row["purpose_ids"] == [purpose.purpose_id]
    # No structured terms on the contract: consent reports staff confidentiality, security, reversibility.
    assert {g["rule"] for g in party_row["term_gaps"]} == {"TERM-04", "TERM-05", "TERM-06"}

    draft = campaigns.Campaign.draft(
        spec={
            "purpose_id": purpose.purpose_id,
            "channel": "sms_mms",
            "sender_entity": "Acme SAS",
            "send_at": "2026-03-10T09:30:00+00:00",
            "parties": [{"party_id": router.party_id, "role": "router"}],
        },
        by="alice",
        at=at,
    )
    row = store.state.purposes[purpose.purpose_id]
    facts = campaigns.campaign_facts(
        draft,
        purpose=campaigns.PurposeInfo(purpose.purpose_id, row["lawful_basis"], entry=row["entry"]),
        processor=None,
        parties={router.party_id: party_row},
    )
    found = {(f.rule_id, f.outcome) for f in review_campaign(facts, at=at)}
    assert {("REG-01", Outcome.BLOCK), ("PAR-05", Outcome.BLOCK)} <= found
    assert ("PAR-02", Outcome.BLOCK) not in found and ("REG-06", Outcome.BLOCK) not in found


def test_every_new_rule_has_a_source_citing_the_law() -> None:
    new = [r for r in rules.RULES if r.id.startswith(("REG-", "PAR-"))]
    assert {r.id for r in new} == {f"REG-0{i}" for i in range(1, 7)} | {f"PAR-0{i}" for i in range(1, 6)}
    assert all("GDPR" in r.source for r in new)

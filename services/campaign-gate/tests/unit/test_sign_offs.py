"""Marketer declarations that lift a rule become needs-review findings, and a reviewer approves only
with a structured sign-off per rule (issue 13, defect 1); the sender named in the message (defect 6);
the campaign's professional target (defect 5); every campaign fact settable from the API (defect 8)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from campaign_gate.domain import model as campaigns
from campaign_gate.domain import review, rules
from campaign_gate.domain.errors import ApprovalRefusedError
from campaign_gate.domain.facts import CallScript, CampaignFacts, Channel, MessageFacts, TargetingCriterion
from campaign_gate.domain.model import Campaign, PurposeInfo, campaign_facts
from campaign_gate.domain.review import SignOff, declaration_findings, review_campaign, sign_off_problems
from campaign_gate.domain.rules import Finding, Outcome
from campaign_gate.entrypoints import schemas
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign, message

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SHOES = TargetingCriterion("purchased_category", "in", "shoes")
WHY = "Explained at length for the record, with the facts that support it."


def found(c: CampaignFacts) -> list[tuple[str, Outcome]]:
    return [(f.rule_id, f.outcome) for f in review_campaign(c, at=at_for(SEND_BLOCTEL))]


# --- Declarations that lift a rule -------------------------------------------------------------------


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS_MMS])
def test_a_campaign_declared_non_commercial_needs_review_under_elec_12(channel: Channel) -> None:
    assert ("ELEC-12", Outcome.NEEDS_REVIEW) in found(campaign(channel, commercial=False))


def test_a_commercial_campaign_raises_no_elec_12_review() -> None:
    assert "ELEC-12" not in [r for r, _ in found(campaign())]


def test_no_profiling_declared_on_a_targeted_campaign_needs_review_under_uni_10() -> None:
    assert ("UNI-10", Outcome.NEEDS_REVIEW) in found(campaign(targeting=(SHOES,)))
    assert "UNI-10" not in [r for r, _ in found(campaign(targeting=(SHOES,), uses_profiling=True))]
    assert "UNI-10" not in [r for r, _ in found(campaign())]


def test_no_profiling_declared_with_large_scale_profiling_is_a_contradiction_to_review() -> None:
    declared = declaration_findings(campaign(large_scale_profiling=True))
    [finding] = [f for f in declared if f.rule_id == "UNI-10"]
    assert "large_scale_profiling" in finding.message


def test_a_declared_dpia_reference_no_longer_lifts_the_dpia_check() -> None:
    c = campaign(uses_profiling=True, large_scale_profiling=True, dpia_reference="DPIA-2026-14")
    [finding] = [f for f in review_campaign(c, at=at_for(SEND_BLOCTEL)) if f.rule_id == "DISC-12"]
    assert finding.outcome is Outcome.NEEDS_REVIEW and finding.evidence == ("dpia:DPIA-2026-14",)


def test_an_offer_declared_open_to_all_asks_the_reviewer_to_confirm_it() -> None:
    c = campaign(targeting=(TargetingCriterion("âge", "gte", "60"),), uses_profiling=True)
    [finding] = [f for f in review_campaign(c, at=at_for(SEND_BLOCTEL)) if f.rule_id == "DISC-04"]
    assert "declared generally available" in finding.message


# --- Structured sign-offs -------------------------------------------------------------------------------

REVIEW = (Finding("DISC-12", Outcome.NEEDS_REVIEW, "x"), Finding("MSG-05", Outcome.NEEDS_REVIEW, "y"))
DPIA = SignOff("DISC-12", "dpia_carried_out_covers_campaign", WHY, "DPIA-2026-14")
PROMO = SignOff("MSG-05", "conditions_stated_in_message", WHY)


@pytest.mark.parametrize(
    ("sign_offs", "problem_rules", "words"),
    [
        ((DPIA, PROMO), [], ""),
        ((DPIA,), ["MSG-05"], "missing"),
        ((dataclasses.replace(DPIA, basis="we accept the risk"), PROMO), ["DISC-12"], "not a ground"),
        ((dataclasses.replace(DPIA, explanation="ok"), PROMO), ["DISC-12"], "at least 40"),
        ((dataclasses.replace(DPIA, explanation=" " * 60), PROMO), ["DISC-12"], "at least 40"),
        ((dataclasses.replace(DPIA, reference=None), PROMO), ["DISC-12"], "reference required"),
        ((dataclasses.replace(DPIA, reference="  "), PROMO), ["DISC-12"], "reference required"),
        (
            (DPIA, PROMO, SignOff("DISC-07", "art22_2_c_explicit_consent", WHY, "r")),
            ["DISC-07"],
            "no needs-review",
        ),
        ((DPIA, PROMO, PROMO), ["MSG-05"], "more than one"),
    ],
)
def test_each_needs_review_rule_needs_a_valid_structured_sign_off(
    sign_offs: tuple[SignOff, ...], problem_rules: list[str], words: str
) -> None:
    problems = sign_off_problems(REVIEW, sign_offs)
    assert [p.rule for p in problems] == problem_rules
    assert all(words in p.message for p in problems)


def test_free_text_alone_never_approves_a_needs_review_finding() -> None:
    c = Campaign.draft(
        spec={"purpose_id": "p", "channel": "email", "sender_entity": "Acme", "send_at": "x"},
        by="alice",
        at=AT,
    )
    c.submit(findings=REVIEW, by="alice", at=AT)
    with pytest.raises(ApprovalRefusedError) as refused:
        c.approve(reviewer="bob", sign_offs=(), at=AT)
    fields = [e["field"] for e in refused.value.problem_extra["errors"]]
    assert fields == ["sign_offs[DISC-12]", "sign_offs[MSG-05]"]
    c.approve(reviewer="bob", sign_offs=(DPIA, PROMO), at=AT)
    assert [s["rule"] for s in c.review["sign_offs"]] == ["DISC-12", "MSG-05"]


def test_every_campaign_rule_that_can_ask_for_review_has_its_own_grounds() -> None:
    campaign_ids = {r.id for r in rules.RULES if r.scope is rules.Scope.CAMPAIGN}
    reviewing = campaign_ids - {
        "ELEC-13",
        "TEL-06",
        "TEL-07",
        "MSG-01",
        "MSG-04",
        "DISC-01",
        "DISC-02",
        "PROC-01",
        "PROC-02",
        "PROC-04",
        "RENT-02",
        # Issue 19: these only block (REG-01, REG-04, PAR-01..04).
        "REG-01",
        "REG-04",
        "PAR-01",
        "PAR-02",
        "PAR-03",
        "PAR-04",
        # Issue 19, rights: only blocks.
        "RIGHTS-02",
    }
    assert reviewing - set(review.SIGN_OFF_GROUNDS) == set()
    assert all(g.bases and len(set(g.bases)) == len(g.bases) for g in review.SIGN_OFF_GROUNDS.values())


# --- Defect 6: the sender entity named in the message -----------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("Acme SAS", None),
        ("Acme S.A.S. — 1 rue de la Paix, Paris", None),
        ("ACME", None),
        ("Chaussures Dupont", ("MSG-02", Outcome.NEEDS_REVIEW)),
        ("Beta Distribution SA", ("MSG-02", Outcome.NEEDS_REVIEW)),
        ("", ("MSG-02", Outcome.BLOCK)),
    ],
)
def test_the_message_must_name_the_sending_entity(shown: str, expected: tuple[str, Outcome] | None) -> None:
    c = campaign(message=message(sender_identification=shown))  # sender_entity "Acme SAS"
    msg_02 = [x for x in found(c) if x[0] == "MSG-02"]
    assert msg_02 == ([expected] if expected else [])


# --- Defect 5 and 8: campaign facts from the API ----------------------------------------------------------

#: Facts the gate derives rather than reads from the campaign body.
DERIVED = {"campaign_id", "purpose_lawful_basis", "approved", "purpose_registered", "processor", "register"}

FULL = schemas.CampaignFields(
    purpose_id="P-2",
    channel=Channel.SMS_MMS,
    sender_entity="Beta SAS",
    processor_id="PR-1",
    message=schemas.Message(
        **{
            name: (True if f.type in ("bool", "bool | None") else "x")
            for name, f in MessageFacts.__dataclass_fields__.items()
        }
    ),
    call_script=schemas.CallScript(**dict.fromkeys(CallScript.__dataclass_fields__, True)),
    targeting=[schemas.Criterion(attribute="age", operator="gte", value="18")],
    offer_eligibility=[schemas.Criterion(attribute="loyalty_card", operator="eq", value="yes")],
    offer_generally_available=False,
    audience="b2b",
    commercial=False,
    product_category="bags",
    professional_target=["  Pharmacien ", "Directeur Achats"],
    analogous_categories=["a"],
    analogy_unclear_categories=["b"],
    complementary_categories=["c"],
    send_at=SEND_BLOCTEL,
    caller_number_masked=True,
    refuses_product_outside_target=True,
    differential_b2b_terms=True,
    uses_profiling=True,
    large_scale_profiling=True,
    combines_datasets=True,
    automated_significant_decision=True,
    contest_route="https://acme.example/contest (contacts' contestation requests)",
    manipulative_design=True,
    art9_explicit_consent_only=True,
    dpia_reference="DPIA-1",
    data_categories=["identity", "economic_financial"],
    special_categories=["health_data"],
    retention_months=24,
    parties=[schemas.NamedParty(party_id="PA-1", role="router")],
    study=schemas.Study(
        target=schemas.StudyTarget(population="Clients", criteria=["age"], criteria_reason="Majeurs"),
        message=schemas.StudyMessage(summary="Offre", claims_substantiated=True),
        offer=schemas.StudyOffer(
            conditions="-10 %",
            reserved_to_target=True,
            refuses_product_outside_target=True,
            refusal_reason="regulated_product",
        ),
        partners=schemas.StudyPartners(
            transfers=True,
            mode="transferred",
            partners=[schemas.Partner(name="Assur SA", category="insurance")],
            partner_informs_art14=True,
        ),
        tracking=schemas.StudyTracking(opening_pixels=True, per_recipient=True),
    ),
)
MINIMAL = schemas.CampaignFields(
    purpose_id="P-1",
    channel=Channel.EMAIL,
    sender_entity="Acme SAS",
    send_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def facts_of(body: schemas.CampaignFields) -> CampaignFacts:
    draft = Campaign.draft(spec=body.model_dump(mode="json"), by="alice", at=AT)
    return campaign_facts(draft, purpose=PurposeInfo("P", "consent"), processor=None)


def test_every_campaign_fact_the_rules_read_is_set_from_the_campaign_api() -> None:
    full, minimal = facts_of(FULL), facts_of(MINIMAL)
    unset = [
        f.name
        for f in dataclasses.fields(CampaignFacts)
        if f.name not in DERIVED and getattr(full, f.name) == getattr(minimal, f.name)
    ]
    assert unset == []
    for part in ("message", "call_script", "study"):
        same = [
            f.name
            for f in dataclasses.fields(getattr(full, part))
            if getattr(getattr(full, part), f.name) == getattr(getattr(minimal, part), f.name)
        ]
        assert same == [], part


def test_the_professional_target_is_normalised_like_a_contacts_profession() -> None:
    assert facts_of(FULL).professional_target == frozenset({"pharmacien", "directeur achats"})
    assert facts_of(MINIMAL).professional_target == frozenset()


def test_the_approval_body_refuses_a_plain_justification() -> None:
    with pytest.raises(ValueError, match="justification"):
        schemas.ApprovalDecision.model_validate({"justification": "Looks fine to me."})


def test_stored_findings_keep_their_evidence_for_the_sign_off() -> None:
    stored = campaigns.StoredFinding.of(Finding("DISC-12", Outcome.NEEDS_REVIEW, "m", ("dpia:x",)))
    assert campaigns.StoredFinding.from_dict(stored.as_dict()) == stored

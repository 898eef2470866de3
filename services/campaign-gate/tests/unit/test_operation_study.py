"""The per-operation study as a record (issue 19, the source article's *déployer* stage): each question
answered in a structured form and signed off by a reviewer in the approval (STUDY-01..05), and the rules
it feeds: file rental or transfer to partners (RENT-01/02), e-mail tracking (TRACK-01/02), refusal of
sale (SALE-01)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from campaign_gate.domain import events, review, rules
from campaign_gate.domain.decision import decide_recipient
from campaign_gate.domain.errors import ApprovalRefusedError, FourEyesError
from campaign_gate.domain.facts import Channel, Decision, RefusalReason, StudyQuestion, TransferMode
from campaign_gate.domain.model import Campaign, PurposeInfo, campaign_facts, study_digest
from campaign_gate.domain.review import SignOff, review_campaign
from campaign_gate.domain.rules import Outcome, PartnerCoverage, partner_coverage
from campaign_gate.entrypoints import schemas
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign, consent, recipient, renting, study
from pydantic import ValidationError

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WHY = "Examined against the study's answer, with the documents that support it on file."

STUDY: dict[str, Any] = {
    "target": {
        "population": "Clients ayant acheté des chaussures en 2026",
        "criteria": ["purchased_category"],
        "criteria_reason": "Produits analogues à ceux achetés: critère objectif et accessible à tous.",
    },
    "message": {"summary": "Nouvelle collection, -10 % sur les bottes", "claims_substantiated": True},
    "offer": {"conditions": "-10 % jusqu'au 31/03 sur les bottes", "reserved_to_target": False},
    "partners": {"transfers": False},
    "tracking": {"opening_pixels": False},
}


def spec(**study_overrides: Any) -> dict[str, Any]:
    body = schemas.CampaignFields(
        purpose_id="P-1",
        channel=Channel.EMAIL,
        sender_entity="Acme SAS",
        send_at=SEND_BLOCTEL,
        message=schemas.Message(
            subject="Nos nouvelles chaussures",
            body="Découvrez la collection.",
            unsubscribe_mechanism="https://acme.example/stop",
            unsubscribe_free=True,
            right_to_object_statement=True,
            sender_identification="Acme SAS",
            subject_related_to_offer=True,
        ),
        study=schemas.Study.model_validate({**STUDY, **study_overrides}),
    )
    return body.model_dump(mode="json")


def facts(body: dict[str, Any]) -> Any:
    draft = Campaign.draft(spec=body, by="alice", at=AT)
    return campaign_facts(draft, purpose=PurposeInfo("P-1", "consent"), processor=None)


# --- The record ---------------------------------------------------------------------------------------


def test_each_answered_question_is_kept_with_the_digest_of_its_answer() -> None:
    study_facts = facts(spec()).study
    assert [q for q, _ in study_facts.answers] == list(StudyQuestion)
    assert dict(study_facts.answers)[StudyQuestion.TARGET] == study_digest(spec()["study"]["target"])
    changed = facts(spec(message={"summary": "Autre message", "claims_substantiated": True})).study
    assert dict(changed.answers)[StudyQuestion.MESSAGE] != dict(study_facts.answers)[StudyQuestion.MESSAGE]
    assert dict(changed.answers)[StudyQuestion.TARGET] == dict(study_facts.answers)[StudyQuestion.TARGET]


def test_an_unanswered_question_blocks_the_review_and_a_missing_study_blocks_every_question() -> None:
    found = review_campaign(facts(spec(tracking=None)), at=at_for(SEND_BLOCTEL))
    by_rule = {(f.rule_id, f.outcome) for f in found}
    assert ("STUDY-05", Outcome.BLOCK) in by_rule and ("STUDY-01", Outcome.NEEDS_REVIEW) in by_rule
    bare = facts({k: v for k, v in spec().items() if k != "study"})
    blocks = {f.rule_id for f in review_campaign(bare, at=at_for(SEND_BLOCTEL)) if f.outcome is Outcome.BLOCK}
    assert set(rules.STUDY_RULES.values()) <= blocks


def test_the_tracking_question_is_asked_of_e_mail_and_sms_campaigns_only() -> None:
    phone = review_campaign(campaign(Channel.PHONE_HUMAN, study=study(answers=())), at=at_for(SEND_BLOCTEL))
    assert {f.rule_id for f in phone if f.rule_id.startswith("STUDY-")} == {
        "STUDY-01",
        "STUDY-02",
        "STUDY-03",
        "STUDY-04",
    }


def _submitted(body: dict[str, Any]) -> Campaign:
    c = Campaign.draft(spec=body, by="alice", at=AT)
    c.submit(findings=review_campaign(facts(body), at=at_for(SEND_BLOCTEL)), by="alice", at=AT)
    return c


def test_approval_needs_a_sign_off_per_answered_question_and_records_it_with_the_answer() -> None:
    c = _submitted(spec())
    submitted = c.events[-1]
    assert isinstance(submitted, events.CampaignSubmitted) and submitted.study is not None
    assert submitted.study["offer"]["answer"]["reserved_to_target"] is False
    with pytest.raises(ApprovalRefusedError) as refused:
        c.approve(reviewer="bob", sign_offs=(), at=AT)
    named = {e["field"] for e in refused.value.problem_extra["errors"]}
    assert named == {f"sign_offs[{rule_id}]" for rule_id in rules.STUDY_RULES.values()}
    sign_offs = [
        SignOff("STUDY-01", "criteria_objective_and_relevant_to_the_offer", WHY),
        SignOff("STUDY-02", "message_accurate_and_claims_substantiated", WHY),
        SignOff("STUDY-03", "offer_open_to_all_on_same_terms", WHY),
        SignOff("STUDY-04", "no_transfer_to_partners", WHY),
        SignOff("STUDY-05", "no_tracking", WHY),
    ]
    with pytest.raises(FourEyesError):
        c.approve(reviewer="alice", sign_offs=sign_offs, at=AT)
    c.approve(reviewer="bob", sign_offs=sign_offs, at=AT)
    assert c.review is not None and c.review["reviewer"] == "bob"
    target = next(s for s in c.review["sign_offs"] if s["rule"] == "STUDY-01")
    assert target["evidence"] == [f"study:target:{submitted.study['target']['digest']}"]
    approved = c.events[-1]
    assert isinstance(approved, events.CampaignApproved) and len(approved.sign_offs) == 5


def test_a_changed_answer_sends_the_campaign_back_to_draft_and_needs_a_new_sign_off() -> None:
    c = _submitted(spec())
    c.change(changes={"study": spec(tracking={"opening_pixels": True})["study"]}, by="alice", at=AT)
    assert c.status.value == "draft" and c.findings == () and c.review is None


# --- Bad input is refused, naming the field -------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"partners": {"transfers": True}}, "partners"),
        ({"partners": {"transfers": False, "mode": "transferred"}}, "mode"),
        ({"tracking": {"opening_pixels": False, "per_recipient": True}}, "per_recipient"),
        (
            {
                "offer": {
                    "conditions": "x",
                    "reserved_to_target": False,
                    "refuses_product_outside_target": True,
                }
            },
            "refuses_product_outside_target",
        ),
        (
            {"offer": {"conditions": "x", "reserved_to_target": True, "refusal_reason": "abnormal_request"}},
            "refusal_reason",
        ),
        ({"target": {"population": " ", "criteria_reason": "x"}}, "population"),
        ({"tracking": {"opening_pixels": True, "pixel_count": 3}}, "pixel_count"),
    ],
)
def test_an_inconsistent_answer_is_refused_naming_its_field(answer: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        schemas.Study.model_validate({**STUDY, **answer})
    assert field in str(refused.value)


# --- RENT-01/02: file rental or transfer to partners ----------------------------------------------------


def test_partners_are_covered_by_name_by_category_or_not_at_all() -> None:
    partners = (("Assur Plus SA", "insurance"), ("Voyages Soleil", "travel"))
    assert partner_coverage({" assur plus  SA", "voyages soleil"}, (), partners) is PartnerCoverage.NAMED
    assert partner_coverage({"Assur Plus SA"}, {"Travel"}, partners) is PartnerCoverage.CATEGORIES
    assert partner_coverage({"Assur Plus SA"}, {"banking"}, partners) is PartnerCoverage.NONE
    assert partner_coverage((), (), ()) is PartnerCoverage.NAMED


def _rules_of(decided: Any) -> list[str]:
    return [r.rule for r in decided.reasons]


def test_a_rental_is_allowed_to_a_recipient_whose_consent_names_every_partner() -> None:
    named = recipient(
        consents=(consent(Channel.EMAIL, partners=frozenset({"Assur Plus SA", "Voyages Soleil"})),)
    )
    decided = decide_recipient(campaign(study=renting()), named, at=at_for(SEND_BLOCTEL))
    assert decided.decision is Decision.ALLOW and "RENT-01" not in _rules_of(decided)


def test_a_rental_needs_a_usable_consent_a_withdrawn_one_naming_the_partners_does_not_count() -> None:
    withdrawn = consent(
        Channel.EMAIL, partners=frozenset({"Assur Plus SA", "Voyages Soleil"}), withdrawn_at=AT
    )
    decided = decide_recipient(
        campaign(study=renting()), recipient(consents=(withdrawn,)), at=at_for(SEND_BLOCTEL)
    )
    assert decided.decision is Decision.BLOCK and "RENT-01" in _rules_of(decided)


def test_a_campaign_without_rental_asks_nothing_of_the_consent() -> None:
    decided = decide_recipient(campaign(), recipient(), at=at_for(SEND_BLOCTEL))
    assert decided.decision is Decision.ALLOW and "RENT-01" not in _rules_of(decided)


def test_a_transfer_needs_the_partner_to_inform_the_recipients_a_routed_rental_does_not() -> None:
    def rent_02(**answers: Any) -> list[tuple[str, Outcome]]:
        found = review_campaign(campaign(study=renting(**answers)), at=at_for(SEND_BLOCTEL))
        return [(f.rule_id, f.outcome) for f in found if f.rule_id == "RENT-02"]

    assert rent_02(transfer_mode=TransferMode.TRANSFERRED) == [("RENT-02", Outcome.BLOCK)]
    assert rent_02(transfer_mode=TransferMode.TRANSFERRED, partner_informs_art14=True) == []
    assert rent_02() == []


# --- TRACK-01/02: e-mail tracking -----------------------------------------------------------------------


TRACKED = study(tracking=True, per_recipient_tracking=True)


def test_per_recipient_tracking_is_allowed_only_with_the_recipient_s_consent_to_it() -> None:
    tracked = recipient(consents=(consent(Channel.EMAIL, email_tracking=True),))
    assert (
        decide_recipient(campaign(study=TRACKED), tracked, at=at_for(SEND_BLOCTEL)).decision is Decision.ALLOW
    )
    refused = decide_recipient(campaign(study=TRACKED), recipient(), at=at_for(SEND_BLOCTEL))
    assert refused.decision is Decision.BLOCK and _rules_of(refused) == ["TRACK-01"]
    assert "without the tracking" in refused.reasons[0].message


def test_aggregate_tracking_asks_review_and_no_tracking_asks_nothing() -> None:
    def track_02(s: Any) -> list[str]:
        return [
            f.rule_id
            for f in review_campaign(campaign(study=s), at=at_for(SEND_BLOCTEL))
            if f.rule_id == "TRACK-02"
        ]

    assert track_02(study(tracking=True)) == ["TRACK-02"]
    assert track_02(TRACKED) == [] and track_02(study()) == []


# --- SALE-01: refusal of sale from the study ------------------------------------------------------------


def test_only_the_promotion_reserved_to_the_target_is_no_refusal_of_sale() -> None:
    reserved = spec(offer={"conditions": "-20 % clients fidèles", "reserved_to_target": True})
    assert "SALE-01" not in {f.rule_id for f in review_campaign(facts(reserved), at=at_for(SEND_BLOCTEL))}


def test_a_refusal_with_a_reason_asks_review_citing_it() -> None:
    c = campaign(
        study=study(refuses_product_outside_target=True, refusal_reason=RefusalReason.PRODUCT_UNAVAILABLE)
    )
    [finding] = [f for f in review_campaign(c, at=at_for(SEND_BLOCTEL)) if f.rule_id == "SALE-01"]
    assert finding.outcome is Outcome.NEEDS_REVIEW and finding.evidence == (
        "refusal_reason:product_unavailable",
    )


# --- The verdict must fit the answer it signs ------------------------------------------------------------


def test_a_verdict_the_answer_contradicts_is_not_offered_and_is_refused() -> None:
    rental = {
        "transfers": True,
        "mode": "routed_by_us",
        "partners": [{"name": "Assur SA", "category": "insurance"}],
    }
    body = spec(partners=rental, tracking={"opening_pixels": True, "per_recipient": True})
    assert review.grounds_for("STUDY-04", facts(body).study).bases == (
        "partner_contracts_and_consents_checked",
    )
    assert review.grounds_for("STUDY-05", facts(body).study).bases == (
        "tracking_consent_checked_per_recipient",
    )
    assert "no_transfer_to_partners" in review.grounds_for("STUDY-04").bases
    c = _submitted(body)
    sign_offs = [
        SignOff("STUDY-01", "criteria_objective_and_relevant_to_the_offer", WHY),
        SignOff("STUDY-02", "message_accurate_and_claims_substantiated", WHY),
        SignOff("STUDY-03", "offer_open_to_all_on_same_terms", WHY),
        SignOff("STUDY-04", "no_transfer_to_partners", WHY),
        SignOff("STUDY-05", "no_tracking", WHY),
    ]
    with pytest.raises(ApprovalRefusedError) as refused:
        c.approve(reviewer="bob", sign_offs=sign_offs, at=AT)
    named = {e["field"] for e in refused.value.problem_extra["errors"]}
    assert named == {"sign_offs[STUDY-04]", "sign_offs[STUDY-05]"}
    fitting = [
        *sign_offs[:3],
        SignOff("STUDY-04", "partner_contracts_and_consents_checked", WHY),
        SignOff("STUDY-05", "tracking_consent_checked_per_recipient", WHY),
    ]
    c.approve(reviewer="bob", sign_offs=fitting, at=AT)
    assert c.status.value == "approved"


# --- A criterion on a protected characteristic is justified by a ground, not by free text ----------------


def test_a_criterion_s_justification_documents_an_exception_only_as_a_ground_with_an_explanation() -> None:
    age = {"attribute": "age", "operator": "gte", "value": "18"}
    structured = {
        "ground": "regulatory_restriction",
        "explanation": "Vente d'alcool interdite aux mineurs (L3342-1 CSP).",
    }

    def disc(justification: Any) -> set[tuple[str, Outcome]]:
        body = {**spec(), "offer_eligibility": [{**age, "justification": justification}]}
        found = review_campaign(facts(body), at=at_for(SEND_BLOCTEL))
        return {(f.rule_id, f.outcome) for f in found if f.rule_id.startswith("DISC-0")}

    assert ("DISC-03", Outcome.NEEDS_REVIEW) in disc(structured)
    # Free text (as stored before issue 19), an unknown ground or a too short explanation document nothing.
    for weak in (
        "Vente d'alcool interdite aux mineurs",
        {**structured, "ground": "because"},
        {**structured, "explanation": "alcool"},
    ):
        assert ("DISC-01", Outcome.BLOCK) in disc(weak), weak
    with pytest.raises(ValidationError, match="justification"):
        schemas.Criterion.model_validate({**age, "justification": "Vente d'alcool interdite aux mineurs"})
    assert schemas.Criterion.model_validate({**age, "justification": structured}).justification is not None


def test_the_api_offers_exactly_the_grounds_the_disc_reviews_accept() -> None:
    assert set(typing.get_args(schemas.CriterionGround)) == set(review.CRITERION_GROUNDS)

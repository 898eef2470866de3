"""Campaign review: discrimination, Art. 9 data, processors, and who may approve."""

from __future__ import annotations

import pytest
from campaign_gate.domain import criteria
from campaign_gate.domain.facts import TargetingCriterion
from campaign_gate.domain.review import SignOff, can_approve, review_campaign
from campaign_gate.domain.rules import Finding, Outcome
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign


def findings_of(**overrides: object) -> list[tuple[str, Outcome]]:
    """The review's findings but the study's sign-off requests, which every campaign has (issue 19)."""
    found = review_campaign(campaign(**overrides), at=at_for(SEND_BLOCTEL))
    return [(f.rule_id, f.outcome) for f in found if not f.rule_id.startswith("STUDY-")]


@pytest.mark.parametrize(
    ("label", "overrides", "expected"),
    [
        (
            "targeting on religion",
            {"targeting": (TargetingCriterion("religion", "eq", "muslim"),)},
            ("DISC-06", Outcome.BLOCK),
        ),
        (
            "religion inferred from halal purchases",
            {"targeting": (TargetingCriterion("purchased_category", "in", ("halal", "snacks")),)},
            ("DISC-06", Outcome.BLOCK),
        ),
        (
            "surname-origin guess excluding a group",
            {"targeting": (TargetingCriterion("surname_origin_guess", "ne", "maghreb", "fraud risk"),)},
            ("DISC-05", Outcome.BLOCK),
        ),
        (
            "surname-origin guess selecting a group",
            {"targeting": (TargetingCriterion("surname_origin_guess", "eq", "portuguese"),)},
            ("DISC-06", Outcome.BLOCK),
        ),
        (
            "surname-origin guess in offer eligibility",
            {"offer_eligibility": (TargetingCriterion("name_origin_guess", "eq", "french"),)},
            ("DISC-02", Outcome.BLOCK),
        ),
        (
            "purchases of health products",
            {"targeting": (TargetingCriterion("purchased_category", "in", "parapharmacy"),)},
            ("DISC-06", Outcome.BLOCK),
        ),
        (
            "postcodes excluded from a generally available offer",
            {"targeting": (TargetingCriterion("postcode", "not_in", ("93200", "93300")),)},
            ("DISC-05", Outcome.BLOCK),
        ),
        (
            "postcodes excluded from a restricted offer, no documented reason",
            {
                "targeting": (TargetingCriterion("postcode", "not_in", ("93200",)),),
                "offer_generally_available": False,
            },
            ("DISC-01", Outcome.BLOCK),
        ),
        (
            "postcodes excluded from a local offer with a documented delivery area",
            {
                "targeting": (TargetingCriterion("postcode", "not_in", ("93200",), "delivery area"),),
                "offer_generally_available": False,
            },
            ("DISC-03", Outcome.NEEDS_REVIEW),
        ),
        (
            "preferred language in eligibility",
            {"offer_eligibility": (TargetingCriterion("preferred_language", "ne", "fr", "translation"),)},
            ("DISC-02", Outcome.BLOCK),
        ),
        (
            "Art. 9 segment restricted to explicit consent holders",
            {
                "targeting": (TargetingCriterion("health_status", "eq", "diabetic"),),
                "art9_explicit_consent_only": True,
            },
            ("DISC-06", Outcome.NEEDS_REVIEW),
        ),
    ],
)
def test_discrimination_and_special_category_cases_are_flagged_with_their_disc_id(
    label: str, overrides: dict[str, object], expected: tuple[str, Outcome]
) -> None:
    assert expected in findings_of(**overrides)


def test_art9_targeting_also_triggers_the_dpia_check() -> None:
    found = findings_of(targeting=(TargetingCriterion("religion", "eq", "jewish"),))
    assert ("DISC-12", Outcome.NEEDS_REVIEW) in found
    assert ("DISC-04", Outcome.NEEDS_REVIEW) not in found


def test_an_age_tariff_cites_loi_2008_496_and_not_225_3() -> None:
    c = campaign(offer_eligibility=(TargetingCriterion("age", "lt", "26", "youth tariff"),))
    [finding] = [f for f in review_campaign(c, at=at_for(SEND_BLOCTEL)) if f.rule_id == "DISC-03"]
    assert finding.outcome is Outcome.NEEDS_REVIEW
    assert "loi 2008-496" in finding.message and "225-3" not in finding.message


def test_a_sex_based_offer_with_a_justification_outside_225_3_needs_review() -> None:
    c = campaign(offer_eligibility=(TargetingCriterion("sex", "eq", "female", "marketing preference"),))
    [finding] = [f for f in review_campaign(c, at=at_for(SEND_BLOCTEL)) if f.rule_id == "DISC-03"]
    assert finding.outcome is Outcome.NEEDS_REVIEW and "225-3 4°" in finding.message


def test_an_unjustified_age_condition_on_the_offer_blocks() -> None:
    assert ("DISC-01", Outcome.BLOCK) in findings_of(
        offer_eligibility=(TargetingCriterion("age", "gte", "65"),)
    )


def test_neutral_targeting_of_a_declared_profiling_campaign_raises_nothing() -> None:
    shoes = TargetingCriterion("purchased_category", "in", "shoes")
    assert findings_of(targeting=(shoes,), uses_profiling=True) == []


def test_the_225_1_list_keeps_24_criteria_with_the_whistleblower() -> None:
    keys = [c.key for c in criteria.CODE_PENAL_225_1]
    assert len(keys) == len(set(keys)) == 24
    assert "lanceur_alerte" in keys
    assert set(criteria.OVERLAP_225_1_TO_ART9) <= set(keys)
    assert set(criteria.OVERLAP_225_1_TO_ART9.values()) <= set(criteria.GDPR_ART9_CATEGORIES)
    assert all(keys <= set(keys) for keys in criteria.PROXY_FIELDS.values())


B = Finding("X", Outcome.BLOCK, "b")
R = Finding("MSG-05", Outcome.NEEDS_REVIEW, "r")
OK = Finding("Z", Outcome.ALLOW_BASIS, "ok")
SIGNED = SignOff(
    "MSG-05", "conditions_linked_from_message", "The conditions page is linked under the offer banner."
)


@pytest.mark.parametrize(
    ("findings", "sign_offs", "expected"),
    [
        ((), (), True),
        ((OK,), (), True),
        ((R,), (), False),
        ((R, OK), (SIGNED,), True),
        ((B,), (), False),
        ((B, R), (SIGNED,), False),
    ],
)
def test_approval_needs_no_block_and_a_sign_off_for_reviews(
    findings: tuple[Finding, ...], sign_offs: tuple[SignOff, ...], expected: bool
) -> None:
    assert can_approve(findings, sign_offs) is expected


RESTRICTED = {"offer_generally_available": False}


@pytest.mark.parametrize(
    ("label", "criterion", "expected"),
    [
        ("women only", TargetingCriterion("sexe", "eq", "F"), ("DISC-01", Outcome.BLOCK)),
        ("seniors only", TargetingCriterion("âge", "gte", "65"), ("DISC-01", Outcome.BLOCK)),
        (
            "married only",
            TargetingCriterion("situation_familiale", "eq", "marié"),
            ("DISC-01", Outcome.BLOCK),
        ),
        ("by nationality", TargetingCriterion("nationalité", "eq", "FR", "x"), ("DISC-02", Outcome.BLOCK)),
        (
            "youth tariff, documented",
            TargetingCriterion("age", "lt", "26", "youth tariff"),
            ("DISC-03", Outcome.NEEDS_REVIEW),
        ),
    ],
)
def test_a_restricted_offer_targeted_on_a_protected_criterion_is_judged_as_eligibility(
    label: str, criterion: TargetingCriterion, expected: tuple[str, Outcome]
) -> None:
    found = findings_of(targeting=(criterion,), **RESTRICTED)
    assert expected in found
    # The audience choice of a restricted offer is not "audience selection only" (DISC-04).
    assert "DISC-04" not in [rule for rule, _ in found]


def test_the_same_audience_for_an_offer_declared_open_to_all_asks_for_review_only() -> None:
    found = findings_of(targeting=(TargetingCriterion("sexe", "eq", "F"),))
    assert ("DISC-04", Outcome.NEEDS_REVIEW) in found and "DISC-01" not in [r for r, _ in found]


def test_neutral_targeting_of_a_restricted_offer_raises_nothing() -> None:
    shoes = TargetingCriterion("purchased_category", "in", "shoes")
    assert findings_of(targeting=(shoes,), uses_profiling=True, **RESTRICTED) == []

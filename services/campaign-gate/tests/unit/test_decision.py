"""Decisions of the gate: precedence, defaults, overrides, the phone regime switch and the receipts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from campaign_gate.domain import rules
from campaign_gate.domain.decision import (
    CAMPAIGN_NOT_APPROVED,
    GATE_STALE,
    NO_LAWFUL_BASIS,
    RecipientDecision,
    decide_recipient,
    decide_recipients,
)
from campaign_gate.domain.facts import (
    Audience,
    Channel,
    ContactKind,
    Decision,
    LawfulBasis,
    Objection,
    Relationship,
    SuppressionHit,
    SuppressionKind,
)
from campaign_gate_examples import (
    SEND_BLOCTEL,
    SEND_OPT_IN,
    at_for,
    born,
    bought,
    campaign,
    consent,
    recipient,
    without_consent,
)

P = Channel.PHONE_HUMAN


def rule_ids(result: RecipientDecision) -> list[str]:
    return [r.rule for r in result.reasons]


def test_a_compliant_recipient_is_allowed_with_its_basis_and_evidence() -> None:
    result = decide_recipient(campaign(), recipient(), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.ALLOW
    assert rule_ids(result) == ["ELEC-01", "ELEC-02"]
    assert result.evidence == ("consent:c-email",)
    assert result.ruleset_version == rules.RULESET_VERSION == "2026-12-07"


def test_block_wins_over_review_and_over_any_basis() -> None:
    r = without_consent(
        purchases=bought("bags"),
        objections=(Objection("o-1", SEND_BLOCTEL - timedelta(days=3)),),
    )
    c = campaign(analogy_unclear_categories=frozenset({"bags"}))
    result = decide_recipient(c, r, at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK
    assert rule_ids(result) == ["UNI-01"]
    assert result.evidence == ("objection:o-1",)


def test_review_wins_over_allow_and_cites_the_basis_too() -> None:
    r = without_consent(purchases=bought("bags"))
    result = decide_recipient(
        campaign(analogy_unclear_categories=frozenset({"bags"})), r, at=at_for(SEND_BLOCTEL)
    )
    assert result.decision is Decision.NEEDS_REVIEW
    assert rule_ids(result) == ["ELEC-05", "ELEC-02"]


def test_without_any_lawful_basis_the_default_is_block() -> None:
    # No rule of the rule book establishes a basis for faxing a named professional without consent.
    r = without_consent(kind=ContactKind.PROFESSIONAL_NAMED, relationship=Relationship.PROSPECT)
    c = campaign(Channel.FAX, purpose_lawful_basis=LawfulBasis.LEGITIMATE_INTEREST, audience=Audience.B2B)
    result = decide_recipient(c, r, at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK
    assert rule_ids(result) == [NO_LAWFUL_BASIS]


def test_no_lawful_basis_beats_a_request_for_review() -> None:
    r = without_consent(
        kind=ContactKind.PROFESSIONAL_NAMED, relationship=Relationship.PROSPECT, **born(date(2010, 1, 1))
    )
    c = campaign(
        Channel.FAX,
        purpose_lawful_basis=LawfulBasis.LEGITIMATE_INTEREST,
        audience=Audience.B2B,
        uses_profiling=True,
    )
    assert rule_ids(decide_recipient(c, r, at=at_for(SEND_BLOCTEL))) == [NO_LAWFUL_BASIS]


def test_a_campaign_that_is_not_approved_blocks_every_recipient() -> None:
    results = list(
        decide_recipients(
            campaign(approved=False), [recipient(), recipient(contact_id="r-2")], at=at_for(SEND_BLOCTEL)
        )
    )
    assert [(r.contact_id, r.decision, rule_ids(r)) for r in results] == [
        ("r-1", Decision.BLOCK, [CAMPAIGN_NOT_APPROVED]),
        ("r-2", Decision.BLOCK, [CAMPAIGN_NOT_APPROVED]),
    ]


def test_a_stale_projection_fails_closed() -> None:
    result = decide_recipient(campaign(), recipient(), at=at_for(SEND_BLOCTEL), stale=True)
    assert (result.decision, rule_ids(result)) == (Decision.BLOCK, [GATE_STALE])


def test_stale_wins_over_not_approved() -> None:
    result = decide_recipient(campaign(approved=False), recipient(), at=at_for(SEND_BLOCTEL), stale=True)
    assert rule_ids(result) == [GATE_STALE]


# 10/08/2026 and 11/08/2026 are a Monday and a Tuesday; 10:30 in Paris is 08:30 UTC in summer.
LAST_BLOCTEL_DAY = datetime(2026, 8, 10, 8, 30, tzinfo=UTC)
FIRST_OPT_IN_DAY = datetime(2026, 8, 11, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("send_at", "decision", "rule"),
    [(LAST_BLOCTEL_DAY, Decision.ALLOW, "TEL-10"), (FIRST_OPT_IN_DAY, Decision.BLOCK, "TEL26-01")],
)
def test_the_phone_regime_switches_on_11_august_2026(
    send_at: datetime, decision: Decision, rule: str
) -> None:
    r = without_consent(bloctel_checked_on=date(2026, 8, 1))
    result = decide_recipient(campaign(P, send_at=send_at), r, at=at_for(send_at))
    assert result.decision is decision
    assert rule_ids(result)[0] == rule


def test_bloctel_rules_stop_applying_from_11_august_2026() -> None:
    r = recipient(
        bloctel_checked_on=None,
        suppression_hits=(SuppressionHit("bloctel", SuppressionKind.BLOCTEL, "b-1", SEND_BLOCTEL, P),),
    )
    before = decide_recipient(campaign(P, send_at=LAST_BLOCTEL_DAY), r, at=at_for(LAST_BLOCTEL_DAY))
    after = decide_recipient(campaign(P, send_at=FIRST_OPT_IN_DAY), r, at=at_for(FIRST_OPT_IN_DAY))
    assert rule_ids(before) == ["TEL-01", "TEL-02"]
    assert (after.decision, rule_ids(after)) == (Decision.ALLOW, ["TEL26-02"])


def test_hours_and_frequency_rules_survive_the_switch_even_with_consent() -> None:
    saturday = datetime(2026, 9, 19, 8, 30, tzinfo=UTC)
    result = decide_recipient(campaign(P, send_at=saturday), recipient(), at=at_for(saturday))
    assert rule_ids(result) == ["TEL-03"]


def test_a_late_check_applies_the_law_of_the_moment_it_runs() -> None:
    result = decide_recipient(campaign(P, send_at=LAST_BLOCTEL_DAY), without_consent(), at=FIRST_OPT_IN_DAY)
    assert rule_ids(result) == ["TEL26-01"]


def test_soft_opt_in_needs_a_sale_collection_at_sale_and_an_offered_objection() -> None:
    c = campaign()
    at = at_for(SEND_BLOCTEL)
    assert decide_recipient(c, without_consent(), at=at).decision is Decision.ALLOW
    assert rule_ids(decide_recipient(c, without_consent(collected_at_sale=False), at=at)) == ["ELEC-06"]
    assert rule_ids(decide_recipient(c, without_consent(objection_offered_at_collection=False), at=at)) == [
        "ELEC-06"
    ]
    contract = without_consent(relationship=Relationship.CONTRACT_IN_PROGRESS)
    assert decide_recipient(c, contract, at=at).decision is Decision.ALLOW


def test_soft_opt_in_does_not_cover_a_consent_purpose() -> None:
    result = decide_recipient(
        campaign(purpose_lawful_basis=LawfulBasis.CONSENT), without_consent(), at=at_for(SEND_BLOCTEL)
    )
    assert rule_ids(result) == ["UNI-04"]


def test_soft_opt_in_with_a_withdrawn_consent_still_blocks() -> None:
    r = recipient(consents=(consent(Channel.EMAIL, withdrawn_at=SEND_BLOCTEL - timedelta(days=1)),))
    assert rule_ids(decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL))) == ["UNI-03"]


def test_a_professional_with_consent_may_receive_an_unrelated_message() -> None:
    r = recipient(kind=ContactKind.PROFESSIONAL_NAMED, profession="chef de production")
    result = decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL))
    assert (result.decision, rule_ids(result)) == (Decision.ALLOW, ["ELEC-01"])


def test_a_professional_is_not_subject_to_bloctel_or_call_hours() -> None:
    r = without_consent(
        kind=ContactKind.PROFESSIONAL_NAMED,
        bloctel_checked_on=None,
        suppression_hits=(SuppressionHit("bloctel", SuppressionKind.BLOCTEL, "b", SEND_BLOCTEL, P),),
    )
    saturday = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    result = decide_recipient(campaign(P, send_at=saturday), r, at=at_for(saturday))
    assert (result.decision, rule_ids(result)) == (Decision.ALLOW, ["TEL-11"])


def test_an_email_open_does_not_reset_the_prospect_retention_clock() -> None:
    collected = datetime(2022, 3, 1, tzinfo=UTC)
    # Contacts publishes the last contact from the person; an open never moves it (its own tests).
    r = recipient(relationship=Relationship.PROSPECT, obtained_at=collected, last_contact_from_person_at=None)
    result = decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL))
    assert rule_ids(result) == ["UNI-08", "RET-01"]


def test_a_click_resets_the_prospect_retention_clock() -> None:
    r = recipient(
        relationship=Relationship.PROSPECT,
        obtained_at=datetime(2022, 3, 1, tzinfo=UTC),
        last_contact_from_person_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    assert decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL)).decision is Decision.ALLOW


def test_prospect_retention_ends_three_years_after_collection() -> None:
    collected = datetime(2023, 3, 10, 9, 0, tzinfo=UTC)
    r = recipient(relationship=Relationship.PROSPECT, obtained_at=collected, last_contact_from_person_at=None)
    just_before = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    just_after = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert decide_recipient(campaign(send_at=just_before), r, at=just_before).decision is Decision.ALLOW
    assert "RET-01" in rule_ids(decide_recipient(campaign(send_at=just_after), r, at=just_after))


def test_customer_retention_counts_from_the_end_of_the_relationship() -> None:
    r = without_consent(
        obtained_at=datetime(2019, 1, 1, tzinfo=UTC),
        relationship_end_at=datetime(2024, 1, 1, tzinfo=UTC),
        last_contact_from_person_at=None,
    )
    assert decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL)).decision is Decision.ALLOW


@pytest.mark.parametrize(
    ("birth", "by_minor", "by_parent", "decision"),
    [
        (date(2011, 6, 1), True, False, Decision.BLOCK),  # 14 at consent, minor alone.
        (date(2011, 6, 1), False, True, Decision.BLOCK),  # 14 at consent, parent alone.
        (date(2011, 6, 1), True, True, Decision.ALLOW),  # Joint consent.
        (date(2010, 6, 1), True, False, Decision.ALLOW),  # 15 years and 0 days at consent.
        (date(2010, 6, 2), True, False, Decision.BLOCK),  # One day short of 15.
    ],
)
def test_minors_under_15_need_joint_consent_counted_at_the_consent_date(
    birth: date, by_minor: bool, by_parent: bool, decision: Decision
) -> None:
    granted = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    r = recipient(
        relationship=Relationship.PROSPECT,
        **born(birth),
        consents=(
            consent(Channel.EMAIL, granted_at=granted, given_by_minor=by_minor, given_by_parent=by_parent),
        ),
    )
    result = decide_recipient(campaign(), r, at=at_for(SEND_BLOCTEL))
    assert result.decision is decision
    if decision is Decision.BLOCK:
        assert rule_ids(result) == ["UNI-09"]


def test_a_profiling_campaign_asks_review_for_a_16_year_old_but_not_an_adult() -> None:
    c = campaign(uses_profiling=True)
    minor = recipient(**born(date(2009, 9, 1)))
    adult = recipient(**born(date(2008, 3, 1)))
    assert rule_ids(decide_recipient(c, minor, at=at_for(SEND_BLOCTEL)))[0] == "UNI-10"
    assert decide_recipient(c, adult, at=at_for(SEND_BLOCTEL)).decision is Decision.ALLOW


def test_receipts_reference_the_suppression_import_and_the_notice_delivery() -> None:
    hit = SuppressionHit("repoussoir", SuppressionKind.OPPOSITION, "imp-9", datetime(2026, 2, 2, tzinfo=UTC))
    blocked = decide_recipient(campaign(), recipient(suppression_hits=(hit,)), at=at_for(SEND_BLOCTEL))
    assert blocked.evidence == ("suppression:repoussoir:imp-9@2026-02-02",)


def test_a_campaign_level_review_finding_does_not_hold_recipients_of_an_approved_campaign() -> None:
    c = campaign(uses_profiling=True, large_scale_profiling=True)  # DISC-12 asks review at campaign level.
    assert decide_recipient(c, recipient(), at=at_for(SEND_OPT_IN)).decision is Decision.ALLOW

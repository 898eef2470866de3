"""Campaign review (sections E, F and I of the rule book), the marketer's declarations, the approval guard.

The automated review turns every marketer-declared fact that lifts a rule into a needs-review finding.
A reviewer approves only by signing off each rule with needs-review findings with a structured
justification: a basis taken from the grounds the law allows for that rule, an explanation, and (for
the rules whose grounds rest on a document) a reference to it. Free text alone never suffices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaign_gate.domain import rules
from campaign_gate.domain.facts import CampaignFacts, StudyFacts
from campaign_gate.domain.rules import Finding, Outcome, Scope

#: The shortest explanation a sign-off may give: a sentence that says why, not "ok".
MIN_EXPLANATION = 40


@dataclass(frozen=True, slots=True)
class Grounds:
    """The bases a reviewer may sign a rule's needs-review findings off on, and whether a document is due."""

    bases: tuple[str, ...]
    reference_required: bool = False


# One entry per rule that can ask for review at campaign level; each basis is a ground the rule book
# (or the text it cites) accepts. A rule missing here falls back to DEFAULT_GROUNDS, which needs a document.
SIGN_OFF_GROUNDS: dict[str, Grounds] = {
    # Declarations (declaration_findings below).
    "ELEC-12": Grounds(
        (
            "non_profit_appeal_no_goods_or_services",
            "public_service_information",
            "no_promotion_of_seller_image",
        ),
    ),
    "UNI-10": Grounds(
        (
            "no_evaluation_of_personal_aspects",
            "audience_excludes_minors",
            "minors_reviewed_no_profiling_effect",
        ),
    ),
    # E. Message content.
    "MSG-02": Grounds(("registered_trade_name_of_sender", "sender_named_elsewhere_in_message"), True),
    "MSG-03": Grounds(("subject_describes_the_offer",)),
    "MSG-04": Grounds(("follow_up_to_people_already_told_their_right_to_object",)),
    "MSG-05": Grounds(("conditions_stated_in_message", "conditions_linked_from_message")),
    "MSG-06": Grounds(("wording_not_restrictive", "restriction_signed_off_under_disc")),
    "POST-05": Grounds(("objection_reminder_in_mailing", "objection_reminder_in_enclosed_notice")),
    # F. Targeting, offer conditions, profiling.
    "DISC-03": Grounds(
        (
            "loi_2008_496_legitimate_aim_necessary_means",
            "c_pen_225_3_4_victim_protection",
            "c_pen_225_3_4_privacy_and_decency",
            "c_pen_225_3_4_gender_equality",
            "c_pen_225_3_4_freedom_of_association",
            "c_pen_225_3_4_sport",
            "c_pen_225_3_6_residence_manifest_danger",
        ),
        True,
    ),
    "DISC-04": Grounds(
        ("offer_open_to_all_on_same_terms_stated_in_message", "audience_relevance_no_exclusion")
    ),
    "DISC-05": Grounds(
        ("delivery_or_service_area", "regulatory_restriction", "objective_business_reason"), True
    ),
    "DISC-06": Grounds(("explicit_consent_held_for_every_recipient",), True),
    "DISC-07": Grounds(
        (
            "art22_2_a_necessary_for_contract",
            "art22_2_b_authorised_by_law",
            "art22_2_c_explicit_consent",
            "not_solely_automated_human_review",
        ),
        True,
    ),
    "DISC-08": Grounds(("offer_not_harmful_documented", "safeguards_for_vulnerable_persons"), True),
    "DISC-09": Grounds(("criterion_objective_and_accessible", "restricted_access_legitimate_reason")),
    "DISC-10": Grounds(
        ("l121_11_unavailability", "l121_11_abnormal_request", "only_the_promotion_is_restricted"),
    ),
    "DISC-11": Grounds(("consideration_documented_no_significant_imbalance",), True),
    "DISC-12": Grounds(("dpia_carried_out_covers_campaign", "dpia_screening_not_high_risk"), True),
    # I. Processors and lawful basis.
    "PROC-03": Grounds(("transfer_impact_assessment_done", "art49_occasional_derogation_documented"), True),
    "PROC-05": Grounds(("calls_only_within_contract_in_progress", "consent_held_for_every_recipient")),
    # J. Issue 19: the per-operation study, one sign-off per answered question (the verdict is the basis);
    # then the rules it feeds. RENT-02 and an unanswered question only block.
    "STUDY-01": Grounds(
        ("criteria_objective_and_relevant_to_the_offer", "protected_criterion_signed_off_under_disc")
    ),
    "STUDY-02": Grounds(("message_accurate_and_claims_substantiated",)),
    "STUDY-03": Grounds(
        ("offer_open_to_all_on_same_terms", "only_the_promotion_is_reserved", "refusal_signed_off_under_sale")
    ),
    "STUDY-04": Grounds(("no_transfer_to_partners", "partner_contracts_and_consents_checked")),
    "STUDY-05": Grounds(
        ("no_tracking", "tracking_consent_checked_per_recipient", "aggregate_measurement_only_checked")
    ),
    "TRACK-02": Grounds(("tool_and_provider_keep_no_per_recipient_data",), True),
    "SALE-01": Grounds(
        (
            "l121_11_unavailability",
            "l121_11_abnormal_request",
            "regulated_product_restriction",
            "other_legitimate_reason_documented",
        ),
        True,
    ),
    # Issue 19: the register entry (REG-*) and the parties (PAR-*); their blocks cannot be signed off.
    "REG-02": Grounds(("attribute_of_a_declared_category", "attribute_holds_no_personal_data")),
    "REG-03": Grounds(("attribute_reveals_no_special_category", "entry_revision_filed_before_sending"), True),
    "REG-05": Grounds(("retention_stated_in_entry_wording", "entry_revision_filed_before_sending"), True),
    "REG-06": Grounds(
        ("segmentation_evaluates_no_personal_aspect", "entry_revision_filed_before_sending"), True
    ),
    "PAR-05": Grounds(
        (
            "settled_in_a_separate_signed_instrument",
            "party_builds_or_holds_nothing_concerned",
            "amendment_signed_before_sending",
        ),
        True,
    ),
}
DEFAULT_GROUNDS = Grounds(("legal_opinion", "dpo_assessment"), True)
#: The grounds a targeting or eligibility criterion on a protected characteristic may be documented on
#: (issue 19: a structured justification, not free text): those the DISC-03 and DISC-05 reviews accept.
CRITERION_GROUNDS: tuple[str, ...] = tuple(
    dict.fromkeys(SIGN_OFF_GROUNDS["DISC-03"].bases + SIGN_OFF_GROUNDS["DISC-05"].bases)
)


#: The study's verdicts that hold only for some answers (issue 19): a reviewer cannot sign "no transfer to
#: partners" off on a study that declares a rental, nor "no tracking" on one that declares pixels.
STUDY_VERDICTS: dict[tuple[str, str], Callable[[StudyFacts], bool]] = {
    ("STUDY-03", "offer_open_to_all_on_same_terms"): lambda s: not s.refuses_product_outside_target,
    ("STUDY-03", "only_the_promotion_is_reserved"): lambda s: not s.refuses_product_outside_target,
    ("STUDY-03", "refusal_signed_off_under_sale"): lambda s: s.refuses_product_outside_target,
    ("STUDY-04", "no_transfer_to_partners"): lambda s: not s.transfers_to_partners,
    ("STUDY-04", "partner_contracts_and_consents_checked"): lambda s: s.transfers_to_partners,
    ("STUDY-05", "no_tracking"): lambda s: not s.tracking,
    ("STUDY-05", "tracking_consent_checked_per_recipient"): lambda s: s.per_recipient_tracking,
    ("STUDY-05", "aggregate_measurement_only_checked"): lambda s: s.tracking and not s.per_recipient_tracking,
}


def _any_answer(study: StudyFacts) -> bool:
    """A verdict that holds whatever the study answered."""
    return True


def grounds_for(rule_id: str, study: StudyFacts | None = None) -> Grounds:
    """Returns the bases a reviewer may sign a rule's needs-review findings off on; with the campaign's
    `study`, only the verdicts its answers allow."""
    grounds = SIGN_OFF_GROUNDS.get(rule_id, DEFAULT_GROUNDS)
    if study is None:
        return grounds
    bases = tuple(b for b in grounds.bases if STUDY_VERDICTS.get((rule_id, b), _any_answer)(study))
    return Grounds(bases, grounds.reference_required)


@dataclass(frozen=True, slots=True)
class SignOff:
    """A reviewer's structured justification for every needs-review finding of one rule."""

    rule: str
    basis: str
    explanation: str
    reference: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Returns the JSON form."""
        return {
            "rule": self.rule,
            "basis": self.basis,
            "explanation": self.explanation,
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignOff:
        """Parses the JSON form."""
        return cls(str(data["rule"]), str(data["basis"]), str(data["explanation"]), data.get("reference"))


@dataclass(frozen=True, slots=True)
class SignOffProblem:
    """Why the sign-offs given do not settle the needs-review findings: the rule and what is wrong."""

    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """Returns the problem-document form (the field names the sign-off)."""
        return {"field": f"sign_offs[{self.rule}]", "message": self.message}


def needs_sign_off(findings: Iterable[Finding]) -> tuple[str, ...]:
    """Returns the rule ids with needs-review findings, in finding order."""
    return tuple(dict.fromkeys(f.rule_id for f in findings if f.outcome is Outcome.NEEDS_REVIEW))


def sign_off_problems(
    findings: Iterable[Finding], sign_offs: Iterable[SignOff], study: StudyFacts | None = None
) -> tuple[SignOffProblem, ...]:
    """Returns what is missing or invalid in the sign-offs of a campaign's needs-review findings (with its
    `study`, a verdict its answers contradict is invalid)."""
    needed = needs_sign_off(findings)
    problems: list[SignOffProblem] = []
    given: dict[str, SignOff] = {}
    for s in sign_offs:
        if s.rule in given:
            problems.append(SignOffProblem(s.rule, "more than one sign-off for this rule"))
        given[s.rule] = s
    for rule_id in needed:
        grounds = grounds_for(rule_id, study)
        sign_off = given.get(rule_id)
        if sign_off is None:
            problems.append(
                SignOffProblem(rule_id, f"missing: sign off on one of {', '.join(grounds.bases)}")
            )
            continue
        if sign_off.basis not in grounds.bases:
            problems.append(
                SignOffProblem(
                    rule_id,
                    f"basis '{sign_off.basis}' is not a ground for {rule_id}; "
                    f"use one of {', '.join(grounds.bases)}",
                )
            )
        if len(sign_off.explanation.strip()) < MIN_EXPLANATION:
            problems.append(
                SignOffProblem(rule_id, f"explanation must say why, in at least {MIN_EXPLANATION} characters")
            )
        if grounds.reference_required and not (sign_off.reference or "").strip():
            problems.append(
                SignOffProblem(rule_id, "reference required: name the document that supports the basis")
            )
    for rule_id in given:
        if rule_id not in needed:
            problems.append(SignOffProblem(rule_id, "no needs-review finding of this rule to sign off"))
    return tuple(problems)


def can_approve(findings: Iterable[Finding], sign_offs: Iterable[SignOff] = ()) -> bool:
    """Says whether a reviewer may approve a campaign with these findings and sign-offs.

    A block finding prevents approval; every rule with needs-review findings needs a valid sign-off.
    """
    findings = tuple(findings)
    if any(f.outcome is Outcome.BLOCK for f in findings):
        return False
    return not sign_off_problems(findings, sign_offs)


def declaration_findings(campaign: CampaignFacts) -> tuple[Finding, ...]:
    """Returns a needs-review finding for each marketer declaration that lifts a rule for this campaign.

    `offer_generally_available` (DISC-04) and `dpia_reference` (DISC-12) are reviewed by their rules.
    """
    out: list[Finding] = []
    c = campaign
    if not c.commercial and c.channel in rules.SOFT_OPT_IN_CHANNELS:
        out.append(
            Finding(
                "ELEC-12",
                Outcome.NEEDS_REVIEW,
                "Campaign declared non-commercial: consumers are then contacted without consent or soft "
                "opt-in (L34-5 CPCE lifted). Confirm the message promotes no goods, services or image "
                "of a seller.",
                ("declared:commercial=false",),
            )
        )
    selects = [t.attribute for t in c.targeting]
    profiling_flags = [
        name
        for name, on in (
            ("large_scale_profiling", c.large_scale_profiling),
            ("combines_datasets", c.combines_datasets),
            ("automated_significant_decision", c.automated_significant_decision),
        )
        if on
    ]
    if not c.uses_profiling and (selects or profiling_flags):
        why = (
            f"declares {', '.join(profiling_flags)}"
            if profiling_flags
            else f"selects recipients on {', '.join(repr(a) for a in selects)}"
        )
        out.append(
            Finding(
                "UNI-10",
                Outcome.NEEDS_REVIEW,
                f"Campaign declared without profiling but {why}: if the segment evaluates personal "
                "aspects (Art. 4(4) GDPR), minors need review (UNI-10, recitals 38 and 71) and a DPIA "
                "check (DISC-12).",
                ("declared:uses_profiling=false",),
            )
        )
    return tuple(out)


def review_campaign(campaign: CampaignFacts, *, at: datetime) -> tuple[Finding, ...]:
    """Returns the automated findings of the campaign review: the rule table's, then the declarations'."""
    ctx = rules.make_context(campaign, at=at)
    rows = rules.applicable_rules(campaign.channel, ctx.moment_date, scope=Scope.CAMPAIGN)
    return tuple(f for row in rows for f in row.evaluate(ctx, None)) + declaration_findings(campaign)

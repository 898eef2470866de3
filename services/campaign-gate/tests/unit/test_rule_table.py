"""Table-driven cases: at least one per rule id of the table, each asserting the decision and the id."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from campaign_gate.domain import rules
from campaign_gate.domain.decision import decide_recipient
from campaign_gate.domain.facts import (
    Audience,
    BrokerVerification,
    CampaignFacts,
    CampaignParty,
    Channel,
    ContactKind,
    ContractFact,
    Decision,
    LawfulBasis,
    Objection,
    PhoneCollection,
    ProcessorFacts,
    RecipientFacts,
    RefusalReason,
    RegisterEntryFacts,
    Relationship,
    SendRole,
    StudyFacts,
    SuppressionHit,
    SuppressionKind,
    TargetingCriterion,
    TransferMode,
    VendorGap,
)
from campaign_gate.domain.review import review_campaign
from campaign_gate.domain.rules import Outcome
from campaign_gate_examples import (
    OBTAINED,
    SELLER,
    SEND_BLOCTEL,
    SEND_OPT_IN,
    at_for,
    born,
    bought,
    campaign,
    consent,
    message,
    recipient,
    renting,
    script,
    study,
    without_consent,
)

E, S, A, F = Channel.EMAIL, Channel.SMS_MMS, Channel.AUTOMATED_CALL, Channel.FAX
P, M, U = Channel.PHONE_HUMAN, Channel.POSTAL_ADDRESSED, Channel.POSTAL_UNADDRESSED
BLOCK, REVIEW, ALLOW = Decision.BLOCK, Decision.NEEDS_REVIEW, Decision.ALLOW
T = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    rule: str
    decision: Decision
    recipient: RecipientFacts
    channel: Channel = E
    send_at: datetime = SEND_BLOCTEL
    campaign: dict[str, object] = field(default_factory=dict)
    label: str = ""

    def build(self) -> CampaignFacts:
        return campaign(self.channel, send_at=self.send_at, **self.campaign)


def prospect(**overrides: object) -> RecipientFacts:
    return recipient(relationship=Relationship.PROSPECT, collected_at_sale=False, **overrides)


def broker_data(**overrides: object) -> RecipientFacts:
    fields: dict[str, object] = {
        "collected_from_person": False,
        "source": "broker",
        "broker_name": "DataCo",
        "broker_verification": BrokerVerification.VERIFIED,
        "art14_notice_delivered_at": OBTAINED + timedelta(days=2),
        "art14_delivery_id": "d-1",
        "collected_at_sale": False,
        "relationship": Relationship.PROSPECT,
    }
    fields.update(overrides)
    return recipient(**fields)


def pro(**overrides: object) -> RecipientFacts:
    fields: dict[str, object] = {
        "kind": ContactKind.PROFESSIONAL_NAMED,
        "relationship": Relationship.PROSPECT,
        "profession": "acheteur",
    }
    fields.update(overrides)
    return without_consent(**fields)


def calls(*days_ago: int) -> tuple[datetime, ...]:
    return tuple(SEND_BLOCTEL - timedelta(days=d) for d in days_ago)


ART9 = (TargetingCriterion("religion", "eq", "catholic"),)

RECIPIENT_CASES: list[Case] = [
    Case("NO_CHANNEL_ADDRESS", BLOCK, recipient(channel_addresses=frozenset({P})), label="no e-mail address"),
    # A. Universal rules.
    Case("UNI-01", BLOCK, recipient(objections=(Objection("o-1", T),)), label="global objection"),
    Case("UNI-01", BLOCK, recipient(objections=(Objection("o-2", T, S),)), channel=S, label="SMS objection"),
    # Section R (rights): the scope of an objection, and the restriction of processing (Art. 18).
    Case(
        "UNI-01",
        BLOCK,
        recipient(objections=(Objection("o-p", T, purpose_id="P-prospection"),)),
        channel=S,
        label="objection to the campaign's purpose, on any channel",
    ),
    Case(
        "ELEC-01",
        ALLOW,
        recipient(objections=(Objection("o-q", T, purpose_id="P-newsletter"),)),
        label="objection to another purpose spares this one",
    ),
    Case("RIGHTS-01", BLOCK, recipient(restricted=True, restriction_request_id="req-1"), label="restricted"),
    Case(
        "ELEC-01", ALLOW, recipient(objections=(Objection("o-3", T, S),)), label="SMS objection spares e-mail"
    ),
    Case(
        "UNI-02",
        BLOCK,
        recipient(suppression_hits=(SuppressionHit("repoussoir", SuppressionKind.OPPOSITION, "imp-7", T),)),
        label="re-imported opponent",
    ),
    Case("UNI-03", BLOCK, recipient(consents=(consent(E, withdrawn_at=T),)), label="withdrawn consent"),
    Case(
        "UNI-04", BLOCK, prospect(consents=(consent(E, proof_present=False),)), label="consent without proof"
    ),
    Case(
        "UNI-04",
        BLOCK,
        prospect(consents=(consent(P, proof_present=False),)),
        channel=P,
        send_at=SEND_OPT_IN,
        label="burden of proof of the phone opt-in",
    ),
    Case(
        "UNI-04",
        BLOCK,
        without_consent(),
        campaign={"purpose_lawful_basis": LawfulBasis.CONSENT},
        label="consent purpose without any record",
    ),
    Case(
        "UNI-05",
        BLOCK,
        broker_data(broker_verification=BrokerVerification.NOT_VERIFIED),
        label="broker e-mail",
    ),
    Case(
        "UNI-05",
        REVIEW,
        broker_data(broker_verification=BrokerVerification.FAILED),
        channel=M,
        label="broker postal",
    ),
    Case(
        "UNI-05",
        REVIEW,
        broker_data(broker_verification=BrokerVerification.NOT_VERIFIED, consents=()),
        channel=P,
        label="broker phone before the switch",
    ),
    Case(
        "UNI-05",
        BLOCK,
        broker_data(broker_verification=BrokerVerification.NOT_VERIFIED),
        channel=P,
        send_at=SEND_OPT_IN,
        label="broker phone after the switch",
    ),
    Case(
        "UNI-06",
        BLOCK,
        broker_data(obtained_at=SEND_BLOCTEL - timedelta(days=10), art14_notice_delivered_at=None),
        label="no Art. 14 notice at first communication",
    ),
    Case(
        "ELEC-01",
        ALLOW,
        broker_data(obtained_at=SEND_BLOCTEL - timedelta(days=10), art14_notice_delivered_at=None),
        campaign={"message": message(carries_art14_notice=True)},
        label="notice carried by the message",
    ),
    Case(
        "UNI-07",
        BLOCK,
        recipient(marketing_messages_received=0),
        campaign={"message": message(right_to_object_statement=False)},
        label="first message without Art. 21",
    ),
    Case(
        "UNI-08",
        BLOCK,
        prospect(obtained_at=datetime(2022, 1, 1, tzinfo=UTC), last_contact_from_person_at=None),
        label="prospect retention over",
    ),
    Case(
        "UNI-09",
        BLOCK,
        prospect(**born(date(2011, 6, 1)), consents=(consent(E, given_by_minor=True),)),
        label="14-year-old alone",
    ),
    Case(
        "UNI-10",
        REVIEW,
        recipient(**born(date(2009, 1, 1))),
        campaign={"uses_profiling": True},
        label="17-year-old profiled",
    ),
    Case(
        "UNI-11",
        BLOCK,
        recipient(),
        campaign={"targeting": ART9, "art9_explicit_consent_only": True},
        label="religion targeting without explicit consent",
    ),
    # B. Electronic channels.
    Case("ELEC-01", ALLOW, prospect(), label="opt-in prospect"),
    Case("ELEC-01", ALLOW, prospect(), channel=F, label="opt-in fax"),
    Case("ELEC-02", ALLOW, without_consent(), label="soft opt-in"),
    Case("ELEC-02", ALLOW, without_consent(), channel=S, label="soft opt-in by SMS"),
    Case("ELEC-03", BLOCK, without_consent(relationship=Relationship.ACCOUNT_ONLY), label="account only"),
    Case("ELEC-04", BLOCK, without_consent(purchases=bought("garden")), label="not analogous"),
    Case(
        "ELEC-04",
        BLOCK,
        without_consent(purchases=bought("shoes", seller="Acme Group Travel")),
        label="another group company",
    ),
    Case(
        "ELEC-05",
        REVIEW,
        without_consent(purchases=bought("bags")),
        campaign={"analogy_unclear_categories": frozenset({"bags"})},
        label="analogy unclear",
    ),
    Case("ELEC-06", BLOCK, prospect(consents=()), label="prospect without consent"),
    Case("ELEC-07", ALLOW, pro(), label="B2B relevant"),
    Case("ELEC-08", BLOCK, pro(profession="chef de production"), label="B2B holiday offer"),
    Case(
        "ELEC-09",
        ALLOW,
        without_consent(kind=ContactKind.LEGAL_PERSON_GENERIC, relationship=Relationship.PROSPECT),
        label="contact@ address",
    ),
    Case("ELEC-10", BLOCK, prospect(consents=()), channel=A, label="robot call without consent"),
    Case("ELEC-10", BLOCK, prospect(consents=()), channel=F, label="fax without consent"),
    Case(
        "ELEC-11",
        ALLOW,
        pro(),
        channel=A,
        label="robot call to informed professional",
        campaign={"audience": Audience.B2B, "purpose_lawful_basis": LawfulBasis.LEGITIMATE_INTEREST},
    ),
    Case("ELEC-12", ALLOW, prospect(consents=()), campaign={"commercial": False}, label="charity"),
    # C1. Telephone until 10/08/2026.
    Case(
        "TEL-01",
        BLOCK,
        recipient(
            suppression_hits=(SuppressionHit("bloctel-2026-03", SuppressionKind.BLOCTEL, "b-1", T, P),)
        ),
        channel=P,
        label="on Bloctel",
    ),
    Case("TEL-02", BLOCK, recipient(bloctel_checked_on=None), channel=P, label="never cleaned"),
    Case(
        "TEL-03",
        BLOCK,
        recipient(),
        channel=P,
        send_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        label="Saturday",
    ),
    Case(
        "TEL-03",
        BLOCK,
        recipient(),
        channel=P,
        send_at=datetime(2026, 3, 10, 12, 30, tzinfo=UTC),
        label="13:30 lunch break",
    ),
    Case(
        "TEL-03",
        BLOCK,
        recipient(),
        channel=P,
        send_at=datetime(2026, 3, 10, 19, 0, tzinfo=UTC),
        label="20:00",
    ),
    Case(
        "TEL-03",
        BLOCK,
        recipient(),
        channel=P,
        send_at=datetime(2026, 4, 6, 8, 30, tzinfo=UTC),
        label="Easter Monday",
    ),
    Case("TEL-03", BLOCK, recipient(timezone="America/Martinique"), channel=P, label="consumer's time zone"),
    Case(
        "TEL-10",
        ALLOW,
        recipient(consents=tuple(consent(ch, out_of_hours_calls=True) for ch in Channel)),
        channel=P,
        send_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        label="express consent to Saturday calls",
    ),
    Case("TEL-04", BLOCK, recipient(call_attempts_at=calls(1, 5, 12, 29)), channel=P, label="fifth attempt"),
    Case(
        "TEL-10",
        ALLOW,
        recipient(call_attempts_at=calls(1, 5, 12, 31)),
        channel=P,
        label="fourth outside 30 days",
    ),
    Case(
        "TEL-05",
        BLOCK,
        recipient(last_phone_refusal_at=datetime(2026, 1, 9, 15, 0, tzinfo=UTC)),
        channel=P,
        label="refusal at D, call at D+60",
    ),
    Case(
        "TEL-10",
        ALLOW,
        recipient(last_phone_refusal_at=datetime(2026, 1, 8, 15, 0, tzinfo=UTC)),
        channel=P,
        label="refusal at D, call at D+61",
    ),
    Case(
        "TEL-08",
        BLOCK,
        recipient(),
        channel=P,
        campaign={"product_category": "home_energy_renovation"},
        label="energy renovation call with consent",
    ),
    Case(
        "TEL-08",
        BLOCK,
        recipient(),
        channel=E,
        campaign={"product_category": "home_adaptation_ageing_disability"},
        label="home adaptation by e-mail since July 2025",
    ),
    Case(
        "ELEC-01",
        ALLOW,
        recipient(),
        channel=E,
        send_at=datetime(2025, 6, 3, 8, 30, tzinfo=UTC),
        campaign={"product_category": "home_energy_renovation"},
        label="e-mail before the all-channel ban",
    ),
    Case(
        "TEL-09",
        BLOCK,
        broker_data(),
        channel=P,
        campaign={"call_script": script(art14_information=False)},
        label="broker data and silent script",
    ),
    Case("TEL-10", ALLOW, without_consent(), channel=P, label="opt-out call"),
    Case("TEL-11", ALLOW, pro(), channel=P, label="professional call"),
    Case("TEL-11", ALLOW, pro(), channel=P, send_at=SEND_OPT_IN, label="professional call after the switch"),
    # C2. Telephone from 11/08/2026.
    Case("TEL26-01", BLOCK, without_consent(), channel=P, send_at=SEND_OPT_IN, label="no phone consent"),
    Case(
        "TEL26-01",
        ALLOW,
        without_consent(
            relationship=Relationship.CONTRACT_IN_PROGRESS,
            contracts=(ContractFact(SELLER, frozenset({"shoes"})),),
        ),
        channel=P,
        send_at=SEND_OPT_IN,
        label="contract in progress",
    ),
    Case("TEL26-02", ALLOW, recipient(), channel=P, send_at=SEND_OPT_IN, label="phone consent"),
    Case(
        "TEL26-03",
        BLOCK,
        recipient(
            obtained_at=datetime(2026, 8, 20, tzinfo=UTC),
            phone_collection=PhoneCollection(told_calls_need_consent=False),
        ),
        channel=P,
        send_at=SEND_OPT_IN,
        label="not told at collection",
    ),
    Case(
        "TEL26-03",
        BLOCK,
        recipient(
            obtained_at=datetime(2026, 8, 20, tzinfo=UTC),
            phone_collection=PhoneCollection(told_calls_need_consent=True, during_contract=True),
        ),
        channel=P,
        send_at=SEND_OPT_IN,
        label="contract lacks the clause",
    ),
    # D. Postal.
    Case("POST-01", ALLOW, without_consent(), channel=M, label="postal opt-out"),
    Case(
        "POST-02",
        BLOCK,
        broker_data(art14_notice_delivered_at=None, obtained_at=SEND_BLOCTEL - timedelta(days=5)),
        channel=M,
        label="broker address, no notice",
    ),
    Case(
        "POST-03",
        REVIEW,
        recipient(suppression_hits=(SuppressionHit("robinson", SuppressionKind.ROBINSON, "rb-1", T, M),)),
        channel=M,
        label="Robinson list",
    ),
    Case("POST-04", BLOCK, recipient(stop_pub=True), channel=U, label="Stop Pub"),
    Case("POST-04", ALLOW, recipient(), channel=U, label="no Stop Pub"),
    # G. Retention.
    Case(
        "RET-01",
        BLOCK,
        prospect(obtained_at=datetime(2022, 1, 1, tzinfo=UTC), last_contact_from_person_at=None),
        label="prospect collected more than 3 years ago",
    ),
    Case(
        "RET-02",
        BLOCK,
        without_consent(
            relationship_end_at=datetime(2022, 12, 1, tzinfo=UTC),
            obtained_at=datetime(2021, 1, 1, tzinfo=UTC),
            last_contact_from_person_at=None,
        ),
        label="customer gone 3 years",
    ),
    Case(
        "RET-08",
        BLOCK,
        recipient(bloctel_checked_on=date(2026, 2, 7)),
        channel=P,
        label="stale Bloctel cleaning",
    ),
    # H. Notices.
    Case("INFO-01", BLOCK, recipient(art13_notice_given_at=None), label="no Art. 13 notice"),
    Case(
        "INFO-02",
        BLOCK,
        broker_data(art14_notice_delivered_at=None, obtained_at=datetime(2026, 1, 5, tzinfo=UTC)),
        campaign={"message": message(carries_art14_notice=True)},
        label="one-month deadline passed",
    ),
    Case(
        "INFO-03",
        REVIEW,
        broker_data(art14_notice_delivered_at=None, art14_exemption_claimed=True),
        label="disproportionate effort claimed",
    ),
    Case(
        "INFO-04",
        BLOCK,
        prospect(consents=(consent(E, withdrawal_info_given=False),)),
        label="not told consent can be withdrawn",
    ),
    # Campaign rows block every recipient even on an approved campaign.
    Case(
        "PROC-01",
        BLOCK,
        recipient(),
        campaign={
            "processor": ProcessorFacts(
                "Mailer",
                contract_signed_at=datetime(2024, 1, 1, tzinfo=UTC),
                contract_expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        },
        label="expired processor contract",
    ),
    # J. Issue 19: file rental or transfer to partners, per-recipient e-mail tracking.
    Case("RENT-01", BLOCK, recipient(), campaign={"study": renting()}, label="consent names no partner"),
    Case(
        "RENT-01",
        REVIEW,
        recipient(consents=(consent(E, partner_categories=frozenset({"insurance", "travel"})),)),
        campaign={"study": renting()},
        label="consent names the partners' categories only",
    ),
    Case(
        "RENT-01",
        REVIEW,
        recipient(),
        channel=M,
        campaign={"study": renting()},
        label="postal: no consent names the partners",
    ),
    Case(
        "TRACK-01",
        BLOCK,
        recipient(),
        campaign={"study": study(tracking=True, per_recipient_tracking=True)},
        label="tracked per recipient without consent",
    ),
]


@pytest.mark.parametrize("case", RECIPIENT_CASES, ids=lambda c: f"{c.rule}:{c.label}")
def test_each_recipient_rule_decides_as_the_rule_book_says(case: Case) -> None:
    result = decide_recipient(case.build(), case.recipient, at=at_for(case.send_at))
    assert result.decision is case.decision, result.reasons
    assert case.rule in [r.rule for r in result.reasons], result.reasons


@dataclass(frozen=True)
class ReviewCase:
    rule: str
    outcome: Outcome
    campaign: CampaignFacts
    label: str = ""


PROCESSOR_OK = ProcessorFacts(
    "Mailer",
    contract_signed_at=datetime(2024, 1, 1, tzinfo=UTC),
    contract_expires_at=datetime(2028, 1, 1, tzinfo=UTC),
)


def _processor(**overrides: object) -> ProcessorFacts:
    import dataclasses

    return dataclasses.replace(PROCESSOR_OK, **overrides)


def crit(
    attribute: str, operator: str = "eq", value: str = "x", justification: str | None = None
) -> TargetingCriterion:
    return TargetingCriterion(attribute, operator, value, justification)


REVIEW_CASES: list[ReviewCase] = [
    ReviewCase("ELEC-13", Outcome.BLOCK, campaign(S, message=message(unsubscribe_free=False)), "paid STOP"),
    ReviewCase(
        "TEL-06", Outcome.BLOCK, campaign(P, call_script=script(bloctel_mention=False)), "no Bloctel mention"
    ),
    ReviewCase(
        "TEL-06",
        Outcome.BLOCK,
        campaign(P, send_at=SEND_OPT_IN, call_script=script(caller_identity=False)),
        "no caller identity after the switch",
    ),
    ReviewCase("TEL-07", Outcome.BLOCK, campaign(P, caller_number_masked=True), "masked number"),
    ReviewCase(
        "POST-05", Outcome.NEEDS_REVIEW, campaign(M, message=message(objection_reminder=False)), "no reminder"
    ),
    ReviewCase(
        "MSG-01", Outcome.BLOCK, campaign(E, message=message(unsubscribe_mechanism=None)), "no unsubscribe"
    ),
    ReviewCase(
        "MSG-02", Outcome.BLOCK, campaign(E, message=message(sender_identification=None)), "hidden sender"
    ),
    ReviewCase(
        "MSG-03", Outcome.BLOCK, campaign(E, message=message(subject_related_to_offer=False)), "bait subject"
    ),
    ReviewCase(
        "MSG-03",
        Outcome.NEEDS_REVIEW,
        campaign(E, message=message(subject_related_to_offer=None)),
        "subject not assessed",
    ),
    ReviewCase(
        "MSG-04",
        Outcome.NEEDS_REVIEW,
        campaign(M, message=message(right_to_object_statement=False)),
        "no Art. 21",
    ),
    ReviewCase(
        "MSG-05",
        Outcome.NEEDS_REVIEW,
        campaign(E, message=message(is_promotional_offer=True)),
        "offer without conditions",
    ),
    ReviewCase(
        "MSG-06",
        Outcome.NEEDS_REVIEW,
        campaign(E, message=message(body="-20 % réservé aux femmes de plus de 50 ans")),
        "réservé aux femmes",
    ),
    ReviewCase(
        "DISC-01", Outcome.BLOCK, campaign(offer_eligibility=(crit("sex", value="female"),)), "women only"
    ),
    ReviewCase(
        "DISC-02",
        Outcome.BLOCK,
        campaign(offer_eligibility=(crit("surname_origin_guess", value="french", justification="x"),)),
        "surname-origin guess in eligibility",
    ),
    ReviewCase(
        "DISC-03",
        Outcome.NEEDS_REVIEW,
        campaign(offer_eligibility=(crit("age", "lt", "26", justification="youth tariff"),)),
        "youth tariff",
    ),
    ReviewCase(
        "DISC-04", Outcome.NEEDS_REVIEW, campaign(targeting=(crit("age", "gte", "60"),)), "seniors audience"
    ),
    ReviewCase(
        "DISC-05",
        Outcome.BLOCK,
        campaign(targeting=(crit("postcode", "not_in", "93"),)),
        "postcode exclusion",
    ),
    ReviewCase(
        "DISC-05",
        Outcome.NEEDS_REVIEW,
        campaign(targeting=(crit("postcode", "not_in", "2A", justification="no delivery to Corsica"),)),
        "delivery area",
    ),
    ReviewCase("DISC-06", Outcome.BLOCK, campaign(targeting=ART9), "religion targeting"),
    ReviewCase(
        "DISC-06",
        Outcome.BLOCK,
        campaign(targeting=(crit("purchased_category", "in", "pharmacy"),)),
        "health purchases",
    ),
    ReviewCase("DISC-07", Outcome.NEEDS_REVIEW, campaign(automated_significant_decision=True), "automated"),
    ReviewCase("RIGHTS-02", Outcome.BLOCK, campaign(automated_significant_decision=True), "no contest route"),
    ReviewCase(
        "DISC-08",
        Outcome.NEEDS_REVIEW,
        campaign(
            product_category="high_cost_credit",
            targeting=(crit("debt_score", "gt", "0.8"),),
            dpia_reference="dpia-1",
        ),
        "credit to indebted",
    ),
    ReviewCase(
        "DISC-08",
        Outcome.BLOCK,
        campaign(
            product_category="gambling",
            targeting=(crit("income_score", "lt", "0.2"),),
            manipulative_design=True,
        ),
        "manipulative gambling",
    ),
    ReviewCase(
        "DISC-09",
        Outcome.ALLOW_BASIS,
        campaign(offer_eligibility=(crit("loyalty_card", value="yes"),)),
        "loyalty card",
    ),
    ReviewCase(
        "DISC-09",
        Outcome.NEEDS_REVIEW,
        campaign(offer_eligibility=(crit("paid_membership", value="yes"),)),
        "paid club",
    ),
    ReviewCase(
        "DISC-10", Outcome.NEEDS_REVIEW, campaign(refuses_product_outside_target=True), "refusal of sale"
    ),
    ReviewCase(
        "DISC-11",
        Outcome.NEEDS_REVIEW,
        campaign(audience=Audience.B2B, differential_b2b_terms=True),
        "B2B price list",
    ),
    ReviewCase(
        "DISC-12",
        Outcome.NEEDS_REVIEW,
        campaign(uses_profiling=True, large_scale_profiling=True),
        "large-scale profiling",
    ),
    ReviewCase(
        "PROC-01", Outcome.BLOCK, campaign(processor=_processor(contract_signed_at=None)), "no contract"
    ),
    ReviewCase(
        "PROC-02", Outcome.BLOCK, campaign(processor=_processor(missing_clauses=("form",))), "no clauses"
    ),
    ReviewCase(
        "PROC-03",
        Outcome.BLOCK,
        campaign(processor=_processor(gaps=(VendorGap("transfer_without_safeguard", "transfer", "US"),))),
        "no tool",
    ),
    ReviewCase(
        "PROC-03",
        Outcome.NEEDS_REVIEW,
        campaign(processor=_processor(gaps=(VendorGap("no_transfer_impact_assessment", "transfer", "US"),))),
        "SCC without TIA",
    ),
    ReviewCase("PROC-04", Outcome.BLOCK, campaign(purpose_registered=False), "unregistered purpose"),
    ReviewCase(
        "PROC-05",
        Outcome.BLOCK,
        campaign(A, purpose_lawful_basis=LawfulBasis.LEGITIMATE_INTEREST),
        "robot calls on legitimate interest",
    ),
    ReviewCase(
        "PROC-05", Outcome.NEEDS_REVIEW, campaign(P, send_at=SEND_OPT_IN), "B2C calls on legitimate interest"
    ),
    # J. Issue 19: the per-operation study, file transfer, tracking, refusal of sale.
    *(
        ReviewCase(rule_id, Outcome.BLOCK, campaign(study=StudyFacts()), f"'{q.value}' unanswered")
        for q, rule_id in rules.STUDY_RULES.items()
    ),
    *(
        ReviewCase(rule_id, Outcome.NEEDS_REVIEW, campaign(), f"'{q.value}' answered: sign-off")
        for q, rule_id in rules.STUDY_RULES.items()
    ),
    ReviewCase(
        "RENT-02",
        Outcome.BLOCK,
        campaign(study=renting(transfer_mode=TransferMode.TRANSFERRED)),
        "transferred, partner's Art. 14 information not declared",
    ),
    ReviewCase("TRACK-02", Outcome.NEEDS_REVIEW, campaign(study=study(tracking=True)), "aggregate tracking"),
    ReviewCase(
        "SALE-01",
        Outcome.BLOCK,
        campaign(study=study(refuses_product_outside_target=True)),
        "refused outside the target, no reason",
    ),
    ReviewCase(
        "SALE-01",
        Outcome.NEEDS_REVIEW,
        campaign(
            study=study(refuses_product_outside_target=True, refusal_reason=RefusalReason.REGULATED_PRODUCT)
        ),
        "refused outside the target for a regulated product",
    ),
]


# Issue 19: the register entry (REG-*) and every party on every send (PAR-*); both ways in
# test_register_and_parties.py.
_ENTRY = RegisterEntryFacts(
    version=1,
    channels=frozenset({Channel.EMAIL}),
    data_categories=frozenset({"identity"}),
    processor_ids=frozenset({"PR-1"}),
    retention_months=36,
)
_PARTY = CampaignParty(
    "PA-1",
    SendRole.ROUTER,
    known=True,
    name="Routeur SAS",
    roles=frozenset({"processor"}),
    active=True,
    contract_signed_at=datetime(2026, 1, 1, tzinfo=UTC),
    term_gaps=(),
    purpose_ids=frozenset({"P-prospection"}),
)
REVIEW_CASES += [
    ReviewCase("REG-01", Outcome.BLOCK, campaign(S, register=_ENTRY), "SMS, entry covers e-mail"),
    ReviewCase(
        "REG-02",
        Outcome.BLOCK,
        campaign(register=_ENTRY, data_categories=frozenset({"location"})),
        "location",
    ),
    ReviewCase(
        "REG-03",
        Outcome.BLOCK,
        campaign(register=_ENTRY, special_categories=frozenset({"health_data"})),
        "health data, entry says none",
    ),
    ReviewCase("REG-04", Outcome.BLOCK, campaign(register=_ENTRY, processor_id="PR-2"), "unlisted processor"),
    ReviewCase("REG-05", Outcome.BLOCK, campaign(register=_ENTRY, retention_months=60), "60 > 36 months"),
    ReviewCase(
        "REG-06",
        Outcome.BLOCK,
        campaign(register=_ENTRY, uses_profiling=True, large_scale_profiling=True),
        "profiling at scale, no DPIA",
    ),
    ReviewCase(
        "PAR-01", Outcome.BLOCK, campaign(parties=(CampaignParty("PA-x", SendRole.ROUTER),)), "unknown"
    ),
    ReviewCase(
        "PAR-02",
        Outcome.BLOCK,
        campaign(parties=(dataclasses.replace(_PARTY, contract_signed_at=None),)),
        "no contract",
    ),
    ReviewCase(
        "PAR-03",
        Outcome.BLOCK,
        campaign(parties=(dataclasses.replace(_PARTY, roles=frozenset({"consultant"})),)),
        "router registered as consultant",
    ),
    ReviewCase(
        "PAR-04",
        Outcome.BLOCK,
        campaign(parties=(dataclasses.replace(_PARTY, missing_clauses=("processor: form",)),)),
        "clause missing",
    ),
    ReviewCase(
        "PAR-05",
        Outcome.BLOCK,
        campaign(
            parties=(dataclasses.replace(_PARTY, term_gaps=("TERM-05 terms.security.art32_measures",)),)
        ),
        "security unsettled",
    ),
]


@pytest.mark.parametrize("case", REVIEW_CASES, ids=lambda c: f"{c.rule}:{c.label}")
def test_each_campaign_rule_gives_the_expected_finding(case: ReviewCase) -> None:
    findings = review_campaign(case.campaign, at=at_for(case.campaign.send_at))
    assert (case.rule, case.outcome) in [(f.rule_id, f.outcome) for f in findings], findings


@pytest.mark.parametrize("channel", list(Channel))
def test_the_example_campaign_passes_review_on_every_channel(channel: Channel) -> None:
    findings = review_campaign(campaign(channel), at=at_for(SEND_BLOCTEL))
    # Every campaign asks a reviewer to sign off each answer of its study (issue 19), and nothing more.
    study_ids = set(rules.STUDY_RULES.values())
    assert [f for f in findings if f.outcome is not Outcome.ALLOW_BASIS and f.rule_id not in study_ids] == []
    assert {f.outcome for f in findings if f.rule_id in study_ids} == {Outcome.NEEDS_REVIEW}


def test_every_rule_in_the_table_has_at_least_one_case() -> None:
    covered = {c.rule for c in RECIPIENT_CASES} | {c.rule for c in REVIEW_CASES}
    assert set(rules.RULE_IDS) - covered == set()


def test_rule_rows_sharing_an_id_never_overlap() -> None:
    by_id: dict[str, list[rules.Rule]] = {}
    for row in rules.RULES:
        by_id.setdefault(row.id, []).append(row)
    for rows in by_id.values():
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                same_channels = (a.channels or frozenset(Channel)) & (b.channels or frozenset(Channel))
                a_to, b_to = a.effective_to or date.max, b.effective_to or date.max
                a_from, b_from = a.effective_from or date.min, b.effective_from or date.min
                assert not same_channels or a_to < b_from or b_to < a_from, (a, b)


def test_the_phone_regime_windows_follow_the_verification_pass() -> None:
    windows = {(r.id, r.effective_from, r.effective_to) for r in rules.RULES}
    for rule_id in ("TEL-01", "TEL-02", "TEL-10", "RET-08"):
        assert (rule_id, None, date(2026, 8, 10)) in windows
    for rule_id in ("TEL26-01", "TEL26-02", "TEL26-03"):
        assert (rule_id, date(2026, 8, 11), None) in windows
    for rule_id in ("TEL-03", "TEL-04", "TEL-05"):
        assert (rule_id, date(2023, 3, 1), None) in windows


def test_seller_and_examples_agree() -> None:
    assert campaign().sender_entity == recipient().purchases[0].seller == SELLER

"""The gate's rule table: every rule of the rule book that can be decided from the facts.

Each row names its rule-book id, scope, channels, effective window and legal source; its `evaluate`
returns zero or more findings. One id can have several rows when the law changed on a date or the
rule book's verification pass (section M) widened it; the rows' windows or channels never overlap.

Campaign-scope evaluators are the gate's own: they run once per check (and in the review). The
recipient-scope evaluators are the test oracle: checks are decided by their vectorised twins in
`bulk.py` (`VECTORISED`), and the property test `tests/unit/test_served_receipts.py` shows both give the
same decisions, rule ids, messages and evidence; the rule book's per-rule tests read them directly.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from campaign_gate.domain import clock, criteria
from campaign_gate.domain.facts import (
    Audience,
    BrokerVerification,
    CampaignFacts,
    Channel,
    ConsentRecord,
    ConsentStatus,
    ContactKind,
    LawfulBasis,
    RecipientFacts,
    RegisterEntryFacts,
    Relationship,
    SendRole,
    StudyQuestion,
    SuppressionKind,
    TargetingCriterion,
    TransferMode,
)

RULESET_VERSION = "2026-12-07"

# Loi 2025-594 art. 13: the Bloctel opt-out regime ends on 10/08/2026, opt-in applies from 11/08/2026.
BLOCTEL_REGIME_LAST_DAY = date(2026, 8, 10)
PHONE_OPT_IN_FROM = date(2026, 8, 11)
# Décret 2022-1313 (D223-9 hours and frequency) is in force since 01/03/2023.
D223_9_FROM = date(2023, 3, 1)
# Loi 2020-901 (sector ban on energy-renovation calls), JORF 25/07/2020.
LOI_2020_901_FROM = date(2020, 7, 26)
# M.1: secondary sources report the sector ban on every channel since 1 or 2 July 2025 (VERIFY).
SECTOR_BAN_ALL_CHANNELS_FROM = date(2025, 7, 2)

RETENTION_YEARS = 3
ART14_DEADLINE_MONTHS = 1
CALL_WINDOW = timedelta(days=30)
MAX_CALL_ATTEMPTS = 4
REFUSAL_QUIET_DAYS = 60
BLOCTEL_FRESHNESS_DAYS = 30

ALL_CHANNELS = frozenset(Channel)
ELECTRONIC = frozenset({Channel.EMAIL, Channel.SMS_MMS, Channel.AUTOMATED_CALL, Channel.FAX})
SOFT_OPT_IN_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS_MMS})
PERSONAL_CHANNELS = ALL_CHANNELS - {Channel.POSTAL_UNADDRESSED}
PHONE = frozenset({Channel.PHONE_HUMAN})
POSTAL = frozenset({Channel.POSTAL_ADDRESSED})
CUSTOMER_RELATIONSHIPS = frozenset({Relationship.CUSTOMER_SALE_DONE, Relationship.CONTRACT_IN_PROGRESS})


class Outcome(enum.StrEnum):
    """What a finding says about a send."""

    BLOCK = "block"
    NEEDS_REVIEW = "needs_review"
    ALLOW_BASIS = "allow_basis"


class Scope(enum.StrEnum):
    """Whether a rule looks at the campaign alone or at one recipient."""

    CAMPAIGN = "campaign"
    RECIPIENT = "recipient"


class Analogy(enum.IntEnum):
    """How the campaign's product relates to what the recipient bought (L34-5 al. 4)."""

    ANALOGOUS = 0
    UNCLEAR = 1
    NOT_ANALOGOUS = 2


class RetentionClock(enum.IntEnum):
    """Which retention rule of section G runs for a contact."""

    NONE = 0
    PROSPECT = 1
    CUSTOMER = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on a campaign or a recipient, with the evidence it used."""

    rule_id: str
    outcome: Outcome
    message: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecipientView:
    """A recipient's facts resolved for one campaign (its purpose, channel and product).

    Nothing here depends on the time of the check, so the same view can be turned into columns once.
    """

    contact_id: str
    kind: ContactKind
    relationship: Relationship
    has_address: bool
    objection: bool
    opposition_hit: bool
    bloctel_hit: bool
    robinson_hit: bool
    consent_status: ConsentStatus | None
    consent_positive_act: bool
    consent_proof: bool
    consent_explicit: bool
    consent_withdrawal_info: bool
    consent_joint: bool
    consent_granted_on: date | None
    collected_from_person: bool
    third_party_unverified: bool
    art13_given: bool
    art14_delivered_at: datetime | None
    art14_exemption: bool
    obtained_at: datetime
    obtained_in_opt_in_regime: bool
    retention_clock: RetentionClock
    retention_from: datetime | None
    majority_on: date | None
    digital_consent_age_on: date | None
    retention_flagged: RetentionClock
    informed: bool
    objection_offered: bool
    collected_at_sale: bool
    sender_is_seller: bool
    analogy: Analogy
    contract_related: bool
    professional_relevance: bool
    bloctel_checked_on: date | None
    out_of_hours_consent: bool
    timezone: str | None
    fourth_latest_call_at: datetime | None
    refusal_on: date | None
    phone_info_defect: bool
    first_contact: bool
    stop_pub: bool
    #: Issue 19: the consent's cover of the campaign's partners (RENT-01) and of e-mail tracking (TRACK-01).
    partner_coverage: PartnerCoverage
    tracking_consent: bool
    # Evidence references (not used by any condition).
    objection_ref: str | None = None
    opposition_ref: str | None = None
    bloctel_ref: str | None = None
    robinson_ref: str | None = None
    consent_ref: str | None = None
    notice_ref: str | None = None
    broker_ref: str | None = None
    # Rights (section R): the restriction of processing (Art. 18) and its evidence.
    restricted: bool = False
    restriction_ref: str | None = None


#: The retention rule contacts cites when it flags a contact → the clock it ran out on.
FLAGGED_CLOCKS = {"RET-01": RetentionClock.PROSPECT, "RET-02": RetentionClock.CUSTOMER}


def _consent_order(consent: ConsentRecord) -> datetime:
    return clock.as_utc(consent.granted_at)


def resolve(campaign: CampaignFacts, recipient: RecipientFacts) -> RecipientView:
    """Returns the recipient's facts resolved for the campaign's purpose, channel and product."""
    r, c, ch = recipient, campaign, campaign.channel
    # An objection covers the campaign unless it names another channel or another purpose (its scope).
    applicable = [
        o
        for o in r.objections
        if (o.channel is None or o.channel is ch) and (o.purpose_id is None or o.purpose_id == c.purpose_id)
    ]
    objections = [o for o in applicable if not o.matched_by_hash]
    returning = [o for o in applicable if o.matched_by_hash]
    hits = [h for h in r.suppression_hits if h.channel is None or h.channel is ch]

    def hit(kind: SuppressionKind) -> str | None:
        found = [h for h in hits if h.list_kind is kind]
        if not found:
            return None
        h = max(found, key=lambda x: x.imported_at)
        return f"suppression:{h.list_name}:{h.import_id}@{clock.as_utc(h.imported_at).date().isoformat()}"

    consents = [k for k in r.consents if k.purpose_id == c.purpose_id and k.channel is ch]
    consent = max(consents, key=_consent_order) if consents else None
    status = None
    if consent is not None:
        status = ConsentStatus.WITHDRAWN if consent.withdrawn else consent.status

    # Because only a sale by the sender itself grounds the soft opt-in (L34-5 al. 4: "la même
    # personne physique ou morale"), analogy is judged on what was bought from the sender.
    bought_from_sender = [p for p in r.purchases if p.seller == c.sender_entity]
    categories = frozenset().union(*(p.categories for p in bought_from_sender))
    if categories & ({c.product_category} | c.analogous_categories):
        analogy = Analogy.ANALOGOUS
    elif categories & c.analogy_unclear_categories:
        analogy = Analogy.UNCLEAR
    else:
        analogy = Analogy.NOT_ANALOGOUS

    open_contracts = [k for k in r.contracts if not k.ended]
    contract_related = r.relationship is Relationship.CONTRACT_IN_PROGRESS and any(
        k.seller == c.sender_entity and k.categories & ({c.product_category} | c.complementary_categories)
        for k in open_contracts
    )

    contact_from = r.last_contact_from_person_at
    clock_kind, since = RetentionClock.NONE, None
    if r.kind is ContactKind.LEGAL_PERSON_GENERIC:
        # Because the CNIL's retention periods are for personal data, which a generic company
        # address (contact@acme.fr) is not.
        pass
    elif r.relationship in (Relationship.PROSPECT, Relationship.ACCOUNT_ONLY):
        clock_kind = RetentionClock.PROSPECT
        since = max(t for t in (r.obtained_at, contact_from) if t is not None)
    elif r.relationship is Relationship.CUSTOMER_SALE_DONE or not open_contracts:
        # Because a "contract in progress" with no open contract on record has no relationship
        # keeping its data: the customer clock runs from its end (RET-02).
        clock_kind = RetentionClock.CUSTOMER
        end = r.relationship_end_at or r.obtained_at
        since = max(t for t in (end, contact_from) if t is not None)

    attempts = sorted((clock.as_utc(t) for t in r.call_attempts_at), reverse=True)
    delivered = r.art14_notice_delivered_at
    phone = r.phone_collection
    usable = consent is not None and status is ConsentStatus.GRANTED and consent.positive_act
    return RecipientView(
        contact_id=r.contact_id,
        kind=r.kind,
        relationship=r.relationship,
        has_address=ch is Channel.POSTAL_UNADDRESSED or ch in r.channel_addresses,
        objection=bool(objections),
        opposition_hit=hit(SuppressionKind.OPPOSITION) is not None or bool(returning),
        bloctel_hit=hit(SuppressionKind.BLOCTEL) is not None,
        robinson_hit=hit(SuppressionKind.ROBINSON) is not None,
        consent_status=status,
        consent_positive_act=bool(consent and consent.positive_act),
        consent_proof=bool(consent and consent.proof_present),
        consent_explicit=bool(consent and consent.explicit),
        consent_withdrawal_info=bool(consent and consent.withdrawal_info_given),
        consent_joint=bool(consent and consent.given_by_minor and consent.given_by_parent),
        consent_granted_on=(
            clock.paris_date(consent.granted_at)
            if consent and consent.status is not ConsentStatus.REQUESTED
            else None
        ),
        collected_from_person=r.collected_from_person,
        third_party_unverified=(
            not r.collected_from_person and r.broker_verification is not BrokerVerification.VERIFIED
        ),
        art13_given=r.art13_notice_given_at is not None,
        art14_delivered_at=clock.as_utc(delivered) if delivered else None,
        art14_exemption=r.art14_exemption_claimed,
        obtained_at=clock.as_utc(r.obtained_at),
        obtained_in_opt_in_regime=clock.paris_date(r.obtained_at) >= PHONE_OPT_IN_FROM,
        retention_clock=clock_kind,
        retention_from=clock.as_utc(since) if since else None,
        majority_on=r.majority_on,
        digital_consent_age_on=r.digital_consent_age_on,
        retention_flagged=FLAGGED_CLOCKS.get(r.retention_flagged_rule or "", RetentionClock.NONE),
        informed=r.informed_at_collection,
        objection_offered=r.objection_offered_at_collection,
        collected_at_sale=r.collected_from_person and r.collected_at_sale,
        sender_is_seller=bool(bought_from_sender),
        analogy=analogy,
        contract_related=contract_related,
        professional_relevance=r.profession is not None and r.profession in c.professional_target,
        bloctel_checked_on=r.bloctel_checked_on,
        out_of_hours_consent=usable and bool(consent and consent.out_of_hours_calls),
        timezone=r.timezone,
        fourth_latest_call_at=attempts[MAX_CALL_ATTEMPTS - 1] if len(attempts) >= MAX_CALL_ATTEMPTS else None,
        refusal_on=clock.paris_date(r.last_phone_refusal_at) if r.last_phone_refusal_at else None,
        phone_info_defect=phone is None
        or not phone.told_calls_need_consent
        or (phone.during_contract and not phone.contract_states_calls_need_consent),
        first_contact=r.marketing_messages_received == 0,
        stop_pub=r.stop_pub,
        partner_coverage=(
            partner_coverage(consent.partners, consent.partner_categories, c.study.partners)
            if usable and consent is not None
            else PartnerCoverage.NONE
        ),
        tracking_consent=usable and consent is not None and consent.email_tracking,
        objection_ref=f"objection:{max(objections, key=lambda o: o.at).objection_id}" if objections else None,
        opposition_ref=hit(SuppressionKind.OPPOSITION)
        or (f"objection:{max(returning, key=lambda o: o.at).objection_id}" if returning else None),
        bloctel_ref=hit(SuppressionKind.BLOCTEL),
        robinson_ref=hit(SuppressionKind.ROBINSON),
        consent_ref=f"consent:{consent.consent_id}" if consent else None,
        notice_ref=f"notice_delivery:{r.art14_delivery_id}" if r.art14_delivery_id else None,
        broker_ref=(
            f"broker:{r.broker_name or r.source or 'unknown'}:{r.broker_verification.value}"
            if not r.collected_from_person
            else None
        ),
        restricted=r.restricted,
        restriction_ref=(
            f"restriction:{r.restriction_request_id}" if r.restricted and r.restriction_request_id else None
        ),
    )


@dataclass(frozen=True, slots=True)
class Context:
    """Everything about a campaign and the moment of sending that rules share across recipients."""

    campaign: CampaignFacts
    moment: datetime
    moment_date: date
    phone_opt_in: bool
    retention_threshold: datetime
    notice_threshold: datetime
    call_window_start: datetime
    targeting: tuple[tuple[TargetingCriterion, criteria.Classification], ...]
    eligibility: tuple[tuple[TargetingCriterion, criteria.Classification], ...]
    art9_targeting: bool


def make_context(campaign: CampaignFacts, *, at: datetime) -> Context:
    """Returns the evaluation context of a campaign checked at `at`.

    The moment of sending is `send_at`, or the time of the check when that is later, because a
    late check means the message goes out at that time and under the law then in force.
    """
    moment = max(clock.as_utc(campaign.send_at), clock.as_utc(at))
    moment_date = clock.paris_date(moment)
    targeting = tuple((c, criteria.classify(c)) for c in campaign.targeting)
    return Context(
        campaign=campaign,
        moment=moment,
        moment_date=moment_date,
        phone_opt_in=moment_date >= PHONE_OPT_IN_FROM,
        retention_threshold=clock.minus_years(moment, RETENTION_YEARS),
        notice_threshold=clock.minus_months(moment, ART14_DEADLINE_MONTHS),
        call_window_start=moment - CALL_WINDOW,
        targeting=targeting,
        eligibility=tuple((c, criteria.classify(c)) for c in campaign.offer_eligibility),
        art9_targeting=any(cls.art9 for _, cls in targeting),
    )


Evaluate = Callable[[Context, "RecipientView | None"], tuple[Finding, ...]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule table."""

    id: str
    title: str
    scope: Scope
    channels: frozenset[Channel] | None
    effective_from: date | None
    effective_to: date | None
    source: str
    evaluate: Evaluate

    def applies(self, channel: Channel, on: date) -> bool:
        """Says whether the row applies to a channel on a given day."""
        if self.channels is not None and channel not in self.channels:
            return False
        if self.effective_from is not None and on < self.effective_from:
            return False
        return self.effective_to is None or on <= self.effective_to


# --- Shared predicates (the bulk evaluator mirrors each of them) -----------------------------------


def consent_usable(v: RecipientView) -> bool:
    """Says whether a granted consent by a positive act exists for the campaign's purpose and channel."""
    return v.consent_status is ConsentStatus.GRANTED and v.consent_positive_act


def soft_opt_in_possible(v: RecipientView) -> bool:
    """Says whether L34-5 al. 4 can apply, with the analogy either shown or still to assess."""
    return (
        v.relationship in CUSTOMER_RELATIONSHIPS
        and v.collected_at_sale
        and v.sender_is_seller
        and v.objection_offered
        and v.analogy is not Analogy.NOT_ANALOGOUS
    )


def relies_on_consent(ctx: Context, v: RecipientView) -> bool:
    """Says whether consent is the only lawful ground left for this send."""
    c, ch = ctx.campaign, ctx.campaign.channel
    if c.purpose_lawful_basis is LawfulBasis.CONSENT:
        return True
    if v.kind is ContactKind.CONSUMER:
        if ch in (Channel.AUTOMATED_CALL, Channel.FAX):
            return True
        if ch in SOFT_OPT_IN_CHANNELS and c.commercial and not soft_opt_in_possible(v):
            return True
        if ch is Channel.PHONE_HUMAN and ctx.phone_opt_in and not v.contract_related:
            return True
    return (
        v.kind is ContactKind.PROFESSIONAL_NAMED
        and ch in SOFT_OPT_IN_CHANNELS
        and not v.professional_relevance
    )


def art14_delivered(ctx: Context, v: RecipientView) -> bool:
    """Says whether the Art. 14 notice was delivered by the moment of sending."""
    return v.art14_delivered_at is not None and v.art14_delivered_at <= ctx.moment


def art14_missing(ctx: Context, v: RecipientView) -> bool:
    """Says whether indirectly obtained data would be used without any Art. 14 notice."""
    return (
        not v.collected_from_person
        and not art14_delivered(ctx, v)
        and not ctx.campaign.message.carries_art14_notice
        and not v.art14_exemption
    )


def retention_expired(ctx: Context, v: RecipientView) -> bool:
    """Says whether the section G retention period has run out."""
    return v.retention_from is not None and v.retention_from < ctx.retention_threshold


def is_minor(ctx: Context, v: RecipientView) -> bool:
    """Says whether the recipient is under 18 at the moment of sending."""
    return v.majority_on is not None and ctx.moment_date < v.majority_on


@functools.lru_cache(maxsize=256)
def slot_ok(moment: datetime, timezone: str) -> bool:
    """Says whether a call at `moment` is inside the D223-9 slots for a time zone."""
    return clock.within_phone_slots(moment, timezone)


# --- Rule evaluators --------------------------------------------------------------------------------

NONE: tuple[Finding, ...] = ()


def _one(rule_id: str, outcome: Outcome, message: str, *evidence: str | None) -> tuple[Finding, ...]:
    return (Finding(rule_id, outcome, message, tuple(e for e in evidence if e)),)


def _block(rule_id: str, message: str, *evidence: str | None) -> tuple[Finding, ...]:
    return _one(rule_id, Outcome.BLOCK, message, *evidence)


def _review(rule_id: str, message: str, *evidence: str | None) -> tuple[Finding, ...]:
    return _one(rule_id, Outcome.NEEDS_REVIEW, message, *evidence)


def _basis(rule_id: str, message: str, *evidence: str | None) -> tuple[Finding, ...]:
    return _one(rule_id, Outcome.ALLOW_BASIS, message, *evidence)


def no_channel_address(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient with no address for the campaign's channel."""
    assert v is not None
    if not v.has_address:
        return _block(
            "NO_CHANNEL_ADDRESS", f"No {ctx.campaign.channel.value} address is on record for this contact."
        )
    return NONE


def uni_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient who objected to direct marketing."""
    assert v is not None
    if v.objection:
        return _block(
            "UNI-01",
            "Person objected to direct marketing; the right is absolute and needs no justification.",
            v.objection_ref,
        )
    return NONE


def uni_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient found in the opposition (repoussoir) list."""
    assert v is not None
    if v.opposition_hit:
        return _block(
            "UNI-02",
            "Contact previously objected; re-imported data must not be used again.",
            v.opposition_ref,
        )
    return NONE


def uni_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient whose consent for this purpose and channel was withdrawn."""
    assert v is not None
    if v.consent_status is ConsentStatus.WITHDRAWN:
        return _block("UNI-03", "Consent withdrawn for this purpose and channel.", v.consent_ref)
    return NONE


def uni_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a consent-based send whose consent cannot be demonstrated."""
    assert v is not None
    if not relies_on_consent(ctx, v):
        return NONE
    if v.consent_status is ConsentStatus.GRANTED and not v.consent_proof:
        return _block(
            "UNI-04",
            "Controller cannot demonstrate consent: no timestamp, wording or collection point on record.",
            v.consent_ref,
        )
    if v.consent_status is ConsentStatus.REQUESTED:
        return _block(
            "UNI-04",
            "Consent was requested and is still pending confirmation (double opt-in): not usable yet.",
            v.consent_ref,
        )
    if v.consent_status is None and ctx.campaign.purpose_lawful_basis is LawfulBasis.CONSENT:
        return _block("UNI-04", "The purpose rests on consent and no consent record exists for this channel.")
    return NONE


def uni_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Flags consumer data from a third party whose consent collection was not verified."""
    assert v is not None
    if v.kind is not ContactKind.CONSUMER or not v.third_party_unverified:
        return NONE
    ch = ctx.campaign.channel
    message = (
        "Consent collected by the primary collector is not shown to be free, specific, informed and "
        "unambiguous; the user of the data is responsible for checking it."
    )
    if ch in ELECTRONIC or (ch is Channel.PHONE_HUMAN and ctx.phone_opt_in):
        return _block("UNI-05", message, v.broker_ref)
    return _review("UNI-05", message, v.broker_ref)


def natural_person(v: RecipientView) -> bool:
    """Says whether the contact details are a natural person's: Art. 13 and 14 GDPR inform data subjects,
    and a generic company address (contact@, info@) is nobody's personal data."""
    return v.kind is not ContactKind.LEGAL_PERSON_GENERIC


def uni_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a first communication from indirectly obtained data without an Art. 14 notice."""
    assert v is not None
    if natural_person(v) and art14_missing(ctx, v):
        return _block(
            "UNI-06",
            "Art. 14 information is due at the latest at the first communication; send the notice with this "
            "message or before it.",
        )
    return NONE


def uni_07(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a first communication that does not state the right to object."""
    assert v is not None
    if v.first_contact and not ctx.campaign.message.right_to_object_statement:
        return _block(
            "UNI-07", "The right to object must be stated clearly and separately in the first communication."
        )
    return NONE


def uni_08(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient whose data outlived the section G retention period."""
    assert v is not None
    if retention_expired(ctx, v):
        return _block(
            "UNI-08",
            f"Data kept beyond the CNIL reference period for prospection (clock started "
            f"{v.retention_from.date().isoformat() if v.retention_from else '?'}).",
        )
    return NONE


def uni_09(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks consent by a person under 15 that was not given jointly with a parent."""
    assert v is not None
    if not relies_on_consent(ctx, v) or v.consent_status is not ConsentStatus.GRANTED or v.consent_joint:
        return NONE
    # Because a consent given alone under 15 was never valid, it stays invalid after the birthday.
    if (
        v.digital_consent_age_on is not None
        and v.consent_granted_on is not None
        and v.consent_granted_on < v.digital_consent_age_on
    ):
        return _block(
            "UNI-09",
            "Under 15 at the time of consent: consent must be given jointly by the minor and a holder of "
            "parental authority (art. 45 loi 78-17).",
            v.consent_ref,
        )
    return NONE


def uni_10(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review when a profiling campaign reaches a minor."""
    assert v is not None
    if ctx.campaign.uses_profiling and is_minor(ctx, v):
        return _review("UNI-10", "Minor reached by a profiling campaign: children merit specific protection.")
    return NONE


def uni_11(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks Art. 9 targeting of a recipient without explicit consent."""
    assert v is not None
    # Because a generic company address is no natural person: Art. 9 data cannot concern it.
    if (
        ctx.art9_targeting
        and v.kind is not ContactKind.LEGAL_PERSON_GENERIC
        and not (v.consent_status is ConsentStatus.GRANTED and v.consent_explicit)
    ):
        return _block(
            "UNI-11",
            "Targeting uses special-category data (stated or inferred) and no explicit consent is held.",
            v.consent_ref,
        )
    return NONE


def elec_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes prior opt-in consent as the basis for an electronic send to a natural person."""
    assert v is not None
    if v.kind is not ContactKind.LEGAL_PERSON_GENERIC and consent_usable(v):
        return _basis("ELEC-01", "Prior consent recorded.", v.consent_ref)
    return NONE


def _b2c_commercial_soft(ctx: Context, v: RecipientView) -> bool:
    return v.kind is ContactKind.CONSUMER and ctx.campaign.commercial


def elec_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes the existing-customer exception (soft opt-in) as the basis."""
    assert v is not None
    if _b2c_commercial_soft(ctx, v) and soft_opt_in_possible(v):
        suffix = "" if v.analogy is Analogy.ANALOGOUS else " (pending the analogy assessment, see ELEC-05)"
        return _basis(
            "ELEC-02", "Existing-customer exception for analogous products of the same company" + suffix + "."
        )
    return NONE


def elec_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks account holders without a sale and without consent."""
    assert v is not None
    if _b2c_commercial_soft(ctx, v) and v.relationship is Relationship.ACCOUNT_ONLY and not consent_usable(v):
        return _block("ELEC-03", "Creating an account is not a sale; the customer exception cannot be used.")
    return NONE


def elec_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a soft opt-in for a non-analogous product or another seller."""
    assert v is not None
    if (
        _b2c_commercial_soft(ctx, v)
        and v.relationship in CUSTOMER_RELATIONSHIPS
        and not consent_usable(v)
        and (v.analogy is Analogy.NOT_ANALOGOUS or not v.sender_is_seller)
    ):
        return _block(
            "ELEC-04",
            "Soft opt-in limited to analogous products of the same seller; partners need their own consent.",
        )
    return NONE


def elec_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review when the analogy of products is not yet assessed."""
    assert v is not None
    if (
        _b2c_commercial_soft(ctx, v)
        and not consent_usable(v)
        and soft_opt_in_possible(v)
        and v.analogy is Analogy.UNCLEAR
    ):
        return _review("ELEC-05", '"Analogous products" needs a documented assessment.')
    return NONE


def elec_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks consumer e-mail or SMS prospection without consent or soft opt-in."""
    assert v is not None
    if _b2c_commercial_soft(ctx, v) and not consent_usable(v) and not soft_opt_in_possible(v):
        return _block("ELEC-06", "B2C electronic prospection requires prior consent.")
    return NONE


def elec_07(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes B2B opt-out prospection about the person's profession as the basis."""
    assert v is not None
    if (
        v.kind is ContactKind.PROFESSIONAL_NAMED
        and v.informed
        and v.objection_offered
        and v.professional_relevance
    ):
        return _basis("ELEC-07", "B2B prospection on a professional address about the person's profession.")
    return NONE


def elec_08(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks B2B messages unrelated to the person's profession, unless consented."""
    assert v is not None
    if v.kind is ContactKind.PROFESSIONAL_NAMED and not v.professional_relevance and not consent_usable(v):
        return _block("ELEC-08", "B2B exception only covers messages related to the profession.")
    return NONE


def elec_09(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes a generic company address as outside the L34-5 consent rule."""
    assert v is not None
    if v.kind is ContactKind.LEGAL_PERSON_GENERIC:
        return _basis("ELEC-09", "Generic company address is not a natural person's contact.")
    return NONE


def elec_10(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks automated calls and faxes to consumers without consent."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and not consent_usable(v):
        return _block("ELEC-10", "Automated calls and fax need prior consent.")
    return NONE


def elec_11(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes informed professionals as reachable by automated calls."""
    assert v is not None
    if v.kind is ContactKind.PROFESSIONAL_NAMED and v.informed and v.objection_offered:
        return _basis("ELEC-11", "For professionals, information and the right to object suffice.")
    return NONE


def elec_12(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes non-commercial prospection with opt-out as the basis."""
    assert v is not None
    if not ctx.campaign.commercial and v.informed and v.objection_offered:
        return _basis("ELEC-12", "Non-commercial prospection relies on legitimate interest with opt-out.")
    return NONE


def elec_13(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks an SMS template without a free stop mechanism or advertiser identity."""
    m = ctx.campaign.message
    if not (m.unsubscribe_mechanism and m.unsubscribe_free) or not m.sender_identification:
        return _block("ELEC-13", "Each SMS must identify the advertiser and give a simple free way to stop.")
    return NONE


def tel_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls to consumers registered on Bloctel."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and v.bloctel_hit and not v.contract_related:
        return _block("TEL-01", "Consumer registered on the telephone opposition list.", v.bloctel_ref)
    return NONE


def tel_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls from a file never cleaned against Bloctel."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and v.bloctel_checked_on is None:
        return _block("TEL-02", "The calling file was never cleaned against Bloctel.")
    return NONE


def tel_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls outside weekdays 10-13 h and 14-20 h without express consent."""
    assert v is not None
    if v.kind is not ContactKind.CONSUMER or v.out_of_hours_consent:
        return NONE
    if v.timezone is None:
        return _review("TEL-03", "The consumer's time zone is unknown: the calling hours cannot be checked.")
    if not slot_ok(ctx.moment, v.timezone):
        return _block(
            "TEL-03", f"Calls only on weekdays 10-13 h and 14-20 h ({v.timezone}), excluding public holidays."
        )
    return NONE


def tel_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a fifth call attempt within 30 calendar days."""
    assert v is not None
    if (
        v.kind is ContactKind.CONSUMER
        and v.fourth_latest_call_at is not None
        and v.fourth_latest_call_at > ctx.call_window_start
    ):
        return _block("TEL-04", "No more than 4 call attempts per consumer in 30 calendar days.")
    return NONE


def tel_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls through the 60th full day after a refusal."""
    assert v is not None
    # M.2: "soixante jours calendaires révolus" read conservatively: blocked through D+60.
    if (
        v.kind is ContactKind.CONSUMER
        and v.refusal_on is not None
        and ctx.moment_date <= v.refusal_on + timedelta(days=REFUSAL_QUIET_DAYS)
    ):
        return _block(
            "TEL-05", f"No new contact within 60 days of the refusal of {v.refusal_on.isoformat()}."
        )
    return NONE


def tel_06_bloctel(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a call script lacking the L221-16 opening statements, Bloctel mention included."""
    s = ctx.campaign.call_script
    if not (s.caller_identity and s.company_identity and s.commercial_nature and s.bloctel_mention):
        return _block(
            "TEL-06",
            "Script must open with caller identity, company, commercial nature and the right to use Bloctel.",
        )
    return NONE


def tel_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a call script lacking the L221-16 opening statements (no Bloctel mention after 10/08/2026)."""
    s = ctx.campaign.call_script
    if not (s.caller_identity and s.company_identity and s.commercial_nature):
        return _block("TEL-06", "Script must open with caller identity, company and commercial nature.")
    return NONE


def tel_07(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks telephone canvassing from a masked number."""
    if ctx.campaign.caller_number_masked:
        return _block("TEL-07", "Masked numbers prohibited for telephone canvassing.")
    return NONE


def tel_08(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks prospection of consumers for home energy renovation or home adaptation."""
    assert v is not None
    if (
        v.kind is ContactKind.CONSUMER
        and ctx.campaign.product_category in criteria.SECTOR_BAN_CATEGORIES
        and not v.contract_related
    ):
        return _block(
            "TEL-08",
            "Prospection for home energy renovation, renewables or adaptation to ageing or disability "
            "is banned "
            "outside a contract in progress; consent does not lift it.",
        )
    return NONE


def tel_09(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls on third-party data when the script gives no Art. 14 information."""
    assert v is not None
    if not v.collected_from_person and not ctx.campaign.call_script.art14_information:
        return _block(
            "TEL-09",
            "Third-party data: the call must give the Art. 14 information, not only recording and Bloctel.",
        )
    return NONE


def tel_10(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes the opt-out regime for human calls until 10/08/2026."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and v.informed and v.objection_offered:
        return _basis("TEL-10", "Opt-out regime (legitimate interest) for human calls until 10/08/2026.")
    return NONE


def tel_11(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes calls to professionals as outside the consumer telephone rules."""
    assert v is not None
    if v.kind is not ContactKind.CONSUMER:
        return _basis(
            "TEL-11", "Not a consumer: the consumer telephone rules do not apply; GDPR objection does."
        )
    return NONE


def tel26_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks consumer calls without prior consent, except within a contract in progress."""
    assert v is not None
    if v.kind is not ContactKind.CONSUMER:
        return NONE
    if v.contract_related:
        return _basis("TEL26-01", "Call within the performance of a contract in progress and related to it.")
    if not consent_usable(v):
        return _block("TEL26-01", "From 11/08/2026 consumer telephone prospection requires prior consent.")
    return NONE


def tel26_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes prior telephone-prospection consent as the basis."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and consent_usable(v):
        return _basis("TEL26-02", "Consent to telephone prospection recorded.", v.consent_ref)
    return NONE


def tel26_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks numbers collected without the new information on consent to calls."""
    assert v is not None
    if (
        v.kind is ContactKind.CONSUMER
        and v.collected_from_person
        and v.obtained_in_opt_in_regime
        and v.phone_info_defect
    ):
        return _block(
            "TEL26-03",
            "At collection the consumer was not told that commercial calls need prior consent "
            "(or the contract "
            "does not say so).",
        )
    return NONE


def post_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Establishes the postal opt-out regime as the basis."""
    assert v is not None
    if v.kind is ContactKind.LEGAL_PERSON_GENERIC:
        # Because a generic company address carries no personal data: no notice is owed to it.
        return _basis("POST-01", "Postal prospection of a company at its generic address.")
    if v.informed and v.objection_offered:
        return _basis("POST-01", "Postal prospection: opt-out regime (legitimate interest).")
    return NONE


def post_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a mailing on indirect data without Art. 14 information."""
    assert v is not None
    if natural_person(v) and art14_missing(ctx, v):
        return _block("POST-02", "Indirect collection: information at the latest with the first mailing.")
    return NONE


def post_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review for consumers on the Robinson list."""
    assert v is not None
    if v.kind is ContactKind.CONSUMER and v.robinson_hit:
        return _review(
            "POST-03", "Registered on the Robinson list (recommended: do not send).", v.robinson_ref
        )
    return NONE


def post_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks unaddressed mail to a mailbox that refuses advertising."""
    assert v is not None
    if v.stop_pub:
        return _block("POST-04", "Mailbox bears a refusal of unaddressed advertising (Stop Pub).")
    # Unaddressed mail uses no personal data; the mailbox refusal is the only legal condition.
    return _basis("POST-04", "No refusal of unaddressed advertising recorded for this mailbox.")


def post_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review when a mailing does not remind how to object."""
    if not ctx.campaign.message.objection_reminder:
        return _review("POST-05", "Each mailing should remind how to object.")
    return NONE


def msg_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks an electronic message without a free stop mechanism."""
    m = ctx.campaign.message
    if not (m.unsubscribe_mechanism and m.unsubscribe_free):
        return _block("MSG-01", "Every electronic prospection message must allow free opt-out.")
    return NONE


# Legal forms and filler words that do not tell one company from another ("Acme S.A.S." is "Acme").
_LEGAL_FORMS = frozenset(
    "sa sas sasu sarl eurl snc sca sci scop scic sel selarl gie eirl ei se sc ltd limited inc llc plc gmbh "
    "ag bv nv spa srl sl co corp company cie et and the la le les l".split()
)


def _entity_words(name: str) -> tuple[str, ...]:
    words: list[str] = []
    letters = ""
    for word in criteria.normalise_name(name).split("_"):
        # Because "S.A.S." normalises to single letters, runs of them are read as one word.
        if len(word) == 1 and word.isalpha():
            letters += word
            continue
        if letters:
            words.append(letters)
            letters = ""
        words.append(word)
    if letters:
        words.append(letters)
    return tuple(w for w in words if w and w not in _LEGAL_FORMS)


def names_entity(text: str, entity: str) -> bool:
    """Says whether a text names an entity: the entity's distinctive words appear in it, in order."""
    wanted, said = _entity_words(entity), _entity_words(text)
    if not wanted:
        return criteria.normalise_name(entity) in criteria.normalise_name(text)
    return any(said[i : i + len(wanted)] == wanted for i in range(len(said) - len(wanted) + 1))


def msg_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks an electronic message hiding the sender's identity; asks review when it names another name.

    The soft opt-in rests on the sender being the seller (L34-5 al. 4), and the message must not conceal
    on whose behalf it is sent: an identification that does not name `sender_entity` (a brand, a group
    company) is signed off only on a document showing it is the sender's.
    """
    c = ctx.campaign
    shown = (c.message.sender_identification or "").strip()
    if not shown:
        return _block(
            "MSG-02", "The identity of the person on whose behalf the message is sent must be shown."
        )
    if not names_entity(shown, c.sender_entity):
        return _review(
            "MSG-02",
            f"The message identifies the sender as '{shown}', which does not name the sending entity "
            f"'{c.sender_entity}': the identity of the person on whose behalf it is sent must not be "
            "concealed.",
            f"sender:{c.sender_entity}",
        )
    return NONE


def msg_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks an e-mail whose subject is unrelated to the offer."""
    m = ctx.campaign.message
    if not m.subject.strip() or m.subject_related_to_offer is False:
        return _block("MSG-03", "Subject must relate to the service offered.")
    if m.subject_related_to_offer is None:
        return _review("MSG-03", "Whether the subject relates to the offer has not been assessed.")
    return NONE


def msg_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks review of a template that lacks the Art. 21 right-to-object statement."""
    # Because the rule is about the *first* message to a person, which the review cannot know:
    # UNI-07 blocks every recipient who never got a message from the gate, so the reviewer signs
    # off that the campaign is a follow-up (or fixes the template).
    if not ctx.campaign.message.right_to_object_statement:
        return _review(
            "MSG-04",
            "The message does not state the right to object, separately: every recipient for whom it "
            "would be the first message is refused (UNI-07).",
        )
    return NONE


def msg_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review of a promotional offer whose conditions are not stated."""
    m = ctx.campaign.message
    if m.is_promotional_offer and not (m.offer_conditions or "").strip():
        return _review(
            "MSG-05", "Promotional offers must be clearly identifiable, with accessible conditions."
        )
    return NONE


def msg_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Routes wording that restricts the offer by a protected criterion to the DISC review."""
    m = ctx.campaign.message
    if criteria.restricts_by_protected_wording(f"{m.body}\n{m.offer_conditions or ''}"):
        return _review(
            "MSG-06", "Message wording restricts the offer by a protected criterion: see DISC-* review."
        )
    return NONE


def _names(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


def _eligibility(ctx: Context) -> tuple[tuple[TargetingCriterion, criteria.Classification, str], ...]:
    """Returns the criteria that decide who may obtain the offer, each with how the message names it.

    Besides the stated eligibility, an offer declared not generally available can only be obtained by
    the people it is sent to: a protected criterion choosing them decides who gets the offer (J.1).
    """
    out = [(crit, cls, f"'{crit.attribute}'") for crit, cls in ctx.eligibility]
    if not ctx.campaign.offer_generally_available:
        out += [
            (crit, cls, f"the audience of a restricted offer ('{crit.attribute}')")
            for crit, cls in ctx.targeting
            if cls.protected
        ]
    return tuple(out)


def disc_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks offer eligibility that depends on a protected criterion without a documented exception.

    A restricted offer (not generally available) targeted on a protected criterion is such an offer.
    """
    out: list[Finding] = []
    for crit, cls, named in _eligibility(ctx):
        keys = cls.protected
        if keys and not keys & criteria.NO_JUSTIFICATION_KEYS and not crit.justification:
            out += _block(
                "DISC-01",
                f"Offer eligibility depends on a protected criterion ({_names(keys)}) via "
                f"{named} with no documented exception (art. 225-1, 225-2 C. pén.).",
                f"criterion:{crit.attribute}",
            )
    return tuple(out)


def disc_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks offer eligibility based on origin, surname, ethnicity, nation or 'race'."""
    out: list[Finding] = []
    for crit, cls, named in _eligibility(ctx):
        keys = cls.protected & criteria.NO_JUSTIFICATION_KEYS
        if keys:
            out += _block(
                "DISC-02",
                f"No legitimate-aim derogation for {_names(keys)} (loi 2008-496 art. 2 3° al. 3), stated or "
                f"inferred via {named}.",
                f"criterion:{crit.attribute}",
            )
    return tuple(out)


def disc_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for sign-off on a justified difference based on a protected criterion."""
    out: list[Finding] = []
    for crit, cls, _named in _eligibility(ctx):
        keys = cls.protected
        if keys and not keys & criteria.NO_JUSTIFICATION_KEYS and crit.justification:
            if "sexe" in keys:
                basis = (
                    "art. 225-3 4° C. pén. only for its listed justifications; "
                    "otherwise loi 2008-496 art. 2 3° al. 2"
                )
            else:
                # M.3: art. 225-3 has no exception for age or the other criteria in goods and services.
                basis = "loi 2008-496 art. 2 3° al. 2 (legitimate aim, necessary and appropriate means)"
            out += _review(
                "DISC-03",
                f"Possible justified difference on {_names(keys)}; legal sign-off required under {basis}.",
                f"criterion:{crit.attribute}",
            )
    return tuple(out)


def disc_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks to record why a protected criterion chooses the audience of an offer declared open to all.

    The declaration is the marketer's: the reviewer signs off that the offer really is open to anyone on
    the same terms. A restricted offer goes to DISC-01/02/03 instead, an exclusion to DISC-05.
    """
    out: list[Finding] = []
    if not ctx.campaign.offer_generally_available:
        return NONE
    for crit, cls in ctx.targeting:
        if cls.protected and not cls.art9 and not cls.exclusion:
            out += _review(
                "DISC-04",
                f"Audience selected on a protected criterion ({_names(cls.protected)}) via "
                f"'{crit.attribute}' for an offer declared generally available; record why, and confirm "
                "that the message states the offer is open to anyone on the same terms.",
                f"criterion:{crit.attribute}",
            )
    return tuple(out)


def disc_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a segment that excludes a protected group from a generally available offer."""
    out: list[Finding] = []
    if not ctx.campaign.offer_generally_available:
        return NONE
    for crit, cls in ctx.targeting:
        if not (cls.exclusion and cls.protected):
            continue
        justified = crit.justification and not cls.protected & criteria.NO_JUSTIFICATION_KEYS
        message = (
            f"Segment excludes a group defined by {_names(cls.protected)} via '{crit.attribute}' "
            "from an offer "
            "that is otherwise generally available: possible indirect discrimination (loi 2008-496 art. 1)."
        )
        ref = f"criterion:{crit.attribute}"
        out += _review("DISC-05", message, ref) if justified else _block("DISC-05", message, ref)
    return tuple(out)


def disc_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a segment built on Art. 9 data unless only explicit-consent holders are targeted."""
    out: list[Finding] = []
    for crit, cls in ctx.targeting:
        if not cls.art9:
            continue
        message = (
            f"Segment built on special-category data ({_names(cls.art9)}, stated or inferred via "
            f"'{crit.attribute}'): explicit consent is needed for every recipient."
        )
        ref = f"criterion:{crit.attribute}"
        if ctx.campaign.art9_explicit_consent_only:
            out += _review("DISC-06", message + " Checked per recipient by UNI-11.", ref)
        else:
            out += _block("DISC-06", message, ref)
    return tuple(out)


def disc_07(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review of a solely automated decision with significant effect."""
    if ctx.campaign.automated_significant_decision:
        extra = " Art. 9 data may not be used unless Art. 22(4) applies." if ctx.art9_targeting else ""
        return _review(
            "DISC-07",
            "Solely automated decision with significant effect: only under Art. 22(2)(a)-(c), with human "
            "intervention and a right to contest." + extra,
        )
    return NONE


def _vulnerable_keys(ctx: Context, keys: frozenset[str]) -> frozenset[str]:
    found: set[str] = set()
    for _, cls in ctx.targeting + ctx.eligibility:
        found |= cls.protected & keys
    return frozenset(found)


def disc_08(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Flags offers likely to harm people targeted for their vulnerability."""
    keys = _vulnerable_keys(ctx, criteria.VULNERABILITY_KEYS)
    if keys and ctx.campaign.product_category in criteria.HARMFUL_TO_VULNERABLE_CATEGORIES:
        message = (
            f"Segment on {_names(keys)} for a '{ctx.campaign.product_category}' offer: "
            "exploiting vulnerabilities."
        )
        if ctx.campaign.manipulative_design:
            return _block("DISC-08", message + " The design is flagged as manipulative.")
        return _review("DISC-08", message)
    return NONE


def disc_09(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Records objective eligibility criteria, and asks for review of inaccessible or unknown ones."""
    out: list[Finding] = []
    for crit, cls in ctx.eligibility:
        if cls.protected:
            continue
        ref = f"criterion:{crit.attribute}"
        if cls.objective is True:
            out += _basis(
                "DISC-09", f"Objective, openly accessible criterion '{crit.attribute}' recorded.", ref
            )
        else:
            out += _review(
                "DISC-09",
                f"Criterion '{crit.attribute}' is not known to be objective and accessible to any consumer.",
                ref,
            )
    return tuple(out)


def disc_10(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review when consumers outside the target would be refused the product itself."""
    if ctx.campaign.refuses_product_outside_target:
        return _review(
            "DISC-10", "Refusal of sale to a consumer needs a legitimate reason (L121-11 C. consom.)."
        )
    return NONE


def disc_11(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review of differential terms between trade partners."""
    if ctx.campaign.audience is Audience.B2B and ctx.campaign.differential_b2b_terms:
        return _review(
            "DISC-11",
            "Differential B2B terms: check consideration and significant imbalance (L442-1 C. com.).",
        )
    return NONE


def disc_12(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for a DPIA check on likely high-risk profiling, even when the marketer names a DPIA.

    A declared `dpia_reference` does not lift the review: the reviewer signs off that it covers this
    campaign (the reference is the marketer's word, not a check).
    """
    c = ctx.campaign
    vulnerable = _vulnerable_keys(ctx, criteria.VULNERABILITY_KEYS - {"age"})
    if (
        (c.uses_profiling and (c.large_scale_profiling or c.combines_datasets))
        or ctx.art9_targeting
        or vulnerable
    ):
        dpia = (c.dpia_reference or "").strip()
        if dpia:
            return _review(
                "DISC-12",
                f"Likely high-risk processing; DPIA '{dpia}' declared: confirm it covers this campaign "
                "(Art. 35 GDPR).",
                f"dpia:{dpia}",
            )
        return _review("DISC-12", "Likely high-risk processing: a DPIA may be required (Art. 35 GDPR).")
    return NONE


def ret_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks prospects 3 years after collection or their last own contact."""
    assert v is not None
    expired = v.retention_clock is RetentionClock.PROSPECT and retention_expired(ctx, v)
    if expired or v.retention_flagged is RetentionClock.PROSPECT:
        return _block(
            "RET-01",
            "Prospect data kept 3 years from collection or last contact from the prospect (an e-mail open is "
            "not a contact).",
        )
    return NONE


def ret_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks customers 3 years after the end of the commercial relationship."""
    assert v is not None
    expired = v.retention_clock is RetentionClock.CUSTOMER and retention_expired(ctx, v)
    if expired or v.retention_flagged is RetentionClock.CUSTOMER:
        return _block("RET-02", "Customer data kept 3 years from the end of the commercial relationship.")
    return NONE


def ret_08(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks calls from a file whose Bloctel cleaning is older than 30 days."""
    assert v is not None
    if (
        v.kind is ContactKind.CONSUMER
        and v.bloctel_checked_on is not None
        and (ctx.moment_date - v.bloctel_checked_on).days > BLOCTEL_FRESHNESS_DAYS
    ):
        return _block(
            "RET-08",
            f"Bloctel cleaning of {v.bloctel_checked_on.isoformat()} is older than 30 days.",
            f"bloctel_check:{v.bloctel_checked_on.isoformat()}",
        )
    return NONE


def info_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a natural person's data collected from them without an Art. 13 notice."""
    assert v is not None
    if natural_person(v) and v.collected_from_person and not v.art13_given:
        return _block("INFO-01", "No Art. 13 notice recorded at collection; the record may not be used.")
    return NONE


def info_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a natural person's indirect data past the one-month Art. 14 deadline without a notice."""
    assert v is not None
    if (
        natural_person(v)
        and not v.collected_from_person
        and not v.art14_exemption
        and not art14_delivered(ctx, v)
        and v.obtained_at < ctx.notice_threshold
    ):
        return _block(
            "INFO-02",
            "Art. 14 notice deadline (one month after obtaining the data) has passed; "
            "deliver the notice before "
            "any further use.",
        )
    return NONE


def info_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks for review when the Art. 14(5)(b) exemption is claimed for a natural person's data."""
    assert v is not None
    if (
        natural_person(v)
        and not v.collected_from_person
        and v.art14_exemption
        and not art14_delivered(ctx, v)
    ):
        return _review("INFO-03", "Art. 14(5)(b) disproportionate-effort exemption claimed: rarely accepted.")
    return NONE


def info_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks reliance on a consent given without being told it can be withdrawn."""
    assert v is not None
    if (
        relies_on_consent(ctx, v)
        and v.consent_status is ConsentStatus.GRANTED
        and not v.consent_withdrawal_info
    ):
        return _block(
            "INFO-04",
            "Person not told before consenting that consent can be withdrawn; consent not usable.",
            v.consent_ref,
        )
    return NONE


def proc_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a send through a processor without a contract in force."""
    p = ctx.campaign.processor
    if p is None:
        return NONE
    signed = p.contract_signed_at and clock.as_utc(p.contract_signed_at)
    expires = p.contract_expires_at and clock.as_utc(p.contract_expires_at)
    if not p.active or not signed or signed > ctx.moment or (expires and expires <= ctx.moment):
        return _block(
            "PROC-01",
            f"No Art. 28 contract in force with processor {p.name} at the time of sending.",
            f"processor:{p.name}",
        )
    return NONE


def proc_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a processor whose contract lacks Art. 28(3) clauses, whose sub-processors are not authorised,
    or that is run through a party whose contract lacks a clause its role requires (as consent reports)."""
    p = ctx.campaign.processor
    if p is None:
        return NONE
    ref = f"processor:{p.name}"
    found: tuple[Finding, ...] = ()
    if p.missing_clauses:
        found += _block(
            "PROC-02", f"Processor contract lacks Art. 28(3) clauses: {', '.join(p.missing_clauses)}.", ref
        )
    unauthorised = [g.detail for g in p.gaps if g.topic == "subprocessor"]
    if unauthorised:
        found += _block(
            "PROC-02",
            f"Sub-processors without prior written authorisation (Art. 28(2)): {'; '.join(unauthorised)}.",
            ref,
        )
    if p.party_gaps:
        found += _block(
            "PROC-02",
            f"A party to this processing lacks a clause its role requires: "
            f"{'; '.join(g.detail for g in p.party_gaps)}.",
            ref,
        )
    return found


# Transfer gaps that a human may accept (occasional Art. 49 use, an assessment on its way); others block.
_TRANSFER_GAPS_FOR_REVIEW = frozenset({"derogation_for_regular_transfer", "no_transfer_impact_assessment"})


def proc_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Checks the transfers outside the EEA consent reports a gap for (no tool, adequacy not established,
    a derogation for routine transfers, no transfer impact assessment)."""
    p = ctx.campaign.processor
    if p is None:
        return NONE
    ref = f"processor:{p.name}"
    transfers = [g for g in p.gaps if g.topic == "transfer"]
    blocking = [g.detail for g in transfers if g.code not in _TRANSFER_GAPS_FOR_REVIEW]
    if blocking:
        return _block(
            "PROC-03",
            f"Transfer outside the EEA without a valid Chapter V tool (Art. 44-46): {'; '.join(blocking)}.",
            ref,
        )
    reviewable = [g.detail for g in transfers if g.code in _TRANSFER_GAPS_FOR_REVIEW]
    if reviewable:
        return _review(
            "PROC-03",
            f"Transfer outside the EEA to be reviewed (Art. 49 derogations are for "
            f"occasional cases; SCCs and BCRs need a transfer impact assessment): "
            f"{'; '.join(reviewable)}.",
            ref,
        )
    return NONE


def proc_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a campaign whose purpose is not registered with a lawful basis."""
    c = ctx.campaign
    if not c.purpose_registered or c.purpose_lawful_basis is LawfulBasis.UNKNOWN:
        return _block(
            "PROC-04", "Purpose not in the Art. 30 register with a lawful basis.", f"purpose:{c.purpose_id}"
        )
    return NONE


def proc_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Checks that the purpose's lawful basis fits the channel and audience."""
    c = ctx.campaign
    ref = f"purpose:{c.purpose_id}"
    if c.purpose_lawful_basis in (LawfulBasis.CONTRACT, LawfulBasis.LEGAL_OBLIGATION):
        return _block("PROC-05", "Prospection cannot rest on contract or legal obligation.", ref)
    if c.purpose_lawful_basis is LawfulBasis.LEGITIMATE_INTEREST and c.audience is Audience.B2C:
        if c.channel in (Channel.AUTOMATED_CALL, Channel.FAX):
            return _block(
                "PROC-05", "B2C automated calls and fax need consent, not legitimate interest.", ref
            )
        if c.channel is Channel.PHONE_HUMAN and ctx.phone_opt_in:
            return _review(
                "PROC-05",
                "From 11/08/2026 B2C calls on legitimate interest are limited to contracts in progress.",
                ref,
            )
    return NONE


# --- Issue 19: the campaign held to its register entry (REG-*), every party on every send (PAR-*) ----


def _register_entry(ctx: Context) -> RegisterEntryFacts | None:
    """Returns the purpose's register entry when the purpose is registered (PROC-04 handles the rest)."""
    c = ctx.campaign
    return c.register if c.purpose_registered else None


def reg_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a campaign on a channel its purpose's register entry does not cover."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None or not entry.channels or c.channel in entry.channels:
        return NONE
    return _block(
        "REG-01",
        f"The register entry (version {entry.version}) covers {_names(frozenset(entry.channels))}, "
        f"not {c.channel.value}: revise the entry before using this channel.",
        f"purpose:{c.purpose_id}@{entry.version}",
    )


def targeting_data_categories(ctx: Context) -> frozenset[str]:
    """Returns the data-category groups the campaign's targeting and offer conditions read (by name)."""
    pairs = ctx.targeting + ctx.eligibility
    return frozenset().union(*(criteria.data_categories_of(t, cls) for t, cls in pairs))


def reg_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks data categories the campaign declares and the entry does not; asks review for the ones
    its targeting suggests (an attribute name is a hint, not a fact)."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None:
        return NONE
    ref = f"purpose:{c.purpose_id}@{entry.version}"
    declared = c.data_categories - entry.data_categories
    if declared:
        return _block(
            "REG-02",
            f"The campaign uses data categories its register entry does not declare: {_names(declared)} "
            "(Art. 30(1)(c) GDPR).",
            ref,
        )
    suggested = targeting_data_categories(ctx) - entry.data_categories - c.data_categories
    if entry.data_categories and suggested:
        return _review(
            "REG-02",
            f"The targeting reads data the register entry may not declare: {_names(suggested)}; declare "
            "them on the entry or confirm the attributes are of a declared category.",
            ref,
        )
    return NONE


def reg_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks special-category data (Art. 9) the campaign declares while the entry says none; asks review
    when only its targeting reveals some."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None or entry.special_categories:
        return NONE
    ref = f"purpose:{c.purpose_id}@{entry.version}"
    if c.special_categories:
        return _block(
            "REG-03",
            f"The campaign uses special categories ({_names(c.special_categories)}) and its register "
            "entry says no sensitive data is processed (Art. 9, 30(1)(c) GDPR).",
            ref,
        )
    if ctx.art9_targeting:
        revealed = frozenset().union(*(cls.art9 for _, cls in ctx.targeting))
        return _review(
            "REG-03",
            f"The targeting reveals special categories ({_names(revealed)}) and the register entry says no "
            "sensitive data is processed: revise the entry or drop the criterion.",
            ref,
        )
    return NONE


def reg_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a processor the entry's list of processors leaves out, and a party the register does not
    link to the purpose (neither among the party's purposes nor through a processor the entry lists)."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None:
        return NONE
    found: tuple[Finding, ...] = ()
    if c.processor_id and entry.processor_ids and c.processor_id not in entry.processor_ids:
        found += _block(
            "REG-04",
            "The campaign's processor is not among the processors its register entry lists "
            "(Art. 30(1)(d) GDPR).",
            f"processor:{c.processor_id}",
        )
    for p in c.parties:
        linked = c.purpose_id in p.purpose_ids or (p.processor_id or "") in entry.processor_ids
        if p.known and not linked:
            found += _block(
                "REG-04",
                f"{p.name} ({p.role.value}) is not recorded as a recipient or processor of this purpose: "
                "add the purpose to the party or its processor to the register entry (Art. 30(1)(d)).",
                f"party:{p.party_id}",
            )
    return found


def reg_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a retention longer than the register entry's; asks review when the entry states none."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None or c.retention_months is None:
        return NONE
    ref = f"purpose:{c.purpose_id}@{entry.version}"
    if entry.retention_months is None:
        return _review(
            "REG-05",
            f"The campaign keeps data {c.retention_months} months and the register entry states no "
            "retention in months to compare with (Art. 30(1)(f)).",
            ref,
        )
    if c.retention_months > entry.retention_months:
        return _block(
            "REG-05",
            f"The campaign keeps data {c.retention_months} months, longer than the {entry.retention_months} "
            "its register entry states (Art. 5(1)(e), 30(1)(f) GDPR).",
            ref,
        )
    return NONE


def reg_06(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Requires a DPIA reference when the entry or the campaign says profiling at scale (or the entry says a
    DPIA is required), and the entry to declare the profiling the campaign does."""
    c, entry = ctx.campaign, _register_entry(ctx)
    if entry is None:
        return NONE
    ref = f"purpose:{c.purpose_id}@{entry.version}"
    found: tuple[Finding, ...] = ()
    dpia = (c.dpia_reference or entry.dpia_reference or "").strip()
    if (entry.dpia_required or entry.profiling or c.large_scale_profiling) and not dpia:
        found += _block(
            "REG-06",
            "Profiling at scale or a register entry that requires a DPIA, and no DPIA reference on the "
            "campaign or the entry (Art. 35(1), 35(3)(a) GDPR).",
            ref,
        )
    if c.large_scale_profiling and not entry.profiling:
        found += _block(
            "REG-06",
            "The campaign profiles at scale and its register entry does not declare profiling: revise the "
            "entry (Art. 30(1)(b), 35 GDPR).",
            ref,
        )
    elif c.uses_profiling and not entry.profiling:
        found += _review(
            "REG-06",
            "The campaign profiles and its register entry does not declare profiling (Art. 4(4), 30(1)(b)).",
            ref,
        )
    return found


#: Consent's party roles that can stand in each role on a send: processing for us needs an Art. 28
#: contract (processor, sub-processor), supplying data a broker's or a joint controller's (Art. 26).
SEND_ROLE_PARTY_ROLES: dict[SendRole, frozenset[str]] = {
    SendRole.ROUTER: frozenset({"processor", "sub_processor"}),
    SendRole.CALL_CENTRE: frozenset({"processor", "sub_processor"}),
    SendRole.HOSTING: frozenset({"processor", "sub_processor"}),
    SendRole.PRINTER: frozenset({"processor", "sub_processor"}),
    SendRole.TRACKING_PROVIDER: frozenset({"processor", "sub_processor", "joint_controller"}),
    SendRole.DATA_SOURCE: frozenset({"data_broker", "joint_controller"}),
    SendRole.INTEGRATOR: frozenset({"integrator", "software_vendor"}),
}
#: TERM gaps that block a send (staff confidentiality, security: Art. 28(3)(b), (c), 32); the others
#: (ownership, licence, reversibility) are a human's call meanwhile.
BLOCKING_TERMS = frozenset({"TERM-04", "TERM-05"})


def par_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a party the campaign names and consent's party register does not know (fail closed)."""
    return tuple(
        f
        for p in ctx.campaign.parties
        if not p.known
        for f in _block(
            "PAR-01",
            f"The {p.role.value} named on the campaign is not in consent's register of parties.",
            f"party:{p.party_id}",
        )
    )


def par_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a party without a contract in force at the moment of sending, or not active."""
    out: tuple[Finding, ...] = ()
    for p in ctx.campaign.parties:
        if not p.known:
            continue
        signed = p.contract_signed_at and clock.as_utc(p.contract_signed_at)
        expires = p.contract_expires_at and clock.as_utc(p.contract_expires_at)
        if not p.active or not signed or signed > ctx.moment or (expires and expires <= ctx.moment):
            out += _block(
                "PAR-02",
                f"No contract in force with {p.name} ({p.role.value}) at the time of sending, or the party "
                "is not active (Art. 28(3), 26 GDPR).",
                f"party:{p.party_id}",
            )
    return out


def par_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a party whose registered roles cannot stand in its role on the send."""
    out: tuple[Finding, ...] = ()
    for p in ctx.campaign.parties:
        allowed = SEND_ROLE_PARTY_ROLES[p.role]
        if p.known and not p.roles & allowed:
            out += _block(
                "PAR-03",
                f"{p.name} acts as {p.role.value} but is registered as {_names(p.roles) or 'no role'}: a "
                f"{p.role.value} needs the contract of a {_names(allowed)}.",
                f"party:{p.party_id}",
            )
    return out


def par_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a party whose contract lacks a clause one of its roles requires (consent's report)."""
    return tuple(
        f
        for p in ctx.campaign.parties
        if p.known and p.missing_clauses
        for f in _block(
            "PAR-04",
            f"The contract with {p.name} ({p.role.value}) lacks clauses its role requires: "
            f"{'; '.join(p.missing_clauses)}.",
            f"party:{p.party_id}",
        )
    )


def par_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Checks the contract terms consent reports unsettled (TERM-01..06): staff confidentiality and
    security block, ownership, licence and reversibility ask review; unknown terms ask review."""
    out: tuple[Finding, ...] = ()
    for p in ctx.campaign.parties:
        if not p.known:
            continue
        ref = f"party:{p.party_id}"
        if p.term_gaps is None:
            out += _review(
                "PAR-05",
                f"Consent has not said which contract terms with {p.name} are settled: check ownership, "
                "confidentiality, security and reversibility.",
                ref,
            )
            continue
        blocking = [g for g in p.term_gaps if g.split(" ", 1)[0] in BLOCKING_TERMS]
        other = [g for g in p.term_gaps if g.split(" ", 1)[0] not in BLOCKING_TERMS]
        if blocking:
            out += _block(
                "PAR-05",
                f"The contract with {p.name} ({p.role.value}) leaves unsettled: {'; '.join(blocking)} "
                "(Art. 28(3)(b), (c), 32 GDPR).",
                ref,
            )
        if other:
            out += _review(
                "PAR-05",
                f"The contract with {p.name} ({p.role.value}) leaves unsettled: {'; '.join(other)}.",
                ref,
            )
    return out


# --- Issue 19: the per-operation study (déployer): STUDY-*, file rental (RENT-*), tracking (TRACK-*),
# --- refusal of sale (SALE-*) ---------------------------------------------------------------------------


class PartnerCoverage(enum.IntEnum):
    """How the recipient's consent covers the partners a campaign transfers or rents data to (RENT-01)."""

    NONE = 0  # No usable consent, or a partner neither named nor of a category the consent names.
    CATEGORIES = 1  # Every partner covered, some only through their category.
    NAMED = 2  # Every partner named on the consent.


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def partner_coverage(
    named: Iterable[str], categories: Iterable[str], partners: Iterable[tuple[str, str]]
) -> PartnerCoverage:
    """Returns how a consent naming `named` partners and `categories` covers (name, category) partners."""
    names, kinds = {_fold(n) for n in named}, {_fold(c) for c in categories}
    out = PartnerCoverage.NAMED
    for name, category in partners:
        if _fold(name) in names:
            continue
        if _fold(category) in kinds:
            out = PartnerCoverage.CATEGORIES
            continue
        return PartnerCoverage.NONE
    return out


#: What each question of the study asks (the finding names it).
STUDY_QUESTIONS: dict[StudyQuestion, str] = {
    StudyQuestion.TARGET: "who is targeted, on which criteria, and why those criteria",
    StudyQuestion.MESSAGE: "what the message says and promises",
    StudyQuestion.OFFER: "the offer's conditions, and whether anyone outside the target is refused",
    StudyQuestion.PARTNERS: "whether recipients' data is rented or transferred to partners, and to whom",
    StudyQuestion.TRACKING: "whether the e-mails carry opening pixels or tracked links, per recipient",
}
STUDY_RULES: dict[StudyQuestion, str] = {
    StudyQuestion.TARGET: "STUDY-01",
    StudyQuestion.MESSAGE: "STUDY-02",
    StudyQuestion.OFFER: "STUDY-03",
    StudyQuestion.PARTNERS: "STUDY-04",
    StudyQuestion.TRACKING: "STUDY-05",
}


_STUDY = (
    "Source article, déployer: each promotional operation studied for its targets and message before it "
    "runs; Art. 5(2), 24 Regulation (EU) 2016/679 (accountability)"
)


def _study(ctx: Context, question: StudyQuestion) -> tuple[Finding, ...]:
    """Blocks an unanswered question of the study; asks a reviewer's sign-off of an answered one."""
    rule_id = STUDY_RULES[question]
    digest = dict(ctx.campaign.study.answers).get(question)
    asks = STUDY_QUESTIONS[question]
    if digest is None:
        return _block(
            rule_id,
            f"The per-operation study does not answer '{question.value}' ({asks}): answer it before the "
            "campaign is reviewed.",
        )
    return _review(
        rule_id,
        f"The study's answer on '{question.value}' ({asks}) needs a reviewer's sign-off.",
        f"study:{question.value}:{digest}",
    )


def study_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """The study's target question: answered (then signed off), else blocks."""
    return _study(ctx, StudyQuestion.TARGET)


def study_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """The study's message question: answered (then signed off), else blocks."""
    return _study(ctx, StudyQuestion.MESSAGE)


def study_03(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """The study's offer question: answered (then signed off), else blocks."""
    return _study(ctx, StudyQuestion.OFFER)


def study_04(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """The study's partners question: answered (then signed off), else blocks."""
    return _study(ctx, StudyQuestion.PARTNERS)


def study_05(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """The study's tracking question (e-mail and SMS): answered (then signed off), else blocks."""
    return _study(ctx, StudyQuestion.TRACKING)


RENT_UNCOVERED = (
    "The campaign rents or transfers the recipient's data to partners: no consent of the recipient names "
    "them or their categories."
)
RENT_CATEGORIES = (
    "The recipient's consent names the partners' categories, not each partner: confirm the up-to-date list "
    "of partners was accessible when the consent was collected."
)


def rent_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient whose data a campaign rents or transfers to partners without a consent naming them
    or their categories (postal mail: asks review, the CNIL accepting an objection offered at collection);
    asks review when only the categories are named."""
    assert v is not None
    if not ctx.campaign.study.transfers_to_partners or v.kind is ContactKind.LEGAL_PERSON_GENERIC:
        return NONE
    if v.partner_coverage is PartnerCoverage.NONE:
        if ctx.campaign.channel in POSTAL:
            return _review("RENT-01", RENT_UNCOVERED, v.consent_ref)
        return _block("RENT-01", RENT_UNCOVERED, v.consent_ref)
    if v.partner_coverage is PartnerCoverage.CATEGORIES:
        return _review("RENT-01", RENT_CATEGORIES, v.consent_ref)
    return NONE


def rent_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a transfer to partners unless the study declares each partner informs recipients (Art. 14)."""
    s = ctx.campaign.study
    transferred = s.transfers_to_partners and s.transfer_mode is TransferMode.TRANSFERRED
    if transferred and not s.partner_informs_art14:
        return _block(
            "RENT-02",
            "Data transferred to partners: each partner must give the recipients the Art. 14 information "
            "(that it holds their data, from whom) at the latest at its first communication; the study does "
            "not declare it.",
        )
    return NONE


TRACK_UNCONSENTED = (
    "Per-recipient e-mail tracking (opening pixel, tracked links) needs the recipient's consent (art. 82 loi "
    "Informatique et Libertés): obtain it, or send this campaign without the tracking."
)


def track_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient of e-mails tracked per recipient who did not consent to the tracking."""
    assert v is not None
    tracked = ctx.campaign.study.per_recipient_tracking
    if tracked and v.kind is not ContactKind.LEGAL_PERSON_GENERIC and not v.tracking_consent:
        return _block("TRACK-01", TRACK_UNCONSENTED, v.consent_ref)
    return NONE


def track_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Asks review of tracking declared as aggregate only (no consent is then asked of anyone)."""
    s = ctx.campaign.study
    if s.tracking and not s.per_recipient_tracking:
        return _review(
            "TRACK-02",
            "Tracking declared for aggregate measurement only: consent is not needed only if no opening or "
            "click is ever tied to a recipient; confirm the tool and the provider keep none.",
        )
    return NONE


def sale_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks, from the study, a product refused to consumers outside the target without a reason; asks
    review of the reason given (L121-11 C. consom.)."""
    s = ctx.campaign.study
    if not s.refuses_product_outside_target:
        return NONE
    if s.refusal_reason is None:
        return _block(
            "SALE-01",
            "The study says consumers outside the target are refused the product itself, with no "
            "legitimate reason: a refusal of sale (L121-11 C. consom.). Reserve only the promotion, or "
            "state the reason.",
        )
    return _review(
        "SALE-01",
        f"The product is refused outside the target ({s.refusal_reason.value}): confirm the reason is "
        "legitimate (L121-11 C. consom.).",
        f"refusal_reason:{s.refusal_reason.value}",
    )


# --- The table --------------------------------------------------------------------------------------

_R, _C = Scope.RECIPIENT, Scope.CAMPAIGN
_SOFT, _AUTO_FAX = SOFT_OPT_IN_CHANNELS, frozenset({Channel.AUTOMATED_CALL, Channel.FAX})
_EMAIL, _SMS = frozenset({Channel.EMAIL}), frozenset({Channel.SMS_MMS})
_AUTO, _UNADDRESSED = frozenset({Channel.AUTOMATED_CALL}), frozenset({Channel.POSTAL_UNADDRESSED})
# D223-9 covers "la sollicitation d'un consommateur par voie téléphonique" and L221-17 "la prospection par
# téléphone", whoever or whatever speaks: calls by an automated system are held to them like human calls.
_CALLS = frozenset({Channel.PHONE_HUMAN, Channel.AUTOMATED_CALL})
_GDPR = "Regulation (EU) 2016/679"


# --- R. Data-subject rights (restriction, contestation) -------------------------------------------------

RESTRICTED_MESSAGE = (
    "Processing of this person's data is restricted (Art. 18 GDPR): it may be stored, not used for marketing."
)


def rights_01(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a recipient whose processing is restricted (Art. 18): stored only, never used for marketing."""
    assert v is not None
    if v.restricted:
        return _block("RIGHTS-01", RESTRICTED_MESSAGE, v.restriction_ref)
    return NONE


def rights_02(ctx: Context, v: RecipientView | None) -> tuple[Finding, ...]:
    """Blocks a solely automated significant decision that offers the person no route to contest it."""
    c = ctx.campaign
    if c.automated_significant_decision and not (c.contest_route or "").strip():
        return _block(
            "RIGHTS-02",
            "Solely automated decision with significant effect and no route to contest it: the person must "
            "be able to express their view, contest and obtain human intervention (Art. 22(3)); give "
            "contest_route.",
        )
    return NONE


def _rule(
    rule_id: str,
    title: str,
    scope: Scope,
    channels: frozenset[Channel] | None,
    evaluate: Evaluate,
    source: str,
    *,
    effective_from: date | None = None,
    effective_to: date | None = None,
) -> Rule:
    return Rule(rule_id, title, scope, channels, effective_from, effective_to, source, evaluate)


RULES: tuple[Rule, ...] = (
    _rule(
        "NO_CHANNEL_ADDRESS",
        "No address for the channel",
        _R,
        PERSONAL_CHANNELS,
        no_channel_address,
        "Gate design: nothing can be sent without an address",
    ),
    # A. Universal per-recipient rules.
    _rule(
        "UNI-01",
        "Objection to direct marketing",
        _R,
        None,
        uni_01,
        f"Art. 21(2)-(3) {_GDPR}; CNIL repoussoir",
    ),
    _rule("UNI-02", "Opposition list hit", _R, None, uni_02, "CNIL liste repoussoir 27/01/2022"),
    _rule("UNI-03", "Consent withdrawn", _R, None, uni_03, f"Art. 7(3) {_GDPR}"),
    _rule(
        "UNI-04",
        "Consent cannot be demonstrated",
        _R,
        PERSONAL_CHANNELS,
        uni_04,
        f"Art. 7(1) {_GDPR}; CNIL SAN-2025-001",
    ),
    _rule(
        "UNI-05",
        "Third-party consent not verified",
        _R,
        PERSONAL_CHANNELS,
        uni_05,
        "CNIL SAN-2024-003, SAN-2024-004, SAN-2025-001; Art. 4(11), 6(1)(a) GDPR",
    ),
    _rule(
        "UNI-06",
        "No Art. 14 notice by the first communication",
        _R,
        PERSONAL_CHANNELS,
        uni_06,
        f"Art. 14(3) {_GDPR}",
    ),
    _rule(
        "UNI-07",
        "Right to object missing in first communication",
        _R,
        PERSONAL_CHANNELS,
        uni_07,
        f"Art. 21(4) {_GDPR}",
    ),
    _rule(
        "UNI-08",
        "Retention limit exceeded",
        _R,
        PERSONAL_CHANNELS,
        uni_08,
        "Art. 5(1)(e) GDPR; CNIL référentiel gestion commerciale (délib. 2021-131)",
    ),
    _rule(
        "UNI-09",
        "Under 15 without joint parental consent",
        _R,
        PERSONAL_CHANNELS,
        uni_09,
        "Art. 45 loi 78-17; Art. 8 GDPR",
    ),
    _rule("UNI-10", "Minor and profiling", _R, PERSONAL_CHANNELS, uni_10, "Recitals 38 and 71 GDPR"),
    _rule(
        "UNI-11",
        "Art. 9 targeting without explicit consent",
        _R,
        PERSONAL_CHANNELS,
        uni_11,
        "Art. 9(1)-(2)(a) GDPR; EDPB Guidelines 8/2020",
    ),
    # B. Electronic channels (L34-5 CPCE).
    _rule(
        "ELEC-01", "Prior opt-in consent", _R, ELECTRONIC, elec_01, "L34-5 al. 1-2 CPCE; CNIL SMS-MMS page"
    ),
    _rule("ELEC-02", "Soft opt-in for existing customers", _R, _SOFT, elec_02, "L34-5 al. 4 CPCE"),
    _rule("ELEC-03", "Account without sale", _R, _SOFT, elec_03, "CNIL SMS-MMS and automates d'appel pages"),
    _rule(
        "ELEC-04",
        "Soft opt-in outside analogous products of the seller",
        _R,
        _SOFT,
        elec_04,
        "L34-5 al. 4 CPCE",
    ),
    _rule("ELEC-05", "Analogy of products unclear", _R, _SOFT, elec_05, "L34-5 al. 4 CPCE"),
    _rule(
        "ELEC-06",
        "No consent and no soft opt-in",
        _R,
        _SOFT,
        elec_06,
        "L34-5 al. 1 CPCE; CE 11/03/2015 n° 368624",
    ),
    _rule("ELEC-07", "B2B professional relevance", _R, _SOFT, elec_07, "CNIL B2B doctrine (17/02/2005)"),
    _rule("ELEC-08", "B2B message unrelated to profession", _R, _SOFT, elec_08, "CNIL B2B doctrine"),
    _rule("ELEC-09", "Generic company address", _R, _EMAIL, elec_09, "CNIL; L34-5 'dans tous les cas'"),
    _rule(
        "ELEC-10",
        "Automated call or fax without consent",
        _R,
        _AUTO_FAX,
        elec_10,
        "L34-5 al. 1 CPCE; CNIL automates d'appel 26/01/2022",
    ),
    _rule("ELEC-11", "Automated call to informed professional", _R, _AUTO, elec_11, "CNIL automates d'appel"),
    _rule("ELEC-12", "Non-commercial prospection with opt-out", _R, _SOFT, elec_12, "CNIL SMS-MMS page"),
    _rule("ELEC-13", "SMS stop mechanism and advertiser", _C, _SMS, elec_13, "CNIL SMS-MMS page; L34-5"),
    # C1. Telephone, Bloctel regime until 10/08/2026 (TEL-01/02/06 end then per M.7.3).
    _rule(
        "TEL-01",
        "Bloctel registration",
        _R,
        PHONE,
        tel_01,
        "Art. L223-1 C. consom. (loi 2020-901)",
        effective_to=BLOCTEL_REGIME_LAST_DAY,
    ),
    _rule(
        "TEL-02",
        "File never cleaned against Bloctel",
        _R,
        PHONE,
        tel_02,
        "Art. L223-1, R223-6 C. consom.",
        effective_to=BLOCTEL_REGIME_LAST_DAY,
    ),
    # D223-9 survives 11/08/2026 (M.2), so TEL-03/04/05 keep no end date.
    _rule(
        "TEL-03",
        "Call days and hours (human and automated calls)",
        _R,
        _CALLS,
        tel_03,
        "Art. D223-9 C. consom. (décret 2022-1313): any telephone solicitation of a consumer",
        effective_from=D223_9_FROM,
    ),
    _rule(
        "TEL-04",
        "Call frequency",
        _R,
        PHONE,
        tel_04,
        "Art. D223-9 al. 3 C. consom.",
        effective_from=D223_9_FROM,
    ),
    _rule(
        "TEL-05",
        "60 days after a refusal",
        _R,
        PHONE,
        tel_05,
        "Art. D223-9 C. consom. (M.2 boundary)",
        effective_from=D223_9_FROM,
    ),
    _rule(
        "TEL-06",
        "Opening statements of a call",
        _C,
        PHONE,
        tel_06_bloctel,
        "Art. L221-16 C. consom.",
        effective_to=BLOCTEL_REGIME_LAST_DAY,
    ),
    _rule(
        "TEL-06",
        "Opening statements of a call (no Bloctel mention)",
        _C,
        PHONE,
        tel_06,
        "Art. L221-16 C. consom.; section M.1 (Bloctel mention pending VERIFY)",
        effective_from=PHONE_OPT_IN_FROM,
    ),
    _rule(
        "TEL-07",
        "Masked caller number (human and automated calls)",
        _C,
        _CALLS,
        tel_07,
        "Art. L221-17 C. consom. (prospection par téléphone)",
    ),
    _rule(
        "TEL-08",
        "Sector ban: home energy renovation and adaptation",
        _R,
        PHONE,
        tel_08,
        "Art. L223-1 C. consom. (loi 2020-901; scope per loi 2025-594, section M.1)",
        effective_from=LOI_2020_901_FROM,
    ),
    _rule(
        "TEL-08",
        "Sector ban on every channel",
        _R,
        ELECTRONIC,
        tel_08,
        "Section M.1 / M.7.1: reported all-channel ban since July 2025 (VERIFY the article)",
        effective_from=SECTOR_BAN_ALL_CHANNELS_FROM,
    ),
    _rule(
        "TEL-09",
        "Art. 14 information during calls on third-party data",
        _R,
        PHONE,
        tel_09,
        "CNIL SAN-2024-004 HUBSIDE.STORE",
    ),
    _rule(
        "TEL-10",
        "Opt-out regime for human calls",
        _R,
        PHONE,
        tel_10,
        "CNIL 2019; L223-1 C. consom.",
        effective_to=BLOCTEL_REGIME_LAST_DAY,
    ),
    # Consumer law alone protects consumers, before and after 11/08/2026, so TEL-11 has no end date.
    _rule("TEL-11", "Calls to non-consumers", _R, PHONE, tel_11, "Bloctel FAQ pro; L223-1 (consumers only)"),
    # C2. Telephone, opt-in regime from 11/08/2026.
    _rule(
        "TEL26-01",
        "Prior consent to telephone prospection",
        _R,
        PHONE,
        tel26_01,
        "L223-1 C. consom. (loi 2025-594 art. 13), section M.1",
        effective_from=PHONE_OPT_IN_FROM,
    ),
    _rule(
        "TEL26-02",
        "Consent to telephone prospection recorded",
        _R,
        PHONE,
        tel26_02,
        "L223-1 C. consom. (loi 2025-594 art. 13)",
        effective_from=PHONE_OPT_IN_FROM,
    ),
    _rule(
        "TEL26-03",
        "Information on consent at phone collection",
        _R,
        PHONE,
        tel26_03,
        "LEGIARTI000051830282 (with the contract clause, section M.1)",
        effective_from=PHONE_OPT_IN_FROM,
    ),
    # D. Postal mail.
    _rule(
        "POST-01", "Postal opt-out regime", _R, POSTAL, post_01, "CNIL prospection par courrier 06/12/2019"
    ),
    _rule(
        "POST-02",
        "Art. 14 information with the first mailing",
        _R,
        POSTAL,
        post_02,
        "CNIL 2019; Art. 14(2)(f), 14(3)(b) GDPR",
    ),
    _rule("POST-03", "Robinson list", _R, POSTAL, post_03, "UFMD Robinson list (VERIFY operator)"),
    _rule("POST-04", "Stop Pub on unaddressed mail", _R, _UNADDRESSED, post_04, "Art. L541-15-15 C. env."),
    _rule("POST-05", "Objection reminder in each mailing", _C, POSTAL, post_05, "CNIL liste repoussoir page"),
    # E. Message content.
    _rule("MSG-01", "Free stop mechanism", _C, ELECTRONIC, msg_01, "L34-5 'dans tous les cas'; CNIL SMS-MMS"),
    _rule("MSG-02", "Sender identity", _C, ELECTRONIC, msg_02, "L34-5; art. 20 LCEN (VERIFY)"),
    _rule("MSG-03", "Subject related to the offer", _C, _EMAIL, msg_03, "L34-5 (VERIFY wording)"),
    _rule("MSG-04", "Right-to-object statement", _C, PERSONAL_CHANNELS, msg_04, f"Art. 21(4) {_GDPR}"),
    _rule(
        "MSG-05", "Promotional offer conditions", _C, None, msg_05, "ex-L121-15-1 C. consom. / LCEN (VERIFY)"
    ),
    _rule(
        "MSG-06", "Restrictive wording on a protected criterion", _C, None, msg_06, "art. 225-1/225-2 C. pén."
    ),
    # F. Targeting, offer conditions and profiling.
    _rule(
        "DISC-01",
        "Eligibility on a protected criterion",
        _C,
        None,
        disc_01,
        "art. 225-1, 225-2 1° and 4° C. pén.; loi 2008-496 art. 2 3°",
    ),
    _rule(
        "DISC-02",
        "Eligibility on origin, surname, ethnicity, nation or race",
        _C,
        None,
        disc_02,
        "loi 2008-496 art. 2 3° al. 3",
    ),
    _rule(
        "DISC-03",
        "Justified difference to sign off",
        _C,
        None,
        disc_03,
        "loi 2008-496 art. 2 3° al. 2; art. 225-3 4° C. pén. for sex only (section M.3)",
    ),
    _rule(
        "DISC-04",
        "Audience chosen on a protected criterion",
        _C,
        None,
        disc_04,
        "art. 225-2 C. pén.; loi 2008-496 art. 1",
    ),
    _rule(
        "DISC-05",
        "Exclusion of a protected group from an open offer",
        _C,
        None,
        disc_05,
        "loi 2008-496 art. 1; EDPB 8/2020",
    ),
    _rule("DISC-06", "Segment on Art. 9 data", _C, None, disc_06, "Art. 9 GDPR; EDPB 8/2020"),
    _rule("DISC-07", "Solely automated significant decision", _C, None, disc_07, "Art. 22 GDPR"),
    _rule(
        "DISC-08", "Exploiting vulnerabilities", _C, None, disc_08, "AI Act art. 5(1)(b) (VERIFY); art. 225-1"
    ),
    _rule("DISC-09", "Objective eligibility criteria", _C, None, disc_09, "L121-11 C. consom.; art. 225-1"),
    _rule("DISC-10", "Refusal of sale", _C, None, disc_10, "L121-11 C. consom."),
    _rule("DISC-11", "Differential B2B terms", _C, None, disc_11, "L442-1 C. com.; CEPC avis 09-06"),
    _rule("DISC-12", "DPIA check", _C, None, disc_12, "Art. 35 GDPR; WP248"),
    # G. Retention.
    _rule(
        "RET-01",
        "Prospect retention",
        _R,
        PERSONAL_CHANNELS,
        ret_01,
        "CNIL référentiel (délib. 2021-131), M.5",
    ),
    _rule("RET-02", "Customer retention", _R, PERSONAL_CHANNELS, ret_02, "CNIL référentiel; SAN-2020-008"),
    _rule(
        "RET-08",
        "Bloctel freshness",
        _R,
        PHONE,
        ret_08,
        "L223-1, R223-6 C. consom. (ends with Bloctel, M.7.3)",
        effective_to=BLOCTEL_REGIME_LAST_DAY,
    ),
    # H. Information notices.
    _rule("INFO-01", "Art. 13 notice at collection", _R, PERSONAL_CHANNELS, info_01, "Art. 13(1)-(2) GDPR"),
    _rule("INFO-02", "Art. 14 notice deadline", _R, PERSONAL_CHANNELS, info_02, "Art. 14(3) GDPR"),
    _rule(
        "INFO-03",
        "Art. 14(5)(b) exemption claimed",
        _R,
        PERSONAL_CHANNELS,
        info_03,
        "Art. 14(5)(b) GDPR; CE DSE case",
    ),
    _rule(
        "INFO-04",
        "Withdrawal information before consent",
        _R,
        PERSONAL_CHANNELS,
        info_04,
        "Art. 7(3), 13(2)(c) GDPR",
    ),
    # I. Processors, transfers and the register (ids defined by the gate: the rule book's section I has none).
    _rule("PROC-01", "Processor contract in force", _C, None, proc_01, "Art. 28(1), 28(3), 28(9) GDPR"),
    _rule(
        "PROC-02",
        "Art. 28 clauses and sub-processors",
        _C,
        None,
        proc_02,
        "Art. 28(2)-(4) GDPR; sections I.2, I.4",
    ),
    _rule("PROC-03", "Transfers outside the EEA", _C, None, proc_03, "Art. 44-49 GDPR; section I.3"),
    _rule(
        "PROC-04", "Purpose registered with a lawful basis", _C, None, proc_04, "Art. 30(1)(b), Art. 6 GDPR"
    ),
    _rule(
        "PROC-05",
        "Lawful basis compatible with the channel",
        _C,
        None,
        proc_05,
        "Art. 6 GDPR; L34-5 CPCE; L223-1 C. consom.",
    ),
    # Issue 19: the campaign held to its register entry (Art. 30) and every party on every send.
    _rule("REG-01", "Channel covered by the register entry", _C, None, reg_01, "Art. 5(1)(b), 30(1)(b) GDPR"),
    _rule(
        "REG-02",
        "Data categories declared in the register entry",
        _C,
        None,
        reg_02,
        "Art. 5(1)(c), 30(1)(c) GDPR; CNIL register template (M.4)",
    ),
    _rule(
        "REG-03",
        "Special categories declared in the register entry",
        _C,
        None,
        reg_03,
        "Art. 9, 30(1)(c) GDPR; CNIL register template (M.4)",
    ),
    _rule(
        "REG-04",
        "Processors and parties listed for the processing",
        _C,
        None,
        reg_04,
        "Art. 28, 30(1)(d) GDPR",
    ),
    _rule(
        "REG-05",
        "Retention within the register entry's",
        _C,
        None,
        reg_05,
        "Art. 5(1)(e), 30(1)(f) GDPR; CNIL référentiel (délib. 2021-131)",
    ),
    _rule(
        "REG-06",
        "Profiling declared and its DPIA referenced",
        _C,
        None,
        reg_06,
        "Art. 30(1)(b), 35(1), 35(3)(a) GDPR; CNIL list of processing requiring a DPIA (délib. 2018-327)",
    ),
    _rule("PAR-01", "Every party on the send is registered", _C, None, par_01, "Art. 5(2), 24, 28(1) GDPR"),
    _rule("PAR-02", "Contract in force with every party", _C, None, par_02, "Art. 26, 28(3), 28(9) GDPR"),
    _rule(
        "PAR-03",
        "Party registered in the role it plays on the send",
        _C,
        None,
        par_03,
        "Art. 26, 28(1), 28(3) GDPR; sections I.2, I.4",
    ),
    _rule(
        "PAR-04",
        "Clauses each party's role requires",
        _C,
        None,
        par_04,
        "Art. 28(3) GDPR; sections I.2, I.4 (consent's clause checklist)",
    ),
    _rule(
        "PAR-05",
        "Contract terms settled (TERM-01..06)",
        _C,
        None,
        par_05,
        "Art. 28(3)(b), (c), (g), 32 GDPR; art. L131-2, L131-3 CPI (consent's TERM rules)",
    ),
    # R. Data-subject rights (ids defined by the gate): restriction (Art. 18), contestation (Art. 22(3)).
    _rule(
        "RIGHTS-01",
        "Processing restricted",
        _R,
        None,
        rights_01,
        f"Art. 18(1)-(2) {_GDPR}",
    ),
    _rule(
        "RIGHTS-02",
        "No route to contest an automated decision",
        _C,
        None,
        rights_02,
        f"Art. 22(3) {_GDPR}; WP29 guidelines on automated decisions (WP251rev.01)",
    ),
    # J. The per-operation study and its rules (issue 19; the source article's déployer stage).
    _rule("STUDY-01", "Study: target and criteria", _C, None, study_01, _STUDY),
    _rule("STUDY-02", "Study: message", _C, None, study_02, _STUDY),
    _rule("STUDY-03", "Study: offer conditions", _C, None, study_03, _STUDY + "; L121-11 C. consom."),
    _rule("STUDY-04", "Study: partners", _C, None, study_04, _STUDY + f"; Art. 6(1)(a), 14 {_GDPR}"),
    _rule("STUDY-05", "Study: tracking", _C, _SOFT, study_05, _STUDY + "; art. 82 loi 78-17"),
    _rule(
        "RENT-01",
        "File rental or transfer: consent naming the partners",
        _R,
        PERSONAL_CHANNELS,
        rent_01,
        f"Art. 6(1)(a), 7 {_GDPR}; L34-5 CPCE; CNIL, cession de fichiers à des partenaires (VERIFY page)",
    ),
    _rule(
        "RENT-02",
        "File transfer: Art. 14 information by the partner",
        _C,
        None,
        rent_02,
        f"Art. 14(1)-(3) {_GDPR}; CNIL, information des personnes par le partenaire (VERIFY page)",
    ),
    _rule(
        "TRACK-01",
        "E-mail tracking per recipient: consent",
        _R,
        _EMAIL,
        track_01,
        "Art. 82 loi 78-17; CNIL recommandation sur les pixels de suivi dans les courriels (VERIFY date)",
    ),
    _rule(
        "TRACK-02",
        "E-mail tracking declared aggregate only",
        _C,
        _EMAIL,
        track_02,
        "Art. 82 loi 78-17 (exemption: strictly necessary); CNIL pixels recommendation (VERIFY)",
    ),
    _rule("SALE-01", "Refusal of sale outside the target", _C, None, sale_01, "L121-11 C. consom."),
)

RULE_IDS: tuple[str, ...] = tuple(dict.fromkeys(r.id for r in RULES))


def applicable_rules(channel: Channel, on: date, *, scope: Scope | None = None) -> tuple[Rule, ...]:
    """Returns the rows that apply to a channel on a day, in table order."""
    return tuple(r for r in RULES if r.applies(channel, on) and (scope is None or r.scope is scope))

"""Randomised recipients and campaigns that reach every branch of the gate's rule table (for the
equivalence tests of the columnar evaluator against the scalar oracle)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from campaign_gate.domain import rules
from campaign_gate.domain.facts import (
    BrokerVerification,
    CampaignFacts,
    Channel,
    ConsentRecord,
    ConsentStatus,
    ContactKind,
    ContractFact,
    LawfulBasis,
    Objection,
    PhoneCollection,
    ProcessorFacts,
    RecipientFacts,
    Relationship,
    SuppressionHit,
    SuppressionKind,
    TargetingCriterion,
    TransferMode,
)
from campaign_gate_examples import (
    PURPOSE,
    SELLER,
    SEND_BLOCTEL,
    SEND_OPT_IN,
    born,
    bought,
    campaign,
    message,
    renting,
    script,
    study,
)

SEED = 20261129
#: Partner names as consents may spell them (the gate folds case and spaces), and partner categories.
PARTNER_NAMES = ("Assur Plus SA", " assur plus  sa", "Voyages Soleil", "Autre Partenaire")
PARTNER_KINDS = ("insurance", "travel", "banking")
SEND_TIMES = (
    SEND_BLOCTEL,
    SEND_OPT_IN,
    datetime(2026, 3, 14, 9, 30, tzinfo=UTC),  # Saturday.
    datetime(2026, 8, 10, 8, 30, tzinfo=UTC),  # Last day of the Bloctel regime.
    datetime(2026, 8, 11, 8, 30, tzinfo=UTC),  # First day of the opt-in regime.
    datetime(2026, 5, 14, 8, 30, tzinfo=UTC),  # Ascension Day.
    datetime(2026, 9, 15, 18, 30, tzinfo=UTC),  # 20:30 in Paris.
)
ZONES = ("Europe/Paris", "Europe/Paris", "Europe/Paris", "America/Martinique", "Indian/Reunion", None)


def _instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def _maybe(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def random_recipient(rng: random.Random, i: int) -> RecipientFacts:
    """Returns a recipient whose facts are drawn to reach every branch of the table."""
    lo, hi = datetime(2021, 6, 1, tzinfo=UTC), datetime(2026, 9, 30, tzinfo=UTC)
    channels = list(Channel)
    consents = []
    for ch in rng.sample(channels, rng.randrange(len(channels) + 1)):
        for _ in range(rng.choice((1, 1, 1, 2))):
            consents.append(
                ConsentRecord(
                    consent_id=f"c{i}-{ch.value}-{len(consents)}",
                    purpose_id=PURPOSE if _maybe(rng, 0.9) else "other",
                    channel=ch,
                    status=rng.choices(list(ConsentStatus), weights=(8, 1, 1))[0],
                    granted_at=_instant(rng, lo, hi),
                    withdrawn_at=_instant(rng, lo, hi) if _maybe(rng, 0.1) else None,
                    proof_present=_maybe(rng, 0.85),
                    positive_act=_maybe(rng, 0.85),
                    explicit=_maybe(rng, 0.3),
                    withdrawal_info_given=_maybe(rng, 0.85),
                    given_by_minor=_maybe(rng, 0.5),
                    given_by_parent=_maybe(rng, 0.3),
                    out_of_hours_calls=_maybe(rng, 0.1),
                    # Issue 19: partners named as entered (case and spaces vary), categories, tracking.
                    partners=frozenset(rng.sample(PARTNER_NAMES, rng.randrange(len(PARTNER_NAMES) + 1))),
                    partner_categories=frozenset(rng.sample(PARTNER_KINDS, rng.randrange(3))),
                    email_tracking=_maybe(rng, 0.3),
                )
            )
    birth = (
        None
        if _maybe(rng, 0.6)
        else date(rng.randrange(1950, 2015), rng.randrange(1, 13), rng.randrange(1, 29))
    )
    hits = []
    for kind, p in (
        (SuppressionKind.OPPOSITION, 0.04),
        (SuppressionKind.BLOCTEL, 0.15),
        (SuppressionKind.ROBINSON, 0.1),
    ):
        if _maybe(rng, p):
            hits.append(
                SuppressionHit(
                    kind.value,
                    kind,
                    f"imp-{i}",
                    _instant(rng, lo, hi),
                    rng.choice((None, rng.choice(channels))),
                )
            )
    objections = []
    if _maybe(rng, 0.06):
        # An objection to all direct marketing, to one channel (every purpose) or to one purpose (every
        # channel: the campaign's or another).
        scope = rng.choice(("all", "channel", "purpose"))
        objections.append(
            Objection(
                f"o-{i}",
                _instant(rng, lo, hi),
                rng.choice(channels) if scope == "channel" else None,
                _maybe(rng, 0.3),
                rng.choice((PURPOSE, PURPOSE, "other")) if scope == "purpose" else None,
            )
        )
    send = rng.choice(SEND_TIMES)
    attempts = tuple(
        send - timedelta(days=rng.randrange(0, 45), hours=rng.randrange(24))
        for _ in range(rng.choice((0, 0, 2, 3, 4, 5, 6)))
    )
    from_person = _maybe(rng, 0.75)
    return RecipientFacts(
        contact_id=f"r-{i}",
        kind=rng.choices(list(ContactKind), weights=(6, 3, 1))[0],
        relationship=rng.choice(list(Relationship)),
        collected_from_person=from_person,
        obtained_at=_instant(rng, lo, hi),
        channel_addresses=frozenset(channels) if _maybe(rng, 0.9) else frozenset(rng.sample(channels, 3)),
        source=None if from_person else "broker",
        broker_name=None if from_person else "DataCo",
        broker_verification=rng.choice(list(BrokerVerification)),
        last_contact_from_person_at=_instant(rng, lo, hi) if _maybe(rng, 0.5) else None,
        relationship_end_at=_instant(rng, lo, hi) if _maybe(rng, 0.6) else None,
        **(born(birth) if birth else {}),
        retention_flagged_rule=rng.choice((None, None, None, None, "RET-01", "RET-02")),
        objections=tuple(objections),
        suppression_hits=tuple(hits),
        consents=tuple(consents),
        informed_at_collection=_maybe(rng, 0.85),
        objection_offered_at_collection=_maybe(rng, 0.85),
        art13_notice_given_at=lo if _maybe(rng, 0.9) else None,
        art14_notice_delivered_at=_instant(rng, lo, hi) if _maybe(rng, 0.5) else None,
        art14_delivery_id=f"d-{i}",
        art14_exemption_claimed=_maybe(rng, 0.1),
        collected_at_sale=_maybe(rng, 0.6),
        purchases=bought(
            *rng.sample(["shoes", "bags", "garden"], rng.randrange(1, 3)),
            seller=SELLER if _maybe(rng, 0.8) else "Acme Travel",
        ),
        contracts=tuple(
            ContractFact(
                rng.choice((SELLER, "Acme Travel")),
                frozenset(rng.sample(["shoes", "insurance"], 1)),
                _maybe(rng, 0.3),
            )
            for _ in range(rng.choice((0, 1, 2)))
        ),
        profession=rng.choice((None, "acheteur", "chef de production")),
        bloctel_checked_on=None if _maybe(rng, 0.1) else (send - timedelta(days=rng.randrange(60))).date(),
        call_attempts_at=attempts,
        last_phone_refusal_at=send - timedelta(days=rng.randrange(55, 66)) if _maybe(rng, 0.2) else None,
        phone_collection=None
        if _maybe(rng, 0.1)
        else PhoneCollection(_maybe(rng, 0.9), _maybe(rng, 0.3), _maybe(rng, 0.5)),
        timezone=rng.choice(ZONES),
        marketing_messages_received=rng.choice((0, 1, 2, 5)),
        stop_pub=_maybe(rng, 0.2),
        restricted=(restricted := _maybe(rng, 0.02)),
        restriction_request_id=f"req-{i}" if restricted and _maybe(rng, 0.9) else None,
    )


def random_campaigns(rng: random.Random) -> list[tuple[CampaignFacts, datetime, bool]]:
    """Returns (campaign, check time, stale) triples covering every channel, regime and campaign flag."""
    out: list[tuple[CampaignFacts, datetime, bool]] = []
    switch = datetime(2026, 8, 10, 22, 0, tzinfo=UTC)  # Midnight in Paris, 11/08/2026.
    before = tuple(t for t in SEND_TIMES if t < switch)
    after = tuple(t for t in SEND_TIMES if t >= switch)
    for channel in Channel:
        for era in (before, after):
            # A non-commercial legitimate-interest campaign reaches ELEC-12; a compliant-product phone
            # campaign with a silent script reaches TEL-09 and TEL26-02.
            non_commercial = era is after and channel in rules.SOFT_OPT_IN_CHANNELS
            phone_after = era is after and channel is Channel.PHONE_HUMAN
            phone_before = era is before and channel is Channel.PHONE_HUMAN
            c = campaign(
                channel,
                send_at=SEND_BLOCTEL if phone_before else rng.choice(era),
                purpose_lawful_basis=(
                    LawfulBasis.LEGITIMATE_INTEREST
                    if non_commercial
                    else rng.choice((LawfulBasis.LEGITIMATE_INTEREST, LawfulBasis.CONSENT))
                ),
                commercial=not non_commercial,
                product_category="shoes"
                if phone_after or phone_before
                else rng.choice(("shoes", "shoes", "home_energy_renovation")),
                analogy_unclear_categories=frozenset({"bags"}),
                complementary_categories=frozenset({"insurance"}) if _maybe(rng, 0.5) else frozenset(),
                uses_profiling=_maybe(rng, 0.4),
                targeting=(TargetingCriterion("religion", "eq", "x"),) if _maybe(rng, 0.2) else (),
                art9_explicit_consent_only=True,
                message=message(
                    right_to_object_statement=phone_before or phone_after or _maybe(rng, 0.8),
                    carries_art14_notice=_maybe(rng, 0.3),
                ),
                call_script=script(art14_information=not phone_after and _maybe(rng, 0.7)),
            )
            late = _maybe(rng, 0.15)
            out.append((c, c.send_at + timedelta(days=2) if late else c.send_at - timedelta(days=1), False))
    expired = ProcessorFacts(
        "Mailer",
        contract_signed_at=datetime(2020, 1, 1, tzinfo=UTC),
        contract_expires_at=datetime(2021, 1, 1, tzinfo=UTC),
    )
    out.append((campaign(processor=expired), SEND_BLOCTEL, False))
    # Issue 19: a file rented to partners (e-mail, SMS, postal mail), transferred with the partner's Art. 14
    # information, e-mails tracked per recipient (with a rental too).
    for channel, answers in (
        (Channel.EMAIL, renting()),
        (Channel.SMS_MMS, renting()),
        (
            Channel.POSTAL_ADDRESSED,
            renting(transfer_mode=TransferMode.TRANSFERRED, partner_informs_art14=True),
        ),
        (Channel.EMAIL, study(tracking=True, per_recipient_tracking=True)),
        (Channel.EMAIL, renting(tracking=True, per_recipient_tracking=True)),
    ):
        c = campaign(
            channel,
            purpose_lawful_basis=rng.choice((LawfulBasis.LEGITIMATE_INTEREST, LawfulBasis.CONSENT)),
            study=answers,
        )
        out.append((c, c.send_at - timedelta(days=1), False))
    out.append((campaign(approved=False), SEND_BLOCTEL, False))
    out.append((campaign(), SEND_BLOCTEL, True))
    return out

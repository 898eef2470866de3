"""Example campaigns and recipients that the gate allows, to be varied one fact at a time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from campaign_gate.domain.facts import (
    Audience,
    CallScript,
    CampaignFacts,
    Channel,
    ConsentRecord,
    ConsentStatus,
    ContactKind,
    LawfulBasis,
    MessageFacts,
    PhoneCollection,
    Purchase,
    RecipientFacts,
    Relationship,
    StudyFacts,
    StudyQuestion,
    TransferMode,
)

PURPOSE = "P-prospection"
SELLER = "Acme SAS"
# Tuesday 10 March 2026, 10:30 in Paris (UTC+1): inside the D223-9 slots, Bloctel regime.
SEND_BLOCTEL = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
# Tuesday 15 September 2026, 10:30 in Paris (UTC+2): opt-in telephone regime.
SEND_OPT_IN = datetime(2026, 9, 15, 8, 30, tzinfo=UTC)
CHECKED_AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
OBTAINED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def at_for(send_at: datetime) -> datetime:
    """Returns a check time one day before the send."""
    return send_at - timedelta(days=1)


def consent(channel: Channel, **overrides: Any) -> ConsentRecord:
    """Returns a valid, provable consent for the example purpose on a channel."""
    record = ConsentRecord(
        consent_id=f"c-{channel.value}",
        purpose_id=PURPOSE,
        channel=channel,
        status=ConsentStatus.GRANTED,
        granted_at=OBTAINED,
        proof_present=True,
        positive_act=True,
        withdrawal_info_given=True,
        collector=SELLER,
        notice_version="n-3",
    )
    return dataclasses.replace(record, **overrides)


#: A study with every question answered (issue 19): no partner, no tracking, no refusal of sale.
STUDY = StudyFacts(answers=tuple((q, f"digest-{q.value}") for q in StudyQuestion))
#: The partners a renting campaign names: (name, category), as the study's `partners` answer lists them.
PARTNERS = (("Assur Plus SA", "insurance"), ("Voyages Soleil", "travel"))


def study(**overrides: Any) -> StudyFacts:
    """Returns the example study with some answers changed."""
    return dataclasses.replace(STUDY, **overrides)


def renting(**overrides: Any) -> StudyFacts:
    """Returns a study whose campaign rents the file to `PARTNERS`, routed by the company itself."""
    answers: dict[str, Any] = {
        "transfers_to_partners": True,
        "transfer_mode": TransferMode.ROUTED_BY_US,
        "partners": PARTNERS,
    }
    return study(**{**answers, **overrides})


def campaign(channel: Channel = Channel.EMAIL, **overrides: Any) -> CampaignFacts:
    """Returns an approved, compliant campaign on a channel."""
    base = CampaignFacts(
        campaign_id="camp-1",
        purpose_id=PURPOSE,
        # Automated calls and fax to consumers rest on consent (PROC-05).
        purpose_lawful_basis=(
            LawfulBasis.CONSENT
            if channel in (Channel.AUTOMATED_CALL, Channel.FAX)
            else LawfulBasis.LEGITIMATE_INTEREST
        ),
        channel=channel,
        sender_entity=SELLER,
        send_at=SEND_BLOCTEL,
        approved=True,
        purpose_registered=True,
        commercial=True,
        audience=Audience.B2C,
        product_category="shoes",
        professional_target=frozenset({"acheteur"}),
        message=MessageFacts(
            subject="Nos nouvelles chaussures",
            body="Découvrez la collection de printemps.",
            unsubscribe_mechanism="https://acme.example/stop",
            unsubscribe_free=True,
            right_to_object_statement=True,
            sender_identification=SELLER,
            subject_related_to_offer=True,
            objection_reminder=True,
        ),
        call_script=CallScript(
            caller_identity=True,
            company_identity=True,
            commercial_nature=True,
            bloctel_mention=True,
            art14_information=True,
        ),
        study=STUDY,
    )
    return dataclasses.replace(base, **overrides)


def message(**overrides: Any) -> MessageFacts:
    """Returns the example campaign's message with some fields changed."""
    return dataclasses.replace(campaign().message, **overrides)


def script(**overrides: Any) -> CallScript:
    """Returns the example call script with some fields changed."""
    return dataclasses.replace(campaign().call_script, **overrides)


def recipient(**overrides: Any) -> RecipientFacts:
    """Returns an informed customer who consented on every channel and bought shoes from the seller."""
    base = RecipientFacts(
        contact_id="r-1",
        kind=ContactKind.CONSUMER,
        relationship=Relationship.CUSTOMER_SALE_DONE,
        collected_from_person=True,
        obtained_at=OBTAINED,
        channel_addresses=frozenset(Channel),
        source="sale",
        last_contact_from_person_at=OBTAINED,
        relationship_end_at=OBTAINED,
        consents=tuple(consent(ch) for ch in Channel),
        informed_at_collection=True,
        objection_offered_at_collection=True,
        art13_notice_given_at=OBTAINED,
        collected_at_sale=True,
        purchases=(Purchase(SELLER, frozenset({"shoes"})),),
        bloctel_checked_on=date(2026, 3, 1),
        phone_collection=PhoneCollection(told_calls_need_consent=True),
        timezone="Europe/Paris",
        marketing_messages_received=3,
    )
    return dataclasses.replace(base, **overrides)


def without_consent(**overrides: Any) -> RecipientFacts:
    """Returns the example recipient with no consent record at all."""
    return recipient(consents=(), **overrides)


def born(birth: date) -> dict[str, date]:
    """Returns the age thresholds contacts publishes for a birth date (15th and 18th birthdays)."""

    def birthday(years: int) -> date:
        try:
            return birth.replace(year=birth.year + years)
        except ValueError:  # 29 February: the birthday is 1 March in a common year.
            return date(birth.year + years, 3, 1)

    return {"digital_consent_age_on": birthday(15), "majority_on": birthday(18)}


def bought(*categories: str, seller: str = SELLER) -> tuple[Purchase, ...]:
    """Returns the purchases of a contact who bought these categories from one seller."""
    return (Purchase(seller, frozenset(categories)),)

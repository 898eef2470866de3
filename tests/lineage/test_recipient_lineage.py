"""Each recipient fact follows what a person entered: producer API → real outbox bytes → gate projection.

Every test enters two different inputs through the producer's real API (contacts or consent, on
their real unit of work), takes the outbox bytes the relay would publish, applies them with the
gate's real projection and reads `RecipientFacts` back: the field must differ as the inputs do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from campaign_gate.domain.facts import (
    BrokerVerification,
    Channel,
    ConsentStatus,
    ContactKind,
    Relationship,
    SuppressionKind,
)

from tests.lineage.world import ADMIN, World

T1, T2 = "2026-09-01T09:00:00+00:00", "2026-10-15T16:30:00+00:00"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- contacts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "inputs", "expected"),
    [
        (
            "kind",
            ({"kind": "consumer"}, {"kind": "professional_named", "profession": "pharmacien"}),
            (ContactKind.CONSUMER, ContactKind.PROFESSIONAL_NAMED),
        ),
        (
            "relationship",
            ({"relationship": "prospect"}, {"relationship": "account_only"}),
            (Relationship.PROSPECT, Relationship.ACCOUNT_ONLY),
        ),
        (
            "collected_from_person",
            ({}, {"collected_from_person": False, "source": "broker", "broker_name": "Fichiers SA"}),
            (True, False),
        ),
        ("obtained_at", ({"obtained_at": T1}, {"obtained_at": T2}), (_at(T1), _at(T2))),
        (
            "channel_addresses",
            ({}, {"email": None, "phone": "+33612345678"}),
            (
                frozenset({Channel.EMAIL}),
                frozenset({Channel.PHONE_HUMAN, Channel.AUTOMATED_CALL, Channel.SMS_MMS}),
            ),
        ),
        ("source", ({"source": "web_form"}, {"source": "salon_2026"}), ("web_form", "salon_2026")),
        (
            "broker_name",
            (
                {"collected_from_person": False, "source": "broker", "broker_name": "Fichiers SA"},
                {"collected_from_person": False, "source": "broker", "broker_name": "Listes & Co"},
            ),
            ("Fichiers SA", "Listes & Co"),
        ),
        (
            "last_contact_from_person_at",
            ({"last_contact_from_person_at": T1}, {"last_contact_from_person_at": T2}),
            (_at(T1), _at(T2)),
        ),
        (
            "relationship_end_at",
            (
                {"relationship": "customer_sale_done", "relationship_end_at": T1},
                {"relationship": "customer_sale_done", "relationship_end_at": T2},
            ),
            (_at(T1), _at(T2)),
        ),
        (
            "majority_on",
            ({"birth_date": "2010-03-14"}, {"birth_date": "1990-07-02"}),
            (date(2028, 3, 14), date(2008, 7, 2)),
        ),
        (
            "digital_consent_age_on",
            ({"birth_date": "2010-03-14"}, {"birth_date": "1990-07-02"}),
            (date(2025, 3, 14), date(2005, 7, 2)),
        ),
        (
            "profession",
            (
                {"kind": "professional_named", "profession": " Pharmacien "},
                {"kind": "professional_named", "profession": "avocat"},
            ),
            ("pharmacien", "avocat"),
        ),
        (
            "timezone",
            ({"timezone": "America/Cayenne"}, {"email": None, "phone": "+262692123456"}),
            ("America/Cayenne", "Indian/Reunion"),
        ),
        ("stop_pub", ({"stop_pub": True}, {"stop_pub": False}), (True, False)),
        ("collected_at_sale", ({"source": "sale"}, {"source": "web_form"}), (True, False)),
    ],
)
async def test_a_contact_field_entered_at_creation_reaches_the_gate(
    world: World, field: str, inputs: tuple[dict[str, Any], ...], expected: tuple[Any, ...]
) -> None:
    got = []
    for body in inputs:
        contact_id = await world.contact(**body)
        got.append(getattr(await world.recipient(contact_id), field))
    assert tuple(got) == expected


async def test_the_contact_id_is_the_one_contacts_assigned(world: World) -> None:
    first, second = await world.contact(), await world.contact()
    assert (await world.recipient(first)).contact_id == first
    assert (await world.recipient(second)).contact_id == second


async def test_a_patch_reaches_the_gate(world: World) -> None:
    contact_id = await world.contact(profession="pharmacien", kind="professional_named", stop_pub=False)
    assert (await world.recipient(contact_id)).stop_pub is False
    await world.patch_contact(contact_id, stop_pub=True, profession="Dentiste", timezone="Pacific/Noumea")
    after = await world.recipient(contact_id)
    assert (after.stop_pub, after.profession, after.timezone) == (True, "dentiste", "Pacific/Noumea")


async def test_phone_collection_follows_what_the_person_was_told(world: World) -> None:
    told = {
        "told_calls_need_consent": True,
        "during_contract": True,
        "contract_states_calls_need_consent": False,
    }
    untold = {
        "told_calls_need_consent": False,
        "during_contract": False,
        "contract_states_calls_need_consent": True,
    }
    a = await world.contact(phone="+33612345678", phone_collection=told)
    b = await world.contact(phone="+33612345679", phone_collection=untold)
    pa, pb = (await world.recipient(a)).phone_collection, (await world.recipient(b)).phone_collection
    assert pa is not None and pb is not None
    assert (pa.told_calls_need_consent, pa.during_contract, pa.contract_states_calls_need_consent) == (
        True,
        True,
        False,
    )
    assert (pb.told_calls_need_consent, pb.during_contract, pb.contract_states_calls_need_consent) == (
        False,
        False,
        True,
    )


async def test_a_sale_records_its_seller_and_categories(world: World) -> None:
    a, b = await world.contact(), await world.contact()
    await world.interaction(a, "sale", T1, seller="Chaussures Martin SAS", product_categories=["chaussures"])
    await world.interaction(
        b, "purchase", T2, seller="Sport Plus SARL", product_categories=["raquettes", "balles"]
    )
    ra, rb = await world.recipient(a), await world.recipient(b)
    assert [(p.seller, p.categories) for p in ra.purchases] == [
        ("Chaussures Martin SAS", frozenset({"chaussures"}))
    ]
    assert [(p.seller, p.categories) for p in rb.purchases] == [
        ("Sport Plus SARL", frozenset({"raquettes", "balles"}))
    ]
    assert ra.relationship is Relationship.CUSTOMER_SALE_DONE
    assert (ra.last_contact_from_person_at, rb.last_contact_from_person_at) == (_at(T1), _at(T2))


async def test_purchases_entered_for_an_existing_customer_reach_the_gate(world: World) -> None:
    contact_id = await world.contact(
        relationship="customer_sale_done",
        source="sale",
        purchases=[{"seller": "Chaussures Martin SAS", "categories": ["chaussures"], "last_at": T1}],
    )
    r = await world.recipient(contact_id)
    assert [(p.seller, p.categories) for p in r.purchases] == [
        ("Chaussures Martin SAS", frozenset({"chaussures"}))
    ]


async def test_contracts_follow_their_start_and_end(world: World) -> None:
    open_, ended = await world.contact(), await world.contact()
    for contact_id in (open_, ended):
        await world.interaction(
            contact_id, "contract_start", T1, seller="Energie Verte SA", product_categories=["électricité"]
        )
    await world.interaction(
        ended, "contract_end", T2, seller="Energie Verte SA", product_categories=["électricité"]
    )
    ro, re_ = await world.recipient(open_), await world.recipient(ended)
    assert [(k.seller, k.categories, k.ended) for k in ro.contracts] == [
        ("Energie Verte SA", frozenset({"électricité"}), False)
    ]
    assert [k.ended for k in re_.contracts] == [True]
    assert ro.relationship is Relationship.CONTRACT_IN_PROGRESS
    assert (re_.relationship, re_.relationship_end_at) == (Relationship.CUSTOMER_SALE_DONE, _at(T2))


async def test_call_attempts_and_refusals_reach_the_gate(world: World) -> None:
    calm, refused = await world.contact(phone="+33612345678"), await world.contact(phone="+33612345679")
    for contact_id, outcome in ((calm, "no_answer"), (refused, "refused")):
        await world.interaction(
            calm if contact_id == calm else refused, "call_attempt", T1, outcome="no_answer"
        )
        await world.interaction(contact_id, "call_attempt", T2, outcome=outcome)
    rc, rr = await world.recipient(calm), await world.recipient(refused)
    assert sorted(rc.call_attempts_at) == [_at(T1), _at(T2)]
    assert (rc.last_phone_refusal_at, rr.last_phone_refusal_at) == (None, _at(T2))
    # A call attempt never moves the retention clock.
    assert rc.last_contact_from_person_at is None


async def test_the_retention_flag_names_the_rule_contacts_cited(world: World) -> None:
    # Just past the 3 years of RET-01, inside the grace before erasure.
    old = await world.contact(obtained_at=(datetime.now(UTC) - timedelta(days=3 * 365 + 3)).isoformat())
    recent = await world.contact()
    await world.post("contacts", "/v1/retention:sweep", headers=ADMIN)
    assert (await world.recipient(old)).retention_flagged_rule == "RET-01"
    assert (await world.recipient(recent)).retention_flagged_rule is None


# --- consent ------------------------------------------------------------------------------------


async def _consented(
    world: World, purpose_id: str, channel: str = "email", **overrides: Any
) -> tuple[str, Any]:
    phone = {"phone": f"+336123456{len(world.envelopes) % 90 + 10}"} if channel == "phone_human" else {}
    contact_id = await world.contact(**phone)
    await world.consent_to(contact_id, purpose_id, channel=channel, **overrides)
    r = await world.recipient(contact_id, purpose_id=purpose_id, channel=Channel(channel))
    assert len(r.consents) == 1, r.consents
    return contact_id, r.consents[0]


async def test_a_positive_act_follows_the_act_the_person_made(world: World) -> None:
    purpose_id = await world.purpose()
    _, ticked = await _consented(world, purpose_id, terms={"act": "ticked_box"})
    _, pre_ticked = await _consented(world, purpose_id, terms={"act": "pre_ticked_box"})
    assert (ticked.positive_act, pre_ticked.positive_act) == (True, False)
    assert (ticked.proof_present, pre_ticked.proof_present) == (True, True)


async def test_withdrawal_information_follows_the_wording(world: World) -> None:
    purpose_id = await world.purpose()
    _, told = await _consented(world, purpose_id)
    _, untold = await _consented(
        world, purpose_id, wording="J'accepte de recevoir les offres d'Acme par e-mail."
    )
    assert (told.withdrawal_info_given, untold.withdrawal_info_given) == (True, False)


async def test_explicit_consent_follows_the_terms(world: World) -> None:
    purpose_id = await world.purpose()
    _, explicit = await _consented(world, purpose_id, terms={"act": "ticked_box", "explicit": True})
    _, plain = await _consented(world, purpose_id, terms={"act": "ticked_box"})
    assert (explicit.explicit, plain.explicit) == (True, False)


async def test_who_gave_the_consent_reaches_the_gate(world: World) -> None:
    purpose_id = await world.purpose()
    _, alone = await _consented(world, purpose_id, terms={"act": "ticked_box", "given_by": ["data_subject"]})
    _, joint = await _consented(
        world,
        purpose_id,
        terms={"act": "ticked_box", "given_by": ["data_subject", "parental_authority_holder"]},
    )
    assert (alone.given_by_minor, alone.given_by_parent) == (True, False)
    assert (joint.given_by_minor, joint.given_by_parent) == (True, True)


async def test_out_of_hours_calls_follow_the_consent(world: World) -> None:
    purpose_id = await world.purpose()
    _, anytime = await _consented(world, purpose_id, "phone_human", out_of_hours_calls=True)
    _, slots = await _consented(world, purpose_id, "phone_human")
    assert (anytime.out_of_hours_calls, slots.out_of_hours_calls) == (True, False)


async def test_partners_and_e_mail_tracking_follow_the_consent(world: World) -> None:
    purpose_id = await world.purpose()
    _, named = await _consented(
        world, purpose_id, partners=["Assur Plus SA"], partner_categories=["insurance"], email_tracking=True
    )
    _, plain = await _consented(world, purpose_id)
    assert (named.partners, named.partner_categories, named.email_tracking) == (
        frozenset({"Assur Plus SA"}),
        frozenset({"insurance"}),
        True,
    )
    assert not (plain.partners or plain.partner_categories or plain.email_tracking)


async def test_a_consent_follows_its_purpose_channel_collector_and_notice(world: World) -> None:
    first, second = await world.purpose(), await world.purpose()
    notice_id = await world.notice(first)
    _, a = await _consented(
        world,
        first,
        notice_id=notice_id,
        notice_version=1,
        collector={"kind": "partner", "name": "Partenaire SA"},
    )
    _, b = await _consented(world, second, "sms_mms")
    assert (a.purpose_id, a.channel, b.purpose_id, b.channel) == (
        first,
        Channel.EMAIL,
        second,
        Channel.SMS_MMS,
    )
    assert (a.collector, b.collector) == ("Partenaire SA", None)
    assert (a.notice_version, b.notice_version) == ("1", None)
    assert a.consent_id != b.consent_id and a.granted_at.tzinfo is not None


async def test_a_pending_double_opt_in_is_requested_until_confirmed_then_withdrawn(world: World) -> None:
    purpose_id = await world.purpose()
    contact_id = await world.contact()
    consent = await world.consent_to(contact_id, purpose_id, double_opt_in=True)

    async def state() -> Any:
        r = await world.recipient(contact_id, purpose_id=purpose_id)
        return r.consents[0]

    assert (await state()).status is ConsentStatus.REQUESTED
    await world.post("consent", f"/v1/consents/{consent['consent_id']}/confirmation")
    assert (await state()).status is ConsentStatus.GRANTED
    await world.post("consent", f"/v1/consents/{consent['consent_id']}/withdrawal")
    withdrawn = await state()
    assert withdrawn.status is ConsentStatus.WITHDRAWN and withdrawn.withdrawn_at is not None


async def test_an_objection_follows_its_scope(world: World) -> None:
    everything, sms_only = await world.contact(), await world.contact()
    await world.post("consent", "/v1/objections", {"contact_id": everything, "scope": "all_direct_marketing"})
    await world.post("consent", "/v1/objections", {"contact_id": sms_only, "scope": "sms_mms"})
    [a] = (await world.recipient(everything)).objections
    [b] = (await world.recipient(sms_only)).objections
    assert (a.channel, b.channel) == (None, Channel.SMS_MMS)
    assert a.objection_id != b.objection_id and a.at.tzinfo is not None


async def test_an_objection_by_e_mail_reaches_the_contact_with_that_address(world: World) -> None:
    objecting = await world.contact(email="objecting.person@example.org")
    other = await world.contact(email="other.person@example.org")
    await world.post("consent", "/v1/objections", {"email": "objecting.person@example.org"})
    assert len((await world.recipient(objecting)).objections) == 1
    assert (await world.recipient(other)).objections == ()


async def test_informed_follows_the_purposes_the_delivered_notice_covers(world: World) -> None:
    billing, marketing = await world.purpose(name="Facturation"), await world.purpose()
    notice_id = await world.notice(billing)
    contact_id = await world.contact()
    await world.deliver(notice_id, contact_id)
    for purpose_id, expected in ((billing, True), (marketing, False)):
        r = await world.recipient(contact_id, purpose_id=purpose_id)
        assert (r.informed_at_collection, r.objection_offered_at_collection) == (expected, expected)


async def test_notice_deliveries_follow_their_article(world: World) -> None:
    purpose_id = await world.purpose()
    art13, art14 = await world.notice(purpose_id, "13"), await world.notice(purpose_id, "14")
    direct, indirect = await world.contact(), await world.contact()
    first = await world.deliver(art13, direct)
    delivery = await world.deliver(art14, indirect)
    rd = await world.recipient(direct, purpose_id=purpose_id)
    ri = await world.recipient(indirect, purpose_id=purpose_id)
    assert (rd.art13_notice_given_at, rd.art14_notice_delivered_at) == (_at(first["delivered_at"]), None)
    assert (ri.art13_notice_given_at, ri.art14_notice_delivered_at) == (None, _at(delivery["delivered_at"]))
    assert ri.art14_delivery_id == delivery["delivery_id"]


async def test_the_art14_exemption_follows_the_register_entry(world: World) -> None:
    claimed = await world.purpose(
        art14_exemption_claimed=True, art14_exemption_ground="Effort disproportionné documenté (AIPD 2026-04)"
    )
    plain = await world.purpose()
    contact_id = await world.contact(collected_from_person=False, source="broker", broker_name="Fichiers SA")
    assert (await world.recipient(contact_id, purpose_id=claimed)).art14_exemption_claimed is True
    assert (await world.recipient(contact_id, purpose_id=plain)).art14_exemption_claimed is False


async def test_a_broker_s_verification_follows_consent_s_party_register(world: World) -> None:
    verified_on = datetime.now(UTC) - timedelta(days=30)
    party = await world.post(
        "consent",
        "/v1/parties",
        {
            "legal_name": "Fichiers SA",
            "roles": ["data_broker"],
            "data_categories": ["coordonnées"],
            "broker_last_verified_at": verified_on.isoformat(),
        },
        headers=ADMIN,
    )
    await world.post(
        "consent",
        f"/v1/parties/{party['party_id']}/contracts",
        {
            "reference": "CTR-1",
            "signed_at": (verified_on - timedelta(days=300)).isoformat(),
            "expires_at": (datetime.now(UTC) + timedelta(days=300)).isoformat(),
            "clauses": [],
        },
        headers=ADMIN,
    )
    checked = await world.contact(collected_from_person=False, source="broker", broker_name="Fichiers SA")
    unknown = await world.contact(collected_from_person=False, source="broker", broker_name="Inconnu SARL")
    rc, ru = await world.recipient(checked), await world.recipient(unknown)
    assert (rc.broker_verification, rc.broker_verified_at) == (
        BrokerVerification.VERIFIED,
        verified_on.date(),
    )
    assert (ru.broker_verification, ru.broker_verified_at) == (BrokerVerification.NOT_VERIFIED, None)


# --- the gate's own facts -----------------------------------------------------------------------


async def test_suppression_hits_and_the_bloctel_date_follow_the_gate_s_imports(world: World) -> None:
    from campaign_gate.service_layer import commands, handlers
    from shared.blind_index import BlindIndexer

    from tests.lineage.world import BLIND_KEY

    listed = await world.contact(email=None, phone="+33612345678", obtained_at=T1)
    clean = await world.contact(email=None, phone="+33612345679", obtained_at=T1)
    await handlers.import_suppression_entries(
        commands.ImportSuppressionEntries(
            list_name="bloctel",
            kind=SuppressionKind.BLOCTEL,
            channel=Channel.PHONE_HUMAN,
            actor="test",
            phones=["+33612345678"],
        ),
        BlindIndexer(BLIND_KEY.encode()),
        world.gate_uow(),
    )
    rl = await world.recipient(listed, channel=Channel.PHONE_HUMAN)
    rc = await world.recipient(clean, channel=Channel.PHONE_HUMAN)
    assert [(h.list_name, h.list_kind) for h in rl.suppression_hits] == [("bloctel", SuppressionKind.BLOCTEL)]
    assert rc.suppression_hits == ()
    assert rl.bloctel_checked_on == rc.bloctel_checked_on == datetime.now(UTC).date()

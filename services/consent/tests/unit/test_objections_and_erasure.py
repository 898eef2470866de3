"""Objections (UNI-01, UNI-02) and what a contact's erasure keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from consent.domain import errors, events, model, notices
from consent.domain.erasure import erase_subject


def test_an_objection_to_all_direct_marketing_covers_every_channel(t0):
    objection = model.Objection.record(
        contact_id="contact-1", scope="all_direct_marketing", at=t0, blind_indexes=["bi-email", "bi-phone"]
    )

    assert all(objection.covers(channel) for channel in model.Channel)
    assert objection.channel is None
    assert objection.events == [
        events.ObjectionRecorded(
            objection_id=objection.objection_id,
            contact_id="contact-1",
            scope="all_direct_marketing",
            blind_indexes=("bi-email", "bi-phone"),
            at=t0,
        )
    ]


def test_an_objection_on_one_channel_covers_only_that_channel(t0):
    objection = model.Objection.record(contact_id="contact-1", scope=model.Channel.SMS_MMS, at=t0)

    assert objection.covers(model.Channel.SMS_MMS)
    assert not objection.covers(model.Channel.EMAIL)
    assert objection.channel is model.Channel.SMS_MMS


def test_an_objection_scope_must_be_all_direct_marketing_or_a_channel(t0):
    with pytest.raises(errors.InvalidObjectionScopeError):
        model.Objection.record(contact_id="contact-1", scope="pigeon", at=t0)


@pytest.fixture
def subject_records(make_purpose, proof, t0):
    purpose = make_purpose()
    consent = model.Consent.grant(
        contact_id="contact-1",
        purpose_id=purpose.purpose_id,
        purpose=purpose,
        channel=model.Channel.SMS_MMS,
        at=t0,
        collection_method=model.CollectionMethod.WEB_FORM,
        wording="J'accepte les SMS d'Acme.",
        proof=proof,
    )
    other_consent = model.Consent.grant(
        contact_id="contact-2",
        purpose_id=purpose.purpose_id,
        purpose=purpose,
        channel=model.Channel.SMS_MMS,
        at=t0,
        collection_method=model.CollectionMethod.WEB_FORM,
        wording="J'accepte les SMS d'Acme.",
        proof=proof,
    )
    notice = notices.Notice.draft(
        language="fr",
        article="13",
        purpose_ids=[purpose.purpose_id],
        content={item: "texte" for item in notices.ART13_REQUIRED},
    )
    notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    delivery = notices.NoticeDelivery.deliver(
        notice=notice, contact_id="contact-1", channel="web_form", at=t0
    )
    objection = model.Objection.record(
        contact_id="contact-1",
        scope="all_direct_marketing",
        at=t0 + timedelta(days=3),
        blind_indexes=["bi-email"],
    )
    return consent, other_consent, delivery, objection


def test_erasure_deletes_the_contacts_consents_and_deliveries_but_keeps_its_objection_blind_indexes(
    subject_records, t0
):
    consent, other_consent, delivery, objection = subject_records
    at = t0 + timedelta(days=10)

    plan = erase_subject(
        contact_id="contact-1",
        consents=[consent, other_consent],
        deliveries=[delivery],
        objections=[objection],
        at=at,
    )

    assert plan.consent_ids == (consent.consent_id,)
    assert plan.delivery_ids == (delivery.delivery_id,)
    assert plan.kept_blind_indexes == ("bi-email",)
    [kept] = plan.kept_objections
    assert (kept.objection_id, kept.scope, kept.at) == (
        objection.objection_id,
        "all_direct_marketing",
        objection.at,
    )
    assert kept.contact_id is None
    assert kept.covers(model.Channel.EMAIL)
    assert plan.event == events.ConsentDataErased(
        contact_id="contact-1",
        consent_ids=(consent.consent_id,),
        delivery_ids=(delivery.delivery_id,),
        kept_objection_ids=(objection.objection_id,),
        at=at,
    )


def test_erasure_planning_leaves_the_given_records_untouched(subject_records, t0):
    consent, _, delivery, objection = subject_records

    erase_subject(
        contact_id="contact-1", consents=[consent], deliveries=[delivery], objections=[objection], at=t0
    )

    assert objection.contact_id == "contact-1"
    assert consent.is_granted


def test_an_objection_without_blind_index_is_kept_and_flagged(t0):
    objection = model.Objection.record(contact_id="contact-1", scope="email", at=t0)

    plan = erase_subject(contact_id="contact-1", consents=[], deliveries=[], objections=[objection], at=t0)

    assert plan.objections_without_blind_index == (objection.objection_id,)
    assert len(plan.kept_objections) == 1


def test_an_objection_takes_on_the_persons_other_blind_indexes_once_each(t0):
    objection = model.Objection.record(
        contact_id="c1", scope="all_direct_marketing", at=t0, blind_indexes=["a" * 64]
    )
    objection.events.clear()
    assert objection.add_blind_indexes(["a" * 64, "b" * 64, "b" * 64], at=t0) == ("b" * 64,)
    assert objection.blind_indexes == ("a" * 64, "b" * 64)
    assert objection.add_blind_indexes(["b" * 64], at=t0) == ()
    assert [type(e) for e in objection.events] == [events.ObjectionIndexesAdded]
    added = objection.events[0]
    assert isinstance(added, events.ObjectionIndexesAdded) and added.blind_indexes == ("b" * 64,)


# --- An erasure without an objection keeps a suppression hash (issue 13, RET-05, UNI-02).


def test_an_erasure_without_an_objection_records_one_for_all_direct_marketing_with_the_erased_indexes(t0):
    plan = erase_subject(
        contact_id="contact-9",
        consents=[],
        deliveries=[],
        objections=[],
        at=t0,
        blind_indexes=["bi-email", "bi-phone", "bi-email", ""],
    )

    kept = plan.erasure_objection
    assert kept is not None and plan.kept_objections == (kept,)
    assert (kept.contact_id, kept.scope) == (None, "all_direct_marketing")
    assert kept.reason is model.ObjectionReason.ERASURE
    assert kept.blind_indexes == ("bi-email", "bi-phone")
    assert kept.events == [
        events.ObjectionRecorded(
            objection_id=kept.objection_id,
            contact_id=None,
            scope="all_direct_marketing",
            blind_indexes=("bi-email", "bi-phone"),
            at=t0,
            reason="erasure",
        )
    ]
    assert plan.event.kept_objection_ids == (kept.objection_id,)


def test_an_erasure_of_a_contact_who_objected_records_no_second_objection_but_adds_the_indexes(t0):
    objected = model.Objection.record(
        contact_id="contact-9", scope="email", at=t0, blind_indexes=["bi-email"]
    )
    plan = erase_subject(
        contact_id="contact-9",
        consents=[],
        deliveries=[],
        objections=[objected],
        at=t0 + timedelta(days=1),
        blind_indexes=["bi-email", "bi-phone"],
    )

    assert plan.erasure_objection is None
    (kept,) = plan.kept_objections
    assert kept.objection_id == objected.objection_id and kept.reason is model.ObjectionReason.OBJECTION
    assert kept.blind_indexes == ("bi-email", "bi-phone") and kept.contact_id is None
    assert [type(e) for e in kept.events] == [events.ObjectionIndexesAdded]


def test_an_erasure_with_no_blind_index_records_no_empty_objection(t0):
    plan = erase_subject(contact_id="contact-9", consents=[], deliveries=[], objections=[], at=t0)
    assert plan.erasure_objection is None and plan.kept_objections == ()

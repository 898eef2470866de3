"""The consent use cases against in-memory fakes of the repositories and the unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from consent import contracts
from consent.domain import errors, events, model
from consent.domain.notices import REQUIRED_ITEMS, NoticeArticle
from consent.domain.parties import PartyRole, required_clauses
from consent.domain.processors import ProcessorRole
from consent.entrypoints.consumer import handle_contacts_event
from consent.service_layer import commands, handlers
from consent_fakes import INDEXER, T0, FakeStore, FakeUnitOfWork
from shared.events import EventEnvelope
from shared.kafka import PoisonMessageError

CONTROLLER = model.Party(name="Acme SAS", contact="1 rue de la Paix, 75002 Paris; privacy@acme.example")
WORDING = "J'accepte les offres d'Acme par SMS. Je peux retirer mon accord à tout moment."
PROOF = model.ConsentProof(
    captured_at=T0, source="https://acme.example/form#v3", ip="203.0.113.0", user_agent="Mozilla/5.0"
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def uow(store: FakeStore) -> FakeUnitOfWork:
    return FakeUnitOfWork(store)


def _register_purpose(**overrides: Any) -> commands.RegisterPurpose:
    fields: dict[str, Any] = {
        "actor": "admin",
        "name": "Prospection par SMS",
        "controller": CONTROLLER,
        "description": "Envoyer des offres commerciales par SMS aux prospects",
        "lawful_basis": model.LawfulBasis.CONSENT,
        "data_categories": {model.DataCategory.IDENTITY: ("nom", "téléphone")},
        "data_subjects": ("prospects",),
        "retention": {"prospects": "3 ans après le dernier contact"},
        "security_measures": model.SecurityMeasures(access_control="comptes nominatifs"),
    }
    return commands.RegisterPurpose(**{**fields, **overrides})


async def _purpose(uow: FakeUnitOfWork, **overrides: Any) -> model.Purpose:
    return await handlers.register_purpose(_register_purpose(**overrides), uow)


def _grant(purpose_id: str, **overrides: Any) -> commands.GrantConsent:
    fields: dict[str, Any] = {
        "actor": "crm",
        "contact_id": "contact-1",
        "purpose_id": purpose_id,
        "channel": model.Channel.SMS_MMS,
        "collection_method": model.CollectionMethod.WEB_FORM,
        "wording": WORDING,
        "proof": PROOF,
    }
    return commands.GrantConsent(**{**fields, **overrides})


def _record(envelope: EventEnvelope, topic: str = contracts.CONTACTS_EVENTS) -> Any:
    return SimpleNamespace(topic=topic, value=envelope.encode(), key=None, partition=0, offset=0, headers=[])


# --- Register of processing.


async def test_registering_a_purpose_stores_version_1_and_publishes_it_once(uow, store) -> None:
    purpose = await _purpose(uow)

    current = store.tables.purposes[purpose.purpose_id].current
    assert current is not None and current.version == 1
    assert [(e.purpose_id, e.version) for e in store.events_of(events.PurposeRegistered)] == [
        (purpose.purpose_id, 1)
    ]
    assert store.commits == 1


async def test_a_purpose_id_already_registered_is_refused_and_nothing_is_published(uow, store) -> None:
    await _purpose(uow, purpose_id="prospection-sms")

    with pytest.raises(errors.AlreadyExistsError):
        await _purpose(uow, purpose_id="prospection-sms")
    assert len(store.published) == 1 and store.commits == 1


async def test_a_purpose_without_a_stated_legitimate_interest_is_refused_and_not_stored(uow, store) -> None:
    with pytest.raises(errors.LegitimateInterestNotStatedError):
        await _purpose(uow, lawful_basis=model.LawfulBasis.LEGITIMATE_INTERESTS)
    assert store.tables.purposes == {} and store.published == []


async def test_revising_a_purpose_makes_version_2_with_only_the_given_fields_changed(uow, store) -> None:
    purpose = await _purpose(uow)
    uow.clock = lambda: T0 + timedelta(days=1)

    revised = await handlers.revise_purpose(
        commands.RevisePurpose(
            actor="admin",
            purpose_id=purpose.purpose_id,
            changes=commands.PurposeChanges(description="Offres par SMS et rappels", dpo=None),
        ),
        uow,
    )

    current = revised.current
    assert current is not None and current.version == 2
    assert current.description == "Offres par SMS et rappels" and current.name == "Prospection par SMS"
    [event] = store.events_of(events.PurposeRevised)
    assert event.changed_fields == ("description",)


async def test_a_revision_that_changes_nothing_makes_no_version(uow, store) -> None:
    purpose = await _purpose(uow)

    revised = await handlers.revise_purpose(
        commands.RevisePurpose(
            actor="admin",
            purpose_id=purpose.purpose_id,
            changes=commands.PurposeChanges(name="Prospection par SMS"),
        ),
        uow,
    )

    assert revised.current is not None and revised.current.version == 1
    assert store.events_of(events.PurposeRevised) == []


async def test_revising_an_unknown_purpose_is_not_found(uow) -> None:
    with pytest.raises(errors.NotFoundError):
        await handlers.revise_purpose(
            commands.RevisePurpose(
                actor="admin", purpose_id="nowhere", changes=commands.PurposeChanges(name="x")
            ),
            uow,
        )


def test_purpose_changes_name_only_the_fields_given() -> None:
    assert commands.PurposeChanges().given() == {}
    assert commands.PurposeChanges(dpo=None, software="CRM").given() == {"dpo": None, "software": "CRM"}


# --- Notices and deliveries.


def _notice(purpose_id: str, article: str = "13", **overrides: Any) -> commands.PublishNotice:
    content = {item: f"Texte pour {item}." for item in REQUIRED_ITEMS[NoticeArticle(article)]}
    fields: dict[str, Any] = {
        "actor": "admin",
        "language": "fr",
        "article": article,
        "purpose_ids": (purpose_id,),
        "content": content,
    }
    return commands.PublishNotice(**{**fields, **overrides})


async def test_publishing_a_notice_then_its_next_version(uow, store) -> None:
    purpose = await _purpose(uow)

    first = await handlers.publish_notice(_notice(purpose.purpose_id), uow)
    second = await handlers.publish_notice(_notice(purpose.purpose_id, notice_id=first.notice_id), uow)

    assert (first.version, second.version) == (1, 2) and second.notice_id == first.notice_id
    assert [(e.notice_id, e.version) for e in store.events_of(events.NoticePublished)] == [
        (first.notice_id, 1),
        (first.notice_id, 2),
    ]
    assert (await handlers.get_notice_or_raise(first.notice_id, uow)).version == 2


async def test_a_notice_missing_a_mandatory_item_is_refused_and_not_stored(uow, store) -> None:
    purpose = await _purpose(uow)
    command = _notice(purpose.purpose_id)
    content = dict(command.content)
    content.pop(next(iter(content)))

    with pytest.raises(errors.NoticeIncompleteError):
        await handlers.publish_notice(replace(command, content=content), uow)
    assert store.tables.notices == {}


async def test_delivering_a_notice_records_the_version_and_hash_delivered(uow, store) -> None:
    purpose = await _purpose(uow)
    notice = await handlers.publish_notice(_notice(purpose.purpose_id), uow)

    delivery = await handlers.deliver_notice(
        commands.DeliverNotice(
            actor="crm",
            notice_id=notice.notice_id,
            contact_id="contact-1",
            channel="email",
            evidence={"message_id": "m-1"},
        ),
        uow,
    )

    assert (delivery.notice_version, delivery.content_hash, delivery.delivered_at) == (
        1,
        notice.content_hash,
        T0,
    )
    [event] = store.events_of(events.NoticeDelivered)
    assert event.delivery_id == delivery.delivery_id and event.contact_id == "contact-1"


async def test_delivering_an_unknown_notice_is_not_found(uow) -> None:
    with pytest.raises(errors.NotFoundError):
        await handlers.deliver_notice(
            commands.DeliverNotice(actor="crm", notice_id="nowhere", contact_id="contact-1", channel="email"),
            uow,
        )


async def test_the_art14_status_finds_the_first_art14_delivery_in_time(uow) -> None:
    purpose = await _purpose(uow)
    notice = await handlers.publish_notice(_notice(purpose.purpose_id, article="14"), uow)
    await handlers.deliver_notice(
        commands.DeliverNotice(
            actor="crm",
            notice_id=notice.notice_id,
            contact_id="contact-1",
            channel="email",
            delivered_at=T0 + timedelta(days=3),
        ),
        uow,
    )

    status = await handlers.art14_status("contact-1", uow, obtained_at=T0)

    assert status.met and not status.overdue and status.delivered_at == T0 + timedelta(days=3)


# --- Consents.


async def test_granting_a_consent_stores_it_and_publishes_it(uow, store) -> None:
    purpose = await _purpose(uow)

    consent = await handlers.grant_consent(_grant(purpose.purpose_id), uow)

    assert consent.status is model.ConsentStatus.GRANTED
    assert store.tables.consents[consent.consent_id].purpose_version == 1
    [event] = store.events_of(events.ConsentGranted)
    assert (event.consent_id, event.contact_id) == (consent.consent_id, "contact-1")


async def test_a_consent_for_an_unregistered_purpose_is_refused(uow, store) -> None:
    with pytest.raises(errors.UnknownPurposeError):
        await handlers.grant_consent(_grant("nowhere"), uow)
    assert store.tables.consents == {}


async def test_a_second_active_consent_for_the_same_purpose_and_channel_is_refused(uow) -> None:
    purpose = await _purpose(uow)
    await handlers.grant_consent(_grant(purpose.purpose_id), uow)

    with pytest.raises(errors.ConsentAlreadyActiveError):
        await handlers.grant_consent(_grant(purpose.purpose_id), uow)


async def test_a_double_opt_in_consent_is_pending_until_confirmed(uow, store) -> None:
    purpose = await _purpose(uow)
    pending = await handlers.grant_consent(_grant(purpose.purpose_id, double_opt_in=True), uow)
    assert pending.status is model.ConsentStatus.PENDING
    uow.clock = lambda: T0 + timedelta(hours=1)

    confirmed = await handlers.confirm_consent(
        commands.ConfirmConsent(actor="crm", consent_id=pending.consent_id), uow
    )

    assert confirmed.status is model.ConsentStatus.GRANTED
    assert confirmed.confirmed_at == T0 + timedelta(hours=1)
    assert len(store.events_of(events.ConsentRequested)) == 1
    assert len(store.events_of(events.ConsentGranted)) == 1


async def test_confirming_a_granted_consent_is_refused(uow) -> None:
    purpose = await _purpose(uow)
    consent = await handlers.grant_consent(_grant(purpose.purpose_id), uow)

    with pytest.raises(errors.ConsentNotPendingError):
        await handlers.confirm_consent(
            commands.ConfirmConsent(actor="crm", consent_id=consent.consent_id), uow
        )


async def test_withdrawing_keeps_the_record_and_a_second_withdrawal_is_refused(uow, store) -> None:
    purpose = await _purpose(uow)
    consent = await handlers.grant_consent(_grant(purpose.purpose_id), uow)
    uow.clock = lambda: T0 + timedelta(days=2)

    withdrawn = await handlers.withdraw_consent(
        commands.WithdrawConsent(actor="crm", consent_id=consent.consent_id, source="unsubscribe link"), uow
    )

    assert withdrawn.status is model.ConsentStatus.WITHDRAWN
    assert store.tables.consents[consent.consent_id].withdrawn_at == T0 + timedelta(days=2)
    assert [e.consent_id for e in store.events_of(events.ConsentWithdrawn)] == [consent.consent_id]
    with pytest.raises(errors.ConsentAlreadyWithdrawnError):
        await handlers.withdraw_consent(
            commands.WithdrawConsent(actor="crm", consent_id=consent.consent_id), uow
        )


async def test_withdrawing_an_unknown_consent_is_not_found(uow) -> None:
    with pytest.raises(errors.NotFoundError):
        await handlers.withdraw_consent(commands.WithdrawConsent(actor="crm", consent_id="nowhere"), uow)


# --- Objections and the contacts.events consumer.


async def test_an_objection_keeps_only_blind_indexes_of_the_e_mail_and_phone(uow, store) -> None:
    objection = await handlers.record_objection(
        commands.RecordObjection(
            actor="crm",
            scope=model.ALL_DIRECT_MARKETING,
            email="Jeanne@Example.org",
            phone="+33 6 12 34 56 78",
        ),
        uow,
    )

    assert objection.blind_indexes == (
        INDEXER.email("Jeanne@Example.org"),
        INDEXER.phone("+33 6 12 34 56 78"),
    )
    [event] = store.events_of(events.ObjectionRecorded)
    assert "Jeanne" not in repr(event) and event.blind_indexes == objection.blind_indexes
    found = await handlers.match_objections([INDEXER.email("jeanne@example.org")], uow)
    assert [o.objection_id for o in found] == [objection.objection_id]


async def test_an_objection_by_contact_id_takes_the_contact_s_known_indexes(uow) -> None:
    await handlers.record_contact_indexes(
        commands.RecordContactIndexes(actor="contacts", contact_id="contact-1", blind_indexes=("a" * 64,)),
        uow,
    )

    objection = await handlers.record_objection(
        commands.RecordObjection(actor="crm", scope=model.ALL_DIRECT_MARKETING, contact_id="contact-1"), uow
    )

    assert objection.blind_indexes == ("a" * 64,)


async def test_an_objection_with_an_unknown_scope_is_refused(uow) -> None:
    with pytest.raises(errors.InvalidObjectionScopeError):
        await handlers.record_objection(commands.RecordObjection(actor="crm", scope="pigeons"), uow)


async def test_a_contact_update_adds_its_indexes_to_its_existing_objections(uow, store) -> None:
    objection = await handlers.record_objection(
        commands.RecordObjection(actor="crm", scope=model.ALL_DIRECT_MARKETING, contact_id="contact-1"), uow
    )
    envelope = EventEnvelope(
        source="/vigie/contacts",
        type=contracts.CONTACT_UPDATED,
        subject="contact-1",
        actor="contacts",
        data={"facts": {"email_index": "b" * 64, "phone_index": None}},
    )

    await handle_contacts_event(_record(envelope), lambda: uow)

    assert store.tables.objections[objection.objection_id].blind_indexes == ("b" * 64,)
    [added] = store.events_of(events.ObjectionIndexesAdded)
    assert added.blind_indexes == ("b" * 64,)


async def test_a_contact_erasure_deletes_consents_and_deliveries_and_keeps_the_objection_s_indexes(
    uow, store
) -> None:
    purpose = await _purpose(uow)
    consent = await handlers.grant_consent(_grant(purpose.purpose_id), uow)
    notice = await handlers.publish_notice(_notice(purpose.purpose_id), uow)
    await handlers.deliver_notice(
        commands.DeliverNotice(
            actor="crm", notice_id=notice.notice_id, contact_id="contact-1", channel="email"
        ),
        uow,
    )
    objection = await handlers.record_objection(
        commands.RecordObjection(actor="crm", scope=model.ALL_DIRECT_MARKETING, contact_id="contact-1"), uow
    )
    erased = EventEnvelope(
        source="/vigie/contacts",
        type=contracts.CONTACT_ERASED,
        subject="contact-1",
        actor="contacts",
        data={"blind_indexes": ["c" * 64]},
    )

    await handle_contacts_event(_record(erased), lambda: uow)

    assert consent.consent_id not in store.tables.consents and store.tables.deliveries == {}
    kept = store.tables.objections[objection.objection_id]
    assert kept.contact_id is None and kept.blind_indexes == ("c" * 64,)
    [event] = store.events_of(events.ConsentDataErased)
    assert event.contact_id == "contact-1"
    assert await handlers.match_objections(["c" * 64], uow) == [kept]


async def test_a_redelivered_erasure_is_applied_once(uow, store) -> None:
    erased = EventEnvelope(
        source="/vigie/contacts",
        type=contracts.CONTACT_ERASED,
        subject="contact-1",
        actor="contacts",
        data={"blind_indexes": []},
    )

    await handle_contacts_event(_record(erased), lambda: uow)
    await handle_contacts_event(_record(erased), lambda: uow)

    assert len(store.events_of(events.ConsentDataErased)) == 1


async def test_an_undecodable_record_is_poison_and_other_event_types_are_ignored(uow, store) -> None:
    with pytest.raises(PoisonMessageError):
        await handle_contacts_event(
            SimpleNamespace(topic=contracts.CONTACTS_EVENTS, value=b"not json"), lambda: uow
        )
    other = EventEnvelope(
        source="/vigie/contacts",
        type="vigie.contacts.something_else.v1",
        subject="contact-1",
        actor="contacts",
        data={},
    )
    await handle_contacts_event(_record(other), lambda: uow)
    assert store.commits == 0


# --- Processors and parties.


async def test_registering_then_suspending_a_processor(uow, store) -> None:
    processor = await handlers.register_processor(
        commands.RegisterProcessor(
            actor="admin", legal_name="Routeur SAS", role=ProcessorRole.PROCESSOR, purpose_ids=("p-1",)
        ),
        uow,
    )
    assert store.tables.processors[processor.processor_id].purpose_ids == ("p-1",)

    updated = await handlers.update_processor(
        commands.UpdateProcessor(
            actor="admin",
            processor_id=processor.processor_id,
            changes=commands.ProcessorChanges(status=processor.status.SUSPENDED),
        ),
        uow,
    )

    assert updated.status is processor.status.SUSPENDED
    assert [e.processor_id for e in store.events_of(events.ProcessorRegistered)] == [processor.processor_id]
    [event] = store.events_of(events.ProcessorUpdated)
    assert event.changed_fields == ("status",)


async def test_a_party_s_missing_contract_is_reported_until_one_is_signed(uow, store) -> None:
    view = await handlers.register_party(
        commands.RegisterParty(actor="admin", legal_name="Routeur SAS", roles=(PartyRole.PROCESSOR,)), uow
    )
    assert view.contracts == [] and view.findings

    contract = await handlers.sign_contract(
        commands.SignContract(
            actor="admin",
            party_id=view.party.party_id,
            reference="DPA-2026",
            signed_at=T0,
            expires_at=T0 + timedelta(days=365),
            clauses=tuple(required_clauses(view.party.roles)),
        ),
        uow,
    )

    assert contract.version == 1
    after = await handlers.get_party_or_raise(view.party.party_id, uow)
    assert after.current == contract and after.findings == []
    assert [e.party_id for e in store.events_of(events.PartyRegistered)] == [view.party.party_id]
    assert len(store.events_of(events.ContractSigned)) == 1


async def test_a_party_naming_an_unknown_processor_is_not_found(uow, store) -> None:
    with pytest.raises(errors.NotFoundError):
        await handlers.register_party(
            commands.RegisterParty(
                actor="admin", legal_name="Routeur SAS", roles=(PartyRole.PROCESSOR,), processor_id="nowhere"
            ),
            uow,
        )
    assert store.tables.parties == {}


async def test_updating_a_party_changes_only_the_given_fields(uow, store) -> None:
    view = await handlers.register_party(
        commands.RegisterParty(
            actor="admin",
            legal_name="Routeur SAS",
            roles=(PartyRole.PROCESSOR,),
            contact="dpo@routeur.example",
        ),
        uow,
    )

    updated = await handlers.update_party(
        commands.UpdateParty(
            actor="admin", party_id=view.party.party_id, changes=commands.PartyChanges(systems=("crm",))
        ),
        uow,
    )

    assert updated.party.systems == ("crm",) and updated.party.contact == "dpo@routeur.example"
    [event] = store.events_of(events.PartyUpdated)
    assert event.changed_fields == ("systems",)


async def test_the_expiry_watch_raises_each_contract_s_expiring_event_once(uow, store) -> None:
    view = await handlers.register_party(
        commands.RegisterParty(actor="admin", legal_name="Routeur SAS", roles=(PartyRole.PROCESSOR,)), uow
    )
    contract = await handlers.sign_contract(
        commands.SignContract(
            actor="admin",
            party_id=view.party.party_id,
            reference="DPA-2026",
            signed_at=T0,
            expires_at=T0 + timedelta(days=10),
            clauses=tuple(required_clauses(view.party.roles)),
        ),
        uow,
    )

    watch = commands.WatchContractExpiry(actor="watch", window_days=30)
    first = await handlers.watch_contract_expiry(watch, uow)
    again = await handlers.watch_contract_expiry(watch, uow)

    assert (first.expiring, first.expired) == ([contract.contract_id], [])
    assert (again.expiring, again.expired) == ([], [])
    assert len(store.events_of(events.ContractExpiring)) == 1

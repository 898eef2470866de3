"""The gate's handlers on the fakes: the campaign lifecycle, checks, suppression imports, projection."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from campaign_gate import contracts
from campaign_gate.domain import events, review
from campaign_gate.domain.decision import decide_recipients
from campaign_gate.domain.errors import ApprovalRefusedError, FourEyesError, NotFoundError
from campaign_gate.domain.facts import Channel, SuppressionKind
from campaign_gate.domain.model import Campaign, PurposeInfo, Status, StoredFinding, campaign_facts
from campaign_gate.entrypoints import consumer, schemas
from campaign_gate.service_layer import commands, handlers
from campaign_gate.service_layer.commands import CampaignChanges, CampaignSpec
from campaign_gate_examples import recipient
from campaign_gate_fakes import T0, FakeStore, FakeUnitOfWork
from consent.adapters import outgoing as consent_outgoing
from consent.domain.model import LawfulBasis, Objection, Party, Purpose
from contacts.adapters import outgoing as contacts_outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.domain.model import Contact, Kind, Origin, PersonalData, Relationship
from shared.blind_index import BlindIndexer, InvalidIdentifierError
from shared.envelope_crypto import KeyRing
from shared.events import EventEnvelope
from shared.kafka import PoisonMessageError

INDEXER = BlindIndexer(b"test-blind-index-key-0123456789abcdef")
SPEC = CampaignSpec(
    purpose_id="P-1",
    channel=Channel.EMAIL,
    sender_entity="Acme SAS",
    send_at=datetime(2026, 6, 2, 9, 0, tzinfo=UTC),
    message=commands.Message(subject="Soldes", body="…"),
    targeting=(commands.Criterion("city", "in", ("Paris", "Lyon")),),
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def uow(store: FakeStore) -> FakeUnitOfWork:
    return FakeUnitOfWork(store)


async def _draft(store: FakeStore, spec: CampaignSpec = SPEC, *, by: str = "marketer-1") -> Campaign:
    return await handlers.create_campaign(commands.CreateCampaign(spec, by), uow(store))


def _submitted(store: FakeStore, *findings: StoredFinding, spec: dict[str, Any] | None = None) -> Campaign:
    campaign = Campaign.draft(spec=spec or SPEC.as_json(), by="marketer-1", at=T0)
    campaign.submit(findings=(), by="marketer-1", at=T0)
    campaign = dataclasses.replace(campaign, findings=findings, events=[])
    store.state.campaigns[campaign.id] = campaign
    return campaign


# --- commands ------------------------------------------------------------------------------------


def test_a_spec_is_stored_as_the_api_writes_its_json() -> None:
    body = schemas.CampaignFields.model_validate(SPEC.as_json())
    assert body.model_dump(mode="json") == SPEC.as_json()


def test_changes_carry_only_the_fields_given_and_refuse_unknown_ones() -> None:
    changes = CampaignChanges(given=frozenset({"processor_id", "product_category"}), product_category="boots")
    assert changes.as_json() == {"processor_id": None, "product_category": "boots"}
    with pytest.raises(ValueError, match="not campaign fields: colour"):
        CampaignChanges(given=frozenset({"colour"}))


# --- the campaign lifecycle ----------------------------------------------------------------------


async def test_drafting_stores_the_spec_and_publishes_campaign_drafted(store: FakeStore) -> None:
    campaign = await _draft(store)
    stored = store.state.campaigns[campaign.id]
    assert (stored.status, stored.version, stored.created_by) == (Status.DRAFT, 1, "marketer-1")
    assert stored.spec["send_at"] == "2026-06-02T09:00:00Z"
    assert stored.spec["targeting"] == [
        {"attribute": "city", "operator": "in", "value": ["Paris", "Lyon"], "justification": None}
    ]
    [drafted] = store.of_type(events.CampaignDrafted)
    assert (drafted.campaign_id, drafted.version, drafted.previous_status) == (campaign.id, 1, None)
    assert store.commits == 1


async def test_a_change_after_submission_sends_the_campaign_back_to_draft(store: FakeStore) -> None:
    campaign = _submitted(store)
    changes = CampaignChanges(given=frozenset({"product_category"}), product_category="boots")
    changed = await handlers.change_campaign(
        commands.ChangeCampaign(campaign.id, changes, "marketer-2"), uow(store)
    )
    assert (changed.status, changed.version, changed.spec["product_category"]) == (Status.DRAFT, 2, "boots")
    [drafted] = store.of_type(events.CampaignDrafted)
    assert (drafted.previous_status, drafted.changed_fields) == ("submitted", ("product_category",))


async def test_submission_reviews_with_the_purpose_consent_published(store: FakeStore) -> None:
    store.state.purposes["P-1"] = {"purpose_id": "P-1", "lawful_basis": "consent", "retired": False}
    campaign = await _draft(store)
    submitted = await handlers.submit_campaign(commands.SubmitCampaign(campaign.id, "marketer-1"), uow(store))
    facts = campaign_facts(campaign, purpose=PurposeInfo("P-1", "consent"), processor=None)
    expected = [StoredFinding.of(f) for f in review.review_campaign(facts, at=T0)]
    assert submitted.status is Status.SUBMITTED
    assert list(store.state.campaigns[campaign.id].findings) == expected
    assert store.of_type(events.CampaignSubmitted)[0].campaign_id == campaign.id


async def test_a_processor_consent_never_registered_blocks_under_proc_01(store: FakeStore) -> None:
    campaign = await _draft(store, dataclasses.replace(SPEC, processor_id="V-404"))
    submitted = await handlers.submit_campaign(commands.SubmitCampaign(campaign.id, "marketer-1"), uow(store))
    assert submitted.findings[0] == StoredFinding(
        "PROC-01", "block", "The processor is not in consent's vendor registry.", ("processor:V-404",)
    )


async def test_a_reviewer_approves_a_campaign_without_findings(store: FakeStore) -> None:
    campaign = _submitted(store)
    command = commands.ReviewCampaign(campaign.id, "reviewer-1", approve=True)
    approved = await handlers.review_campaign(command, uow(store))
    assert store.state.campaigns[campaign.id].status is Status.APPROVED == approved.status
    [event] = store.of_type(events.CampaignApproved)
    assert (event.reviewer, event.sign_offs) == ("reviewer-1", ())


@pytest.mark.parametrize(
    ("reviewer", "finding", "error"),
    [
        ("marketer-1", None, FourEyesError),
        ("reviewer-1", StoredFinding("PROC-01", "block", "no processor"), ApprovalRefusedError),
        (
            "reviewer-1",
            StoredFinding("TGT-01", "needs_review", "a sensitive criterion"),
            ApprovalRefusedError,
        ),
    ],
)
async def test_an_approval_the_rules_refuse_changes_nothing(
    store: FakeStore, reviewer: str, finding: StoredFinding | None, error: type[Exception]
) -> None:
    campaign = _submitted(store, *([finding] if finding else []))
    with pytest.raises(error):
        await handlers.review_campaign(
            commands.ReviewCampaign(campaign.id, reviewer, approve=True), uow(store)
        )
    assert store.state.campaigns[campaign.id].status is Status.SUBMITTED
    assert (store.published, store.commits) == ([], 0)


async def test_a_rejection_keeps_its_reason(store: FakeStore) -> None:
    campaign = _submitted(store)
    command = commands.ReviewCampaign(campaign.id, "reviewer-1", approve=False, justification="wrong list")
    rejected = await handlers.review_campaign(command, uow(store))
    assert rejected.status is Status.REJECTED and rejected.review is not None
    assert rejected.review["reason"] == "wrong list"
    assert store.of_type(events.CampaignRejected)[0].reason == "wrong list"


async def test_an_unknown_campaign_is_not_found(store: FakeStore) -> None:
    with pytest.raises(NotFoundError):
        await handlers.submit_campaign(commands.SubmitCampaign("nope", "marketer-1"), uow(store))


# --- checks --------------------------------------------------------------------------------------


def _checkable(store: FakeStore) -> tuple[Campaign, Any]:
    store.state.purposes["P-1"] = {"purpose_id": "P-1", "lawful_basis": "consent", "retired": False}
    campaign = _submitted(store)
    store.state.recipient_facts["r-1"] = recipient(contact_id="r-1")
    facts = campaign_facts(campaign, purpose=PurposeInfo("P-1", "consent"), processor=None)
    return campaign, facts


async def test_a_check_decides_each_recipient_and_stores_its_receipts_once(store: FakeStore) -> None:
    campaign, facts = _checkable(store)
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    result, receipts = await handlers.check_once(command, ["r-1", "unknown", "r-1"], uow=uow(store))

    from campaign_gate.adapters.projection import unknown_recipient

    expected = list(
        decide_recipients(
            facts, [recipient(contact_id="r-1"), unknown_recipient("unknown")], at=T0, stale=False
        )
    )
    assert [(r["contact_id"], r["decision"]) for r in receipts] == [
        (d.contact_id, d.decision.value) for d in expected
    ]
    assert result.recipients == 2 and sum(result.summary.values()) == 2
    assert store.state.checks[result.check_id]["summary"] == result.summary
    assert [r["contact_id"] for r in store.state.receipts] == ["r-1", "unknown"]
    [chunk] = store.of_type(events.ReceiptChunkCommitted)
    assert (chunk.check_id, chunk.chunk, chunk.first_index, chunk.count) == (result.check_id, 0, 0, 2)
    assert [(r["chunk"], r["chunk_index"]) for r in store.state.receipts] == [(0, 0), (0, 1)]
    [completed] = store.of_type(events.CheckCompleted)
    assert (completed.check_id, completed.recipients, completed.stale) == (result.check_id, 2, False)
    assert store.commits == 1


async def test_a_streamed_check_commits_per_batch_and_finishes_with_its_totals(store: FakeStore) -> None:
    campaign, _ = _checkable(store)
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    items = [
        item
        async for item in handlers.check_stream(
            command, ["r-1", "x-2", "r-1", "x-3"], uow_factory=lambda: uow(store), batch=2
        )
    ]
    *receipts, result = items
    assert isinstance(result, handlers.CheckResult)
    assert [r["contact_id"] for r in receipts] == ["r-1", "x-2", "x-3"]
    assert store.state.checks[result.check_id]["recipients"] == 3
    assert store.commits == 1 + 2 + 1  # header, two batches, totals


async def test_a_stale_projection_blocks_every_recipient_under_gate_stale(store: FakeStore) -> None:
    campaign, _ = _checkable(store)
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=True, stale_reason="behind")
    result, receipts = await handlers.check_once(command, ["r-1"], uow=uow(store))
    assert result.stale and [r["decision"] for r in receipts] == ["block"]
    assert [reason["rule"] for reason in receipts[0]["reasons"]] == ["GATE_STALE"]


# --- suppression lists ---------------------------------------------------------------------------


async def test_an_import_keeps_blind_indexes_only(store: FakeStore) -> None:
    command = commands.ImportSuppressionEntries(
        list_name="bloctel",
        kind=SuppressionKind.BLOCTEL,
        channel=Channel.PHONE_HUMAN,
        actor="admin-1",
        emails=["Jean@Example.org"],
        phones=["+33612345678"],
    )
    imported = await handlers.import_suppression_entries(command, INDEXER, uow(store))
    indexes = {INDEXER.email("jean@example.org"), INDEXER.phone("+33612345678")}
    assert {index for _, index in store.state.entries} == indexes
    assert "Jean@Example.org" not in repr(store.state) and "+33612345678" not in repr(store.state)
    assert (imported["kind"], imported["entries"], imported["imported_at"]) == ("bloctel", 2, T0)
    [event] = store.of_type(events.SuppressionListImported)
    assert (event.list_name, event.entries) == ("bloctel", 2)
    [listed] = await handlers.list_suppression_lists(uow(store))
    assert (listed["name"], listed["entries"], listed["last_imported_at"]) == ("bloctel", 2, T0)


async def test_a_bad_identifier_is_named_and_nothing_is_stored(store: FakeStore) -> None:
    command = commands.ImportSuppressionEntries(
        list_name="optout",
        kind=SuppressionKind.OPPOSITION,
        channel=None,
        actor="admin-1",
        emails=["ok@example.org", "nope"],
    )
    with pytest.raises(InvalidIdentifierError, match=r"emails\[1\]"):
        await handlers.import_suppression_entries(command, INDEXER, uow(store))
    assert (store.state.lists, store.published) == ({}, [])


# --- the projection ------------------------------------------------------------------------------


def _consent_event(aggregate: Any) -> EventEnvelope:
    """Returns the consent aggregate's last event as consent publishes it (its own mapping, its bytes)."""
    _topic, envelope = consent_outgoing.to_envelope(
        aggregate.events[-1], actor="consent/api", correlation_id=None
    )
    return EventEnvelope.decode(envelope.encode())


def _purpose() -> Purpose:
    return Purpose.register(
        at=T0 - timedelta(days=60),
        lawful_basis=LawfulBasis.CONSENT,
        name="Newsletter",
        controller=Party(name="Acme SAS", contact="privacy@acme.example"),
        description="Envoyer des offres commerciales aux prospects et clients",
    )


async def test_an_event_is_projected_once_and_its_offset_recorded_every_time(store: FakeStore) -> None:
    purpose = _purpose()
    event = commands.ProjectEvent(_consent_event(purpose), contracts.CONSENT_EVENTS, 0, 41)
    assert await handlers.project_event(event, uow(store)) is True
    assert store.state.purposes[purpose.purpose_id]["lawful_basis"] == "consent"
    store.state.purposes.clear()
    redelivered = dataclasses.replace(event, offset=42)
    assert await handlers.project_event(redelivered, uow(store)) is False
    assert store.state.purposes == {}
    assert store.state.offsets == {(contracts.CONSENT_EVENTS, 0): 43}


async def test_an_objection_is_projected_with_its_blind_indexes(store: FakeStore) -> None:
    objection = Objection.record(
        contact_id="c-1",
        scope="all_direct_marketing",
        at=T0,
        blind_indexes=[INDEXER.email("jean@example.org")],
    )
    await handlers.project_event(
        commands.ProjectEvent(_consent_event(objection), contracts.CONSENT_EVENTS, 0, 0), uow(store)
    )
    [row] = store.state.objections.values()
    assert (row["contact_id"], row["scope"], row["blind_indexes"]) == (
        "c-1",
        "all_direct_marketing",
        [INDEXER.email("jean@example.org")],
    )


async def test_an_erasure_forgets_the_contact_and_says_how_many_receipts_stay(store: FakeStore) -> None:
    vault = PersonalDataVault(key_ring=KeyRing({"test": os.urandom(32)}, "test"), indexer=INDEXER)
    personal = PersonalData(email="jean@example.org")
    contact = Contact.create(
        kind=Kind.CONSUMER,
        relationship=Relationship.PROSPECT,
        personal=personal,
        indexes=vault.indexes_for(personal),
        origin=Origin(collected_from_person=True, source="web_form"),
        obtained_at=T0,
        at=T0,
    )
    store.state.receipts.append({"check_id": "k-1", "contact_id": contact.id, "decision": "allow"})
    contact.erase(reason="request", at=T0)
    envelopes = [
        contacts_outgoing.to_envelope(e, actor="contacts/api", correlation_id=None)[1] for e in contact.events
    ]
    for offset, envelope in enumerate(envelopes):
        event = commands.ProjectEvent(
            EventEnvelope.decode(envelope.encode()), contracts.CONTACTS_EVENTS, 0, offset
        )
        await handlers.project_event(event, uow(store))
    assert store.state.contacts[contact.id]["status"] == "erased"
    [forgotten] = store.of_type(events.ContactForgotten)
    assert (forgotten.contact_id, forgotten.receipts_kept) == (contact.id, 1)


async def test_a_reset_empties_the_projection_and_its_inbox(store: FakeStore) -> None:
    purpose = _purpose()
    event = commands.ProjectEvent(_consent_event(purpose), contracts.CONSENT_EVENTS, 0, 0)
    await handlers.project_event(event, uow(store))
    await handlers.reset_projection(commands.ResetProjection(), uow(store))
    assert (store.state.purposes, store.state.offsets, store.state.inbox) == ({}, {}, set())
    assert await handlers.project_event(event, uow(store)) is True


# --- the consumer --------------------------------------------------------------------------------


def _record(value: bytes, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(contracts.CONSENT_EVENTS, 0, offset, 0, 0, None, value, None, 0, len(value), ())


async def test_the_consumer_projects_a_record_as_published(store: FakeStore) -> None:
    purpose = _purpose()
    refused = await consumer.project_records(
        [_record(_consent_event(purpose).encode(), offset=7)], lambda: uow(store)
    )
    assert refused == []
    assert purpose.purpose_id in store.state.purposes
    assert store.state.offsets == {(contracts.CONSENT_EVENTS, 0): 8}


async def test_the_consumer_refuses_what_it_cannot_use_stores_nothing_of_it_but_its_offset(
    store: FakeStore,
) -> None:
    envelope = _consent_event(_purpose())
    unusable = EventEnvelope(
        source=envelope.source,
        type=contracts.CONSENT_GRANTED,
        subject="c-1",
        actor="consent/api",
        data={"purpose_id": "P-1"},
    )
    garbage, bad = _record(b"not an envelope", offset=0), _record(unusable.encode(), offset=1)
    refused = await consumer.project_records([garbage, bad], lambda: uow(store))
    assert [(r, type(e)) for r, e in refused] == [(garbage, PoisonMessageError), (bad, PoisonMessageError)]
    assert "undecodable" in str(refused[0][1])
    assert str(refused[1][1]) == f"unusable {contracts.CONSENT_GRANTED}: KeyError"
    # Because a refused record left last on a partition must not keep the projection stale.
    assert (store.state.consents, store.state.offsets) == ({}, {(contracts.CONSENT_EVENTS, 0): 2})


async def test_campaigns_are_listed_by_status_last_changed_first(store: FakeStore) -> None:
    draft = await _draft(store)
    first = _submitted(store)
    second = _submitted(store)
    store.state.campaigns[second.id] = dataclasses.replace(second, updated_at=T0 + timedelta(minutes=1))

    queue = await handlers.list_campaigns(Status.SUBMITTED, 10, uow(store))
    assert [c.id for c in queue] == [second.id, first.id]
    assert draft.id not in {c.id for c in queue}
    assert {c.id for c in await handlers.list_campaigns(None, 10, uow(store))} == {
        draft.id,
        first.id,
        second.id,
    }
    assert len(await handlers.list_campaigns(None, 1, uow(store))) == 1

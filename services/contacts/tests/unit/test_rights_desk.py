"""The data-subject request handlers and the rights desk on in-memory fakes of the unit of work and peers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contacts.domain.model import Kind, Origin, PersonalData, Relationship
from contacts.domain.requests import ERASURE_SERVICES, RequestCompleted, RequestKind, RequestStatus
from contacts.service_layer import commands, handlers
from contacts.service_layer.rights_desk import RightsDesk
from contacts_fakes import FakePeers, FakeStore, FakeUnitOfWork

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def _desk(peers: FakePeers) -> tuple[RightsDesk, FakeStore, list[datetime]]:
    store = FakeStore()
    now = [T0]
    desk = RightsDesk(
        new_uow=lambda: FakeUnitOfWork(store, clock=lambda: now[0]), peers=peers, clock=lambda: now[0]
    )
    return desk, store, now


async def _contact(store: FakeStore, email: str) -> str:
    contact = await handlers.create_contact(
        commands.CreateContact(
            actor="tests",
            kind=Kind.CONSUMER,
            relationship=Relationship.PROSPECT,
            personal=PersonalData(email=email),
            origin=Origin(collected_from_person=True, source="web_form"),
            obtained_at=T0,
        ),
        FakeUnitOfWork(store),
    )
    return contact.id


async def test_unknown_persons_objection_while_consent_is_down_is_kept_and_retried_until_accepted() -> None:
    peers = FakePeers()
    desk, store, now = _desk(peers)
    peers.down = True

    request = await desk.submit(
        commands.ReceiveRequest(
            actor="dpo", kind=RequestKind.OBJECTION, email="Stranger@Example.org", phone="06 98 76 54 32"
        )
    )
    [pending] = store.forwards.values()
    first_pass = await desk.watch_once()
    peers.down = False
    now[0] = T0 + timedelta(minutes=5)
    second_pass = await desk.watch_once()
    third_pass = await desk.watch_once()

    assert request.status is RequestStatus.NO_DATA_FOUND
    assert pending.request_id == request.id and pending.attempts == 1 and pending.pending
    assert first_pass.forwarded == [] and second_pass.forwarded == [request.id] and third_pass.forwarded == []
    indexer = FakeUnitOfWork().vault.indexer
    assert peers.objections == [
        {
            "contact_id": None,
            "blind_indexes": [indexer.email("stranger@example.org"), indexer.phone("+33698765432")],
        }
    ]
    [done] = store.forwards.values()
    assert done.forwarded_at == now[0] and done.attempts == 3


async def test_an_objection_by_an_unknown_person_is_forwarded_at_once_when_consent_answers() -> None:
    peers = FakePeers()
    desk, store, _now = _desk(peers)

    await desk.submit(
        commands.ReceiveRequest(actor="dpo", kind=RequestKind.OBJECTION, email="someone@example.org")
    )

    assert len(peers.objections) == 1
    assert [f.pending for f in store.forwards.values()] == [False]
    assert (await desk.watch_once()).forwarded == []


async def test_an_access_request_by_an_unknown_person_forwards_nothing() -> None:
    peers = FakePeers()
    desk, store, _now = _desk(peers)

    await desk.submit(
        commands.ReceiveRequest(actor="dpo", kind=RequestKind.ACCESS, email="someone@example.org")
    )

    assert peers.objections == [] and store.forwards == {}


async def test_a_rectification_changes_only_the_named_fields_and_completes_naming_them() -> None:
    peers = FakePeers()
    desk, store, _now = _desk(peers)
    contact_id = await _contact(store, "lea@example.org")

    request = await desk.submit(
        commands.ReceiveRequest(actor="dpo", kind=RequestKind.RECTIFICATION, contact_id=contact_id),
        changes=commands.ContactChanges(given_name="Léa"),
    )

    assert request.status is RequestStatus.COMPLETED and request.history[-1].note == "rectified: given_name"
    assert store.contacts[contact_id].personal.given_name == "Léa"
    assert store.contacts[contact_id].personal.email == "lea@example.org"


async def test_an_erasure_completes_with_the_last_services_confirmation_each_counted_once() -> None:
    peers = FakePeers()
    desk, store, _now = _desk(peers)
    contact_id = await _contact(store, "lea@example.org")
    request = await desk.submit(
        commands.ReceiveRequest(actor="dpo", kind=RequestKind.ERASURE, contact_id=contact_id)
    )

    changed = []
    for service in (*ERASURE_SERVICES, ERASURE_SERVICES[0]):
        changed.append(
            await handlers.confirm_erasure(
                commands.ConfirmErasure(actor="tests", contact_id=contact_id, service=service),
                FakeUnitOfWork(store),
            )
        )

    assert [len(c) for c in changed] == [1, 1, 1, 1, 0]
    assert store.requests[request.id].status is RequestStatus.COMPLETED
    assert isinstance(store.published[-1][1], RequestCompleted)

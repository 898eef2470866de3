"""Restriction of processing (Art. 18) and contesting an automated decision (Art. 22(3)) at the rights desk,
on in-memory fakes of the unit of work and peers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from contacts.domain.events import ProcessingRestricted, RestrictionLifted
from contacts.domain.model import Kind, Origin, PersonalData, Relationship
from contacts.domain.requests import (
    ContestationDecided,
    ContestationReviewStarted,
    ContestOutcome,
    RequestError,
    RequestKind,
    RequestStatus,
    RequestStepRefusedError,
    RestrictionGround,
)
from contacts.service_layer import commands, handlers
from contacts.service_layer.rights_desk import RightsDesk
from contacts_fakes import FakePeers, FakeStore, FakeUnitOfWork

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def _desk() -> tuple[RightsDesk, FakeStore, list[datetime]]:
    store = FakeStore()
    now = [T0]
    desk = RightsDesk(
        new_uow=lambda: FakeUnitOfWork(store, clock=lambda: now[0]), peers=FakePeers(), clock=lambda: now[0]
    )
    return desk, store, now


async def _contact(store: FakeStore, *, obtained_at: datetime = T0) -> str:
    contact = await handlers.create_contact(
        commands.CreateContact(
            actor="tests",
            kind=Kind.CONSUMER,
            relationship=Relationship.PROSPECT,
            personal=PersonalData(email="lea@example.org"),
            origin=Origin(collected_from_person=True, source="web_form"),
            obtained_at=obtained_at,
        ),
        FakeUnitOfWork(store),
    )
    return contact.id


def _published(store: FakeStore, kind: type) -> list:
    return [e for _, e in store.published if isinstance(e, kind)]


async def _restrict(desk: RightsDesk, contact_id: str, grounds: RestrictionGround) -> str:
    request = await desk.submit(
        commands.ReceiveRequest(
            actor="dpo",
            kind=RequestKind.RESTRICTION,
            contact_id=contact_id,
            details={"grounds": grounds.value},
        )
    )
    return request.id


@pytest.mark.parametrize("grounds", list(RestrictionGround))
async def test_a_restriction_on_each_ground_of_18_1_restricts_the_contact_and_publishes_it_in_its_facts(
    grounds: RestrictionGround,
) -> None:
    desk, store, _ = _desk()
    contact_id = await _contact(store)

    request_id = await _restrict(desk, contact_id, grounds)

    request = await handlers.get_request(request_id, desk.new_uow())
    assert request.status is RequestStatus.COMPLETED
    assert request.details == {"grounds": grounds.value}
    assert "Art. 18(1)(" in (request.history[-1].note or "")
    [event] = _published(store, ProcessingRestricted)
    assert (event.request_id, event.grounds) == (request_id, grounds.value)
    assert event.facts["restriction"] == {
        "request_id": request_id,
        "grounds": grounds.value,
        "since": T0.isoformat(),
    }
    assert "lea@example.org" not in repr(event)
    assert store.contacts[contact_id].restriction is not None


async def test_a_second_restriction_leaves_the_first_in_force_and_says_so() -> None:
    desk, store, _ = _desk()
    contact_id = await _contact(store)
    first = await _restrict(desk, contact_id, RestrictionGround.ACCURACY_CONTESTED)

    second = await _restrict(desk, contact_id, RestrictionGround.LEGAL_CLAIMS)

    assert store.contacts[contact_id].restriction.request_id == first
    assert "already restricted" in (
        (await handlers.get_request(second, desk.new_uow())).history[-1].note or ""
    )
    assert len(_published(store, ProcessingRestricted)) == 1


async def test_lifting_needs_the_person_informed_beforehand_and_names_each_missing_field() -> None:
    desk, store, now = _desk()
    contact_id = await _contact(store)
    request_id = await _restrict(desk, contact_id, RestrictionGround.ACCURACY_CONTESTED)
    now[0] = T0 + timedelta(days=10)

    for informed_at, informed_by, fields in (
        (None, None, ["informed_at", "informed_by"]),
        (now[0] + timedelta(hours=1), "letter", ["informed_at"]),
        (T0 - timedelta(days=1), "letter", ["informed_at"]),
    ):
        with pytest.raises(RequestStepRefusedError) as refused:
            await handlers.lift_restriction(
                commands.LiftRestriction(
                    actor="dpo",
                    request_id=request_id,
                    reason="accuracy verified",
                    informed_at=informed_at,
                    informed_by=informed_by,
                ),
                desk.new_uow(),
            )
        assert [e["field"] for e in refused.value.problem_extra["errors"]] == fields
    assert store.contacts[contact_id].restriction is not None

    lifted = await handlers.lift_restriction(
        commands.LiftRestriction(
            actor="dpo",
            request_id=request_id,
            reason="accuracy verified",
            informed_at=now[0] - timedelta(days=2),
            informed_by="e-mail",
        ),
        desk.new_uow(),
    )

    assert lifted.details["informed_by"] == "e-mail" and lifted.history[-1].action == "restriction_lifted"
    assert store.contacts[contact_id].restriction is None
    [event] = _published(store, RestrictionLifted)
    assert event.facts["restriction"] is None and event.informed_at == now[0] - timedelta(days=2)
    with pytest.raises(RequestError):
        await handlers.lift_restriction(
            commands.LiftRestriction(
                actor="dpo", request_id=request_id, reason="again", informed_at=T0, informed_by="letter"
            ),
            desk.new_uow(),
        )


async def test_the_retention_sweep_keeps_a_restricted_contact_past_its_grace() -> None:
    desk, store, now = _desk()
    old = T0 - timedelta(days=365 * 4)
    contact_id = await _contact(store, obtained_at=old)
    await _restrict(desk, contact_id, RestrictionGround.LEGAL_CLAIMS)

    report = await handlers.sweep_retention(
        commands.SweepRetention(actor="sweep", now=T0, limit=100),
        FakeUnitOfWork(store),
        grace=timedelta(days=30),
    )

    assert report.erased == 0 and store.contacts[contact_id].status.value == "retention_flagged"


async def _contest(desk: RightsDesk, contact_id: str) -> str:
    request = await desk.submit(
        commands.ReceiveRequest(
            actor="crm",
            kind=RequestKind.CONTESTATION,
            contact_id=contact_id,
            details={
                "decision": {
                    "kind": "gate_check",
                    "check_id": "chk-1",
                    "campaign_id": "cmp-1",
                    "reference": None,
                },
                "point_of_view": "I was scored as a bad payer by mistake",
            },
        )
    )
    return request.id


async def test_a_contestation_waits_open_for_a_human_then_review_then_outcome_with_reasons() -> None:
    desk, store, now = _desk()
    contact_id = await _contact(store)
    request_id = await _contest(desk, contact_id)

    opened = await handlers.get_request(request_id, desk.new_uow())
    assert opened.status is RequestStatus.RECEIVED and opened.due_at > T0
    assert [r.id for r in await handlers.list_contestations(desk.new_uow())] == [request_id]
    await desk.watch_once()  # The watcher never "retries" a contestation: it waits for a human.
    assert (await handlers.get_request(request_id, desk.new_uow())).status is RequestStatus.RECEIVED

    with pytest.raises(RequestError):  # No outcome before a human took it up.
        await handlers.decide_contestation(
            commands.DecideContestation(
                actor="user:dpo", request_id=request_id, outcome=ContestOutcome.UPHELD, reasons="ok"
            ),
            desk.new_uow(),
        )
    now[0] = T0 + timedelta(days=3)
    reviewed = await handlers.start_human_review(
        commands.StartHumanReview(actor="user:dpo", request_id=request_id), desk.new_uow()
    )
    assert reviewed.status is RequestStatus.IN_PROGRESS and reviewed.details["reviewer"] == "user:dpo"
    with pytest.raises(RequestError):  # Only the human who took it up decides.
        await handlers.decide_contestation(
            commands.DecideContestation(
                actor="user:other", request_id=request_id, outcome=ContestOutcome.UPHELD, reasons="fine"
            ),
            desk.new_uow(),
        )
    with pytest.raises(RequestStepRefusedError):
        await handlers.decide_contestation(
            commands.DecideContestation(
                actor="user:dpo", request_id=request_id, outcome=ContestOutcome.UPHELD, reasons="  "
            ),
            desk.new_uow(),
        )

    decided = await handlers.decide_contestation(
        commands.DecideContestation(
            actor="user:dpo",
            request_id=request_id,
            outcome=ContestOutcome.OVERTURNED,
            reasons="The payment incident was another customer's; the exclusion is withdrawn.",
        ),
        desk.new_uow(),
    )

    assert decided.status is RequestStatus.COMPLETED
    assert (
        decided.details["outcome"] == "overturned" and decided.history[-1].note == "human review: overturned"
    )
    [started] = _published(store, ContestationReviewStarted)
    [outcome] = _published(store, ContestationDecided)
    assert started.request_id == outcome.request_id == request_id
    assert (outcome.outcome, outcome.decision_kind, outcome.check_id) == ("overturned", "gate_check", "chk-1")
    assert "another customer" not in repr(outcome) and "bad payer" not in repr(store.published)
    actors = [
        actor
        for actor, e in store.published
        if isinstance(e, ContestationReviewStarted | ContestationDecided)
    ]
    assert actors == ["user:dpo", "user:dpo"]
    assert await handlers.list_contestations(desk.new_uow()) == []


async def test_the_persons_point_of_view_goes_with_their_erasure_and_the_outcome_stays() -> None:
    desk, store, _ = _desk()
    contact_id = await _contact(store)
    request_id = await _contest(desk, contact_id)

    await handlers.erase_contact(
        commands.EraseContact(actor="dpo", contact_id=contact_id, reason="erasure request"), desk.new_uow()
    )

    request = await handlers.get_request(request_id, desk.new_uow())
    assert request.details["point_of_view"] is None and request.details["decision"]["check_id"] == "chk-1"
    assert request.history[-1].action == "point_of_view_erased"


class _GateWithReceipt(FakePeers):
    async def gate_data(self, contact_id: str) -> dict:  # type: ignore[override]
        return {
            "contact_id": contact_id,
            "available": True,
            "decisions": [
                {"check_id": "chk-0", "decision": "allow", "reasons": [], "evidence": []},
                {
                    "check_id": "chk-1",
                    "campaign_id": "cmp-1",
                    "decision": "block",
                    "reasons": [{"rule": "DISC-07", "message": "automated"}],
                    "evidence": [],
                    "ruleset_version": "r1",
                },
            ],
        }


class _GateDown(FakePeers):
    async def gate_data(self, contact_id: str) -> dict:  # type: ignore[override]
        raise RuntimeError("gate down")


async def test_the_contested_gate_receipt_is_kept_for_the_reviewer_and_a_silent_gate_refuses_nothing() -> (
    None
):
    for peers, expected in ((_GateWithReceipt(), "block"), (FakePeers(), None), (_GateDown(), "absent")):
        store = FakeStore()
        desk = RightsDesk(
            new_uow=lambda s=store: FakeUnitOfWork(s, clock=lambda: T0), peers=peers, clock=lambda: T0
        )
        contact_id = await _contact(store)
        request = await desk.submit(
            commands.ReceiveRequest(
                actor="crm",
                kind=RequestKind.CONTESTATION,
                contact_id=contact_id,
                details={"decision": {"kind": "gate_check", "check_id": "chk-1"}, "point_of_view": None},
            )
        )
        assert request.status is RequestStatus.RECEIVED
        if expected == "absent":
            assert "contested_receipt" not in request.details
        elif expected is None:
            assert request.details["contested_receipt"] is None
            assert request.history[-1].action == "decision_not_found"
        else:
            kept = request.details["contested_receipt"]
            assert (kept["check_id"], kept["decision"], kept["reasons"][0]["rule"]) == (
                "chk-1",
                "block",
                "DISC-07",
            )
            assert request.history[-1].action == "decision_found"

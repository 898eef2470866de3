"""The data-subject request aggregate: due dates, extensions, confirmations, overdue, and the portability rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contacts_fakes import FakeRequestsUnitOfWork, FakeStore
from contacts.domain.requests import (
    ERASURE_SERVICES,
    DataSubjectRequest,
    ExtensionRefusedError,
    RequestCompleted,
    RequestError,
    RequestExtended,
    RequestKind,
    RequestOverdue,
    RequestReceived,
    RequestStatus,
    add_calendar_months,
)
from contacts.service_layer.requests import ReceiveRequest, RightsDesk, portability_csv, portability_rows

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def _request(kind: RequestKind = RequestKind.ERASURE, contact_id: str | None = "c-1") -> DataSubjectRequest:
    request = DataSubjectRequest.receive(kind=kind, contact_id=contact_id, at=T0)
    if contact_id is not None:
        request.start(at=T0)
    return request


@pytest.mark.parametrize(("at", "months", "expected"), [
    (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
    (datetime(2026, 3, 15, tzinfo=UTC), 1, datetime(2026, 4, 15, tzinfo=UTC)),
    (datetime(2026, 12, 10, tzinfo=UTC), 1, datetime(2027, 1, 10, tzinfo=UTC)),
    (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
])
def test_a_calendar_month_ends_on_the_same_day_or_the_last_day_of_a_shorter_month(
        at: datetime, months: int, expected: datetime) -> None:
    assert add_calendar_months(at, months) == expected


def test_a_request_about_a_known_person_is_due_one_calendar_month_after_receipt() -> None:
    request = _request(RequestKind.ACCESS)
    assert request.due_at == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert request.status is RequestStatus.IN_PROGRESS
    received = [e for e in request.events if isinstance(e, RequestReceived)]
    assert received[0].contact_id == "c-1" and received[0].due_at == request.due_at


def test_a_request_about_an_unknown_person_is_closed_at_once_as_no_data_found() -> None:
    request = _request(RequestKind.ACCESS, contact_id=None)
    assert request.status is RequestStatus.NO_DATA_FOUND and not request.is_open
    assert [type(e) for e in request.events] == [RequestReceived, RequestCompleted]
    assert request.events[1].status == "no_data_found" and request.events[1].contact_id is None
    assert not request.is_overdue(now=T0 + timedelta(days=400))


def test_an_erasure_completes_only_with_the_last_services_confirmation_and_ignores_repeats() -> None:
    request = _request()
    for service in ERASURE_SERVICES[:-1]:
        assert request.confirm_erasure(service=service, at=T0 + timedelta(minutes=1))
        assert request.status is RequestStatus.IN_PROGRESS
    assert not request.confirm_erasure(service=ERASURE_SERVICES[0], at=T0 + timedelta(minutes=2))
    assert request.awaiting() == [ERASURE_SERVICES[-1]]
    with pytest.raises(RequestError, match="not confirmed by: audit-log"):
        request.complete(at=T0)
    assert request.confirm_erasure(service="audit-log", at=T0 + timedelta(minutes=3))
    assert request.status is RequestStatus.COMPLETED and request.completed_at == T0 + timedelta(minutes=3)
    completed = [e for e in request.events if isinstance(e, RequestCompleted)]
    assert len(completed) == 1 and set(completed[0].confirmations) == set(ERASURE_SERVICES)
    assert not request.confirm_erasure(service="consent", at=T0 + timedelta(minutes=4)), "closed: nothing changes"


def test_a_confirmation_from_an_unknown_service_or_on_another_kind_is_refused() -> None:
    with pytest.raises(RequestError):
        _request().confirm_erasure(service="crm", at=T0)
    with pytest.raises(RequestError):
        _request(RequestKind.ACCESS).confirm_erasure(service="consent", at=T0)


def test_an_extension_adds_up_to_two_months_in_all_with_a_recorded_reason() -> None:
    request = _request(RequestKind.ACCESS)
    request.extend(months=1, reason="many records across archives", at=T0 + timedelta(days=3))
    assert request.due_at == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
    request.extend(months=1, reason="still gathering", at=T0 + timedelta(days=4))
    assert request.due_at == datetime(2026, 4, 30, 9, 0, tzinfo=UTC) and request.extended_months == 2
    assert [h.note for h in request.history if h.action == "extended"] == ["many records across archives",
                                                                           "still gathering"]
    extended = [e for e in request.events if isinstance(e, RequestExtended)]
    assert [e.months for e in extended] == [1, 1]
    assert not any("archives" in str(vars(e)) for e in request.events), "the reason stays out of the events"
    with pytest.raises(ExtensionRefusedError, match="at most 2"):
        request.extend(months=1, reason="more", at=T0 + timedelta(days=5))


@pytest.mark.parametrize(("months", "reason", "days_after"), [
    (3, "complex", 1), (0, "complex", 1), (1, "   ", 1), (1, "complex", 29)])
def test_an_extension_too_long_without_reason_or_after_the_first_month_is_refused(
        months: int, reason: str, days_after: int) -> None:
    request = _request(RequestKind.ACCESS)
    with pytest.raises(ExtensionRefusedError):
        request.extend(months=months, reason=reason, at=T0 + timedelta(days=days_after))
    assert request.due_at == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)


def test_an_open_request_past_its_due_date_is_overdue_and_reported_once_per_due_date() -> None:
    request = _request()
    due = request.due_at
    assert not request.is_overdue(now=due)
    assert not request.report_overdue(now=due)
    assert request.is_overdue(now=due + timedelta(seconds=1))
    assert request.report_overdue(now=due + timedelta(days=1))
    assert not request.report_overdue(now=due + timedelta(days=2))
    assert len([e for e in request.events if isinstance(e, RequestOverdue)]) == 1


def test_a_closed_request_is_never_overdue_and_cannot_be_extended() -> None:
    request = _request(RequestKind.OBJECTION)
    request.complete(at=T0)
    assert not request.is_overdue(now=T0 + timedelta(days=90))
    with pytest.raises(ExtensionRefusedError):
        request.extend(months=1, reason="late", at=T0)
    with pytest.raises(RequestError):
        request.fail(at=T0, reason="late")


def test_no_request_event_carries_anything_but_ids_kinds_statuses_and_times() -> None:
    request = _request()
    request.extend(months=1, reason="Camille Durand asked twice", at=T0)
    for service in ERASURE_SERVICES:
        request.confirm_erasure(service=service, at=T0)
    for event in request.events:
        assert "Camille" not in repr(event)


def test_the_portability_rows_flatten_the_contact_and_its_consents_and_leave_the_rest_out() -> None:
    export = {
        "contacts": {"contact": {"email": "camille@example.org", "postal_address": {"city": "Brest"},
                                 "birth_date": None}},
        "consent": {"consents": [{"purpose_id": "newsletter", "proof": {"source": "web_form"}}]},
        "audit_log": {"entries": [{"type": "x"}]},
    }
    rows = dict(portability_rows(export))
    assert rows == {"contact.email": "camille@example.org", "contact.postal_address.city": "Brest",
                    "consents[0].purpose_id": "newsletter", "consents[0].proof.source": "web_form"}
    csv_text = portability_csv(export)
    assert csv_text.splitlines()[0] == "field,value"
    assert "contact.email,camille@example.org" in csv_text.splitlines()


# --- Objections of people we hold no contact for, forwarded to consent (fakes for the store and the peers).


class _Consent:
    """Consent's objection endpoint as plain data; `down` makes it fail like an unreachable peer."""

    def __init__(self) -> None:
        self.down = False
        self.objections: list[list[str]] = []

    async def record_objection_by_indexes(self, blind_indexes: list[str]) -> dict[str, Any]:
        if self.down:
            raise ConnectionError("consent is down")
        self.objections.append(blind_indexes)
        return {"id": "o-1"}


def _desk(consent: _Consent) -> tuple[RightsDesk, FakeStore, list[datetime]]:
    store = FakeStore()
    now = [T0]
    return (RightsDesk(new_uow=lambda: FakeRequestsUnitOfWork(store, clock=lambda: now[0]),  # type: ignore[arg-type]
                       peers=consent, clock=lambda: now[0]),  # type: ignore[arg-type]
            store, now)


async def test_an_objection_by_an_unknown_person_while_consent_is_down_is_kept_and_retried_until_accepted() -> None:
    consent = _Consent()
    desk, store, now = _desk(consent)
    consent.down = True

    request = await desk.submit(ReceiveRequest(actor="dpo", kind=RequestKind.OBJECTION,
                                               email="Stranger@Example.org", phone="06 98 76 54 32"))
    [pending] = store.forwards.values()  # type: ignore[attr-defined]
    first_pass = await desk.watch_once()
    consent.down = False
    now[0] = T0 + timedelta(minutes=5)
    second_pass = await desk.watch_once()
    third_pass = await desk.watch_once()

    assert request.status is RequestStatus.NO_DATA_FOUND
    assert pending.request_id == request.id and pending.attempts == 1 and pending.pending
    assert first_pass.forwarded == [] and second_pass.forwarded == [request.id] and third_pass.forwarded == []
    vault = FakeRequestsUnitOfWork().vault
    assert consent.objections == [[vault.indexer.email("stranger@example.org"), vault.indexer.phone("+33698765432")]]
    [done] = store.forwards.values()  # type: ignore[attr-defined]
    assert done.forwarded_at == now[0] and done.attempts == 3


async def test_an_objection_by_an_unknown_person_is_forwarded_at_once_when_consent_answers() -> None:
    consent = _Consent()
    desk, store, _now = _desk(consent)

    await desk.submit(ReceiveRequest(actor="dpo", kind=RequestKind.OBJECTION, email="someone@example.org"))

    assert len(consent.objections) == 1
    assert [f.pending for f in store.forwards.values()] == [False]  # type: ignore[attr-defined]
    assert (await desk.watch_once()).forwarded == []


async def test_an_access_request_by_an_unknown_person_forwards_nothing() -> None:
    consent = _Consent()
    desk, store, _now = _desk(consent)

    await desk.submit(ReceiveRequest(actor="dpo", kind=RequestKind.ACCESS, email="someone@example.org"))

    assert consent.objections == [] and store.forwards == {}  # type: ignore[attr-defined]

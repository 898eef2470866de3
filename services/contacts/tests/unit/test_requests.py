"""The data-subject request aggregate: due dates, extensions, confirmations, overdue,
and the portability rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
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
from contacts.entrypoints.api import portability_csv, portability_rows

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def _request(kind: RequestKind = RequestKind.ERASURE, contact_id: str | None = "c-1") -> DataSubjectRequest:
    request = DataSubjectRequest.receive(kind=kind, contact_id=contact_id, at=T0)
    if contact_id is not None:
        request.start(at=T0)
    return request


@pytest.mark.parametrize(
    ("at", "months", "expected"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 3, 15, tzinfo=UTC), 1, datetime(2026, 4, 15, tzinfo=UTC)),
        (datetime(2026, 12, 10, tzinfo=UTC), 1, datetime(2027, 1, 10, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
    ],
)
def test_a_calendar_month_ends_on_the_same_day_or_the_last_day_of_a_shorter_month(
    at: datetime, months: int, expected: datetime
) -> None:
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
    assert not request.confirm_erasure(service="consent", at=T0 + timedelta(minutes=4)), (
        "closed: nothing changes"
    )


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
    assert [h.note for h in request.history if h.action == "extended"] == [
        "many records across archives",
        "still gathering",
    ]
    extended = [e for e in request.events if isinstance(e, RequestExtended)]
    assert [e.months for e in extended] == [1, 1]
    assert not any("archives" in str(vars(e)) for e in request.events), "the reason stays out of the events"
    with pytest.raises(ExtensionRefusedError, match="at most 2"):
        request.extend(months=1, reason="more", at=T0 + timedelta(days=5))


@pytest.mark.parametrize(
    ("months", "reason", "days_after"),
    [(3, "complex", 1), (0, "complex", 1), (1, "   ", 1), (1, "complex", 29)],
)
def test_an_extension_too_long_without_reason_or_after_the_first_month_is_refused(
    months: int, reason: str, days_after: int
) -> None:
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
        "contacts": {
            "contact": {
                "email": "camille@example.org",
                "postal_address": {"city": "Brest"},
                "birth_date": None,
            }
        },
        "consent": {"consents": [{"purpose_id": "newsletter", "proof": {"source": "web_form"}}]},
        "audit_log": {"entries": [{"type": "x"}]},
    }
    rows = dict(portability_rows(export))
    assert rows == {
        "contact.email": "camille@example.org",
        "contact.postal_address.city": "Brest",
        "consents[0].purpose_id": "newsletter",
        "consents[0].proof.source": "web_form",
    }
    csv_text = portability_csv(export)
    assert csv_text.splitlines()[0] == "field,value"
    assert "contact.email,camille@example.org" in csv_text.splitlines()

"""The data-subject request aggregate (GDPR Art. 12, 15-21): what was asked, by when,
and how it was honoured."""

from __future__ import annotations

import calendar
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contacts.domain.errors import ContactsError


class RequestKind(StrEnum):
    """The right exercised."""

    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    OBJECTION = "objection"
    #: Art. 18: the data is kept but not used (for marketing: the gate blocks every send, RIGHTS-01).
    RESTRICTION = "restriction"
    #: Art. 22(3): contesting an automated decision, reviewed by a human who decides with reasons.
    CONTESTATION = "contestation"


class RestrictionGround(StrEnum):
    """Why the person obtains the restriction of processing (Art. 18(1)(a)-(d) GDPR)."""

    #: (a) the person contests the accuracy of the data, for the time the controller needs to verify it.
    ACCURACY_CONTESTED = "accuracy_contested"
    #: (b) the processing is unlawful and the person opposes erasure, asking restriction instead.
    UNLAWFUL_PROCESSING = "unlawful_processing"
    #: (c) the controller no longer needs the data, the person needs it for legal claims.
    LEGAL_CLAIMS = "legal_claims"
    #: (d) the person objected under Art. 21(1), pending the verification of the controller's grounds.
    OBJECTION_PENDING = "objection_pending"


#: The point of Art. 18(1) each ground rests on.
RESTRICTION_ARTICLES = {
    RestrictionGround.ACCURACY_CONTESTED: "Art. 18(1)(a)",
    RestrictionGround.UNLAWFUL_PROCESSING: "Art. 18(1)(b)",
    RestrictionGround.LEGAL_CLAIMS: "Art. 18(1)(c)",
    RestrictionGround.OBJECTION_PENDING: "Art. 18(1)(d)",
}


class ContestOutcome(StrEnum):
    """What the human reviewer decided about a contested automated decision (Art. 22(3))."""

    #: The decision stands, for the reasons given.
    UPHELD = "upheld"
    #: The decision is withdrawn.
    OVERTURNED = "overturned"
    #: The decision is replaced by another one, stated in the reasons.
    AMENDED = "amended"


class DecisionKind(StrEnum):
    """Which automated decision a person contests."""

    #: A campaign-gate decision about the person (named by its check).
    GATE_CHECK = "gate_check"
    #: Any other automated decision of the controller (a score, an offer refused), named by a reference.
    OTHER = "other"


class RequestStatus(StrEnum):
    """Where a request stands; `completed`, `no_data_found` and `failed` are final."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    NO_DATA_FOUND = "no_data_found"
    FAILED = "failed"


FINAL_STATUSES = frozenset({RequestStatus.COMPLETED, RequestStatus.NO_DATA_FOUND, RequestStatus.FAILED})

#: The services that must each confirm an erasure before the request completes (SPEC §7).
ERASURE_SERVICES = ("contacts", "consent", "campaign-gate", "audit-log")
#: Art. 12(3): one month, extendable by two further months where necessary.
BASE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2


class RequestError(ContactsError):
    """A request cannot make this transition."""


class RequestNotFoundError(ContactsError):
    """No request with this id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request {request_id} does not exist")


class ExtensionRefusedError(RequestError):
    """An extension beyond two months, without a reason, after the first month, or of a closed request."""


class RequestStepRefusedError(RequestError):
    """A step of a request lacks what the law requires of it; `problem_extra` names each field (422)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problem_extra = {
            "errors": [
                {"field": name, "message": message, "type": "request_step"} for name, message in problems
            ]
        }


def add_calendar_months(at: datetime, months: int) -> datetime:
    """Returns the same day `months` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a request: when, what, and a note with no personal data."""

    at: datetime
    action: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Returns the entry as plain values."""
        return {"at": self.at.isoformat(), "action": self.action, "note": self.note}


@dataclass(frozen=True)
class RequestReceived:
    """A data-subject request was received; `contact_id` is None when no data about the person was found."""

    request_id: str
    contact_id: str | None
    kind: str
    status: str
    due_at: datetime
    at: datetime


@dataclass(frozen=True)
class RequestCompleted:
    """A request was honoured (or closed: no data found, failed); `confirmations` name the services."""

    request_id: str
    contact_id: str | None
    kind: str
    status: str
    confirmations: dict[str, str]
    at: datetime


@dataclass(frozen=True)
class RequestOverdue:
    """An open request passed its due date."""

    request_id: str
    contact_id: str | None
    kind: str
    due_at: datetime
    at: datetime


@dataclass(frozen=True)
class RequestExtended:
    """The due date was pushed back (the reason stays in the request's history, not in the event)."""

    request_id: str
    contact_id: str | None
    kind: str
    months: int
    due_at: datetime
    at: datetime


@dataclass(frozen=True)
class ContestationReviewStarted:
    """A human took up a contested automated decision (Art. 22(3)); the event's actor is that human."""

    request_id: str
    contact_id: str | None
    due_at: datetime
    at: datetime


@dataclass(frozen=True)
class ContestationDecided:
    """The human reviewer (the event's actor) decided a contestation; `reasons_sha256` commits to the
    reasons given (the text stays with the request, out of events)."""

    request_id: str
    contact_id: str | None
    outcome: str
    reasons_sha256: str
    decision_kind: str
    check_id: str | None
    at: datetime


@dataclass
class DataSubjectRequest:
    """A request a person made about their data; methods check the transition and record events."""

    id: str
    kind: RequestKind
    contact_id: str | None
    received_at: datetime
    due_at: datetime
    status: RequestStatus
    extended_months: int = 0
    confirmations: dict[str, datetime] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    overdue_reported_at: datetime | None = None
    completed_at: datetime | None = None
    version: int = 1
    #: What the kind needs besides the person: a restriction's `grounds` (and, once lifted, `lifted_at`,
    #: `informed_at`, `informed_by`); a contestation's `decision` and `point_of_view`, `reviewer`,
    #: `outcome` and `reasons`. No direct identifier of the person.
    details: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def receive(
        cls,
        *,
        kind: RequestKind,
        contact_id: str | None,
        at: datetime,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> DataSubjectRequest:
        """Records a new request; without a contact it is closed at once as `no_data_found`."""
        found = contact_id is not None
        request = cls(
            id=request_id or str(uuid.uuid4()),
            kind=kind,
            contact_id=contact_id,
            received_at=at,
            due_at=add_calendar_months(at, BASE_MONTHS),
            status=RequestStatus.RECEIVED if found else RequestStatus.NO_DATA_FOUND,
            details=dict(details or {}),
        )
        request.history.append(HistoryEntry(at=at, action="received"))
        request.events.append(
            RequestReceived(
                request_id=request.id,
                contact_id=contact_id,
                kind=kind.value,
                status=request.status.value,
                due_at=request.due_at,
                at=at,
            )
        )
        if not found:
            request.history.append(
                HistoryEntry(at=at, action="no_data_found", note="no personal data about this person is held")
            )
            request.completed_at = at
            request.events.append(request._completed(at))
        return request

    @property
    def is_open(self) -> bool:
        """Tells whether the request still awaits an answer."""
        return self.status not in FINAL_STATUSES

    @property
    def original_due_at(self) -> datetime:
        """Returns the due date before any extension (the last day to announce one, Art. 12(3))."""
        return add_calendar_months(self.received_at, BASE_MONTHS)

    def awaiting(self) -> list[str]:
        """Returns the services whose erasure confirmation is still missing (empty for other kinds)."""
        if self.kind is not RequestKind.ERASURE or self.status is not RequestStatus.IN_PROGRESS:
            return []
        return [s for s in ERASURE_SERVICES if s not in self.confirmations]

    def start(self, *, at: datetime, note: str | None = None) -> None:
        """Marks the request as being worked on."""
        self._check_open()
        self.status = RequestStatus.IN_PROGRESS
        self._step(at, "started", note)

    def confirm_erasure(self, *, service: str, at: datetime) -> bool:
        """Records one service's erasure confirmation; completes the request with the last one.

        Returns True when this call changed something (a repeated confirmation is ignored, so a
        redelivered event is harmless).
        """
        if service not in ERASURE_SERVICES:
            raise RequestError(f"unknown service {service!r}")
        if self.kind is not RequestKind.ERASURE:
            raise RequestError(f"a {self.kind.value} request takes no erasure confirmation")
        if service in self.confirmations or not self.is_open:
            return False
        self.confirmations[service] = at
        self._step(at, "confirmed", f"{service} confirmed the erasure")
        if not self.awaiting() and self.status is RequestStatus.IN_PROGRESS:
            self.complete(at=at, note="every service confirmed the erasure")
        return True

    def complete(self, *, at: datetime, note: str | None = None) -> None:
        """Closes the request as honoured; an erasure only once every service has confirmed."""
        self._check_open()
        missing = [s for s in ERASURE_SERVICES if s not in self.confirmations]
        if self.kind is RequestKind.ERASURE and missing:
            raise RequestError(f"erasure not confirmed by: {', '.join(missing)}")
        self.status = RequestStatus.COMPLETED
        self.completed_at = at
        self._step(at, "completed", note)
        self.events.append(self._completed(at))

    def fail(self, *, at: datetime, reason: str) -> None:
        """Closes the request as not honoured, with the reason (no personal data in it)."""
        self._check_open()
        self.status = RequestStatus.FAILED
        self.completed_at = at
        self._step(at, "failed", reason)
        self.events.append(self._completed(at))

    def extend(self, *, months: int, reason: str, at: datetime) -> None:
        """Pushes the due date back by `months` (two at most in all), with a recorded reason (Art. 12(3))."""
        if not self.is_open:
            raise ExtensionRefusedError(f"request {self.id} is closed ({self.status.value})")
        if months < 1 or self.extended_months + months > MAX_EXTENSION_MONTHS:
            raise ExtensionRefusedError(
                f"at most {MAX_EXTENSION_MONTHS} months in all; {self.extended_months} already granted"
            )
        if not reason.strip():
            raise ExtensionRefusedError("an extension needs a reason")
        if at > self.original_due_at:
            raise ExtensionRefusedError("an extension must be decided within the first month")
        self.extended_months += months
        self.due_at = add_calendar_months(self.received_at, BASE_MONTHS + self.extended_months)
        self._step(at, "extended", reason.strip())
        self.events.append(
            RequestExtended(
                request_id=self.id,
                contact_id=self.contact_id,
                kind=self.kind.value,
                months=months,
                due_at=self.due_at,
                at=at,
            )
        )

    def is_overdue(self, *, now: datetime) -> bool:
        """Tells whether the request is still open after its due date."""
        return self.is_open and now > self.due_at

    def report_overdue(self, *, now: datetime) -> bool:
        """Records RequestOverdue once when the request is overdue; returns whether it did."""
        if not self.is_overdue(now=now) or (
            self.overdue_reported_at is not None and self.overdue_reported_at >= self.due_at
        ):
            return False
        self.overdue_reported_at = now
        self._step(now, "overdue", f"due {self.due_at.isoformat()}")
        self.events.append(
            RequestOverdue(
                request_id=self.id,
                contact_id=self.contact_id,
                kind=self.kind.value,
                due_at=self.due_at,
                at=now,
            )
        )
        return True

    # --- Restriction of processing (Art. 18).

    @property
    def grounds(self) -> RestrictionGround | None:
        """Returns a restriction request's ground (None for other kinds)."""
        value = self.details.get("grounds")
        return RestrictionGround(value) if value else None

    @property
    def restriction_lifted(self) -> bool:
        """Tells whether the restriction this request obtained was lifted."""
        return self.details.get("lifted_at") is not None

    def record_restriction_lifted(
        self, *, at: datetime, reason: str, informed_at: datetime | None, informed_by: str | None
    ) -> None:
        """Records that the restriction this request obtained is lifted, after the person was informed
        (Art. 18(3)); RequestStepRefusedError names each missing or misplaced field."""
        if self.kind is not RequestKind.RESTRICTION:
            raise RequestError(f"a {self.kind.value} request restricts nothing")
        if self.status is not RequestStatus.COMPLETED:
            raise RequestError(f"request {self.id} restricted nothing ({self.status.value})")
        if self.restriction_lifted:
            raise RequestError(f"the restriction of request {self.id} was already lifted")
        problems: list[tuple[str, str]] = []
        if not reason.strip():
            problems.append(("reason", "say why the restriction ends (e.g. accuracy verified)"))
        if informed_at is None:
            problems.append(("informed_at", "the person must be informed before the restriction is lifted"))
        elif informed_at > at:
            problems.append(("informed_at", "the person must be informed before the restriction is lifted"))
        elif informed_at < self.received_at:
            problems.append(("informed_at", "earlier than the restriction request"))
        if not (informed_by and informed_by.strip()):
            problems.append(("informed_by", "say how the person was informed (letter, e-mail, ...)"))
        if problems:
            raise RequestStepRefusedError(problems)
        assert informed_at is not None and informed_by is not None
        self.details = {
            **self.details,
            "lifted_at": at.isoformat(),
            "informed_at": informed_at.isoformat(),
            "informed_by": informed_by.strip(),
        }
        self._step(
            at,
            "restriction_lifted",
            f"person informed {informed_at.isoformat()} by {informed_by.strip()} (Art. 18(3)): "
            + reason.strip(),
        )

    # --- Contesting an automated decision (Art. 22(3)).

    def start_human_review(self, *, reviewer: str, at: datetime) -> None:
        """A human takes the contestation up (open → human review); recorded with who and when."""
        self._check_contestation()
        if self.details.get("reviewer"):
            raise RequestError(f"request {self.id} is already under review by {self.details['reviewer']}")
        self.details = {**self.details, "reviewer": reviewer, "review_started_at": at.isoformat()}
        self.status = RequestStatus.IN_PROGRESS
        self._step(at, "human_review", f"taken up by {reviewer}")
        self.events.append(
            ContestationReviewStarted(
                request_id=self.id, contact_id=self.contact_id, due_at=self.due_at, at=at
            )
        )

    def attach_contested_receipt(self, *, receipt: dict[str, Any] | None, at: datetime) -> None:
        """Keeps, for the human reviewer, the gate's receipt of the contested check about this person (its
        decision, rules, messages and evidence), or that the gate holds none; only a gate decision has one."""
        self._check_contestation()
        decision = self.details.get("decision") or {}
        if decision.get("kind") != DecisionKind.GATE_CHECK.value or "contested_receipt" in self.details:
            return
        kept = None
        if receipt is not None:
            kept = {k: receipt.get(k) for k in ("check_id", "campaign_id", "decision", "reasons", "evidence")}
            kept["ruleset_version"] = receipt.get("ruleset_version")
        self.details = {**self.details, "contested_receipt": kept}
        note = (
            f"gate receipt found: {kept['decision']}"
            if kept
            else "the gate holds no receipt of this check about the person"
        )
        self._step(at, "decision_found" if kept else "decision_not_found", note)

    def decide_contestation(
        self, *, reviewer: str, outcome: ContestOutcome, reasons: str, at: datetime
    ) -> None:
        """The human reviewer's outcome with its reasons closes the contestation (human review → outcome).

        Only the human who took it up decides; reasons are required, since the person is owed them.
        """
        self._check_contestation()
        if not self.details.get("reviewer"):
            raise RequestError(f"request {self.id} has no human reviewer yet: take it up first")
        if self.details["reviewer"] != reviewer:
            raise RequestError(f"request {self.id} is under review by {self.details['reviewer']}")
        if not reasons.strip():
            raise RequestStepRefusedError([("reasons", "the person is owed the reasons of the outcome")])
        text = reasons.strip()
        self.details = {
            **self.details,
            "outcome": outcome.value,
            "reasons": text,
            "decided_at": at.isoformat(),
        }
        decision = self.details.get("decision") or {}
        self.events.append(
            ContestationDecided(
                request_id=self.id,
                contact_id=self.contact_id,
                outcome=outcome.value,
                reasons_sha256=hashlib.sha256(text.encode()).hexdigest(),
                decision_kind=str(decision.get("kind", DecisionKind.OTHER.value)),
                check_id=decision.get("check_id"),
                at=at,
            )
        )
        self.complete(at=at, note=f"human review: {outcome.value}")

    def forget_point_of_view(self, *, at: datetime) -> bool:
        """Drops the person's own words from a contestation at their erasure (the outcome stays)."""
        if self.kind is not RequestKind.CONTESTATION or not self.details.get("point_of_view"):
            return False
        self.details = {**self.details, "point_of_view": None}
        self._step(at, "point_of_view_erased", "the person's statement went with their erasure")
        return True

    def _check_contestation(self) -> None:
        if self.kind is not RequestKind.CONTESTATION:
            raise RequestError(f"a {self.kind.value} request is not a contestation")
        self._check_open()

    def _completed(self, at: datetime) -> RequestCompleted:
        return RequestCompleted(
            request_id=self.id,
            contact_id=self.contact_id,
            kind=self.kind.value,
            status=self.status.value,
            confirmations={s: t.isoformat() for s, t in sorted(self.confirmations.items())},
            at=at,
        )

    def _check_open(self) -> None:
        if not self.is_open:
            raise RequestError(f"request {self.id} is closed ({self.status.value})")

    def _step(self, at: datetime, action: str, note: str | None) -> None:
        self.history.append(HistoryEntry(at=at, action=action, note=note))
        self.version += 1


@dataclass
class ObjectionForward:
    """An objection from a person we hold no contact for,
    owed to consent by blind indexes until it accepts it.

    It is stored with the request, in the same transaction, so that consent being down delays the
    objection instead of losing it: the requests watcher retries it until `forwarded_at` is set.
    """

    id: str
    request_id: str
    blind_indexes: list[str]
    created_at: datetime
    attempts: int = 0
    last_attempt_at: datetime | None = None
    forwarded_at: datetime | None = None

    @classmethod
    def new(cls, *, request_id: str, blind_indexes: list[str], at: datetime) -> ObjectionForward:
        """Returns a pending forward of the request's objection."""
        return cls(
            id=str(uuid.uuid4()), request_id=request_id, blind_indexes=list(blind_indexes), created_at=at
        )

    @property
    def pending(self) -> bool:
        """Tells whether consent has not accepted the objection yet."""
        return self.forwarded_at is None

    def attempted(self, *, at: datetime, accepted: bool) -> None:
        """Records one attempt; an accepted one ends the forward."""
        self.attempts += 1
        self.last_attempt_at = at
        if accepted:
            self.forwarded_at = at

    def due(self, *, now: datetime, first_attempt_grace: timedelta) -> bool:
        """Tells whether the watcher should try now: after a failed attempt, or when the first never came."""
        return self.pending and (self.attempts > 0 or now - self.created_at >= first_attempt_grace)

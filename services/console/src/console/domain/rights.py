"""The rights forms of issue 19 as the console reads them: a restriction of processing (Art. 18), its
lifting (Art. 18(3)), a contestation of an automated decision and its human outcome (Art. 22(3)).

Each reader turns a form's fields into the body contacts takes, or names every field to complete before
anything is sent; contacts checks them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Art. 18(1)(a)-(d), as contacts names them.
RESTRICTION_GROUNDS: dict[str, str] = {
    "accuracy_contested": "(a) the person contests the accuracy of the data",
    "unlawful_processing": "(b) unlawful processing, restriction asked instead of erasure",
    "legal_claims": "(c) the person needs the data for legal claims",
    "objection_pending": "(d) objection pending verification of legitimate grounds",
}
#: What a human reviewer may decide about a contested automated decision.
OUTCOMES: dict[str, str] = {
    "upheld": "upheld: the decision stands",
    "overturned": "overturned: the decision is withdrawn",
    "amended": "amended: replaced by the decision stated in the reasons",
}
DECISION_KINDS = ("gate_check", "other")


@dataclass(frozen=True)
class FormReading:
    """A form read: the body to send, or the fields to complete (field, what it needs)."""

    body: dict[str, Any]
    errors: tuple[tuple[str, str], ...] = ()


def _text(fields: Mapping[str, str], name: str) -> str:
    return (fields.get(name) or "").strip()


def read_restriction(contact_id: str, fields: Mapping[str, str]) -> FormReading:
    """Reads a restriction request: its ground of Art. 18(1) is required."""
    grounds = _text(fields, "grounds")
    if grounds not in RESTRICTION_GROUNDS:
        return FormReading({}, (("grounds", "choose the ground of Art. 18(1), (a) to (d)"),))
    return FormReading({"kind": "restriction", "contact_id": contact_id, "grounds": grounds})


def read_contestation(contact_id: str, fields: Mapping[str, str]) -> FormReading:
    """Reads a contestation: the decision contested (a gate check by its id, or another decision by the
    controller's reference) and, optionally, the person's point of view."""
    errors: list[tuple[str, str]] = []
    kind = _text(fields, "decision_kind") or "gate_check"
    decision: dict[str, str] = {"kind": kind}
    if kind not in DECISION_KINDS:
        errors.append(("decision_kind", "a gate check or another automated decision"))
    elif kind == "gate_check":
        check_id = _text(fields, "check_id")
        if not check_id or len(check_id) > 64:
            errors.append(("check_id", "name the gate's check that decided about the person"))
        decision["check_id"] = check_id
        if campaign_id := _text(fields, "campaign_id"):
            decision["campaign_id"] = campaign_id
    else:
        reference = _text(fields, "reference")
        if not reference or len(reference) > 200:
            errors.append(("reference", "name the decision by your reference (up to 200 characters)"))
        decision["reference"] = reference
    point_of_view = _text(fields, "point_of_view")
    if len(point_of_view) > 4000:
        errors.append(("point_of_view", "at most 4000 characters"))
    if errors:
        return FormReading({}, tuple(errors))
    body: dict[str, Any] = {"kind": "contestation", "contact_id": contact_id, "decision": decision}
    if point_of_view:
        body["point_of_view"] = point_of_view
    return FormReading(body)


def read_time(value: str) -> datetime | None:
    """Reads a time from a form (ISO 8601 or a browser's `datetime-local`, taken as UTC), or None."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_lifting(fields: Mapping[str, str], *, now: datetime) -> FormReading:
    """Reads a restriction's lifting: why, and when and how the person was informed, before now."""
    errors: list[tuple[str, str]] = []
    reason = _text(fields, "reason")
    if len(reason) < 3:
        errors.append(("reason", "say why the restriction ends (e.g. accuracy verified)"))
    informed_at = read_time(_text(fields, "informed_at"))
    if informed_at is None:
        errors.append(("informed_at", "when the person was informed (they must be, before the lifting)"))
    elif informed_at > now:
        errors.append(("informed_at", "the person must be informed before the restriction is lifted"))
    informed_by = _text(fields, "informed_by")
    if len(informed_by) < 2:
        errors.append(("informed_by", "say how the person was informed (letter, e-mail, ...)"))
    if errors:
        return FormReading({}, tuple(errors))
    assert informed_at is not None
    return FormReading({"reason": reason, "informed_at": informed_at.isoformat(), "informed_by": informed_by})


def read_outcome(fields: Mapping[str, str]) -> FormReading:
    """Reads a reviewer's outcome: upheld, overturned or amended, with the reasons owed to the person."""
    errors: list[tuple[str, str]] = []
    outcome = _text(fields, "outcome")
    if outcome not in OUTCOMES:
        errors.append(("outcome", "choose upheld, overturned or amended"))
    reasons = _text(fields, "reasons")
    if len(reasons) < 3:
        errors.append(("reasons", "the person is owed the reasons of the outcome"))
    if errors:
        return FormReading({}, tuple(errors))
    return FormReading({"outcome": outcome, "reasons": reasons})


def contestation_state(request: Mapping[str, Any]) -> str:
    """Returns where a contestation stands, in words: waiting, under review by whom, or decided how."""
    details = request.get("details") or {}
    if details.get("outcome"):
        return f"decided: {details['outcome']}"
    if details.get("reviewer"):
        return f"under human review by {details['reviewer']}"
    return "waiting for a human reviewer"


def may_decide(request: Mapping[str, Any], subject: str) -> bool:
    """Tells whether this person may decide the contestation: they took it up and it is not decided."""
    details = request.get("details") or {}
    reviewer = str(details.get("reviewer") or "")
    # Because contacts records the reviewer as `client/subject` (shared.auth's actor).
    mine = bool(reviewer) and (reviewer == subject or reviewer.endswith("/" + subject))
    return mine and not details.get("outcome")

"""What the pages show, computed without a framework: problems, sign-off forms, check tallies, contact
id lists, deadlines, checkpoints and person searches."""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- Problems (RFC 9457) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """An API's refusal or failure as the page shows it: status, title, detail and the fields named."""

    status: int
    title: str
    detail: str = ""
    errors: tuple[tuple[str, str], ...] = ()
    service: str = ""

    @property
    def kind(self) -> str:
        """Returns a word for the status: refused (401/403), not found, conflict, invalid, failed."""
        if self.status in (401, 403):
            return "refused"
        if self.status == 404:
            return "not found"
        if self.status in (409, 412):
            return "conflict"
        if self.status in (400, 413, 415, 422):
            return "invalid"
        return "failed"

    @classmethod
    def of(cls, status: int, body: object, *, service: str = "") -> Problem:
        """Reads a problem+json body (or anything else an API answered) into a Problem."""
        if not isinstance(body, Mapping):
            return cls(status, _default_title(status), service=service)
        errors = []
        for item in body.get("errors") or ():
            if isinstance(item, Mapping):
                errors.append((str(item.get("field", "")), str(item.get("message", ""))))
        title = body.get("title") or _default_title(status)
        detail = body.get("detail") or ""
        return cls(status, str(title), str(detail), tuple(errors), service)


def _default_title(status: int) -> str:
    return {401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 409: "Conflict"}.get(
        status, "Server error" if status >= 500 else "Request refused"
    )


# --- Findings and sign-offs ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignOffForm:
    """What a reviewer must enter for one rule that asked review: a basis, an explanation, a reference."""

    rule: str
    messages: tuple[str, ...]
    bases: tuple[str, ...]
    reference_required: bool
    min_explanation: int


def sign_off_forms(findings: Iterable[Mapping[str, Any]]) -> list[SignOffForm]:
    """Returns one form per rule whose findings ask review, in the order the findings name them."""
    forms: dict[str, SignOffForm] = {}
    for finding in findings:
        if finding.get("severity") != "needs_review":
            continue
        rule = str(finding.get("rule"))
        grounds = finding.get("sign_off") or {}
        known = forms.get(rule)
        message = str(finding.get("message", ""))
        if known is not None:
            forms[rule] = SignOffForm(
                rule, (*known.messages, message), known.bases, known.reference_required, known.min_explanation
            )
            continue
        forms[rule] = SignOffForm(
            rule=rule,
            messages=(message,),
            bases=tuple(str(b) for b in grounds.get("bases") or ()),
            reference_required=bool(grounds.get("reference_required")),
            min_explanation=int(grounds.get("min_explanation") or 0),
        )
    return list(forms.values())


@dataclass(frozen=True)
class SignOffs:
    """The sign-offs a reviewer entered, or the fields the page asks them to complete."""

    items: tuple[dict[str, str | None], ...]
    errors: tuple[tuple[str, str], ...]


def read_sign_offs(forms: Iterable[SignOffForm], fields: Mapping[str, str]) -> SignOffs:
    """Reads `basis-<rule>`, `explanation-<rule>` and `reference-<rule>` for each form.

    Checks only what the page can say before the API does (a basis chosen among those offered, the
    explanation's length, a reference where required); the API decides.
    """
    items: list[dict[str, str | None]] = []
    errors: list[tuple[str, str]] = []
    for form in forms:
        basis = fields.get(f"basis-{form.rule}", "").strip()
        explanation = fields.get(f"explanation-{form.rule}", "").strip()
        reference = fields.get(f"reference-{form.rule}", "").strip() or None
        if basis not in form.bases:
            errors.append((f"basis-{form.rule}", f"choose one of the bases {form.rule} allows"))
        if len(explanation) < form.min_explanation:
            errors.append(
                (f"explanation-{form.rule}", f"explain in at least {form.min_explanation} characters")
            )
        if form.reference_required and not reference:
            errors.append(
                (f"reference-{form.rule}", f"{form.rule} needs a reference to the documented assessment")
            )
        items.append({"rule": form.rule, "basis": basis, "explanation": explanation, "reference": reference})
    return SignOffs(tuple(items), tuple(errors))


def finding_counts(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts findings by severity (block, needs_review, info …)."""
    return dict(Counter(str(f.get("severity", "?")) for f in findings))


# --- Checks --------------------------------------------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class ContactIds:
    """Contact ids read from a pasted or uploaded list, and the lines that were not ids."""

    ids: tuple[str, ...]
    bad_lines: tuple[int, ...]
    duplicates: int


def read_contact_ids(text: str, *, limit: int) -> ContactIds:
    """Reads one id per line (or separated by commas, spaces or semicolons; a CSV's `contact_id` header
    and blank lines are skipped); names bad lines by number without echoing them."""
    ids: list[str] = []
    seen: set[str] = set()
    bad: list[int] = []
    duplicates = 0
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[,;\s]+", line.strip()):
            token = token.strip().strip('"')
            if not token or token.lower() in ("contact_id", "id"):
                continue
            if not _ID.match(token):
                bad.append(number)
                break
            if token in seen:
                duplicates += 1
                continue
            seen.add(token)
            ids.append(token)
            if len(ids) > limit:
                return ContactIds(tuple(ids[:limit]), (*bad, number), duplicates)
    return ContactIds(tuple(ids), tuple(bad), duplicates)


@dataclass
class CheckTally:
    """Receipts counted as they arrive: by decision, and by rule with the decisions each rule led to."""

    total: int = 0
    decided: int = 0
    by_decision: Counter[str] = field(default_factory=Counter)
    by_rule: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, receipt: Mapping[str, Any]) -> None:
        """Counts one receipt."""
        decision = str(receipt.get("decision", "?"))
        self.decided += 1
        self.by_decision[decision] += 1
        for reason in receipt.get("reasons") or ():
            rule = str(reason.get("rule", "?")) if isinstance(reason, Mapping) else "?"
            self.by_rule.setdefault(rule, Counter())[decision] += 1

    def rules(self) -> list[tuple[str, int, dict[str, int]]]:
        """Returns (rule, receipts citing it, by decision), most cited first."""
        rows = [(rule, sum(c.values()), dict(c)) for rule, c in self.by_rule.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    @property
    def percent(self) -> int:
        """Returns how far the check has come, 0-100 (100 when nothing was asked)."""
        return 100 if not self.total else min(100, self.decided * 100 // self.total)


# --- Deadlines and times ---------------------------------------------------------------------------


def deadline(due_at: datetime, now: datetime) -> str:
    """Says how long is left before a due date, or how late it is."""
    seconds = (due_at - now).total_seconds()
    days = int(abs(seconds) // 86400)
    if seconds >= 0:
        return "due today" if days == 0 else f"due in {days} day{'s' if days != 1 else ''}"
    return "overdue today" if days == 0 else f"overdue by {days} day{'s' if days != 1 else ''}"


def short_time(value: datetime | None) -> str:
    """Formats an instant to the minute, in UTC."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


# --- Checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint note: origin, tree size, root hash, and its signature lines."""

    origin: str
    size: int
    root_hex: str
    body: str
    signatures: tuple[str, ...]


class CheckpointFormatError(ValueError):
    """The text is not a checkpoint note."""


def read_checkpoint(note: str) -> Checkpoint:
    """Reads a signed checkpoint note (the signature itself is checked by the page or vigie-verify)."""
    body, sep, rest = note.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3 or not lines[1].isdigit():
        raise CheckpointFormatError("not a checkpoint note: origin, size and root expected")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointFormatError("the root hash is not base64") from None
    signatures = tuple(line for line in rest.split("\n") if line.startswith("— "))
    return Checkpoint(lines[0], int(lines[1]), root.hex(), body + "\n", signatures)


# --- Finding a person ----------------------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9][0-9\s().-]{5,24}$")


@dataclass(frozen=True)
class PersonQuery:
    """How the DPO's search is read: by e-mail, by phone or by contact id."""

    by: str
    value: str


def read_person_query(text: str) -> PersonQuery | None:
    """Reads a search: an @ makes an e-mail, digits (a leading +, spaces, dots, dashes) a phone number of
    at most 25 characters, anything else a contact id (a UUID is 36 characters)."""
    value = text.strip()
    if not value:
        return None
    if "@" in value:
        return PersonQuery("email", value)
    if _PHONE.match(value):
        return PersonQuery("phone", value)
    return PersonQuery("contact_id", value)


REQUEST_KINDS = ("access", "portability", "erasure", "rectification", "objection")

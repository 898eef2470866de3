"""The breach register (Art. 33(5) GDPR), the 72-hour clock (Art. 33(1)) and the communication to the
people (Art. 34), as a table of rules with ids (BRE-*), effective dates and sources.

A breach is recorded when the controller becomes aware of it; from then it has 72 hours to notify the
supervisory authority (the CNIL) unless the breach is unlikely to result in a risk to people's rights
and freedoms, and must give the reasons for any delay. When the risk is high the people concerned
must be told without undue delay, unless an Art. 34(3) exception applies. Every step is an event on
consent's topic (so the audit log holds it); events carry categories, counts, times and a hash of
the full record, never the free texts, which may name people.

Vigie does not notify anyone: the controller notifies the CNIL through its online service and the
people through its own channels, and records here when, how and under which reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from consent.domain import errors, events
from consent.domain.errors import FieldProblem
from consent.domain.model import Party, check_aware, new_id

#: Art. 33(1): "without undue delay and, where feasible, not later than 72 hours after having become
#: aware of it".
NOTIFICATION_DELAY = timedelta(hours=72)

#: The GDPR applies from 25 May 2018 (Art. 99(2)); every BRE rule is in force from then.
GDPR_APPLIES = date(2018, 5, 25)


class BreachNature(StrEnum):
    """What the breach compromised (the three kinds of EDPB Guidelines 9/2022 and the CNIL's form)."""

    CONFIDENTIALITY = "confidentiality"
    INTEGRITY = "integrity"
    AVAILABILITY = "availability"


class RiskLevel(StrEnum):
    """The controller's assessment of the risk to people's rights and freedoms."""

    UNLIKELY = "unlikely"
    RISK = "risk"
    HIGH = "high"


class ClockState(StrEnum):
    """Where the breach stands against the 72-hour clock of Art. 33(1)."""

    OPEN = "open"
    OVERDUE = "overdue"
    NOTIFIED_IN_TIME = "notified_in_time"
    NOTIFIED_LATE = "notified_late"
    NOT_NOTIFIABLE = "not_notifiable"


class CommunicationMeans(StrEnum):
    """How the people concerned were told (Art. 34(1)) or, under Art. 34(3)(c), the public."""

    EMAIL = "email"
    SMS = "sms"
    POSTAL_LETTER = "postal_letter"
    PHONE = "phone"
    IN_APP = "in_app"
    PUBLIC_COMMUNICATION = "public_communication"
    OTHER = "other"


class CommunicationExemption(StrEnum):
    """The Art. 34(3) conditions under which the people need not be told individually."""

    #: (a) the data are unintelligible to anyone not authorised (e.g. encrypted, key not compromised).
    UNINTELLIGIBLE = "art34_3_a"
    #: (b) subsequent measures ensure the high risk is no longer likely to materialise.
    RISK_NO_LONGER_LIKELY = "art34_3_b"
    #: (c) telling each person would involve disproportionate effort: a public communication instead.
    DISPROPORTIONATE_EFFORT = "art34_3_c"


@dataclass(frozen=True)
class Assessment:
    """The controller's risk assessment and its reasoning (Art. 33(5) asks that it be documented)."""

    risk: RiskLevel
    justification: str
    assessed_at: datetime


@dataclass(frozen=True)
class Notification:
    """The notification to the supervisory authority: when, its reference, why late, whether phased."""

    notified_at: datetime
    reference: str
    delay_reasons: str | None
    phased: bool
    recorded_at: datetime


@dataclass(frozen=True)
class Communication:
    """The communication to the people (date and means), or the Art. 34(3) exception relied on."""

    communicated_at: datetime | None
    means: CommunicationMeans | None
    subjects_informed: int | None
    exemption: CommunicationExemption | None
    justification: str | None
    recorded_at: datetime


#: The fact fields a PATCH may change (Art. 33(4): information may be provided in phases).
UPDATABLE_FIELDS = (
    "reference",
    "nature",
    "description",
    "occurred_from",
    "occurred_until",
    "data_categories",
    "special_categories",
    "subject_categories",
    "approx_subjects",
    "approx_records",
    "likely_consequences",
    "measures_taken",
    "measures_proposed",
    "dpo",
    "source_party_id",
)


@dataclass
class Breach:
    """One entry of the breach register: the facts, their effects, the remedial action and each step."""

    breach_id: str
    aware_at: datetime
    recorded_at: datetime
    nature: tuple[BreachNature, ...]
    description: str
    reference: str | None = None
    occurred_from: datetime | None = None
    occurred_until: datetime | None = None
    data_categories: tuple[str, ...] = ()
    special_categories: bool = False
    subject_categories: tuple[str, ...] = ()
    approx_subjects: int | None = None
    approx_records: int | None = None
    likely_consequences: str = ""
    measures_taken: str = ""
    measures_proposed: str = ""
    dpo: Party | None = None
    source_party_id: str | None = None
    assessment: Assessment | None = None
    notification: Notification | None = None
    communication: Communication | None = None
    overdue_notified_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[events.Event] = field(default_factory=list)

    # --- Steps.

    @classmethod
    def record(
        cls,
        *,
        at: datetime,
        aware_at: datetime,
        nature: Iterable[BreachNature | str],
        description: str,
        breach_id: str | None = None,
        risk: RiskLevel | str | None = None,
        risk_justification: str | None = None,
        **facts: Any,
    ) -> Breach:
        """Records a breach the controller became aware of at `aware_at` (BRE-01), optionally assessed."""
        check_aware("at", at)
        unknown = sorted(set(facts) - set(UPDATABLE_FIELDS))
        if unknown:
            raise errors.BreachRuleError("unknown breach fields", [_unknown(name) for name in unknown])
        breach = cls(
            breach_id=breach_id or new_id(),
            aware_at=aware_at,
            recorded_at=at,
            nature=_natures(nature),
            description=description,
            updated_at=at,
        )
        for name, value in facts.items():
            setattr(breach, name, _normalise(name, value))
        _check_times(breach)
        raise_problems("the breach cannot be recorded", check(Stage.RECORD, breach, at))
        breach.events.append(events.BreachRecorded(**breach.facts(at), at=at))
        if risk is not None:
            breach.assess(risk=risk, justification=risk_justification or "", at=at)
        return breach

    def update(self, *, at: datetime, **changes: Any) -> tuple[str, ...]:
        """Completes or corrects the facts (Art. 33(4): in phases); returns the fields that changed."""
        check_aware("at", at)
        unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
        if unknown:
            raise errors.BreachRuleError("unknown breach fields", [_unknown(name) for name in unknown])
        normalised = {name: _normalise(name, value) for name, value in changes.items()}
        changed = tuple(n for n in UPDATABLE_FIELDS if n in normalised and normalised[n] != getattr(self, n))
        if not changed:
            return ()
        candidate = dataclasses.replace(self, events=[], **{n: normalised[n] for n in changed})
        _check_times(candidate)
        raise_problems("the breach cannot be changed", check(Stage.RECORD, candidate, at))
        for name in changed:
            setattr(self, name, normalised[name])
        self.updated_at = at
        self.events.append(events.BreachUpdated(**self.facts(at), changed_fields=changed, at=at))
        return changed

    def assess(self, *, risk: RiskLevel | str, justification: str, at: datetime) -> None:
        """Records the risk assessment; `unlikely` with its justification makes the breach not notifiable."""
        check_aware("at", at)
        try:
            level = RiskLevel(risk)
        except ValueError as exc:
            raise errors.BreachRuleError(
                "unknown risk level",
                [FieldProblem("BRE-05", "risk", f"one of {[r.value for r in RiskLevel]}")],
            ) from exc
        candidate = dataclasses.replace(
            self,
            events=[],
            assessment=Assessment(risk=level, justification=justification.strip(), assessed_at=at),
        )
        raise_problems("the assessment cannot be recorded", check(Stage.ASSESS, candidate, at))
        self.assessment = candidate.assessment
        self.updated_at = at
        self.events.append(
            events.BreachAssessed(**self.facts(at), justification_given=bool(justification.strip()), at=at)
        )

    def notify(
        self,
        *,
        notified_at: datetime,
        reference: str,
        at: datetime,
        delay_reasons: str | None = None,
        phased: bool = False,
    ) -> None:
        """Records the notification to the supervisory authority (BRE-02 to BRE-04); once only."""
        check_aware("at", at)
        check_aware("notified_at", notified_at)
        if self.notification is not None:
            raise errors.BreachStepConflictError(
                f"breach {self.breach_id!r} was already notified at "
                f"{self.notification.notified_at.isoformat()}"
            )
        reasons = (delay_reasons or "").strip() or None
        candidate = dataclasses.replace(
            self,
            events=[],
            notification=Notification(
                notified_at=notified_at,
                reference=reference.strip(),
                delay_reasons=reasons,
                phased=phased,
                recorded_at=at,
            ),
        )
        raise_problems("the notification cannot be recorded", check(Stage.NOTIFY, candidate, at))
        self.notification = candidate.notification
        self.updated_at = at
        self.events.append(
            events.BreachNotified(
                **self.facts(at),
                notified_at=notified_at,
                authority_reference=reference.strip(),
                hours_after_awareness=round((notified_at - self.aware_at) / timedelta(hours=1), 2),
                delay_reasons_given=reasons is not None,
                phased=phased,
                at=at,
            )
        )

    def communicate(
        self,
        *,
        at: datetime,
        communicated_at: datetime | None = None,
        means: CommunicationMeans | str | None = None,
        subjects_informed: int | None = None,
        exemption: CommunicationExemption | str | None = None,
        justification: str | None = None,
    ) -> None:
        """Records the communication to the people (Art. 34(1)) or the Art. 34(3) exception relied on
        (BRE-06, BRE-07)."""
        check_aware("at", at)
        check_aware("communicated_at", communicated_at)
        if self.communication is not None:
            raise errors.BreachStepConflictError(
                f"the communication to the people of breach {self.breach_id!r} is already recorded"
            )
        candidate = dataclasses.replace(
            self,
            events=[],
            communication=Communication(
                communicated_at=communicated_at,
                means=CommunicationMeans(means) if means is not None else None,
                subjects_informed=subjects_informed,
                exemption=CommunicationExemption(exemption) if exemption is not None else None,
                justification=(justification or "").strip() or None,
                recorded_at=at,
            ),
        )
        raise_problems("the communication cannot be recorded", check(Stage.COMMUNICATE, candidate, at))
        communication = candidate.communication
        assert communication is not None  # noqa: S101 - set just above; narrows the type.
        self.communication = communication
        self.updated_at = at
        self.events.append(
            events.BreachCommunicated(
                **self.facts(at),
                communicated_at=communication.communicated_at,
                means=communication.means.value if communication.means else None,
                subjects_informed=communication.subjects_informed,
                exemption=communication.exemption.value if communication.exemption else None,
                at=at,
            )
        )

    def notice_overdue(self, *, at: datetime) -> bool:
        """Records once that the 72 hours passed with neither notification nor justification (BRE-08)."""
        check_aware("at", at)
        if self.overdue_notified_at is not None or self.state_at(at) is not ClockState.OVERDUE:
            return False
        self.overdue_notified_at = at
        self.events.append(
            events.BreachOverdue(
                **self.facts(at), hours_overdue=round((at - self.deadline) / timedelta(hours=1), 2), at=at
            )
        )
        return True

    # --- Reading.

    @property
    def deadline(self) -> datetime:
        """Returns when the notification is due: 72 hours after the controller became aware (BRE-02)."""
        return self.aware_at + NOTIFICATION_DELAY

    @property
    def risk(self) -> RiskLevel | None:
        """Returns the assessed risk, or None before any assessment."""
        return self.assessment.risk if self.assessment else None

    def state_at(self, at: datetime) -> ClockState:
        """Returns where the breach stands against the clock at `at`."""
        if self.notification is not None:
            in_time = self.notification.notified_at <= self.deadline
            return ClockState.NOTIFIED_IN_TIME if in_time else ClockState.NOTIFIED_LATE
        if self.risk is RiskLevel.UNLIKELY:
            return ClockState.NOT_NOTIFIABLE
        return ClockState.OVERDUE if at > self.deadline else ClockState.OPEN

    def findings(self, at: datetime) -> list[FieldProblem]:
        """Returns what the breach still needs at `at` (overdue, communication or phased information due)."""
        return check(Stage.STANDING, self, at)

    def record_hash(self) -> str:
        """Returns the SHA-256 of the full record (texts included), so events prove what was recorded."""
        body = json.dumps(to_record(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()

    def facts(self, at: datetime) -> BreachFactFields:
        """Returns what every breach event says: categories, counts, times, state; no free text, no person."""
        return {
            "breach_id": self.breach_id,
            "state": self.state_at(at).value,
            "aware_at": self.aware_at,
            "deadline_at": self.deadline,
            "nature": tuple(n.value for n in self.nature),
            "data_categories": self.data_categories,
            "special_categories": self.special_categories,
            "subject_categories": self.subject_categories,
            "approx_subjects": self.approx_subjects,
            "approx_records": self.approx_records,
            "risk": self.risk.value if self.risk else None,
            "dpo_named": self.dpo is not None,
            "source_party_id": self.source_party_id,
            "record_hash": self.record_hash(),
        }


class BreachFactFields(TypedDict):
    """The fields of `events.BreachFacts`, which every breach event carries."""

    breach_id: str
    state: str
    aware_at: datetime
    deadline_at: datetime
    nature: tuple[str, ...]
    data_categories: tuple[str, ...]
    special_categories: bool
    subject_categories: tuple[str, ...]
    approx_subjects: int | None
    approx_records: int | None
    risk: str | None
    dpo_named: bool
    source_party_id: str | None
    record_hash: str


def to_record(breach: Breach) -> dict[str, Any]:
    """Returns the breach as plain JSON values (the stored record and the input of `record_hash`)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, StrEnum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    return {
        f.name: plain(getattr(breach, f.name))
        for f in dataclasses.fields(breach)
        if f.name not in ("events", "overdue_notified_at", "updated_at")
    }


# --- Helpers of the steps.


def _unknown(name: str) -> FieldProblem:
    return FieldProblem("BRE-01", name, "not a field of the breach register")


def _natures(value: Iterable[BreachNature | str]) -> tuple[BreachNature, ...]:
    try:
        return tuple(dict.fromkeys(BreachNature(v) for v in value))
    except ValueError as exc:
        raise errors.BreachRuleError(
            "unknown nature",
            [FieldProblem("BRE-01", "nature", f"each one of {[n.value for n in BreachNature]}")],
        ) from exc


def _normalise(name: str, value: Any) -> Any:
    if name == "nature":
        return _natures(value)
    if name in ("data_categories", "subject_categories"):
        return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    if name in ("occurred_from", "occurred_until"):
        check_aware(name, value)
    if name in ("approx_subjects", "approx_records") and value is not None and value < 0:
        raise errors.BreachRuleError("negative count", [FieldProblem("BRE-01", name, "must not be negative")])
    if name in ("likely_consequences", "measures_taken", "measures_proposed", "description"):
        return (value or "").strip()
    if name == "special_categories":
        return bool(value)
    return value


def _check_times(breach: Breach) -> None:
    check_aware("aware_at", breach.aware_at)
    problems = []
    if breach.occurred_from and breach.occurred_from > breach.aware_at:
        problems.append(FieldProblem("BRE-01", "occurred_from", "must not be after aware_at"))
    if breach.occurred_from and breach.occurred_until and breach.occurred_until < breach.occurred_from:
        problems.append(FieldProblem("BRE-01", "occurred_until", "must not be before occurred_from"))
    raise_problems("the breach's times do not hold together", problems)


def raise_problems(summary: str, problems: list[FieldProblem]) -> None:
    """Raises `BreachRuleError` listing the problems, if any."""
    if problems:
        raise errors.BreachRuleError(summary, problems)


# --- The rule table.


class Stage(StrEnum):
    """When a rule is checked: at a step (a breach of it refuses the step) or standing (a finding)."""

    RECORD = "record"
    ASSESS = "assess"
    NOTIFY = "notify"
    COMMUNICATE = "communicate"
    STANDING = "standing"


Check = Callable[[Breach, datetime], list[FieldProblem]]


@dataclass(frozen=True)
class BreachRule:
    """One row of the breach rule table."""

    id: str
    title: str
    stage: Stage
    effective_from: date
    source: str
    check: Check
    effective_to: date | None = None

    def applies(self, on: date) -> bool:
        """Says whether the row is in force on a given day."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


def _blank(value: str | None) -> bool:
    return not (value or "").strip()


def bre_01(b: Breach, at: datetime) -> list[FieldProblem]:
    """Every breach is documented: its facts (nature, description) and when the controller became aware."""
    found = []
    if not b.nature:
        found.append(
            FieldProblem("BRE-01", "nature", "name at least one: confidentiality, integrity, availability")
        )
    if _blank(b.description):
        found.append(FieldProblem("BRE-01", "description", "describe what happened (Art. 33(5))"))
    if b.aware_at > at:
        found.append(FieldProblem("BRE-01", "aware_at", "must not be in the future"))
    if b.aware_at.date() < GDPR_APPLIES:
        found.append(
            FieldProblem("BRE-01", "aware_at", "the register covers breaches known from 2018-05-25 (GDPR)")
        )
    return found


def bre_02(b: Breach, at: datetime) -> list[FieldProblem]:
    """A notification happens after awareness and not in the future; the 72 hours run from awareness."""
    n = b.notification
    if n is None:
        return []
    found = []
    if n.notified_at < b.aware_at:
        found.append(FieldProblem("BRE-02", "notified_at", "must not be before aware_at"))
    if n.notified_at > at:
        found.append(FieldProblem("BRE-02", "notified_at", "must not be in the future"))
    if _blank(n.reference):
        found.append(FieldProblem("BRE-02", "reference", "give the authority's notification reference"))
    return found


def bre_03(b: Breach, _at: datetime) -> list[FieldProblem]:
    """A notification after 72 hours gives the reasons for the delay (Art. 33(1), second sentence)."""
    n = b.notification
    if n is None or n.notified_at <= b.deadline or n.delay_reasons:
        return []
    return [
        FieldProblem(
            "BRE-03",
            "delay_reasons",
            f"notified {(n.notified_at - b.deadline) / timedelta(hours=1):.1f} h after the 72 hours: "
            "state the reasons for the delay",
        )
    ]


def bre_04(b: Breach, _at: datetime) -> list[FieldProblem]:
    """A notification holds the Art. 33(3) content; what is not yet known may follow in phases (33(4))."""
    n = b.notification
    if n is None:
        return []
    found = []
    if b.dpo is None:
        found.append(FieldProblem("BRE-04", "dpo", "name the DPO or other contact point (Art. 33(3)(b))"))
    if not n.phased:
        found += _content_gaps(b, "BRE-04", "or notify in phases (phased: true, Art. 33(4))")
    return found


def _content_gaps(b: Breach, rule: str, hint: str) -> list[FieldProblem]:
    found = []
    for name, what in (
        ("data_categories", "the categories of personal data concerned"),
        ("subject_categories", "the categories of people concerned"),
    ):
        if not getattr(b, name):
            found.append(FieldProblem(rule, name, f"give {what} (Art. 33(3)(a)), {hint}"))
    for name, what in (("approx_subjects", "people"), ("approx_records", "records")):
        if getattr(b, name) is None:
            found.append(
                FieldProblem(rule, name, f"give the approximate number of {what} (Art. 33(3)(a)), {hint}")
            )
    if _blank(b.likely_consequences):
        found.append(FieldProblem(rule, "likely_consequences", f"describe them (Art. 33(3)(c)), {hint}"))
    if _blank(b.measures_taken) and _blank(b.measures_proposed):
        found.append(
            FieldProblem(
                rule, "measures_taken", f"give the measures taken or proposed (Art. 33(3)(d)), {hint}"
            )
        )
    return found


def bre_05(b: Breach, _at: datetime) -> list[FieldProblem]:
    """A breach is not notified only when found unlikely to result in a risk, with the reasons documented."""
    a = b.assessment
    if a is None or a.risk is not RiskLevel.UNLIKELY or a.justification:
        return []
    return [
        FieldProblem(
            "BRE-05",
            "justification",
            "a breach assessed unlikely to result in a risk is not notified only with the reasons documented",
        )
    ]


def bre_06(b: Breach, at: datetime) -> list[FieldProblem]:
    """A communication to the people says when and how, after awareness and not in the future."""
    c = b.communication
    if c is None or c.exemption is not None:
        return []
    found = []
    if c.communicated_at is None:
        found.append(
            FieldProblem("BRE-06", "communicated_at", "give when the people were told, or the exemption")
        )
    elif c.communicated_at < b.aware_at or c.communicated_at > at:
        found.append(FieldProblem("BRE-06", "communicated_at", "must be between aware_at and now"))
    if c.means is None:
        found.append(FieldProblem("BRE-06", "means", "give how the people were told"))
    if c.subjects_informed is not None and c.subjects_informed < 0:
        found.append(FieldProblem("BRE-06", "subjects_informed", "must not be negative"))
    return found


def bre_07(b: Breach, at: datetime) -> list[FieldProblem]:
    """An Art. 34(3) exception applies to a high risk only, is justified; (c) needs a public communication."""
    c = b.communication
    if c is None or c.exemption is None:
        return []
    found = []
    if b.risk is not RiskLevel.HIGH:
        found.append(
            FieldProblem(
                "BRE-07", "exemption", "only a breach assessed high risk needs the people told (Art. 34(1))"
            )
        )
    if not c.justification:
        found.append(FieldProblem("BRE-07", "justification", "say why the Art. 34(3) condition holds"))
    if c.exemption is CommunicationExemption.DISPROPORTIONATE_EFFORT:
        if c.means is not CommunicationMeans.PUBLIC_COMMUNICATION:
            found.append(
                FieldProblem(
                    "BRE-07",
                    "means",
                    "art34_3_c requires a public communication instead (public_communication)",
                )
            )
        if c.communicated_at is None or c.communicated_at < b.aware_at or c.communicated_at > at:
            found.append(
                FieldProblem(
                    "BRE-07",
                    "communicated_at",
                    "give when the public communication was made (after aware_at)",
                )
            )
    return found


def bre_08(b: Breach, at: datetime) -> list[FieldProblem]:
    """Standing: a breach past 72 hours with neither notification nor a justified `unlikely` is overdue."""
    if b.state_at(at) is not ClockState.OVERDUE:
        return []
    late = (at - b.deadline) / timedelta(hours=1)
    return [
        FieldProblem(
            "BRE-08",
            "notification",
            f"overdue by {late:.1f} h: notify the CNIL and give the reasons for the delay, or document why "
            "the breach is unlikely to result in a risk",
        )
    ]


def bre_09(b: Breach, _at: datetime) -> list[FieldProblem]:
    """Standing: a high-risk breach needs the people told, or an Art. 34(3) exception recorded."""
    if b.risk is not RiskLevel.HIGH or b.communication is not None:
        return []
    return [
        FieldProblem(
            "BRE-09",
            "communication",
            "high risk: tell the people concerned without undue delay (Art. 34(1)) or record the Art. 34(3) "
            "exception relied on",
        )
    ]


def bre_10(b: Breach, _at: datetime) -> list[FieldProblem]:
    """Standing: after a phased notification, the missing Art. 33(3) information is still due (33(4))."""
    if b.notification is None or not b.notification.phased:
        return []
    return _content_gaps(b, "BRE-10", "still due to the CNIL without undue further delay (Art. 33(4))")


#: The breach rule table: the authority for what each step requires and what a breach still needs.
RULES: tuple[BreachRule, ...] = (
    BreachRule(
        "BRE-01",
        "Document every breach: facts, effects, remedial action",
        Stage.RECORD,
        GDPR_APPLIES,
        "Art. 33(5) GDPR; EDPB Guidelines 9/2022 on personal data breach notification, §§ 105-108",
        bre_01,
    ),
    BreachRule(
        "BRE-02",
        "72 hours from awareness; a notification is dated and referenced",
        Stage.NOTIFY,
        GDPR_APPLIES,
        "Art. 33(1) GDPR; EDPB Guidelines 9/2022 §§ 31-38 (when a controller becomes 'aware')",
        bre_02,
    ),
    BreachRule(
        "BRE-03",
        "A late notification gives the reasons for the delay",
        Stage.NOTIFY,
        GDPR_APPLIES,
        "Art. 33(1) GDPR, second sentence",
        bre_03,
    ),
    BreachRule(
        "BRE-04",
        "A notification holds the Art. 33(3) content, or is phased",
        Stage.NOTIFY,
        GDPR_APPLIES,
        "Art. 33(3)(a)-(d) and 33(4) GDPR",
        bre_04,
    ),
    BreachRule(
        "BRE-05",
        "Not notified only when unlikely to result in a risk, reasons documented",
        Stage.ASSESS,
        GDPR_APPLIES,
        "Art. 33(1) and 33(5) GDPR; EDPB Guidelines 9/2022 §§ 102-104; CNIL, 'Les violations de données "
        "personnelles' (cnil.fr)",
        bre_05,
    ),
    BreachRule(
        "BRE-06",
        "A communication to the people is dated and says by what means",
        Stage.COMMUNICATE,
        GDPR_APPLIES,
        "Art. 34(1)-(2) GDPR",
        bre_06,
    ),
    BreachRule(
        "BRE-07",
        "An Art. 34(3) exception is justified; (c) needs a public communication",
        Stage.COMMUNICATE,
        GDPR_APPLIES,
        "Art. 34(3)(a)-(c) GDPR",
        bre_07,
    ),
    BreachRule(
        "BRE-08",
        "Overdue: 72 hours passed, neither notified nor justified",
        Stage.STANDING,
        GDPR_APPLIES,
        "Art. 33(1) GDPR",
        bre_08,
    ),
    BreachRule(
        "BRE-09",
        "High risk: the people are told, or an exception is recorded",
        Stage.STANDING,
        GDPR_APPLIES,
        "Art. 34(1) and 34(3) GDPR",
        bre_09,
    ),
    BreachRule(
        "BRE-10",
        "Phased notification: the missing information is still due",
        Stage.STANDING,
        GDPR_APPLIES,
        "Art. 33(4) GDPR",
        bre_10,
    ),
)


def check(stage: Stage, breach: Breach, at: datetime) -> list[FieldProblem]:
    """Evaluates the rows of `stage` in force at `at` and returns their problems, in table order."""
    found: list[FieldProblem] = []
    for rule in RULES:
        if rule.stage is stage and rule.applies(at.date()):
            found += rule.check(breach, at)
    return found


def overdue(breaches: Iterable[Breach], *, at: datetime) -> list[Breach]:
    """Returns the breaches overdue at `at`, the longest overdue first."""
    check_aware("at", at)
    return sorted(
        (b for b in breaches if b.state_at(at) is ClockState.OVERDUE), key=lambda b: (b.aware_at, b.breach_id)
    )

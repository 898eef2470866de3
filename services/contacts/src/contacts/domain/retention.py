"""Retention clocks of contact data used for prospection (rule book section G, confirmed in M.5).

RET-01: a prospect's data is kept 3 years from its collection or from the last contact emanating
from the person (a reply, a purchase, a click or a request; an e-mail open is not one). RET-02: a
customer's data is kept during the commercial relationship, then 3 years from its end. When the
period is over, the data may no longer be used for prospection (UNI-08 blocks), the controller may
ask the person once whether to keep receiving offers, and without an explicit yes the data is
deleted or archived. Here that window is the grace period: `flagged` during it, `erase` after it.

Pure standard library, so the same clocks serve the API, the purge job and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

__all__ = [
    "CONTACT_FROM_PERSON_KINDS",
    "DEFAULT_GRACE_PERIOD",
    "INTERACTION_KINDS",
    "RELATIONSHIPS",
    "RETENTION_RULES",
    "NaiveDatetimeError",
    "RetentionError",
    "RetentionRule",
    "RetentionState",
    "RetentionStatus",
    "UnknownInteractionKindError",
    "UnknownRelationshipError",
    "add_calendar_years",
    "interaction_counts_as_contact_from_person",
    "last_contact_after_interaction",
    "retention_deadline",
    "retention_rule_for",
    "retention_status",
]

PROSPECT: Final = "prospect"
ACCOUNT_ONLY: Final = "account_only"
CUSTOMER_SALE_DONE: Final = "customer_sale_done"
CONTRACT_IN_PROGRESS: Final = "contract_in_progress"
RELATIONSHIPS: Final = frozenset({PROSPECT, ACCOUNT_ONLY, CUSTOMER_SALE_DONE, CONTRACT_IN_PROGRESS})

# Interactions that show the person's own interest and so restart the RET-01 clock (M.5: the CNIL
# holds that a mere open proves nothing, since a message can be opened involuntarily). Signing a
# contract is the person's act; its end may be the company's or the term's, and a call attempt is
# always the company's, so neither moves the clock (RET-02 runs from the relationship's end anyway).
CONTACT_FROM_PERSON_KINDS: Final = frozenset(
    {"sale", "purchase", "reply", "click", "request", "contract_start"}
)
INTERACTION_KINDS: Final = CONTACT_FROM_PERSON_KINDS | {"open", "contract_end", "call_attempt"}

# The rule book gives no figure for the one-time re-contact before deletion; 30 days is a design choice.
DEFAULT_GRACE_PERIOD: Final = timedelta(days=30)

RetentionState = Literal["retained", "flagged", "erase"]


class RetentionError(ValueError):
    """Base class of the errors of retention clocks."""


class UnknownRelationshipError(RetentionError):
    """Raised when a relationship is not one of the four the rule book defines."""


class UnknownInteractionKindError(RetentionError):
    """Raised when an interaction kind is not one the retention clocks know."""


class NaiveDatetimeError(RetentionError):
    """Raised when a datetime given to a retention clock has no time zone."""


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """One retention rule of section G: which relationships it covers and how long data is kept."""

    rule_id: str
    relationships: frozenset[str]
    period_years: int
    counted_from: str
    effective_from: date


# RET-03 (2 years of account inactivity) is marked VERIFY in the rule book and still unverified in M.5,
# so it is not applied here; RET-04 to RET-08 concern archives, proofs and lists, not contact records.
# effective_from is the GDPR's date of application (Art. 5(1)(e)); the CNIL référentiel that sets
# the 3-year figures (délibération 2021-131) was published on 2022-04-10 and confirms older guidance.
RETENTION_RULES: Final[tuple[RetentionRule, ...]] = (
    RetentionRule(
        rule_id="RET-01",
        # An account without a sale is not a customer (ELEC-03), so it keeps the prospect clock.
        relationships=frozenset({PROSPECT, ACCOUNT_ONLY}),
        period_years=3,
        counted_from="collection, or the last contact from the person if later",
        effective_from=date(2018, 5, 25),
    ),
    RetentionRule(
        rule_id="RET-02",
        relationships=frozenset({CUSTOMER_SALE_DONE, CONTRACT_IN_PROGRESS}),
        period_years=3,
        counted_from="the end of the commercial relationship (none while a contract is in progress)",
        effective_from=date(2018, 5, 25),
    ),
)


@dataclass(frozen=True, slots=True)
class RetentionStatus:
    """Where a contact stands on its retention clock at a given moment.

    `retained`: within the period (or no deadline). `flagged`: the period is over, the data may no
    longer be used for prospection and the person may be asked once whether to stay. `erase`: the
    grace period is over too, and the data must be deleted or archived.
    """

    rule_id: str
    due_at: datetime | None
    erase_at: datetime | None
    state: RetentionState


def retention_rule_for(relationship: str) -> RetentionRule:
    """Returns the retention rule that covers a relationship."""
    for rule in RETENTION_RULES:
        if relationship in rule.relationships:
            return rule
    raise UnknownRelationshipError(
        f"unknown relationship {relationship!r}; expected one of {sorted(RELATIONSHIPS)}"
    )


def add_calendar_years(moment: datetime, years: int) -> datetime:
    """Returns the same month, day and time `years` later, with 29 February becoming 28 February."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        # Only 29 February lacks a same-day counterpart; ending the period early is the cautious side.
        return moment.replace(year=moment.year + years, day=28)


def retention_deadline(
    *,
    relationship: str,
    obtained_at: datetime,
    last_contact_from_person_at: datetime | None,
    relationship_end_at: datetime | None,
) -> datetime | None:
    """Returns the moment the retention period of a contact ends, or None while it has no end.

    RET-01 (prospect, account_only): 3 years from `obtained_at` or `last_contact_from_person_at`,
    whichever is later. RET-02 (customer_sale_done): 3 years from `relationship_end_at`; a later
    contact from the person counts as well, so that a customer never gets a shorter clock than a
    prospect with the same history, and without either date the clock runs from `obtained_at`.
    RET-02 (contract_in_progress): no deadline, unless a `relationship_end_at` is already known.
    """
    rule = retention_rule_for(relationship)
    if obtained_at is None:
        raise RetentionError("obtained_at is required: every clock falls back to the collection date")
    _check_aware(obtained_at=obtained_at)
    _check_aware(last_contact_from_person_at=last_contact_from_person_at)
    _check_aware(relationship_end_at=relationship_end_at)

    if rule.rule_id == "RET-01":
        start = _latest(obtained_at, last_contact_from_person_at)
    elif relationship == CONTRACT_IN_PROGRESS:
        if relationship_end_at is None:
            return None
        # A known end date (a fixed-term contract, or one the CRM has not yet marked as ended)
        # starts the clock, so a stale relationship flag cannot keep data forever.
        start = _latest(relationship_end_at, last_contact_from_person_at)
    elif relationship_end_at is None and last_contact_from_person_at is None:
        start = obtained_at
    else:
        start = _latest(relationship_end_at, last_contact_from_person_at)
    if start is None:  # pragma: no cover - every branch above has at least one known date.
        raise RetentionError("no date to start the retention clock from")
    return add_calendar_years(start, rule.period_years)


def retention_status(
    *,
    relationship: str,
    obtained_at: datetime,
    last_contact_from_person_at: datetime | None,
    relationship_end_at: datetime | None,
    now: datetime,
    grace_period: timedelta = DEFAULT_GRACE_PERIOD,
) -> RetentionStatus:
    """Returns whether a contact's data is retained, flagged for deletion, or due for erasure at `now`."""
    _check_aware(now=now)
    if grace_period < timedelta(0):
        raise RetentionError("grace_period must not be negative")
    rule = retention_rule_for(relationship)
    due_at = retention_deadline(
        relationship=relationship,
        obtained_at=obtained_at,
        last_contact_from_person_at=last_contact_from_person_at,
        relationship_end_at=relationship_end_at,
    )
    if due_at is None:
        return RetentionStatus(rule_id=rule.rule_id, due_at=None, erase_at=None, state="retained")
    erase_at = due_at + grace_period
    # "3 years from" ends at the anniversary itself, so the clock is due at `due_at`, not after it.
    if now < due_at:
        state: RetentionState = "retained"
    elif now < erase_at:
        state = "flagged"
    else:
        state = "erase"
    return RetentionStatus(rule_id=rule.rule_id, due_at=due_at, erase_at=erase_at, state=state)


def interaction_counts_as_contact_from_person(kind: str) -> bool:
    """Returns whether an interaction of this kind restarts the RET-01 clock (an e-mail open does not)."""
    if kind not in INTERACTION_KINDS:
        raise UnknownInteractionKindError(
            f"unknown interaction kind {kind!r}; expected one of {sorted(INTERACTION_KINDS)}"
        )
    return kind in CONTACT_FROM_PERSON_KINDS


def last_contact_after_interaction(
    current: datetime | None, *, kind: str, occurred_at: datetime
) -> datetime | None:
    """Returns `last_contact_from_person_at` as it stands after an interaction of `kind` at `occurred_at`."""
    _check_aware(occurred_at=occurred_at)
    _check_aware(current=current)
    if not interaction_counts_as_contact_from_person(kind):
        return current
    # Interactions can arrive out of order (at-least-once delivery), so the clock never moves back.
    return _latest(current, occurred_at)


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _check_aware(**moments: datetime | None) -> None:
    for name, moment in moments.items():
        if moment is None:
            continue
        if not isinstance(moment, datetime):
            raise RetentionError(f"{name} must be a datetime")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise NaiveDatetimeError(f"{name} must be timezone-aware")

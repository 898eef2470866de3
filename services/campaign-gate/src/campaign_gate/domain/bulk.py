"""Columnar evaluation of the gate: how checks are decided, with numpy masks.

Each recipient-scope row of the rule table has a vectorised twin here (`VECTORISED`, keyed by the
row's scalar `evaluate`, which stays as the test oracle); each kind of finding it makes (a `Hit`)
carries what the scalar finding carries: rule id, outcome, message (templated where the scalar message
embeds a recipient's fact) and evidence columns. Campaign rows are evaluated once and broadcast.
`BulkDecisions.receipts` words each recipient's receipt from the masks. A property test on 100,000
random recipients keeps the served receipts equal to the scalar oracle's.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any

import numpy as np

from campaign_gate.domain import clock, criteria, decision, rules
from campaign_gate.domain.facts import (
    CampaignFacts,
    Channel,
    ConsentStatus,
    ContactKind,
    Decision,
    LawfulBasis,
    RecipientFacts,
    Relationship,
)
from campaign_gate.domain.rules import Outcome, RecipientView, Scope

KIND_CODES = {ContactKind.CONSUMER: 0, ContactKind.PROFESSIONAL_NAMED: 1, ContactKind.LEGAL_PERSON_GENERIC: 2}
RELATIONSHIP_CODES = {
    Relationship.PROSPECT: 0,
    Relationship.ACCOUNT_ONLY: 1,
    Relationship.CUSTOMER_SALE_DONE: 2,
    Relationship.CONTRACT_IN_PROGRESS: 3,
}
CONSENT_CODES = {None: 0, ConsentStatus.GRANTED: 1, ConsentStatus.WITHDRAWN: 2, ConsentStatus.REQUESTED: 3}
DECISIONS: tuple[Decision, ...] = (Decision.ALLOW, Decision.NEEDS_REVIEW, Decision.BLOCK)
ALLOW, REVIEW, BLOCK = 0, 1, 2
GATE_RULE_IDS = (decision.NO_LAWFUL_BASIS, decision.CAMPAIGN_NOT_APPROVED, decision.GATE_STALE)
RULE_CODES: tuple[str, ...] = rules.RULE_IDS + GATE_RULE_IDS
_CODE_OF = {rule_id: i for i, rule_id in enumerate(RULE_CODES)}

_US, _DAY = "datetime64[us]", "datetime64[D]"
_NAT_DAYS = int(np.datetime64("NaT", "D").view(np.int64))
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NAT_MICROS = int(np.datetime64("NaT", "us").view(np.int64))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICRO = timedelta(microseconds=1)
_ENUM_CODES: dict[str, dict[Any, int]] = {
    "kind": KIND_CODES,
    "relationship": RELATIONSHIP_CODES,
    "consent_status": CONSENT_CODES,
    "retention_clock": {c: int(c) for c in rules.RetentionClock},
    "retention_flagged": {c: int(c) for c in rules.RetentionClock},
    "analogy": {a: int(a) for a in rules.Analogy},
    "partner_coverage": {p: int(p) for p in rules.PartnerCoverage},
}
_INSTANTS = frozenset(("art14_delivered_at", "obtained_at", "retention_from", "fourth_latest_call_at"))
_DAYS = frozenset(
    ("consent_granted_on", "majority_on", "digital_consent_age_on", "bloctel_checked_on", "refusal_on")
)
_REFS = frozenset(
    (
        "objection_ref",
        "opposition_ref",
        "bloctel_ref",
        "robinson_ref",
        "consent_ref",
        "notice_ref",
        "broker_ref",
        "restriction_ref",
    )
)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a batch builds many small containers (reference
    counting still frees them; a collection pass per few hundred allocations would dominate)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _micros(value: datetime | None) -> int:
    """Returns an instant as microseconds since the epoch (a naive one read as UTC), NaT for None."""
    if value is None:
        return _NAT_MICROS
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_MICRO


def _to_us(value: datetime | None) -> np.datetime64:
    if value is None:
        return np.datetime64("NaT", "us")
    return np.datetime64(clock.as_utc(value).replace(tzinfo=None), "us")


def _to_day(value: date | None) -> np.datetime64:
    return np.datetime64("NaT", "D") if value is None else np.datetime64(value, "D")


@dataclass(frozen=True)
class RecipientColumns:
    """The resolved facts of N recipients of one campaign, one numpy array per fact.

    Field names match `rules.RecipientView`; enums are small integer codes, instants are
    datetime64[us] in UTC and days are datetime64[D], with NaT for "none".
    """

    contact_id: np.ndarray
    kind: np.ndarray
    relationship: np.ndarray
    has_address: np.ndarray
    objection: np.ndarray
    opposition_hit: np.ndarray
    bloctel_hit: np.ndarray
    robinson_hit: np.ndarray
    consent_status: np.ndarray
    consent_positive_act: np.ndarray
    consent_proof: np.ndarray
    consent_explicit: np.ndarray
    consent_withdrawal_info: np.ndarray
    consent_joint: np.ndarray
    consent_granted_on: np.ndarray
    collected_from_person: np.ndarray
    third_party_unverified: np.ndarray
    art13_given: np.ndarray
    art14_delivered_at: np.ndarray
    art14_exemption: np.ndarray
    obtained_at: np.ndarray
    obtained_in_opt_in_regime: np.ndarray
    retention_clock: np.ndarray
    retention_from: np.ndarray
    majority_on: np.ndarray
    digital_consent_age_on: np.ndarray
    retention_flagged: np.ndarray
    informed: np.ndarray
    objection_offered: np.ndarray
    collected_at_sale: np.ndarray
    sender_is_seller: np.ndarray
    analogy: np.ndarray
    contract_related: np.ndarray
    professional_relevance: np.ndarray
    bloctel_checked_on: np.ndarray
    out_of_hours_consent: np.ndarray
    timezone: np.ndarray  # Codes into `timezones` (None: unknown).
    fourth_latest_call_at: np.ndarray
    refusal_on: np.ndarray
    phone_info_defect: np.ndarray
    first_contact: np.ndarray
    stop_pub: np.ndarray
    # Issue 19: `rules.PartnerCoverage` codes (RENT-01), consent to e-mail tracking (TRACK-01).
    partner_coverage: np.ndarray
    tracking_consent: np.ndarray
    # The references evidence cites (object arrays of str or None).
    objection_ref: np.ndarray
    opposition_ref: np.ndarray
    bloctel_ref: np.ndarray
    robinson_ref: np.ndarray
    consent_ref: np.ndarray
    notice_ref: np.ndarray
    broker_ref: np.ndarray
    # Rights (section R): the Art. 18 restriction and its evidence.
    restricted: np.ndarray
    restriction_ref: np.ndarray
    timezones: tuple[str | None, ...] = ("Europe/Paris",)

    def __len__(self) -> int:
        return len(self.contact_id)

    @classmethod
    def from_views(cls, views: Sequence[RecipientView]) -> RecipientColumns:
        """Returns the columns of resolved recipients."""
        return cls.from_rows(list(map(attrgetter(*COLUMN_NAMES), views)))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> RecipientColumns:
        """Returns the columns of resolved recipients given as tuples of their `RecipientView` values in
        `COLUMN_NAMES` order (enums as members or values, instants aware or naive UTC, None for none)."""
        with gc_paused():
            return cls._from_rows(rows)

    @classmethod
    def _from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> RecipientColumns:
        values = dict(zip(COLUMN_NAMES, zip(*rows, strict=True), strict=True)) if rows else {}
        return cls._from_columns(values)

    @classmethod
    def from_columns(cls, values: Mapping[str, Sequence[Any] | np.ndarray]) -> RecipientColumns:
        """Returns the columns of resolved recipients given one sequence per name of `COLUMN_NAMES`: a numpy
        array in the column's dtype is taken as it is, any other sequence holds `RecipientView` values as
        `from_rows` takes them (`timezone` always holds zone names)."""
        with gc_paused():
            return cls._from_columns(values)

    @classmethod
    def _from_columns(cls, values: Mapping[str, Sequence[Any] | np.ndarray]) -> RecipientColumns:
        zones = tuple(dict.fromkeys(values.get("timezone", ()))) or ("Europe/Paris",)
        zone_code = {z: i for i, z in enumerate(zones)}
        arrays: dict[str, np.ndarray] = {}
        for name in COLUMN_NAMES:
            column = values.get(name, ())
            if isinstance(column, np.ndarray) and name != "timezone":
                arrays[name] = column
            elif name in _ENUM_CODES:
                codes = _ENUM_CODES[name]
                arrays[name] = np.array([codes[x] for x in column], dtype=np.int8)
            elif name == "timezone":
                arrays[name] = np.array([zone_code[x] for x in column], dtype=np.int16)
            elif name in _INSTANTS:
                arrays[name] = np.array([_micros(x) for x in column], dtype=np.int64).view(_US)
            elif name in _DAYS:
                days = [_NAT_DAYS if x is None else x.toordinal() - _EPOCH_ORDINAL for x in column]
                arrays[name] = np.array(days, dtype=np.int64).view(_DAY)
            elif name == "contact_id" or name in _REFS:
                arrays[name] = np.array(column, dtype=object) if column else np.empty(0, dtype=object)
            else:
                arrays[name] = np.array(column, dtype=bool)
        return cls(timezones=zones, **arrays)

    @classmethod
    def from_facts(cls, campaign: CampaignFacts, recipients: Iterable[RecipientFacts]) -> RecipientColumns:
        """Returns the columns of recipients resolved for a campaign."""
        return cls.from_views([rules.resolve(campaign, r) for r in recipients])

    @classmethod
    def concat(cls, parts: Sequence[RecipientColumns]) -> RecipientColumns:
        """Returns the recipients of several column sets, in order."""
        zones = tuple(dict.fromkeys(z for p in parts for z in p.timezones)) or ("Europe/Paris",)
        code = {z: i for i, z in enumerate(zones)}
        values = {
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in COLUMN_NAMES
            if name != "timezone"
        }
        values["timezone"] = np.concatenate(
            [np.array([code[z] for z in p.timezones], dtype=np.int16)[p.timezone] for p in parts]
        ).astype(np.int16)
        return cls(timezones=zones, **values)

    def take(self, index: np.ndarray | slice) -> RecipientColumns:
        """Returns the columns of a subset of recipients."""
        values = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "timezones"}
        return RecipientColumns(timezones=self.timezones, **values)


#: The fields of `RecipientColumns` (but `timezones`), in order: the values `from_rows` takes.
COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RecipientColumns) if f.name != "timezones")


class _Derived:
    """The campaign context in numpy form, plus predicates shared by several rules (computed once)."""

    def __init__(self, ctx: rules.Context, col: RecipientColumns) -> None:
        self.ctx, self.col, self.n = ctx, col, len(col)
        self.c = ctx.campaign
        self.moment = _to_us(ctx.moment)
        self.moment_date = _to_day(ctx.moment_date)
        self.retention_threshold = _to_us(ctx.retention_threshold)
        self.notice_threshold = _to_us(ctx.notice_threshold)
        self.call_window_start = _to_us(ctx.call_window_start)

    def const(self, value: bool) -> np.ndarray:
        return np.full(self.n, value, dtype=bool)

    # numpy types its operators on ndarrays as returning Any: each mask is named with its type below.

    @functools.cached_property
    def consumer(self) -> np.ndarray:
        mask: np.ndarray = self.col.kind == KIND_CODES[ContactKind.CONSUMER]
        return mask

    @functools.cached_property
    def pro(self) -> np.ndarray:
        mask: np.ndarray = self.col.kind == KIND_CODES[ContactKind.PROFESSIONAL_NAMED]
        return mask

    @functools.cached_property
    def generic(self) -> np.ndarray:
        mask: np.ndarray = self.col.kind == KIND_CODES[ContactKind.LEGAL_PERSON_GENERIC]
        return mask

    @functools.cached_property
    def granted(self) -> np.ndarray:
        mask: np.ndarray = self.col.consent_status == CONSENT_CODES[ConsentStatus.GRANTED]
        return mask

    @functools.cached_property
    def usable(self) -> np.ndarray:
        mask: np.ndarray = self.granted & self.col.consent_positive_act
        return mask

    @functools.cached_property
    def customer(self) -> np.ndarray:
        return self.col.relationship >= RELATIONSHIP_CODES[Relationship.CUSTOMER_SALE_DONE]

    @functools.cached_property
    def soft_possible(self) -> np.ndarray:
        c = self.col
        mask: np.ndarray = (
            self.customer
            & c.collected_at_sale
            & c.sender_is_seller
            & c.objection_offered
            & (c.analogy != int(rules.Analogy.NOT_ANALOGOUS))
        )
        return mask

    @functools.cached_property
    def relies(self) -> np.ndarray:
        ch, c = self.c.channel, self.col
        if self.c.purpose_lawful_basis is LawfulBasis.CONSENT:
            return self.const(True)
        out = self.const(False)
        if ch in (Channel.AUTOMATED_CALL, Channel.FAX):
            out |= self.consumer
        if ch in rules.SOFT_OPT_IN_CHANNELS and self.c.commercial:
            out |= self.consumer & ~self.soft_possible
        if ch is Channel.PHONE_HUMAN and self.ctx.phone_opt_in:
            out |= self.consumer & ~c.contract_related
        if ch in rules.SOFT_OPT_IN_CHANNELS:
            out |= self.pro & ~c.professional_relevance
        return out

    @functools.cached_property
    def delivered(self) -> np.ndarray:
        at = self.col.art14_delivered_at
        mask: np.ndarray = ~np.isnat(at) & (at <= self.moment)
        return mask

    @functools.cached_property
    def art14_missing(self) -> np.ndarray:
        if self.c.message.carries_art14_notice:
            return self.const(False)
        mask: np.ndarray = ~self.col.collected_from_person & ~self.delivered & ~self.col.art14_exemption
        return mask

    @functools.cached_property
    def expired(self) -> np.ndarray:
        since = self.col.retention_from
        mask: np.ndarray = ~np.isnat(since) & (since < self.retention_threshold)
        return mask

    @functools.cached_property
    def minor(self) -> np.ndarray:
        majority = self.col.majority_on
        mask: np.ndarray = ~np.isnat(majority) & (self.moment_date < majority)
        return mask

    @functools.cached_property
    def opt_out_offered(self) -> np.ndarray:
        mask: np.ndarray = self.col.informed & self.col.objection_offered
        return mask


@dataclass(frozen=True)
class Hit:
    """One kind of finding a vectorised row makes: the recipients it concerns and what the scalar finding
    says to each of them.

    `message` is the scalar finding's message; where the scalar message embeds a recipient's fact, it
    holds "{}" and `fact` names the column whose value fills it. `evidence` names the reference columns
    the scalar finding cites (a missing reference is left out, as the scalar `_one` does), or holds a
    "{}" template filled from `fact`.
    """

    outcome: Outcome
    mask: np.ndarray
    message: str
    evidence: tuple[str, ...] = ()
    fact: str | None = None


Hits = list[Hit]
_B, _R, _A = Outcome.BLOCK, Outcome.NEEDS_REVIEW, Outcome.ALLOW_BASIS


def _uni_04(d: _Derived) -> Hits:
    granted = d.relies & d.granted & ~d.col.consent_proof
    requested = d.relies & (d.col.consent_status == CONSENT_CODES[ConsentStatus.REQUESTED])
    out = [
        Hit(
            _B,
            granted,
            "Controller cannot demonstrate consent: no timestamp, wording or collection point on record.",
            ("consent_ref",),
        ),
        Hit(
            _B,
            requested,
            "Consent was requested and is still pending confirmation (double opt-in): not usable yet.",
            ("consent_ref",),
        ),
    ]
    if d.c.purpose_lawful_basis is LawfulBasis.CONSENT:
        none = d.relies & (d.col.consent_status == CONSENT_CODES[None])
        out.append(
            Hit(_B, none, "The purpose rests on consent and no consent record exists for this channel.")
        )
    return out


def _uni_05(d: _Derived) -> Hits:
    ch = d.c.channel
    hard = ch in rules.ELECTRONIC or (ch is Channel.PHONE_HUMAN and d.ctx.phone_opt_in)
    message = (
        "Consent collected by the primary collector is not shown to be free, specific, informed and "
        "unambiguous; the user of the data is responsible for checking it."
    )
    return [Hit(_B if hard else _R, d.consumer & d.col.third_party_unverified, message, ("broker_ref",))]


def _uni_09(d: _Derived) -> Hits:
    c = d.col
    base = d.relies & d.granted & ~c.consent_joint
    known = ~np.isnat(c.digital_consent_age_on) & ~np.isnat(c.consent_granted_on)
    return [
        Hit(
            _B,
            base & known & (c.consent_granted_on < c.digital_consent_age_on),
            "Under 15 at the time of consent: consent must be given jointly by the minor and a holder of "
            "parental authority (art. 45 loi 78-17).",
            ("consent_ref",),
        )
    ]


def _soft(d: _Derived, mask: Callable[[], np.ndarray], message: str) -> Hits:
    return [] if not d.c.commercial else [Hit(_B, d.consumer & mask(), message)]


def _elec_02(d: _Derived) -> Hits:
    if not d.c.commercial:
        return []
    possible = d.consumer & d.soft_possible
    analogous = d.col.analogy == int(rules.Analogy.ANALOGOUS)
    message = "Existing-customer exception for analogous products of the same company"
    return [
        Hit(_A, possible & analogous, message + "."),
        Hit(_A, possible & ~analogous, message + " (pending the analogy assessment, see ELEC-05)."),
    ]


def _elec_05(d: _Derived) -> Hits:
    if not d.c.commercial:
        return []
    unclear = d.col.analogy == int(rules.Analogy.UNCLEAR)
    return [
        Hit(
            _R,
            d.consumer & ~d.usable & d.soft_possible & unclear,
            '"Analogous products" needs a documented assessment.',
        )
    ]


def _tel_03(d: _Derived) -> Hits:
    allowed = np.array([z is None or rules.slot_ok(d.ctx.moment, z) for z in d.col.timezones], dtype=bool)
    unknown = np.array([z is None for z in d.col.timezones], dtype=bool)
    base = d.consumer & ~d.col.out_of_hours_consent
    return [
        Hit(
            _B,
            base & ~allowed[d.col.timezone],
            "Calls only on weekdays 10-13 h and 14-20 h ({}), excluding public holidays.",
            fact="timezone",
        ),
        Hit(
            _R,
            base & unknown[d.col.timezone],
            "The consumer's time zone is unknown: the calling hours cannot be checked.",
        ),
    ]


def _tel_04(d: _Derived) -> Hits:
    last = d.col.fourth_latest_call_at
    return [
        Hit(
            _B,
            d.consumer & ~np.isnat(last) & (last > d.call_window_start),
            "No more than 4 call attempts per consumer in 30 calendar days.",
        )
    ]


def _tel_05(d: _Derived) -> Hits:
    refusal = d.col.refusal_on
    quiet = refusal + np.timedelta64(rules.REFUSAL_QUIET_DAYS, "D")
    return [
        Hit(
            _B,
            d.consumer & ~np.isnat(refusal) & (d.moment_date <= quiet),
            "No new contact within 60 days of the refusal of {}.",
            fact="refusal_on",
        )
    ]


def _tel_08(d: _Derived) -> Hits:
    if d.c.product_category not in criteria.SECTOR_BAN_CATEGORIES:
        return []
    return [
        Hit(
            _B,
            d.consumer & ~d.col.contract_related,
            "Prospection for home energy renovation, renewables or adaptation to ageing or disability "
            "is banned outside a contract in progress; consent does not lift it.",
        )
    ]


def _tel26_01(d: _Derived) -> Hits:
    related = d.col.contract_related
    return [
        Hit(
            _A,
            d.consumer & related,
            "Call within the performance of a contract in progress and related to it.",
        ),
        Hit(
            _B,
            d.consumer & ~related & ~d.usable,
            "From 11/08/2026 consumer telephone prospection requires prior consent.",
        ),
    ]


def _tel26_03(d: _Derived) -> Hits:
    c = d.col
    return [
        Hit(
            _B,
            d.consumer & c.collected_from_person & c.obtained_in_opt_in_regime & c.phone_info_defect,
            "At collection the consumer was not told that commercial calls need prior consent "
            "(or the contract does not say so).",
        )
    ]


def _post_01(d: _Derived) -> Hits:
    return [
        Hit(_A, d.generic, "Postal prospection of a company at its generic address."),
        Hit(_A, ~d.generic & d.opt_out_offered, "Postal prospection: opt-out regime (legitimate interest)."),
    ]


def _ret(d: _Derived, clock_kind: rules.RetentionClock, message: str) -> Hits:
    expired = (d.col.retention_clock == int(clock_kind)) & d.expired
    return [Hit(_B, expired | (d.col.retention_flagged == int(clock_kind)), message)]


def _ret_08(d: _Derived) -> Hits:
    checked = d.col.bloctel_checked_on
    stale = (d.moment_date - checked) > np.timedelta64(rules.BLOCTEL_FRESHNESS_DAYS, "D")
    return [
        Hit(
            _B,
            d.consumer & ~np.isnat(checked) & stale,
            "Bloctel cleaning of {} is older than 30 days.",
            ("bloctel_check:{}",),
            fact="bloctel_checked_on",
        )
    ]


def _info_02(d: _Derived) -> Hits:
    c = d.col
    return [
        Hit(
            _B,
            ~d.generic
            & ~c.collected_from_person
            & ~c.art14_exemption
            & ~d.delivered
            & (c.obtained_at < d.notice_threshold),
            "Art. 14 notice deadline (one month after obtaining the data) has passed; deliver the notice "
            "before any further use.",
        )
    ]


def _rent_01(d: _Derived) -> Hits:
    if not d.c.study.transfers_to_partners:
        return []
    coverage = d.col.partner_coverage
    uncovered = _R if d.c.channel in rules.POSTAL else _B
    return [
        Hit(
            uncovered,
            ~d.generic & (coverage == int(rules.PartnerCoverage.NONE)),
            rules.RENT_UNCOVERED,
            ("consent_ref",),
        ),
        Hit(
            _R,
            ~d.generic & (coverage == int(rules.PartnerCoverage.CATEGORIES)),
            rules.RENT_CATEGORIES,
            ("consent_ref",),
        ),
    ]


def _one(outcome: Outcome, message: str, *evidence: str) -> Callable[[np.ndarray], Hits]:
    """Returns the hits of a row with one kind of finding, given its mask."""
    return lambda mask: [Hit(outcome, mask, message, evidence)]


def _when(flag: bool, hits: Callable[[], Hits]) -> Hits:
    return hits() if flag else []


_SOFT_4 = "Soft opt-in limited to analogous products of the same seller; partners need their own consent."
_RET_01 = (
    "Prospect data kept 3 years from collection or last contact from the prospect (an e-mail open is not a "
    "contact)."
)
_RET_02 = "Customer data kept 3 years from the end of the commercial relationship."

#: The vectorised twin of each recipient-scope row, keyed by the row's scalar `evaluate` (the test oracle).
VECTORISED: dict[Callable[..., object], Callable[[_Derived], Hits]] = {
    # R. Data-subject rights.
    rules.rights_01: lambda d: _one(_B, rules.RESTRICTED_MESSAGE, "restriction_ref")(d.col.restricted),
    rules.no_channel_address: lambda d: [
        Hit(_B, ~d.col.has_address, f"No {d.c.channel.value} address is on record for this contact.")
    ],
    rules.uni_01: lambda d: _one(
        _B,
        "Person objected to direct marketing; the right is absolute and needs no justification.",
        "objection_ref",
    )(d.col.objection),
    rules.uni_02: lambda d: _one(
        _B, "Contact previously objected; re-imported data must not be used again.", "opposition_ref"
    )(d.col.opposition_hit),
    rules.uni_03: lambda d: _one(_B, "Consent withdrawn for this purpose and channel.", "consent_ref")(
        d.col.consent_status == CONSENT_CODES[ConsentStatus.WITHDRAWN]
    ),
    rules.uni_04: _uni_04,
    rules.uni_05: _uni_05,
    rules.uni_06: lambda d: _one(
        _B,
        "Art. 14 information is due at the latest at the first communication; send the notice with this "
        "message or before it.",
    )(~d.generic & d.art14_missing),
    rules.uni_07: lambda d: _when(
        not d.c.message.right_to_object_statement,
        lambda: _one(
            _B, "The right to object must be stated clearly and separately in the first communication."
        )(d.col.first_contact),
    ),
    rules.uni_08: lambda d: [
        Hit(
            _B,
            d.expired,
            "Data kept beyond the CNIL reference period for prospection (clock started {}).",
            fact="retention_from",
        )
    ],
    rules.uni_09: _uni_09,
    rules.uni_10: lambda d: _when(
        d.c.uses_profiling,
        lambda: _one(_R, "Minor reached by a profiling campaign: children merit specific protection.")(
            d.minor
        ),
    ),
    rules.uni_11: lambda d: _when(
        d.ctx.art9_targeting,
        lambda: _one(
            _B,
            "Targeting uses special-category data (stated or inferred) and no explicit consent is held.",
            "consent_ref",
        )(~d.generic & ~(d.granted & d.col.consent_explicit)),
    ),
    rules.elec_01: lambda d: _one(_A, "Prior consent recorded.", "consent_ref")(~d.generic & d.usable),
    rules.elec_02: _elec_02,
    rules.elec_03: lambda d: _soft(
        d,
        lambda: (d.col.relationship == RELATIONSHIP_CODES[Relationship.ACCOUNT_ONLY]) & ~d.usable,
        "Creating an account is not a sale; the customer exception cannot be used.",
    ),
    rules.elec_04: lambda d: _soft(
        d,
        lambda: (
            d.customer
            & ~d.usable
            & ((d.col.analogy == int(rules.Analogy.NOT_ANALOGOUS)) | ~d.col.sender_is_seller)
        ),
        _SOFT_4,
    ),
    rules.elec_05: _elec_05,
    rules.elec_06: lambda d: _soft(
        d, lambda: ~d.usable & ~d.soft_possible, "B2C electronic prospection requires prior consent."
    ),
    rules.elec_07: lambda d: _one(
        _A, "B2B prospection on a professional address about the person's profession."
    )(d.pro & d.opt_out_offered & d.col.professional_relevance),
    rules.elec_08: lambda d: _one(_B, "B2B exception only covers messages related to the profession.")(
        d.pro & ~d.col.professional_relevance & ~d.usable
    ),
    rules.elec_09: lambda d: _one(_A, "Generic company address is not a natural person's contact.")(
        d.generic
    ),
    rules.elec_10: lambda d: _one(_B, "Automated calls and fax need prior consent.")(d.consumer & ~d.usable),
    rules.elec_11: lambda d: _one(_A, "For professionals, information and the right to object suffice.")(
        d.pro & d.opt_out_offered
    ),
    rules.elec_12: lambda d: _when(
        not d.c.commercial,
        lambda: _one(_A, "Non-commercial prospection relies on legitimate interest with opt-out.")(
            d.opt_out_offered
        ),
    ),
    rules.tel_01: lambda d: _one(_B, "Consumer registered on the telephone opposition list.", "bloctel_ref")(
        d.consumer & d.col.bloctel_hit & ~d.col.contract_related
    ),
    rules.tel_02: lambda d: _one(_B, "The calling file was never cleaned against Bloctel.")(
        d.consumer & np.isnat(d.col.bloctel_checked_on)
    ),
    rules.tel_03: _tel_03,
    rules.tel_04: _tel_04,
    rules.tel_05: _tel_05,
    rules.tel_08: _tel_08,
    rules.tel_09: lambda d: _when(
        not d.c.call_script.art14_information,
        lambda: _one(
            _B,
            "Third-party data: the call must give the Art. 14 information, not only recording and Bloctel.",
        )(~d.col.collected_from_person),
    ),
    rules.tel_10: lambda d: _one(
        _A, "Opt-out regime (legitimate interest) for human calls until 10/08/2026."
    )(d.consumer & d.opt_out_offered),
    rules.tel_11: lambda d: _one(
        _A, "Not a consumer: the consumer telephone rules do not apply; GDPR objection does."
    )(~d.consumer),
    rules.tel26_01: _tel26_01,
    rules.tel26_02: lambda d: _one(_A, "Consent to telephone prospection recorded.", "consent_ref")(
        d.consumer & d.usable
    ),
    rules.tel26_03: _tel26_03,
    rules.post_01: _post_01,
    rules.post_02: lambda d: _one(
        _B, "Indirect collection: information at the latest with the first mailing."
    )(~d.generic & d.art14_missing),
    rules.post_03: lambda d: _one(
        _R, "Registered on the Robinson list (recommended: do not send).", "robinson_ref"
    )(d.consumer & d.col.robinson_hit),
    rules.post_04: lambda d: [
        Hit(_B, d.col.stop_pub, "Mailbox bears a refusal of unaddressed advertising (Stop Pub)."),
        Hit(_A, ~d.col.stop_pub, "No refusal of unaddressed advertising recorded for this mailbox."),
    ],
    rules.ret_01: lambda d: _ret(d, rules.RetentionClock.PROSPECT, _RET_01),
    rules.ret_02: lambda d: _ret(d, rules.RetentionClock.CUSTOMER, _RET_02),
    rules.ret_08: _ret_08,
    rules.info_01: lambda d: _one(
        _B, "No Art. 13 notice recorded at collection; the record may not be used."
    )(~d.generic & d.col.collected_from_person & ~d.col.art13_given),
    rules.info_02: _info_02,
    rules.info_03: lambda d: _one(
        _R, "Art. 14(5)(b) disproportionate-effort exemption claimed: rarely accepted."
    )(~d.generic & ~d.col.collected_from_person & d.col.art14_exemption & ~d.delivered),
    rules.info_04: lambda d: _one(
        _B,
        "Person not told before consenting that consent can be withdrawn; consent not usable.",
        "consent_ref",
    )(d.relies & d.granted & ~d.col.consent_withdrawal_info),
    # Issue 19: file rental or transfer to partners, per-recipient e-mail tracking.
    rules.rent_01: _rent_01,
    rules.track_01: lambda d: _when(
        d.c.study.per_recipient_tracking,
        lambda: _one(_B, rules.TRACK_UNCONSENTED, "consent_ref")(~d.generic & ~d.col.tracking_consent),
    ),
}


#: The columns a `Hit`'s evidence may name: the scalar view's references.
REF_COLUMNS = _REFS


def _row_hits(evaluation: decision.CampaignEvaluation, d: _Derived) -> Iterator[tuple[str, Hit]]:
    """Yields (rule id, hit) per finding kind, in table order (a campaign block concerns everyone)."""
    for i, row in enumerate(evaluation.rows):
        if row.scope is Scope.CAMPAIGN:
            for finding in evaluation.campaign_blocks[i]:
                yield finding.rule_id, Hit(Outcome.BLOCK, d.const(True), finding.message, finding.evidence)
            continue
        for hit in VECTORISED[row.evaluate](d):
            yield row.id, hit


def _signature_bits(codes: np.ndarray, cited: list[np.ndarray]) -> np.ndarray:
    """Packs each recipient's decision code and cited finding kinds into uint64 words (one row each)."""
    bits = [(codes & 1).astype(bool), (codes >> 1 & 1).astype(bool), *cited]
    words = -(-len(bits) // 64)
    out = np.zeros((len(codes), words), dtype=np.uint64)
    for k, mask in enumerate(bits):
        out[:, k // 64] |= mask.astype(np.uint64) << np.uint64(k % 64)
    return out


@dataclass(frozen=True)
class BulkDecisions:
    """Decisions for N recipients: a decision code and a primary rule code per recipient.

    `DECISIONS[decision[i]]` and `RULE_CODES[primary_rule[i]]` decode them; `receipts()` expands the
    receipts (reasons with their messages, evidence) from the masks, as `decide_recipient` gives them.
    """

    contact_ids: np.ndarray
    decision: np.ndarray
    primary_rule: np.ndarray
    ruleset_version: str
    columns: RecipientColumns
    #: Per finding kind, in table order: (rule id, hit); empty under a gate override.
    hits: tuple[tuple[str, Hit], ...] = ()
    #: The (rule, message) that blocks everyone before any rule runs (stale gate, unapproved campaign).
    override: tuple[str, str] | None = None
    #: The recipients blocked under GATE_STALE alone (unapplied records about them), if any.
    stale_rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.contact_ids)

    def primary_rule_of(self, i: int) -> str:
        """Returns the first rule cited for the i-th recipient."""
        return RULE_CODES[int(self.primary_rule[i])]

    def rule_ids_of(self, i: int) -> tuple[str, ...]:
        """Returns every rule cited for the i-th recipient, in the order `decide_recipient` cites them."""
        return tuple(r["rule"] for r in self.receipts(slice(i, i + 1))[0]["reasons"])

    def summary(self) -> dict[str, int]:
        """Returns how many recipients got each decision."""
        counts = np.bincount(self.decision, minlength=len(DECISIONS))
        return {d.value: int(n) for d, n in zip(DECISIONS, counts, strict=True)}

    def receipts(self, index: slice | np.ndarray | None = None) -> list[dict[str, Any]]:
        """Returns the receipts of the recipients at `index` (all by default), in that order, each as
        `decide_recipient` words it: {contact_id, decision, reasons: [{rule, message}], evidence}.

        Recipients that share a decision and the finding kinds it cites share their reasons (and their
        evidence, when no cited kind carries a per-recipient fact or reference): only the contact id,
        and the templated messages and references, are per recipient.
        """
        with gc_paused():
            rows = np.arange(len(self))[slice(None) if index is None else index]
            stale = None if self.stale_rows is None else self.stale_rows[rows]
            if stale is None or not stale.any():
                return self._receipts(rows)
            out: list[dict[str, Any]] = [{}] * len(rows)
            ids: list[str] = self.contact_ids[rows].tolist()
            reasons = [{"rule": decision.GATE_STALE, "message": decision.RECIPIENT_STALE_MESSAGE}]
            for j in np.flatnonzero(stale).tolist():
                out[j] = {
                    "contact_id": ids[j],
                    "decision": Decision.BLOCK.value,
                    "reasons": reasons,
                    "evidence": [],
                }
            fresh = np.flatnonzero(~stale)
            for j, receipt in zip(fresh.tolist(), self._receipts(rows[fresh]), strict=True):
                out[j] = receipt
            return out

    def _receipts(self, rows: np.ndarray) -> list[dict[str, Any]]:
        ids: list[str] = self.contact_ids[rows].tolist()
        out: list[dict[str, Any]] = [{}] * len(ids)
        if self.override is not None:
            reasons = [{"rule": self.override[0], "message": self.override[1]}]
            for j, cid in enumerate(ids):
                out[j] = {
                    "contact_id": cid,
                    "decision": Decision.BLOCK.value,
                    "reasons": reasons,
                    "evidence": [],
                }
            return out
        codes = self.decision[rows]
        blocked = codes == BLOCK
        # Because a receipt cites only the findings of its decision's outcome (SPEC §5): the blocks when
        # blocked, else the reviews then the bases (and NO_LAWFUL_BASIS alone when no basis).
        cited = [h.mask[rows] & (blocked if h.outcome is _B else ~blocked) for _, h in self.hits]
        signature = _signature_bits(codes, cited)
        if signature.shape[1] == 1:
            groups, inverse = np.unique(signature[:, 0], return_inverse=True)
            keys = [[int(g)] for g in groups]
        else:
            unique_rows, inverse = np.unique(signature, axis=0, return_inverse=True)
            keys = [[int(w) for w in row] for row in unique_rows]
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse, minlength=len(keys)))))
        for g, key in enumerate(keys):
            members = order[bounds[g] : bounds[g + 1]]
            present = [k for k in range(len(self.hits)) if key[(k + 2) // 64] >> ((k + 2) % 64) & 1]
            code = key[0] & 3
            outcomes = [self.hits[k][1].outcome for k in present]
            if code == BLOCK:
                kinds = [k for k, o in zip(present, outcomes, strict=True) if o is _B]
            else:
                kinds = [k for k, o in zip(present, outcomes, strict=True) if o is _R]
                kinds += [k for k, o in zip(present, outcomes, strict=True) if o is _A]
            self._fill(out, ids, members, rows[members], kinds, DECISIONS[code].value)
        return out

    def _fill(
        self,
        out: list[dict[str, Any]],
        ids: list[str],
        members: np.ndarray,
        rows: np.ndarray,
        kinds: list[int],
        decision_value: str,
    ) -> None:
        """Writes the receipts of a group of recipients that share their decision and cited kinds."""
        local: list[int] = members.tolist()
        if not kinds:
            reasons = [{"rule": decision.NO_LAWFUL_BASIS, "message": decision.NO_LAWFUL_BASIS_MESSAGE}]
            for j in local:
                out[j] = {
                    "contact_id": ids[j],
                    "decision": decision_value,
                    "reasons": reasons,
                    "evidence": [],
                }
            return
        cited = [self.hits[k] for k in kinds]
        facts = {h.fact: self._fact_strings(h.fact, rows) for _, h in cited if h.fact is not None}
        fixed_reasons = [
            None if h.fact is not None else {"rule": rule_id, "message": h.message} for rule_id, h in cited
        ]
        # One list per evidence item: a reference column, a template filled from a fact, or a literal.
        evidence: list[list[str | None] | str] = []
        for _, h in cited:
            for e in h.evidence:
                if e in REF_COLUMNS:
                    evidence.append(getattr(self.columns, e)[rows].tolist())
                elif h.fact is not None and "{}" in e:
                    evidence.append([e.format(v) for v in facts[h.fact]])
                elif e:
                    evidence.append(e)
        if not facts and all(isinstance(e, str) for e in evidence):
            reasons = [r for r in fixed_reasons if r is not None]
            shared = list(dict.fromkeys(e for e in evidence if isinstance(e, str)))
            for j in local:
                out[j] = {
                    "contact_id": ids[j],
                    "decision": decision_value,
                    "reasons": reasons,
                    "evidence": shared,
                }
            return
        templated = [facts[h.fact] if h.fact is not None else None for _, h in cited]
        for n, j in enumerate(local):
            reasons = [
                r if r is not None else {"rule": rule_id, "message": h.message.format(f[n] if f else "")}
                for r, f, (rule_id, h) in zip(fixed_reasons, templated, cited, strict=True)
            ]
            values = [e if isinstance(e, str) else e[n] for e in evidence]
            out[j] = {
                "contact_id": ids[j],
                "decision": decision_value,
                "reasons": reasons,
                "evidence": list(dict.fromkeys(v for v in values if v)),
            }

    def _fact_strings(self, name: str, rows: np.ndarray) -> list[str]:
        """Returns a fact of the recipients at `rows` as the scalar messages write it."""
        values = getattr(self.columns, name)[rows]
        if name == "timezone":
            return [str(self.columns.timezones[z]) for z in values.tolist()]
        # Instants are written by their UTC day, days in ISO form.
        return list(np.datetime_as_string(values.astype("datetime64[D]")))


def decide_bulk(
    campaign: CampaignFacts,
    columns: RecipientColumns,
    *,
    at: datetime,
    stale: bool = False,
    stale_ids: frozenset[str] = frozenset(),
) -> BulkDecisions:
    """Returns the gate's decisions for every recipient in the columns, as `decide_recipients` would
    (the recipients in `stale_ids` blocked under GATE_STALE)."""
    n = len(columns)
    override = decision.gate_override(campaign, stale=stale)
    if override is not None:
        return BulkDecisions(
            contact_ids=columns.contact_id,
            decision=np.full(n, BLOCK, dtype=np.int8),
            primary_rule=np.full(n, _CODE_OF[override[0]], dtype=np.int16),
            ruleset_version=rules.RULESET_VERSION,
            columns=columns,
            override=override,
        )
    evaluation = decision.evaluate_campaign(campaign, at=at)
    hits = tuple(_row_hits(evaluation, _Derived(evaluation.context, columns)))
    blocked = np.zeros(n, dtype=bool)
    reviewed = np.zeros(n, dtype=bool)
    based = np.zeros(n, dtype=bool)
    first = {o: np.full(n, -1, dtype=np.int16) for o in (_B, _R, _A)}
    seen = {_B: blocked, _R: reviewed, _A: based}
    for rule_id, hit in hits:
        already = seen[hit.outcome]
        # Because only the first rule of each outcome becomes the primary reason, as in `combine`.
        first[hit.outcome][hit.mask & ~already] = _CODE_OF[rule_id]
        already |= hit.mask
    codes = np.where(blocked, BLOCK, np.where(~based, BLOCK, np.where(reviewed, REVIEW, ALLOW))).astype(
        np.int8
    )
    primary = np.where(
        blocked,
        first[_B],
        np.where(~based, _CODE_OF[decision.NO_LAWFUL_BASIS], np.where(reviewed, first[_R], first[_A])),
    ).astype(np.int16)
    stale_rows = None
    if stale_ids:
        stale_rows = np.isin(columns.contact_id, np.array(sorted(stale_ids), dtype=object))
        codes[stale_rows] = BLOCK
        primary[stale_rows] = _CODE_OF[decision.GATE_STALE]
    return BulkDecisions(
        contact_ids=columns.contact_id,
        decision=codes,
        primary_rule=primary,
        ruleset_version=rules.RULESET_VERSION,
        columns=columns,
        hits=hits,
        stale_rows=stale_rows,
    )


def decide_receipts(
    campaign: CampaignFacts, recipients: Sequence[RecipientFacts], *, at: datetime, stale: bool = False
) -> BulkDecisions:
    """Returns the columnar decisions of recipients' facts for a campaign checked at `at` (the served
    check path): resolved, turned into columns, decided by `decide_bulk`."""
    return decide_bulk(campaign, RecipientColumns.from_facts(campaign, recipients), at=at, stale=stale)

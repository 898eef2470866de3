"""Columnar evaluation of the gate: the same decisions as `decide_recipient`, with numpy masks.

Each recipient-scope row of the rule table has a vectorised twin here (`VECTORISED`, keyed by the
row's scalar `evaluate`); campaign rows are evaluated once and broadcast. A randomized test keeps
both paths equal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import numpy as np

from campaign_gate.domain import clock, criteria, decision, rules
from campaign_gate.domain.decision import CampaignEvaluation
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
    timezones: tuple[str | None, ...] = ("Europe/Paris",)

    def __len__(self) -> int:
        return len(self.contact_id)

    @classmethod
    def from_views(cls, views: Sequence[RecipientView]) -> RecipientColumns:
        """Returns the columns of resolved recipients."""
        zones = tuple(dict.fromkeys(v.timezone for v in views)) or ("Europe/Paris",)
        zone_code = {z: i for i, z in enumerate(zones)}
        # Any: each converter takes the type of its own field of `RecipientView`.
        codecs: dict[str, tuple[Callable[[Any], object], str]] = {
            "contact_id": (lambda x: x, "object"),
            "kind": (KIND_CODES.__getitem__, "int8"),
            "relationship": (RELATIONSHIP_CODES.__getitem__, "int8"),
            "consent_status": (CONSENT_CODES.__getitem__, "int8"),
            "retention_clock": (int, "int8"),
            "retention_flagged": (int, "int8"),
            "analogy": (int, "int8"),
            "timezone": (zone_code.__getitem__, "int16"),
        }
        for name in ("art14_delivered_at", "obtained_at", "retention_from", "fourth_latest_call_at"):
            codecs[name] = (_to_us, _US)
        for name in (
            "consent_granted_on",
            "majority_on",
            "digital_consent_age_on",
            "bloctel_checked_on",
            "refusal_on",
        ):
            codecs[name] = (_to_day, _DAY)
        arrays: dict[str, np.ndarray] = {}
        for f in fields(cls):
            if f.name == "timezones":
                continue
            convert, dtype = codecs.get(f.name, (bool, "bool"))
            arrays[f.name] = np.array([convert(getattr(v, f.name)) for v in views], dtype=dtype)
        return cls(timezones=zones, **arrays)

    @classmethod
    def from_facts(cls, campaign: CampaignFacts, recipients: Iterable[RecipientFacts]) -> RecipientColumns:
        """Returns the columns of recipients resolved for a campaign."""
        return cls.from_views([rules.resolve(campaign, r) for r in recipients])

    def take(self, index: np.ndarray | slice) -> RecipientColumns:
        """Returns the columns of a subset of recipients."""
        values = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "timezones"}
        return RecipientColumns(timezones=self.timezones, **values)


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


Masks = list[tuple[Outcome, np.ndarray]]
_B, _R, _A = Outcome.BLOCK, Outcome.NEEDS_REVIEW, Outcome.ALLOW_BASIS


def _uni_04(d: _Derived) -> Masks:
    base = d.relies & d.granted & ~d.col.consent_proof
    base |= d.relies & (d.col.consent_status == CONSENT_CODES[ConsentStatus.REQUESTED])
    if d.c.purpose_lawful_basis is LawfulBasis.CONSENT:
        base |= d.relies & (d.col.consent_status == CONSENT_CODES[None])
    return [(_B, base)]


def _uni_05(d: _Derived) -> Masks:
    ch = d.c.channel
    hard = ch in rules.ELECTRONIC or (ch is Channel.PHONE_HUMAN and d.ctx.phone_opt_in)
    return [(_B if hard else _R, d.consumer & d.col.third_party_unverified)]


def _uni_09(d: _Derived) -> Masks:
    c = d.col
    base = d.relies & d.granted & ~c.consent_joint
    known = ~np.isnat(c.digital_consent_age_on) & ~np.isnat(c.consent_granted_on)
    return [(_B, base & known & (c.consent_granted_on < c.digital_consent_age_on))]


def _soft(d: _Derived, mask: Callable[[], np.ndarray]) -> Masks:
    return [] if not d.c.commercial else [(_B, d.consumer & mask())]


def _tel_03(d: _Derived) -> Masks:
    allowed = np.array([z is None or rules.slot_ok(d.ctx.moment, z) for z in d.col.timezones], dtype=bool)
    unknown = np.array([z is None for z in d.col.timezones], dtype=bool)
    base = d.consumer & ~d.col.out_of_hours_consent
    return [(_B, base & ~allowed[d.col.timezone]), (_R, base & unknown[d.col.timezone])]


def _tel_05(d: _Derived) -> Masks:
    refusal = d.col.refusal_on
    quiet = refusal + np.timedelta64(rules.REFUSAL_QUIET_DAYS, "D")
    return [(_B, d.consumer & ~np.isnat(refusal) & (d.moment_date <= quiet))]


def _tel26_01(d: _Derived) -> Masks:
    related = d.col.contract_related
    return [(_A, d.consumer & related), (_B, d.consumer & ~related & ~d.usable)]


def _ret(d: _Derived, clock_kind: rules.RetentionClock) -> Masks:
    expired = (d.col.retention_clock == int(clock_kind)) & d.expired
    return [(_B, expired | (d.col.retention_flagged == int(clock_kind)))]


def _ret_08(d: _Derived) -> Masks:
    checked = d.col.bloctel_checked_on
    stale = (d.moment_date - checked) > np.timedelta64(rules.BLOCTEL_FRESHNESS_DAYS, "D")
    return [(_B, d.consumer & ~np.isnat(checked) & stale)]


VECTORISED: dict[Callable[..., object], Callable[[_Derived], Masks]] = {
    rules.no_channel_address: lambda d: [(_B, ~d.col.has_address)],
    rules.uni_01: lambda d: [(_B, d.col.objection)],
    rules.uni_02: lambda d: [(_B, d.col.opposition_hit)],
    rules.uni_03: lambda d: [(_B, d.col.consent_status == CONSENT_CODES[ConsentStatus.WITHDRAWN])],
    rules.uni_04: _uni_04,
    rules.uni_05: _uni_05,
    rules.uni_06: lambda d: [(_B, ~d.generic & d.art14_missing)],
    rules.uni_07: lambda d: [] if d.c.message.right_to_object_statement else [(_B, d.col.first_contact)],
    rules.uni_08: lambda d: [(_B, d.expired)],
    rules.uni_09: _uni_09,
    rules.uni_10: lambda d: [(_R, d.minor)] if d.c.uses_profiling else [],
    rules.uni_11: lambda d: (
        [(_B, ~d.generic & ~(d.granted & d.col.consent_explicit))] if d.ctx.art9_targeting else []
    ),
    rules.elec_01: lambda d: [(_A, ~d.generic & d.usable)],
    rules.elec_02: lambda d: [(_A, d.consumer & d.soft_possible)] if d.c.commercial else [],
    rules.elec_03: lambda d: _soft(
        d, lambda: (d.col.relationship == RELATIONSHIP_CODES[Relationship.ACCOUNT_ONLY]) & ~d.usable
    ),
    rules.elec_04: lambda d: _soft(
        d,
        lambda: (
            d.customer
            & ~d.usable
            & ((d.col.analogy == int(rules.Analogy.NOT_ANALOGOUS)) | ~d.col.sender_is_seller)
        ),
    ),
    rules.elec_05: lambda d: (
        []
        if not d.c.commercial
        else [(_R, d.consumer & ~d.usable & d.soft_possible & (d.col.analogy == int(rules.Analogy.UNCLEAR)))]
    ),
    rules.elec_06: lambda d: _soft(d, lambda: ~d.usable & ~d.soft_possible),
    rules.elec_07: lambda d: [(_A, d.pro & d.opt_out_offered & d.col.professional_relevance)],
    rules.elec_08: lambda d: [(_B, d.pro & ~d.col.professional_relevance & ~d.usable)],
    rules.elec_09: lambda d: [(_A, d.generic)],
    rules.elec_10: lambda d: [(_B, d.consumer & ~d.usable)],
    rules.elec_11: lambda d: [(_A, d.pro & d.opt_out_offered)],
    rules.elec_12: lambda d: [] if d.c.commercial else [(_A, d.opt_out_offered)],
    rules.tel_01: lambda d: [(_B, d.consumer & d.col.bloctel_hit & ~d.col.contract_related)],
    rules.tel_02: lambda d: [(_B, d.consumer & np.isnat(d.col.bloctel_checked_on))],
    rules.tel_03: _tel_03,
    rules.tel_04: lambda d: [
        (
            _B,
            d.consumer
            & ~np.isnat(d.col.fourth_latest_call_at)
            & (d.col.fourth_latest_call_at > d.call_window_start),
        )
    ],
    rules.tel_05: _tel_05,
    rules.tel_08: lambda d: (
        [(_B, d.consumer & ~d.col.contract_related)]
        if d.c.product_category in criteria.SECTOR_BAN_CATEGORIES
        else []
    ),
    rules.tel_09: lambda d: [] if d.c.call_script.art14_information else [(_B, ~d.col.collected_from_person)],
    rules.tel_10: lambda d: [(_A, d.consumer & d.opt_out_offered)],
    rules.tel_11: lambda d: [(_A, ~d.consumer)],
    rules.tel26_01: _tel26_01,
    rules.tel26_02: lambda d: [(_A, d.consumer & d.usable)],
    rules.tel26_03: lambda d: [
        (
            _B,
            d.consumer
            & d.col.collected_from_person
            & d.col.obtained_in_opt_in_regime
            & d.col.phone_info_defect,
        )
    ],
    rules.post_01: lambda d: [(_A, d.generic | d.opt_out_offered)],
    rules.post_02: lambda d: [(_B, ~d.generic & d.art14_missing)],
    rules.post_03: lambda d: [(_R, d.consumer & d.col.robinson_hit)],
    rules.post_04: lambda d: [(_B, d.col.stop_pub), (_A, ~d.col.stop_pub)],
    rules.ret_01: lambda d: _ret(d, rules.RetentionClock.PROSPECT),
    rules.ret_02: lambda d: _ret(d, rules.RetentionClock.CUSTOMER),
    rules.ret_08: _ret_08,
    rules.info_01: lambda d: [(_B, ~d.generic & d.col.collected_from_person & ~d.col.art13_given)],
    rules.info_02: lambda d: [
        (
            _B,
            ~d.generic
            & ~d.col.collected_from_person
            & ~d.col.art14_exemption
            & ~d.delivered
            & (d.col.obtained_at < d.notice_threshold),
        )
    ],
    rules.info_03: lambda d: [
        (_R, ~d.generic & ~d.col.collected_from_person & d.col.art14_exemption & ~d.delivered)
    ],
    rules.info_04: lambda d: [(_B, d.relies & d.granted & ~d.col.consent_withdrawal_info)],
}


def _row_masks(
    evaluation: decision.CampaignEvaluation, columns: RecipientColumns
) -> Iterator[tuple[str, Outcome, np.ndarray]]:
    """Yields (rule id, outcome, mask) per finding kind, in table order."""
    d = _Derived(evaluation.context, columns)
    for i, row in enumerate(evaluation.rows):
        if row.scope is Scope.CAMPAIGN:
            for finding in evaluation.campaign_blocks[i]:
                yield finding.rule_id, Outcome.BLOCK, d.const(True)
            continue
        for outcome, mask in VECTORISED[row.evaluate](d):
            yield row.id, outcome, mask


@dataclass(frozen=True)
class BulkDecisions:
    """Decisions for N recipients: a decision code and a primary rule code per recipient.

    `DECISIONS[decision[i]]` and `RULE_CODES[primary_rule[i]]` decode them; `rule_ids_of(i)`
    expands every rule cited for one recipient on demand.
    """

    contact_ids: np.ndarray
    decision: np.ndarray
    primary_rule: np.ndarray
    ruleset_version: str
    _evaluation: CampaignEvaluation | None
    _columns: RecipientColumns

    def primary_rule_of(self, i: int) -> str:
        """Returns the first rule cited for the i-th recipient."""
        return RULE_CODES[int(self.primary_rule[i])]

    def rule_ids_of(self, i: int) -> tuple[str, ...]:
        """Returns every rule cited for the i-th recipient, in the order `decide_recipient` cites them."""
        if self._evaluation is None:
            return (self.primary_rule_of(i),)
        hits: dict[Outcome, list[str]] = {_B: [], _R: [], _A: []}
        for rule_id, outcome, mask in _row_masks(self._evaluation, self._columns.take(slice(i, i + 1))):
            if mask[0]:
                hits[outcome].append(rule_id)
        if hits[_B]:
            return tuple(hits[_B])
        if not hits[_A]:
            return (decision.NO_LAWFUL_BASIS,)
        return tuple(hits[_R] + hits[_A])

    def summary(self) -> dict[str, int]:
        """Returns how many recipients got each decision."""
        counts = np.bincount(self.decision, minlength=len(DECISIONS))
        return {d.value: int(n) for d, n in zip(DECISIONS, counts, strict=True)}


def decide_bulk(
    campaign: CampaignFacts, columns: RecipientColumns, *, at: datetime, stale: bool = False
) -> BulkDecisions:
    """Returns the gate's decisions for every recipient in the columns, as `decide_recipient` would."""
    n = len(columns)
    override = decision.gate_override(campaign, stale=stale)
    if override is not None:
        return BulkDecisions(
            contact_ids=columns.contact_id,
            decision=np.full(n, BLOCK, dtype=np.int8),
            primary_rule=np.full(n, _CODE_OF[override[0]], dtype=np.int16),
            ruleset_version=rules.RULESET_VERSION,
            _evaluation=None,
            _columns=columns,
        )
    evaluation = decision.evaluate_campaign(campaign, at=at)
    blocked = np.zeros(n, dtype=bool)
    reviewed = np.zeros(n, dtype=bool)
    based = np.zeros(n, dtype=bool)
    first = {o: np.full(n, -1, dtype=np.int16) for o in (_B, _R, _A)}
    seen = {_B: blocked, _R: reviewed, _A: based}
    for rule_id, outcome, mask in _row_masks(evaluation, columns):
        already = seen[outcome]
        # Because only the first rule of each outcome becomes the primary reason, as in `combine`.
        first[outcome][mask & ~already] = _CODE_OF[rule_id]
        already |= mask
    codes = np.where(blocked, BLOCK, np.where(~based, BLOCK, np.where(reviewed, REVIEW, ALLOW))).astype(
        np.int8
    )
    primary = np.where(
        blocked,
        first[_B],
        np.where(~based, _CODE_OF[decision.NO_LAWFUL_BASIS], np.where(reviewed, first[_R], first[_A])),
    ).astype(np.int16)
    return BulkDecisions(
        contact_ids=columns.contact_id,
        decision=codes,
        primary_rule=primary,
        ruleset_version=rules.RULESET_VERSION,
        _evaluation=evaluation,
        _columns=columns,
    )

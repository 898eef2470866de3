"""A columnar read of the projection for checks (PostgreSQL): recipients' facts resolved for a campaign,
straight from the query rows into `bulk.RecipientColumns`.

It reads what `ProjectionRepository.recipients` reads (contacts, the campaign's consents, objections by
contact and by blind index, notices for the purpose, suppression hits, earlier allowed receipts, data
brokers) with one query per table over an id array, on the session's asyncpg connection, and resolves
the facts as `rules.resolve` does, one column at a time, without building `RecipientFacts`,
`RecipientView` or per-recipient row objects: numpy over the columns every contact has, a loop only over
the contacts that have a sparse fact (a non-empty JSON list, a consent, an objection, a list hit, a
notice, a broker). The equivalence with that path (facts, then `resolve`) is checked on PostgreSQL by
`tests/integration/test_columns_read.py`; any other database takes that path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters.projection import (
    CHANNEL_BITS,
    ProjectionRepository,
    _cleaned_on,
    objection_applies,
    parse_time,
    unknown_recipient,
)
from campaign_gate.domain import bulk, clock, rules
from campaign_gate.domain.facts import (
    BrokerVerification,
    CampaignFacts,
    Channel,
    ConsentStatus,
    ContactKind,
    Relationship,
    SuppressionKind,
)
from campaign_gate.domain.rules import Analogy, RetentionClock

if TYPE_CHECKING:
    from campaign_gate.adapters.contact_view import ContactColumnsView

_NAMES = bulk.COLUMN_NAMES
_PROSPECTS = (Relationship.PROSPECT.value, Relationship.ACCOUNT_ONLY.value)
#: The first instant of the telephone opt-in regime's first day in Paris (`paris_date(t) >= day` as an
#: instant comparison).
_OPT_IN_START = datetime.combine(rules.PHONE_OPT_IN_FROM, datetime.min.time(), tzinfo=clock.PARIS)


def _json(text: str | None) -> Any:
    # Because most contacts' lists are empty: no parse for those.
    if text is None or text == "[]":
        return None
    return orjson.loads(text)


def _day(value: datetime) -> date:
    return value.astimezone(UTC).date()


async def read_columns(
    projection: ProjectionRepository,
    contact_ids: Sequence[str],
    *,
    campaign: CampaignFacts,
    today: date,
    view: ContactColumnsView | None = None,
) -> bulk.RecipientColumns:
    """Returns the columns of `contact_ids` (in that order, each once) for a campaign; a contact the
    projection never saw gets the facts of `unknown_recipient`. With a `view`, the contacts' own columns
    come from it (refreshed first), not from a `gate_contacts` query."""
    session: AsyncSession = projection.session
    ch = campaign.channel
    bloctel = await projection.bloctel_imports() if ch is Channel.PHONE_HUMAN else []
    purpose = await projection.purpose(campaign.purpose_id)
    exemption = bool(purpose and purpose.get("art14_exemption_claimed"))
    raw = await (await session.connection()).get_raw_connection()
    conn: Any = raw.driver_connection
    ids = list(dict.fromkeys(contact_ids))

    if view is not None:
        # The view first catches up with every contacts row committed since its last read (the check
        # already waited for the projection): a batch never decides on contacts older than the database.
        await view.refresh()
        col = view.take(ids)
    else:
        col = contact_arrays(await conn.fetch(CONTACTS_SELECT + " WHERE contact_id = ANY($1::text[])", ids))
    # Only the contacts whose blind indexes an objection or a suppression list holds (few): no loop over
    # the others' indexes.
    indexes: dict[str, list[str]] = defaultdict(list)
    batch_indexes = {i for name in ("email_index", "phone_index") for i in col[name].tolist() if i}
    if batch_indexes:
        held = {
            r[0]
            for r in await conn.fetch(
                "SELECT x FROM unnest($1::text[]) AS x WHERE "
                "EXISTS (SELECT 1 FROM gate_objection_indexes i WHERE i.blind_index = x) "
                "OR EXISTS (SELECT 1 FROM suppression_entries e WHERE e.blind_index = x)",
                sorted(batch_indexes),
            )
        }
        if held:
            for name in ("email_index", "phone_index"):
                for cid, index in zip(col["contact_id"].tolist(), col[name].tolist(), strict=True):
                    if index in held:
                        indexes[cid].append(index)
    all_indexes = sorted({i for values in indexes.values() for i in values})

    # Because `resolve` keeps the consent granted last (a request counts from its request time); a
    # withdrawal time makes a consent withdrawn whatever its stored status.
    if view is not None:
        consents: Sequence[Any] = view.consents_for(ids, purpose_id=campaign.purpose_id, channel=ch.value)
    else:
        consents = await conn.fetch(
            "SELECT DISTINCT ON (contact_id) "
            + CONSENT_COLUMNS
            + " FROM gate_consents WHERE contact_id = ANY($1::text[]) AND purpose_id = $2 AND channel = $3 "
            "ORDER BY contact_id, COALESCE(granted_at, requested_at, 'epoch'::timestamptz) DESC, "
            'consent_id COLLATE "C"',
            ids,
            campaign.purpose_id,
            ch.value,
        )

    # (objection id, at, applies to the channel and purpose, matched by another record's hash), as
    # `_chunk` lists them.
    def applies_here(r: Any) -> bool:
        return objection_applies(
            r["scope"], r["channel"], r["purpose_id"], to_channel=ch, to_purpose=campaign.purpose_id
        )

    objections: dict[str, list[tuple[str, datetime, bool, bool]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT objection_id, contact_id, scope, channel, purpose_id, at FROM gate_objections "
        "WHERE contact_id = ANY($1::text[])",
        ids,
    ):
        applies = applies_here(r)
        objections[r["contact_id"]].append((r["objection_id"], r["at"], applies, False))
    hits: dict[str, list[tuple[SuppressionKind, datetime, str]]] = defaultdict(list)
    if all_indexes:
        by_index: dict[str, list[tuple[str | None, str, datetime, bool]]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT o.objection_id, o.contact_id, o.scope, o.channel, o.purpose_id, o.at, i.blind_index "
            "FROM gate_objections o "
            "JOIN gate_objection_indexes i ON i.objection_id = o.objection_id "
            "WHERE i.blind_index = ANY($1::text[])",
            all_indexes,
        ):
            applies = applies_here(r)
            by_index[r["blind_index"]].append((r["contact_id"], r["objection_id"], r["at"], applies))
        by_index_hits: dict[str, list[tuple[SuppressionKind, datetime, str]]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT e.blind_index, e.list_name, e.import_id, l.kind, l.channel, m.imported_at "
            "FROM suppression_entries e JOIN suppression_lists l ON l.name = e.list_name "
            "JOIN suppression_imports m ON m.import_id = e.import_id WHERE e.blind_index = ANY($1::text[])",
            all_indexes,
        ):
            if r["channel"] is not None and r["channel"] != ch.value:
                continue
            at = r["imported_at"]
            ref = f"suppression:{r['list_name']}:{r['import_id']}@{_day(at).isoformat()}"
            by_index_hits[r["blind_index"]].append((SuppressionKind(r["kind"]), at, ref))
        for contact_id, values in indexes.items():
            for index in values:
                for owner, objection_id, at, applies in by_index.get(index, ()):
                    objections[contact_id].append((objection_id, at, applies, owner != contact_id))
                hits[contact_id].extend(by_index_hits.get(index, ()))

    notices = {
        (r["notice_id"], r["version"]): str(r["article"])
        for r in await conn.fetch("SELECT notice_id, version, article, purpose_ids::text FROM gate_notices")
        if campaign.purpose_id in (_json(r["purpose_ids"]) or ())
    }
    delivered: dict[str, dict[str, tuple[datetime, str]]] = defaultdict(dict)
    if notices:
        # (contact id, delivery id, notice id, notice version, delivered at), by delivery time.
        deliveries: Sequence[Any] = (
            view.deliveries_for(ids)
            if view is not None
            else await conn.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM gate_notice_deliveries WHERE contact_id = ANY($1::text[]) "
                "ORDER BY delivered_at",
                ids,
            )
        )
        for cid, delivery_id, notice_id, version, at in deliveries:
            article = notices.get((notice_id, version))
            if article is not None:
                delivered[cid].setdefault(article, (at, delivery_id))

    allowed = (
        view.allowed_among(ids)
        if view is not None
        else {
            r["contact_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT contact_id FROM check_receipts WHERE contact_id = ANY($1::text[]) "
                "AND decision = 'allow'",
                ids,
            )
        }
    )
    brokers = await projection._brokers({b for b in col["broker_name"].tolist() if b}, today=today)

    known = _Columns(campaign, col, exemption=exemption, bloctel=bloctel)
    with bulk.gc_paused():
        known.consents(consents)
        known.objections(objections, hits)
        known.notices(delivered)
        known.brokers(brokers)
        known.first_contact(allowed)
    columns = bulk.RecipientColumns.from_columns(known.values)
    where = {cid: i for i, cid in enumerate(known.ids)}
    unknown = [cid for cid in ids if cid not in where]
    if not unknown:
        return columns.take(np.array([where[cid] for cid in ids], dtype=np.int64))
    view_values = attrgetter(*_NAMES)
    strangers = bulk.RecipientColumns.from_rows(
        [view_values(rules.resolve(campaign, unknown_recipient(cid))) for cid in unknown]
    )
    where.update((cid, len(known.ids) + i) for i, cid in enumerate(unknown))
    both = bulk.RecipientColumns.concat([columns, strangers])
    return both.take(np.array([where[cid] for cid in ids], dtype=np.int64))


_KIND_VALUES = [k.value for k, _ in sorted(bulk.KIND_CODES.items(), key=lambda item: item[1])]
_RELATIONSHIP_VALUES = [r.value for r, _ in sorted(bulk.RELATIONSHIP_CODES.items(), key=lambda item: item[1])]
if [bulk.KIND_CODES[ContactKind(k)] for k in _KIND_VALUES] != list(range(len(_KIND_VALUES))) or [
    bulk.RELATIONSHIP_CODES[Relationship(r)] for r in _RELATIONSHIP_VALUES
] != list(range(len(_RELATIONSHIP_VALUES))):
    raise ImportError(
        "adapters.columns reads kinds and relationships as positions: bulk's codes must be 0..n-1"
    )
_RELATIONSHIP = {r.value: code for r, code in bulk.RELATIONSHIP_CODES.items()}
_NAT = int(np.datetime64("NaT", "us").view(np.int64))


def _us(column: str) -> str:
    """The SQL of an instant column as microseconds since the epoch, NaT's integer for NULL."""
    return f"COALESCE((EXTRACT(EPOCH FROM {column}) * 1000000)::int8, {_NAT}) AS {column}"


def _day_number(column: str) -> str:
    """The SQL of a date column as days since the epoch, NaT's integer for NULL."""
    return f"COALESCE({column} - DATE '1970-01-01', {_NAT}) AS {column}"


_FLAGGED = {rule: int(kind) for rule, kind in rules.FLAGGED_CLOCKS.items()}
_OPT_IN_START_US = np.datetime64(_OPT_IN_START.astimezone(UTC).replace(tzinfo=None), "us")


def _naive_us(values: Sequence[datetime | None]) -> np.ndarray:
    """Returns instants (aware or None) as datetime64[us] in UTC."""
    return np.array([bulk._micros(v) for v in values], dtype=np.int64).view("datetime64[us]")


def _instants(values: Sequence[int]) -> np.ndarray:
    """Returns microseconds since the epoch as datetime64[us]."""
    return np.array(values, dtype=np.int64).view("datetime64[us]")


def _day_numbers(values: Sequence[int]) -> np.ndarray:
    """Returns days since the epoch as datetime64[D]."""
    return np.array(values, dtype=np.int64).view("datetime64[D]")


def _days(values: Sequence[date | None]) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]") if len(values) else np.empty(0, dtype="datetime64[D]")


#: The `gate_contacts` columns a check reads, in `_CONTACT_FIELDS` order (append a WHERE clause). Instants
#: come as microseconds and days as days since the epoch (NaT for none), kinds and relationships as
#: `bulk`'s codes (their values in code order), empty JSON lists as NULL, absent blind indexes as '':
#: numpy takes them as they are, with no datetime, date or str object per contact.
CONTACTS_SELECT = (
    "SELECT contact_id, array_position('{"
    + ",".join(_KIND_VALUES)
    + "}'::text[], kind) - 1 AS kind, array_position('{"
    + ",".join(_RELATIONSHIP_VALUES)
    + "}'::text[], relationship) - 1 AS relationship, status, collected_from_person, "
    f"source, broker_name, {_us('obtained_at')}, {_us('last_contact_from_person_at')}, "
    f"{_us('relationship_end_at')}, retention_rule, {_day_number('majority_on')}, "
    f"{_day_number('digital_consent_age_on')}, timezone, profession, channel_mask, "
    "NULLIF(purchases::text, '[]') AS purchases, "
    "NULLIF(contracts::text, '[]') AS contracts, NULLIF(call_attempts::text, '[]') AS call_attempts, "
    "last_call_refusal_at, "
    "phone_collection::text, stop_pub, restricted, restriction_request_id, "
    "COALESCE(email_index, '') AS email_index, COALESCE(phone_index, '') AS phone_index "
    "FROM gate_contacts"
)


#: A consent row as checks read it, in `_CONSENT_FIELDS` order: a withdrawal time makes it withdrawn
#: whatever its stored status; `at` is when it was granted, or requested (a request counts from then).
CONSENT_COLUMNS = (
    "contact_id, consent_id, "
    "CASE WHEN withdrawn_at IS NOT NULL THEN 'withdrawn' ELSE status END AS status, "
    "status = 'requested' AS requested, COALESCE(granted_at, requested_at, 'epoch'::timestamptz) AS at, "
    "proof_present, positive_act, explicit, withdrawal_info_given, "
    "COALESCE(given_by::jsonb ? 'data_subject' AND given_by::jsonb ? 'parental_authority_holder', false) "
    "AS joint, out_of_hours_calls, partners::text AS partners, "
    "partner_categories::text AS partner_categories, email_tracking, "
    # The day it was granted in Paris (`clock.paris_date`), as days since the epoch; NaT for a request.
    "COALESCE(CASE WHEN status = 'requested' THEN NULL ELSE (COALESCE(granted_at, requested_at, "
    f"'epoch'::timestamptz) AT TIME ZONE 'Europe/Paris')::date - DATE '1970-01-01' END, {_NAT}) "
    "AS granted_day"
)
#: A notice delivery as checks read it.
DELIVERY_COLUMNS = "contact_id, delivery_id, notice_id, notice_version, delivered_at"


def contact_arrays(records: Sequence[Any]) -> dict[str, np.ndarray]:
    """Returns `CONTACTS_SELECT` rows as one numpy array per column, with what does not depend on the
    campaign resolved once (`rules.resolve`'s way): the fourth latest call attempt, the day of the last
    call refusal (Paris), the phone-collection defect, the retention flag's clock, a sale as source.
    Repeated strings (sources, zones, professions) are shared, not copied per contact."""
    m = len(records)
    if not m:
        return {name: np.empty(0, dtype=dtype) for name, dtype in CONTACT_DTYPES.items()}
    with bulk.gc_paused():
        raw = dict(zip(_CONTACT_FIELDS, zip(*records, strict=True), strict=True))
        shared: dict[Any, Any] = {}

        def strings(name: str) -> np.ndarray:
            out = np.empty(m, dtype=object)
            out[:] = [shared.setdefault(v, v) for v in raw[name]]
            return out

        def texts(name: str) -> np.ndarray:
            out = np.empty(m, dtype=object)
            out[:] = raw[name]
            return out

        fourth = np.full(m, _NAT, dtype=np.int64)
        for i, text in enumerate(raw["call_attempts"]):
            attempts_raw = _json(text) or ()
            if len(attempts_raw) >= rules.MAX_CALL_ATTEMPTS:
                attempts = sorted((t for t in map(parse_time, attempts_raw) if t), reverse=True)
                if len(attempts) >= rules.MAX_CALL_ATTEMPTS:
                    fourth[i] = bulk._micros(attempts[rules.MAX_CALL_ATTEMPTS - 1])
        phone_info_defect = np.ones(m, dtype=bool)
        for i, text in enumerate(raw["phone_collection"]):
            phone = _json(text)
            if phone:
                phone_info_defect[i] = not phone.get("told_calls_need_consent", False) or (
                    bool(phone.get("during_contract", False))
                    and not phone.get("contract_states_calls_need_consent", False)
                )
        refusal_on = np.full(m, np.datetime64("NaT", "D"))
        for i, t in enumerate(raw["last_call_refusal_at"]):
            if t is not None:
                refusal_on[i] = clock.paris_date(t)
        retention_flagged = np.zeros(m, dtype=np.int8)
        for i, status in enumerate(raw["status"]):
            if status == "retention_flagged":
                retention_flagged[i] = _FLAGGED.get(raw["retention_rule"][i] or "", 0)
        return {
            "contact_id": texts("contact_id"),
            "kind": np.array(raw["kind"], dtype=np.int8),
            "relationship": np.array(raw["relationship"], dtype=np.int8),
            "collected_from_person": np.array(raw["collected_from_person"], dtype=bool),
            "source": strings("source"),
            "sale_source": np.array([s == "sale" for s in raw["source"]], dtype=bool),
            "broker_name": strings("broker_name"),
            "obtained_at": _instants(raw["obtained_at"]),
            "last_contact_from_person_at": _instants(raw["last_contact_from_person_at"]),
            "relationship_end_at": _instants(raw["relationship_end_at"]),
            "majority_on": _day_numbers(raw["majority_on"]),
            "digital_consent_age_on": _day_numbers(raw["digital_consent_age_on"]),
            "retention_flagged": retention_flagged,
            "timezone": strings("timezone"),
            "profession": strings("profession"),
            "channel_mask": np.array(raw["channel_mask"], dtype=np.int64),
            "purchases": texts("purchases"),
            "contracts": texts("contracts"),
            "fourth_latest_call_at": fourth.view("datetime64[us]"),
            "refusal_on": refusal_on,
            "phone_info_defect": phone_info_defect,
            "stop_pub": np.array(raw["stop_pub"], dtype=bool),
            "restricted": np.array(raw["restricted"], dtype=bool),
            "restriction_request_id": texts("restriction_request_id"),
            "email_index": texts("email_index"),
            "phone_index": texts("phone_index"),
        }


#: The arrays `contact_arrays` returns, with their dtypes.
CONTACT_DTYPES: dict[str, Any] = {
    "contact_id": object,
    "kind": np.int8,
    "relationship": np.int8,
    "collected_from_person": bool,
    "source": object,
    "sale_source": bool,
    "broker_name": object,
    "obtained_at": "datetime64[us]",
    "last_contact_from_person_at": "datetime64[us]",
    "relationship_end_at": "datetime64[us]",
    "majority_on": "datetime64[D]",
    "digital_consent_age_on": "datetime64[D]",
    "retention_flagged": np.int8,
    "timezone": object,
    "profession": object,
    "channel_mask": np.int64,
    "purchases": object,
    "contracts": object,
    "fourth_latest_call_at": "datetime64[us]",
    "refusal_on": "datetime64[D]",
    "phone_info_defect": bool,
    "stop_pub": bool,
    "restricted": bool,
    "restriction_request_id": object,
    "email_index": object,
    "phone_index": object,
}


class _Columns:
    """`rules.resolve` for one campaign over a batch of projection rows, one column at a time: the facts
    every contact has are resolved with numpy over its columns, the ones few contacts have (JSON lists,
    consents, objections, list hits, notices, brokers) by a loop over the contacts that have them."""

    def __init__(
        self, campaign: CampaignFacts, col: dict[str, np.ndarray], *, exemption: bool, bloctel: list[date]
    ) -> None:
        c = self.c = campaign
        ch = campaign.channel
        self.ch = ch
        m = self.m = len(col["contact_id"])
        self.raw = col
        self.ids: list[str] = col["contact_id"].tolist()
        related = {c.product_category} | c.complementary_categories
        analogous = {c.product_category} | c.analogous_categories
        kind = col["kind"]
        relationship = col["relationship"]
        from_person = col["collected_from_person"]
        obtained = col["obtained_at"]
        contact_from = col["last_contact_from_person_at"]
        end = col["relationship_end_at"]

        # The JSON lists, parsed only where they are not empty.
        has_purchases = np.zeros(m, dtype=bool)
        sender_is_seller = np.zeros(m, dtype=bool)
        analogy = np.full(m, int(Analogy.NOT_ANALOGOUS), dtype=np.int8)
        for i, text in enumerate(col["purchases"].tolist()):
            if text is None:
                continue
            purchases = _json(text)
            if not purchases:
                continue
            has_purchases[i] = True
            categories: set[str] = set()
            for p in purchases:
                if p["seller"] == c.sender_entity:
                    sender_is_seller[i] = True
                    categories.update(p["categories"])
            if categories & analogous:
                analogy[i] = int(Analogy.ANALOGOUS)
            elif categories & c.analogy_unclear_categories:
                analogy[i] = int(Analogy.UNCLEAR)
        any_open = np.zeros(m, dtype=bool)
        contract_related = np.zeros(m, dtype=bool)
        in_progress = bulk.RELATIONSHIP_CODES[Relationship.CONTRACT_IN_PROGRESS]
        for i, text in enumerate(col["contracts"].tolist()):
            if text is None:
                continue
            open_contracts = [k for k in _json(text) or () if not k["ended"]]
            if open_contracts:
                any_open[i] = True
                contract_related[i] = relationship[i] == in_progress and any(
                    k["seller"] == c.sender_entity and set(k["categories"]) & related for k in open_contracts
                )

        # Retention: none for generic addresses, the prospect clock for prospects and account holders,
        # the customer clock for customers without an open contract.
        generic = kind == bulk.KIND_CODES[ContactKind.LEGAL_PERSON_GENERIC]
        prospect = ~generic & np.isin(relationship, [_RELATIONSHIP[r] for r in _PROSPECTS])
        customer = (
            ~generic
            & ~prospect
            & ((relationship == bulk.RELATIONSHIP_CODES[Relationship.CUSTOMER_SALE_DONE]) | ~any_open)
        )
        clock_kind = np.full(m, int(RetentionClock.NONE), dtype=np.int8)
        clock_kind[prospect] = int(RetentionClock.PROSPECT)
        clock_kind[customer] = int(RetentionClock.CUSTOMER)
        customer_end = np.where(np.isnat(end), obtained, end)
        start = np.where(prospect, obtained, customer_end)
        since = np.where(np.isnat(contact_from), start, np.maximum(start, contact_from))
        since = np.where(prospect | customer, since, np.datetime64("NaT", "us"))

        obtained_days = obtained.astype("datetime64[D]")
        if bloctel:
            unique, inverse = np.unique(obtained_days, return_inverse=True)
            cleaned = [_cleaned_on(bloctel, d) for d in unique.astype(object)]
            checked_on = _days(cleaned)[inverse] if len(unique) else _days([])
        else:
            checked_on = np.full(m, np.datetime64("NaT", "D"))
        target = c.professional_target
        none = np.full(m, None, dtype=object)
        self.values: dict[str, Any] = {
            "contact_id": col["contact_id"],
            "kind": kind,
            "relationship": relationship,
            "has_address": (
                np.ones(m, dtype=bool)
                if ch is Channel.POSTAL_UNADDRESSED
                else (col["channel_mask"] & CHANNEL_BITS.get(ch, 0)) != 0
            ),
            "objection": np.zeros(m, dtype=bool),
            "opposition_hit": np.zeros(m, dtype=bool),
            "bloctel_hit": np.zeros(m, dtype=bool),
            "robinson_hit": np.zeros(m, dtype=bool),
            "consent_status": np.zeros(m, dtype=np.int8),
            "consent_positive_act": np.zeros(m, dtype=bool),
            "consent_proof": np.zeros(m, dtype=bool),
            "consent_explicit": np.zeros(m, dtype=bool),
            "consent_withdrawal_info": np.zeros(m, dtype=bool),
            "consent_joint": np.zeros(m, dtype=bool),
            "consent_granted_on": np.full(m, np.datetime64("NaT", "D")),
            "collected_from_person": from_person,
            "third_party_unverified": ~from_person,
            "art13_given": np.zeros(m, dtype=bool),
            "art14_delivered_at": np.full(m, np.datetime64("NaT", "us")),
            "art14_exemption": np.full(m, exemption, dtype=bool),
            "obtained_at": obtained,
            "obtained_in_opt_in_regime": obtained >= _OPT_IN_START_US,
            "retention_clock": clock_kind,
            "retention_from": since,
            "majority_on": col["majority_on"],
            "digital_consent_age_on": col["digital_consent_age_on"],
            "retention_flagged": col["retention_flagged"],
            "informed": np.zeros(m, dtype=bool),
            "objection_offered": np.zeros(m, dtype=bool),
            "collected_at_sale": from_person & (col["sale_source"] | has_purchases),
            "sender_is_seller": sender_is_seller,
            "analogy": analogy,
            "contract_related": contract_related,
            "professional_relevance": np.array(
                [p is not None and p in target for p in col["profession"].tolist()], dtype=bool
            ),
            "bloctel_checked_on": checked_on,
            "out_of_hours_consent": np.zeros(m, dtype=bool),
            "timezone": col["timezone"].tolist(),
            "fourth_latest_call_at": col["fourth_latest_call_at"],
            "refusal_on": col["refusal_on"],
            "phone_info_defect": col["phone_info_defect"],
            "first_contact": np.ones(m, dtype=bool),
            "stop_pub": col["stop_pub"],
            "partner_coverage": np.zeros(m, dtype=np.int8),
            "tracking_consent": np.zeros(m, dtype=bool),
        }
        for name in _REF_NAMES:
            self.values[name] = none.copy()
        # Rights (section R): the Art. 18 restriction, cited by its request.
        restricted = col["restricted"]
        self.values["restricted"] = restricted
        for i in np.flatnonzero(restricted).tolist():
            request_id = col["restriction_request_id"][i]
            self.values["restriction_ref"][i] = f"restriction:{request_id}" if request_id else None
        self.where = {cid: i for i, cid in enumerate(self.ids)}

    def consents(self, consents: Sequence[Any]) -> None:
        """The consent each contact gave last for the purpose and channel (one row per contact)."""
        if not consents:
            return
        v, where = self.values, self.where
        raw = dict(zip(_CONSENT_FIELDS, zip(*consents, strict=True), strict=True))
        at = np.array([where.get(cid, -1) for cid in raw["contact_id"]], dtype=np.int64)
        ok = at >= 0
        at = at[ok]
        status = np.array([_CONSENT_STATUS[x] for x in raw["status"]], dtype=np.int8)[ok]
        positive_act = np.array(raw["positive_act"], dtype=bool)[ok]
        v["consent_status"][at] = status
        v["consent_positive_act"][at] = positive_act
        v["consent_proof"][at] = np.array(raw["proof_present"], dtype=bool)[ok]
        v["consent_explicit"][at] = np.array(raw["explicit"], dtype=bool)[ok]
        v["consent_withdrawal_info"][at] = np.array(raw["withdrawal_info_given"], dtype=bool)[ok]
        v["consent_joint"][at] = np.array(raw["joint"], dtype=bool)[ok]
        v["consent_granted_on"][at] = _day_numbers(raw["granted_day"])[ok]
        usable = (status == bulk.CONSENT_CODES[ConsentStatus.GRANTED]) & positive_act
        v["out_of_hours_consent"][at] = usable & np.array(raw["out_of_hours_calls"], dtype=bool)[ok]
        # Issue 19: the campaign's partners as the consent covers them (RENT-01), e-mail tracking (TRACK-01).
        v["tracking_consent"][at] = usable & np.array(raw["email_tracking"], dtype=bool)[ok]
        partners = self.c.study.partners
        if partners:
            coverage = np.array(
                [
                    int(rules.partner_coverage(_json(named) or (), _json(kinds) or (), partners))
                    for named, kinds in zip(raw["partners"], raw["partner_categories"], strict=True)
                ],
                dtype=np.int8,
            )[ok]
        else:
            coverage = np.full(len(at), int(rules.PartnerCoverage.NAMED), dtype=np.int8)
        v["partner_coverage"][at] = np.where(usable, coverage, int(rules.PartnerCoverage.NONE))
        v["consent_ref"][at] = np.array([f"consent:{x}" for x in raw["consent_id"]], dtype=object)[ok]

    def objections(
        self,
        objections: dict[str, list[tuple[str, datetime, bool, bool]]],
        hits: dict[str, list[tuple[SuppressionKind, datetime, str]]],
    ) -> None:
        """Objections: own ones (UNI-01), another record's found by hash (UNI-02), the latest cited; list
        hits, the latest of each kind cited."""
        v, where = self.values, self.where
        for cid in objections.keys() | hits.keys():
            i = where.get(cid)
            if i is None:
                continue
            own = returning = None
            seen: set[tuple[str, bool]] = set()
            for objection_id, at, applies, hashed in objections.get(cid, ()):
                if not applies or (objection_id, hashed) in seen:
                    continue
                seen.add((objection_id, hashed))
                if hashed:
                    if returning is None or at > returning[1]:
                        returning = (objection_id, at)
                elif own is None or at > own[1]:
                    own = (objection_id, at)
            latest: dict[SuppressionKind, tuple[datetime, str]] = {}
            for list_kind, at, ref in hits.get(cid, ()):
                kept = latest.get(list_kind)
                if kept is None or at > kept[0]:
                    latest[list_kind] = (at, ref)
            opposition = latest.get(SuppressionKind.OPPOSITION)
            bloctel = latest.get(SuppressionKind.BLOCTEL)
            robinson = latest.get(SuppressionKind.ROBINSON)
            v["objection"][i] = own is not None
            v["opposition_hit"][i] = opposition is not None or returning is not None
            v["bloctel_hit"][i] = bloctel is not None
            v["robinson_hit"][i] = robinson is not None
            v["objection_ref"][i] = f"objection:{own[0]}" if own else None
            v["opposition_ref"][i] = (
                opposition[1] if opposition else (f"objection:{returning[0]}" if returning else None)
            )
            v["bloctel_ref"][i] = bloctel[1] if bloctel else None
            v["robinson_ref"][i] = robinson[1] if robinson else None

    def notices(self, delivered: dict[str, dict[str, tuple[datetime, str]]]) -> None:
        """The Art. 13 and 14 notices delivered for the purpose (the Art. 14 one cited first)."""
        v, where = self.values, self.where
        art14_at: list[tuple[int, datetime]] = []
        for cid, notices in delivered.items():
            i = where.get(cid)
            if i is None:
                continue
            art13 = notices.get("13")
            art14 = notices.get("14")
            informed = art13 is not None or art14 is not None
            v["art13_given"][i] = art13 is not None
            v["informed"][i] = v["objection_offered"][i] = informed
            if art14:
                art14_at.append((i, art14[0]))
            delivery_id = art14[1] if art14 else (art13[1] if art13 else None)
            v["notice_ref"][i] = f"notice_delivery:{delivery_id}" if delivery_id else None
        if art14_at:
            at = v["art14_delivered_at"]
            at[[i for i, _ in art14_at]] = _naive_us([t for _, t in art14_at])

    def brokers(self, brokers: dict[str, tuple[BrokerVerification, Any]]) -> None:
        """Contacts not collected from the person: their broker's verification, cited."""
        v = self.values
        names, sources = self.raw["broker_name"], self.raw["source"]
        for i in np.flatnonzero(~v["collected_from_person"]).tolist():
            broker = brokers.get(names[i], (BrokerVerification.NOT_VERIFIED, None))[0]
            v["third_party_unverified"][i] = broker is not BrokerVerification.VERIFIED
            v["broker_ref"][i] = f"broker:{names[i] or sources[i] or 'unknown'}:{broker.value}"

    def first_contact(self, allowed: set[str]) -> None:
        """Contacts no earlier check allowed."""
        v, where = self.values, self.where
        for cid in allowed:
            i = where.get(cid)
            if i is not None:
                v["first_contact"][i] = False


_CONTACT_FIELDS = (
    "contact_id",
    "kind",
    "relationship",
    "status",
    "collected_from_person",
    "source",
    "broker_name",
    "obtained_at",
    "last_contact_from_person_at",
    "relationship_end_at",
    "retention_rule",
    "majority_on",
    "digital_consent_age_on",
    "timezone",
    "profession",
    "channel_mask",
    "purchases",
    "contracts",
    "call_attempts",
    "last_call_refusal_at",
    "phone_collection",
    "stop_pub",
    "restricted",
    "restriction_request_id",
    "email_index",
    "phone_index",
)
_CONSENT_FIELDS = (
    "contact_id",
    "consent_id",
    "status",
    "requested",
    "at",
    "proof_present",
    "positive_act",
    "explicit",
    "withdrawal_info_given",
    "joint",
    "out_of_hours_calls",
    "partners",
    "partner_categories",
    "email_tracking",
    "granted_day",
)
_CONSENT_STATUS = {s.value: code for s, code in bulk.CONSENT_CODES.items() if s is not None}
_REF_NAMES = tuple(name for name in _NAMES if name.endswith("_ref"))

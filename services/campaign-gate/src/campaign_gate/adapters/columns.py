"""A columnar read of the projection for checks (PostgreSQL): recipients' facts resolved for a campaign,
straight from the query rows into `bulk.RecipientColumns`.

It reads what `ProjectionRepository.recipients` reads (contacts, the campaign's consents, objections by
contact and by blind index, notices for the purpose, suppression hits, earlier allowed receipts, data
brokers) with one query per table over an id array, on the session's asyncpg connection, and resolves
each row as `rules.resolve` does without building `RecipientFacts` or `RecipientView` objects. The
equivalence with that path (facts, then `resolve`) is checked on PostgreSQL by
`tests/integration/test_columns_read.py`; any other database takes that path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters.projection import (
    ALL_DIRECT_MARKETING,
    CHANNEL_BITS,
    ProjectionRepository,
    _cleaned_on,
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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMES = bulk.COLUMN_NAMES
#: The order `_Resolver.row` writes its values in.
_ORDER = (
    "contact_id",
    "kind",
    "relationship",
    "has_address",
    "objection",
    "opposition_hit",
    "bloctel_hit",
    "robinson_hit",
    "consent_status",
    "consent_positive_act",
    "consent_proof",
    "consent_explicit",
    "consent_withdrawal_info",
    "consent_joint",
    "consent_granted_on",
    "collected_from_person",
    "third_party_unverified",
    "art13_given",
    "art14_delivered_at",
    "art14_exemption",
    "obtained_at",
    "obtained_in_opt_in_regime",
    "retention_clock",
    "retention_from",
    "majority_on",
    "digital_consent_age_on",
    "retention_flagged",
    "informed",
    "objection_offered",
    "collected_at_sale",
    "sender_is_seller",
    "analogy",
    "contract_related",
    "professional_relevance",
    "bloctel_checked_on",
    "out_of_hours_consent",
    "timezone",
    "fourth_latest_call_at",
    "refusal_on",
    "phone_info_defect",
    "first_contact",
    "stop_pub",
    "objection_ref",
    "opposition_ref",
    "bloctel_ref",
    "robinson_ref",
    "consent_ref",
    "notice_ref",
    "broker_ref",
)
if _ORDER != _NAMES:
    raise ImportError("adapters.columns writes its values in another order than bulk.COLUMN_NAMES")
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
) -> bulk.RecipientColumns:
    """Returns the columns of `contact_ids` (in that order, each once) for a campaign; a contact the
    projection never saw gets the facts of `unknown_recipient`."""
    session: AsyncSession = projection.session
    ch = campaign.channel
    bloctel = await projection.bloctel_imports() if ch is Channel.PHONE_HUMAN else []
    purpose = await projection.purpose(campaign.purpose_id)
    exemption = bool(purpose and purpose.get("art14_exemption_claimed"))
    raw = await (await session.connection()).get_raw_connection()
    conn: Any = raw.driver_connection
    ids = list(dict.fromkeys(contact_ids))

    contacts = await conn.fetch(
        "SELECT contact_id, kind, relationship, status, collected_from_person, source, broker_name, "
        "obtained_at, last_contact_from_person_at, relationship_end_at, retention_rule, majority_on, "
        "digital_consent_age_on, timezone, profession, channel_mask, email_index, phone_index, "
        "purchases::text, contracts::text, call_attempts::text, last_call_refusal_at, "
        "phone_collection::text, stop_pub FROM gate_contacts WHERE contact_id = ANY($1::text[])",
        ids,
    )
    indexes: dict[str, list[str]] = {
        r["contact_id"]: [i for i in (r["email_index"], r["phone_index"]) if i] for r in contacts
    }
    all_indexes = sorted({i for values in indexes.values() for i in values})

    consents: dict[str, Any] = {}
    for r in await conn.fetch(
        "SELECT consent_id, contact_id, status, granted_at, requested_at, withdrawn_at, proof_present, "
        "positive_act, explicit, withdrawal_info_given, given_by::text, out_of_hours_calls "
        "FROM gate_consents WHERE contact_id = ANY($1::text[]) AND purpose_id = $2 AND channel = $3",
        ids,
        campaign.purpose_id,
        ch.value,
    ):
        # Because `resolve` keeps the consent granted last (a request counts from its request time).
        at = r["granted_at"] or r["requested_at"] or _EPOCH
        kept = consents.get(r["contact_id"])
        if kept is None or at > kept[0]:
            consents[r["contact_id"]] = (at, r)

    # (objection id, at, applies to the channel, matched by another record's hash), as `_chunk` lists them.
    objections: dict[str, list[tuple[str, datetime, bool, bool]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT objection_id, contact_id, scope, at FROM gate_objections WHERE contact_id = ANY($1::text[])",
        ids,
    ):
        applies = r["scope"] == ALL_DIRECT_MARKETING or r["scope"] == ch.value
        objections[r["contact_id"]].append((r["objection_id"], r["at"], applies, False))
    hits: dict[str, list[tuple[SuppressionKind, datetime, str]]] = defaultdict(list)
    if all_indexes:
        by_index: dict[str, list[tuple[str | None, str, datetime, bool]]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT o.objection_id, o.contact_id, o.scope, o.at, i.blind_index FROM gate_objections o "
            "JOIN gate_objection_indexes i ON i.objection_id = o.objection_id "
            "WHERE i.blind_index = ANY($1::text[])",
            all_indexes,
        ):
            applies = r["scope"] == ALL_DIRECT_MARKETING or r["scope"] == ch.value
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
        for r in await conn.fetch(
            "SELECT contact_id, delivery_id, notice_id, notice_version, delivered_at "
            "FROM gate_notice_deliveries WHERE contact_id = ANY($1::text[]) ORDER BY delivered_at",
            ids,
        ):
            article = notices.get((r["notice_id"], r["notice_version"]))
            if article is not None:
                delivered[r["contact_id"]].setdefault(article, (r["delivered_at"], r["delivery_id"]))

    allowed = {
        r["contact_id"]
        for r in await conn.fetch(
            "SELECT DISTINCT contact_id FROM check_receipts WHERE contact_id = ANY($1::text[]) "
            "AND decision = 'allow'",
            ids,
        )
    }
    brokers = await projection._brokers({r["broker_name"] for r in contacts if r["broker_name"]}, today=today)

    rows: dict[str, tuple[Any, ...]] = {}
    resolve = _Resolver(campaign, exemption=exemption, bloctel=bloctel)
    with bulk.gc_paused():
        for r in contacts:
            cid = r["contact_id"]
            rows[cid] = resolve.row(
                r,
                consent=consents.get(cid, (None, None))[1],
                objections=objections.get(cid, ()),
                hits=hits.get(cid, ()),
                notices=delivered.get(cid, {}),
                first_contact=cid not in allowed,
                broker=brokers.get(r["broker_name"], (BrokerVerification.NOT_VERIFIED, None))[0],
            )
    view_values = attrgetter(*_NAMES)
    ordered = [
        rows[cid] if cid in rows else view_values(rules.resolve(campaign, unknown_recipient(cid)))
        for cid in ids
    ]
    return bulk.RecipientColumns.from_rows(ordered)


class _Resolver:
    """`rules.resolve` for one campaign, on projection rows, returning the values in `COLUMN_NAMES` order."""

    def __init__(self, campaign: CampaignFacts, *, exemption: bool, bloctel: list[date]) -> None:
        self.c = campaign
        self.ch = campaign.channel
        self.bit = CHANNEL_BITS.get(self.ch, 0)
        self.exemption = exemption
        self.bloctel = bloctel
        self.related = {campaign.product_category} | campaign.complementary_categories
        self.analogous = {campaign.product_category} | campaign.analogous_categories
        self.unclear = campaign.analogy_unclear_categories

    def row(  # noqa: C901, PLR0912, PLR0915 - one resolution per fact, as in `rules.resolve`
        self,
        r: Any,
        *,
        consent: Any,
        objections: Sequence[tuple[str, datetime, bool, bool]],
        hits: Sequence[tuple[SuppressionKind, datetime, str]],
        notices: dict[str, tuple[datetime, str]],
        first_contact: bool,
        broker: BrokerVerification,
    ) -> tuple[Any, ...]:
        c = self.c
        cid = r["contact_id"]
        kind = ContactKind(r["kind"])
        relationship = Relationship(r["relationship"])
        from_person = bool(r["collected_from_person"])
        obtained_at: datetime = r["obtained_at"]

        # Objections: own ones (UNI-01), another record's found by hash (UNI-02); the latest cited.
        own = returning = None
        seen: set[tuple[str, bool]] = set()
        for objection_id, at, applies, hashed in objections:
            if not applies or (objection_id, hashed) in seen:
                continue
            seen.add((objection_id, hashed))
            if hashed:
                if returning is None or at > returning[1]:
                    returning = (objection_id, at)
            elif own is None or at > own[1]:
                own = (objection_id, at)
        latest: dict[SuppressionKind, tuple[datetime, str]] = {}
        for list_kind, at, ref in hits:
            kept = latest.get(list_kind)
            if kept is None or at > kept[0]:
                latest[list_kind] = (at, ref)
        opposition = latest.get(SuppressionKind.OPPOSITION)
        opposition_ref = opposition[1] if opposition else (f"objection:{returning[0]}" if returning else None)
        bloctel = latest.get(SuppressionKind.BLOCTEL)
        robinson = latest.get(SuppressionKind.ROBINSON)

        status = None
        positive_act = proof = explicit = withdrawal_info = joint = out_of_hours = False
        granted_on = None
        consent_ref = None
        if consent is not None:
            stored = ConsentStatus(consent["status"])
            withdrawn = stored is ConsentStatus.WITHDRAWN or consent["withdrawn_at"] is not None
            status = ConsentStatus.WITHDRAWN if withdrawn else stored
            positive_act = bool(consent["positive_act"])
            proof = bool(consent["proof_present"])
            explicit = bool(consent["explicit"])
            withdrawal_info = bool(consent["withdrawal_info_given"])
            given_by = set(_json(consent["given_by"]) or ())
            joint = "data_subject" in given_by and "parental_authority_holder" in given_by
            if stored is not ConsentStatus.REQUESTED:
                granted_on = clock.paris_date(consent["granted_at"] or consent["requested_at"] or _EPOCH)
            usable = status is ConsentStatus.GRANTED and positive_act
            out_of_hours = usable and bool(consent["out_of_hours_calls"])
            consent_ref = f"consent:{consent['consent_id']}"

        purchases = _json(r["purchases"]) or ()
        categories: set[str] = set()
        sender_is_seller = False
        for p in purchases:
            if p["seller"] == c.sender_entity:
                sender_is_seller = True
                categories.update(p["categories"])
        if categories & self.analogous:
            analogy = Analogy.ANALOGOUS
        elif categories & self.unclear:
            analogy = Analogy.UNCLEAR
        else:
            analogy = Analogy.NOT_ANALOGOUS
        open_contracts = [k for k in _json(r["contracts"]) or () if not k["ended"]]
        contract_related = relationship is Relationship.CONTRACT_IN_PROGRESS and any(
            k["seller"] == c.sender_entity and set(k["categories"]) & self.related for k in open_contracts
        )

        contact_from = r["last_contact_from_person_at"]
        clock_kind, since = RetentionClock.NONE, None
        if kind is ContactKind.LEGAL_PERSON_GENERIC:
            pass
        elif r["relationship"] in _PROSPECTS:
            clock_kind = RetentionClock.PROSPECT
            since = obtained_at if contact_from is None else max(obtained_at, contact_from)
        elif relationship is Relationship.CUSTOMER_SALE_DONE or not open_contracts:
            clock_kind = RetentionClock.CUSTOMER
            end = r["relationship_end_at"] or obtained_at
            since = end if contact_from is None else max(end, contact_from)

        attempts_raw = _json(r["call_attempts"]) or ()
        fourth = None
        if len(attempts_raw) >= rules.MAX_CALL_ATTEMPTS:
            attempts = sorted((t for t in map(parse_time, attempts_raw) if t), reverse=True)
            if len(attempts) >= rules.MAX_CALL_ATTEMPTS:
                fourth = attempts[rules.MAX_CALL_ATTEMPTS - 1]
        phone = _json(r["phone_collection"])
        art13 = notices.get("13")
        art14 = notices.get("14")
        informed = art13 is not None or art14 is not None
        delivery_id = art14[1] if art14 else (art13[1] if art13 else None)
        refusal = r["last_call_refusal_at"]
        flagged = rules.FLAGGED_CLOCKS.get(r["retention_rule"] or "", RetentionClock.NONE)
        profession = r["profession"]
        # In `COLUMN_NAMES` order (`_ORDER` is checked against it at import).
        return (
            cid,  # contact_id
            kind,  # kind
            relationship,  # relationship
            self.ch is Channel.POSTAL_UNADDRESSED or bool(r["channel_mask"] & self.bit),  # has_address
            own is not None,  # objection
            opposition is not None or returning is not None,  # opposition_hit
            bloctel is not None,  # bloctel_hit
            robinson is not None,  # robinson_hit
            status,  # consent_status
            positive_act,  # consent_positive_act
            proof,  # consent_proof
            explicit,  # consent_explicit
            withdrawal_info,  # consent_withdrawal_info
            joint,  # consent_joint
            granted_on,  # consent_granted_on
            from_person,  # collected_from_person
            not from_person and broker is not BrokerVerification.VERIFIED,  # third_party_unverified
            art13 is not None,  # art13_given
            art14[0] if art14 else None,  # art14_delivered_at
            self.exemption,  # art14_exemption
            obtained_at,  # obtained_at
            obtained_at >= _OPT_IN_START,  # obtained_in_opt_in_regime
            clock_kind,  # retention_clock
            since,  # retention_from
            r["majority_on"],  # majority_on
            r["digital_consent_age_on"],  # digital_consent_age_on
            flagged if r["status"] == "retention_flagged" else RetentionClock.NONE,  # retention_flagged
            informed,  # informed
            informed,  # objection_offered
            from_person and (r["source"] == "sale" or bool(purchases)),  # collected_at_sale
            sender_is_seller,  # sender_is_seller
            analogy,  # analogy
            contract_related,  # contract_related
            profession is not None and profession in c.professional_target,  # professional_relevance
            _cleaned_on(self.bloctel, obtained_at.date()),  # bloctel_checked_on
            out_of_hours,  # out_of_hours_consent
            r["timezone"],  # timezone
            fourth,  # fourth_latest_call_at
            clock.paris_date(refusal) if refusal else None,  # refusal_on
            # phone_info_defect
            not phone
            or not phone.get("told_calls_need_consent", False)
            or (
                bool(phone.get("during_contract", False))
                and not phone.get("contract_states_calls_need_consent", False)
            ),
            first_contact,  # first_contact
            bool(r["stop_pub"]),  # stop_pub
            f"objection:{own[0]}" if own else None,  # objection_ref
            opposition_ref,  # opposition_ref
            bloctel[1] if bloctel else None,  # bloctel_ref
            robinson[1] if robinson else None,  # robinson_ref
            consent_ref,  # consent_ref
            f"notice_delivery:{delivery_id}" if delivery_id else None,  # notice_ref
            # broker_ref
            (
                f"broker:{r['broker_name'] or r['source'] or 'unknown'}:{broker.value}"
                if not from_person
                else None
            ),
        )

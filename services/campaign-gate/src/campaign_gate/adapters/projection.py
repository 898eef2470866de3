"""The projection of contacts and consent in the gate's database: upserts from events, reads into facts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters import orm
from campaign_gate.domain.facts import (
    BrokerVerification,
    Channel,
    ConsentRecord,
    ConsentStatus,
    ContactKind,
    Objection,
    RecipientFacts,
    Relationship,
    SuppressionHit,
    SuppressionKind,
)

#: One bit per channel in `gate_contacts.channel_mask`.
CHANNEL_BITS: dict[Channel, int] = {ch: 1 << i for i, ch in enumerate(Channel)}
#: What contacts calls a channel in its facts → the gate's channels (a phone number reaches two).
CONTACT_CHANNELS: dict[str, tuple[Channel, ...]] = {
    "email": (Channel.EMAIL,),
    "phone": (Channel.PHONE_HUMAN, Channel.AUTOMATED_CALL),
    "sms_mms": (Channel.SMS_MMS,),
    "postal_addressed": (Channel.POSTAL_ADDRESSED,),
    "fax": (Channel.FAX,),
}
ALL_DIRECT_MARKETING = "all_direct_marketing"
_CHUNK = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def channel_mask(channels: Iterable[str]) -> int:
    """Returns the bit mask of the gate channels a contact's channel names reach."""
    mask = 0
    for name in channels:
        for channel in CONTACT_CHANNELS.get(name, ()):
            mask |= CHANNEL_BITS[channel]
    return mask


def parse_time(value: Any) -> datetime | None:
    """Parses an ISO-8601 time from an event (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _aware(value: datetime | None) -> datetime | None:
    # Because SQLite hands back naive datetimes for timezone-aware columns.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


async def upsert(session: AsyncSession, table: sa.Table, values: Mapping[str, Any], *,
                 keys: Sequence[str], where: Any = None) -> None:
    """Inserts a row or updates it on its primary key (only when `where` holds, if given)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    statement = insert.values(**values)
    update = {k: statement.excluded[k] for k in values if k not in keys}
    await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=update, where=where)
                          if update else statement.on_conflict_do_nothing(index_elements=list(keys)))


class ProjectionRepository:
    """Writes and reads the projection tables on one session."""

    def __init__(self, session: AsyncSession, *, broker_verification_max_age_days: int = 365) -> None:
        self.session = session
        self.broker_verification_max_age_days = broker_verification_max_age_days
        self.seen: list[Any] = []

    # --- Writes (from events) ---------------------------------------------------------------------

    async def put_contact(self, contact_id: str, facts: Mapping[str, Any], *, at: datetime) -> None:
        """Stores a contact's latest gate facts, ignoring a version older than the stored one."""
        attributes = facts.get("attributes") or {}
        purchased = attributes.get("purchased_categories") if isinstance(attributes, dict) else None
        table = orm.gate_contacts
        values = {
            "contact_id": contact_id,
            "kind": str(facts.get("kind", ContactKind.CONSUMER.value)),
            "relationship": str(facts.get("relationship", Relationship.PROSPECT.value)),
            "status": str(facts.get("status", "active")),
            "collected_from_person": bool(facts.get("collected_from_person", False)),
            "source": facts.get("source"),
            "broker_name": facts.get("broker_name"),
            "obtained_at": parse_time(facts.get("obtained_at")) or at,
            "last_contact_from_person_at": parse_time(facts.get("last_contact_from_person_at")),
            "relationship_end_at": parse_time(facts.get("relationship_end_at")),
            "minor_until": _day(facts.get("minor_until")),
            "channel_mask": channel_mask(facts.get("channels") or ()),
            "email_index": facts.get("email_index"),
            "phone_index": facts.get("phone_index"),
            "purchased_categories": [str(p) for p in purchased] if isinstance(purchased, list) else [],
            "version": int(facts.get("version", 0)),
            "updated_at": at,
        }
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        excluded = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).excluded
        await upsert(self.session, table, values, keys=["contact_id"], where=table.c.version <= excluded.version)

    async def set_contact_status(self, contact_id: str, status: str, *, at: datetime) -> None:
        """Changes a projected contact's status (retention flag)."""
        await self.session.execute(sa.update(orm.gate_contacts).where(orm.gate_contacts.c.contact_id == contact_id)
                                   .values(status=status, updated_at=at))

    async def erase_contact(self, contact_id: str, *, at: datetime) -> None:
        """Keeps only the erased status of a contact: no channel, no blind index, no attribute."""
        await self.session.execute(
            sa.update(orm.gate_contacts).where(orm.gate_contacts.c.contact_id == contact_id).values(
                status="erased", channel_mask=0, email_index=None, phone_index=None, purchased_categories=[],
                minor_until=None, updated_at=at))

    async def put_consent(self, values: Mapping[str, Any]) -> None:
        """Stores a consent's latest state; a withdrawal keeps the grant time it already knew."""
        await upsert(self.session, orm.gate_consents, values, keys=["consent_id"])

    async def withdraw_consent(self, *, consent_id: str, contact_id: str, purpose_id: str, channel: str,
                               granted_at: datetime | None, withdrawn_at: datetime, at: datetime) -> None:
        """Marks a consent withdrawn, creating its row if the grant was never seen."""
        result = await self.session.execute(
            sa.update(orm.gate_consents).where(orm.gate_consents.c.consent_id == consent_id)
            .values(status="withdrawn", withdrawn_at=withdrawn_at, updated_at=at))
        if result.rowcount == 0:
            await self.put_consent({"consent_id": consent_id, "contact_id": contact_id, "purpose_id": purpose_id,
                                    "channel": channel, "status": "withdrawn", "granted_at": granted_at,
                                    "withdrawn_at": withdrawn_at, "updated_at": at})

    async def erase_consent_data(self, contact_id: str, consent_ids: Iterable[str],
                                 delivery_ids: Iterable[str]) -> None:
        """Drops a contact's consents and notice deliveries (its objections and their indexes stay)."""
        await self.session.execute(sa.delete(orm.gate_consents).where(sa.or_(
            orm.gate_consents.c.contact_id == contact_id, orm.gate_consents.c.consent_id.in_(list(consent_ids)))))
        await self.session.execute(sa.delete(orm.gate_notice_deliveries).where(sa.or_(
            orm.gate_notice_deliveries.c.contact_id == contact_id,
            orm.gate_notice_deliveries.c.delivery_id.in_(list(delivery_ids)))))

    async def put_objection(self, *, objection_id: str, contact_id: str | None, scope: str, at: datetime,
                            blind_indexes: Iterable[str]) -> None:
        """Stores an objection and the blind indexes it also applies to."""
        await upsert(self.session, orm.gate_objections, {"objection_id": objection_id, "contact_id": contact_id,
                                                         "scope": scope, "at": at}, keys=["objection_id"])
        for index in dict.fromkeys(blind_indexes):
            await upsert(self.session, orm.gate_objection_indexes, {"objection_id": objection_id,
                                                                    "blind_index": index},
                         keys=["objection_id", "blind_index"])

    async def put_notice(self, *, notice_id: str, version: int, article: str) -> None:
        """Stores which article a notice version answers (13 or 14)."""
        await upsert(self.session, orm.gate_notices, {"notice_id": notice_id, "version": version,
                                                      "article": article}, keys=["notice_id", "version"])

    async def put_delivery(self, values: Mapping[str, Any]) -> None:
        """Stores a notice delivery to a contact."""
        await upsert(self.session, orm.gate_notice_deliveries, values, keys=["delivery_id"])

    async def put_purpose(self, *, purpose_id: str, version: int, lawful_basis: str | None, name: str | None,
                          retired: bool) -> None:
        """Stores a purpose's version in force (a retirement keeps the last basis)."""
        values: dict[str, Any] = {"purpose_id": purpose_id, "version": version, "retired": retired}
        if lawful_basis is not None:
            values["lawful_basis"] = lawful_basis
        if name is not None:
            values["name"] = name
        exists = await self.session.scalar(sa.select(orm.gate_purposes.c.purpose_id)
                                           .where(orm.gate_purposes.c.purpose_id == purpose_id))
        if exists:
            await self.session.execute(sa.update(orm.gate_purposes)
                                       .where(orm.gate_purposes.c.purpose_id == purpose_id).values(**values))
        else:
            await self.session.execute(sa.insert(orm.gate_purposes).values(
                **{"lawful_basis": "unknown", "name": None, **values}))

    async def put_party(self, *, party_id: str, values: Mapping[str, Any]) -> None:
        """Stores what consent says of a party: roles, status, its contract and a broker's verification."""
        exists = await self.session.scalar(sa.select(orm.gate_parties.c.party_id)
                                           .where(orm.gate_parties.c.party_id == party_id))
        if exists:
            await self.session.execute(sa.update(orm.gate_parties).where(orm.gate_parties.c.party_id == party_id)
                                       .values(**values))
        else:
            await self.session.execute(sa.insert(orm.gate_parties).values(
                **{"legal_name": party_id, "roles": [], "status": "active", **values, "party_id": party_id}))

    async def _brokers(self, names: set[str], *, today: date) -> dict[str, tuple[BrokerVerification, date | None]]:
        """Returns, per broker name, whether its consent collection counts as verified today (UNI-05).

        Verified means: a data-broker party of that name, active, with a contract in force today and
        a verification of its consent records no older than the configured bound.
        """
        if not names:
            return {}
        p = orm.gate_parties.c
        out: dict[str, tuple[BrokerVerification, date | None]] = {}
        for row in (await self.session.execute(sa.select(orm.gate_parties).where(p.legal_name.in_(names))))\
                .mappings():
            if "data_broker" not in (row["roles"] or []):
                continue
            verified = _aware(row["broker_last_verified_at"])
            expires = _aware(row["contract_expires_at"])
            signed = _aware(row["contract_signed_at"])
            in_force = signed is not None and signed.date() <= today and (expires is None or expires.date() >= today)
            fresh = verified is not None and (today - verified.date()).days <= self.broker_verification_max_age_days
            ok = row["status"] == "active" and in_force and fresh
            state = BrokerVerification.VERIFIED if ok else BrokerVerification.NOT_VERIFIED
            if out.get(row["legal_name"], (None,))[0] is not BrokerVerification.VERIFIED:
                out[row["legal_name"]] = (state, verified.date() if verified else None)
        return out

    async def put_processor(self, *, processor_id: str, legal_name: str | None, role: str | None, status: str,
                            contract: Mapping[str, Any] | None) -> None:
        """Stores a processor's status and, when the event carries it, its contract."""
        values: dict[str, Any] = {"processor_id": processor_id, "status": status}
        if legal_name is not None:
            values["legal_name"] = legal_name
        if role is not None:
            values["role"] = role
        if contract is not None:
            values["contract"] = dict(contract)
        exists = await self.session.scalar(sa.select(orm.gate_processors.c.processor_id)
                                           .where(orm.gate_processors.c.processor_id == processor_id))
        if exists:
            await self.session.execute(sa.update(orm.gate_processors)
                                       .where(orm.gate_processors.c.processor_id == processor_id).values(**values))
        else:
            await self.session.execute(sa.insert(orm.gate_processors).values(
                **{"legal_name": processor_id, "role": None, "contract": None, **values}))

    async def record_offset(self, *, topic: str, partition: int, offset: int, event_time: datetime | None) -> None:
        """Records the next offset to consume on a partition, in the same transaction as the event's effect."""
        table = orm.projection_offsets
        values = {"topic": topic, "partition": partition, "next_offset": offset + 1,
                  "last_event_time": event_time, "updated_at": datetime.now(UTC)}
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        excluded = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).excluded
        await upsert(self.session, table, values, keys=["topic", "partition"],
                     where=table.c.next_offset <= excluded.next_offset)

    async def offsets(self) -> dict[tuple[str, int], int]:
        """Returns the next offset to consume per (topic, partition)."""
        rows = await self.session.execute(sa.select(orm.projection_offsets.c.topic,
                                                    orm.projection_offsets.c.partition,
                                                    orm.projection_offsets.c.next_offset))
        return {(t, p): o for t, p, o in rows}

    async def reset(self, topics: Iterable[str]) -> None:
        """Empties the projection, its offsets and the inbox of its topics, before a rebuild."""
        for table in (orm.gate_contacts, orm.gate_consents, orm.gate_objections, orm.gate_objection_indexes,
                      orm.gate_notices, orm.gate_notice_deliveries, orm.gate_purposes, orm.gate_processors,
                      orm.projection_offsets):
            await self.session.execute(sa.delete(table))
        await self.session.execute(sa.delete(orm.inbox).where(orm.inbox.c.topic.in_(list(topics))))

    # --- Reads (for reviews and checks) -----------------------------------------------------------

    async def purpose(self, purpose_id: str) -> Mapping[str, Any] | None:
        """Returns a purpose as consent's events describe it."""
        row = (await self.session.execute(sa.select(orm.gate_purposes)
                                          .where(orm.gate_purposes.c.purpose_id == purpose_id))).mappings().first()
        return dict(row) if row else None

    async def processor(self, processor_id: str) -> Mapping[str, Any] | None:
        """Returns a processor as consent's events describe it."""
        row = (await self.session.execute(sa.select(orm.gate_processors).where(
            orm.gate_processors.c.processor_id == processor_id))).mappings().first()
        return dict(row) if row else None

    async def bloctel_checked_on(self) -> date | None:
        """Returns the day of the latest import into a Bloctel-type list, if any."""
        latest = await self.session.scalar(
            sa.select(sa.func.max(orm.suppression_imports.c.imported_at))
            .join(orm.suppression_lists, orm.suppression_lists.c.name == orm.suppression_imports.c.list_name)
            .where(orm.suppression_lists.c.kind == SuppressionKind.BLOCTEL.value))
        return _aware(latest).date() if latest else None  # type: ignore[union-attr]

    async def recipients(self, contact_ids: Sequence[str], *, purpose_id: str, channel: Channel,
                         seller_entity: str | None, today: date) -> dict[str, RecipientFacts]:
        """Returns the facts of the known contacts among `contact_ids` for one purpose and channel."""
        # Because only the phone rules (TEL-02, RET-08) read the Bloctel cleaning date.
        bloctel_on = await self.bloctel_checked_on() if channel is Channel.PHONE_HUMAN else None
        out: dict[str, RecipientFacts] = {}
        for start in range(0, len(contact_ids), _CHUNK):
            chunk = list(dict.fromkeys(contact_ids[start:start + _CHUNK]))
            out.update(await self._chunk(chunk, purpose_id=purpose_id, channel=channel, seller_entity=seller_entity,
                                         today=today, bloctel_on=bloctel_on))
        return out

    async def _chunk(self, ids: list[str], *, purpose_id: str, channel: Channel, seller_entity: str | None,
                     today: date, bloctel_on: date | None) -> dict[str, RecipientFacts]:
        s = self.session
        contacts = (await s.execute(sa.select(orm.gate_contacts).where(orm.gate_contacts.c.contact_id.in_(ids))))\
            .mappings().all()
        if not contacts:
            return {}
        indexes = {row["contact_id"]: [i for i in (row["email_index"], row["phone_index"]) if i]
                   for row in contacts}
        all_indexes = sorted({i for values in indexes.values() for i in values})

        consents: dict[str, list[ConsentRecord]] = defaultdict(list)
        c = orm.gate_consents.c
        for row in (await s.execute(sa.select(orm.gate_consents).where(
                c.contact_id.in_(ids), c.purpose_id == purpose_id, c.channel == channel.value,
                c.status.in_(("granted", "withdrawn"))))).mappings():
            granted = _aware(row["granted_at"]) or _EPOCH
            consents[row["contact_id"]].append(ConsentRecord(
                consent_id=row["consent_id"], purpose_id=row["purpose_id"], channel=Channel(row["channel"]),
                status=ConsentStatus(row["status"]), granted_at=granted, withdrawn_at=_aware(row["withdrawn_at"]),
                # Because consent refuses a grant without wording and proof (UNI-04), and records only
                # affirmative collection methods; withdrawal information is part of the notice it cites.
                proof_present=True, positive_act=True, withdrawal_info_given=row["notice_id"] is not None,
                collector=row["collector_name"],
                notice_version=None if row["notice_version"] is None else str(row["notice_version"])))

        objections: dict[str, list[Objection]] = defaultdict(list)
        o = orm.gate_objections.c
        for row in (await s.execute(sa.select(orm.gate_objections).where(o.contact_id.in_(ids)))).mappings():
            objections[row["contact_id"]].append(_objection(row))
        if all_indexes:
            by_index: dict[str, list[Objection]] = defaultdict(list)
            query = (sa.select(orm.gate_objections, orm.gate_objection_indexes.c.blind_index)
                     .join(orm.gate_objection_indexes,
                           orm.gate_objection_indexes.c.objection_id == orm.gate_objections.c.objection_id)
                     .where(orm.gate_objection_indexes.c.blind_index.in_(all_indexes)))
            for row in (await s.execute(query)).mappings():
                by_index[row["blind_index"]].append(_objection(row))
            for contact_id, values in indexes.items():
                for index in values:
                    objections[contact_id].extend(by_index.get(index, ()))

        notices: dict[str, dict[str, tuple[datetime, str]]] = defaultdict(dict)
        d = orm.gate_notice_deliveries.c
        query = (sa.select(d.contact_id, d.delivery_id, d.delivered_at, orm.gate_notices.c.article)
                 .join(orm.gate_notices, sa.and_(orm.gate_notices.c.notice_id == d.notice_id,
                                                 orm.gate_notices.c.version == d.notice_version))
                 .where(d.contact_id.in_(ids)).order_by(d.delivered_at))
        for contact_id, delivery_id, delivered_at, article in await s.execute(query):
            notices[contact_id].setdefault(str(article), (_aware(delivered_at), delivery_id))  # type: ignore[arg-type]

        hits: dict[str, list[SuppressionHit]] = defaultdict(list)
        if all_indexes:
            e, lists, imports = orm.suppression_entries.c, orm.suppression_lists.c, orm.suppression_imports.c
            query = (sa.select(e.blind_index, e.list_name, e.import_id, lists.kind, lists.channel,
                               imports.imported_at)
                     .join(orm.suppression_lists, lists.name == e.list_name)
                     .join(orm.suppression_imports, imports.import_id == e.import_id)
                     .where(e.blind_index.in_(all_indexes)))
            by_index_hits: dict[str, list[SuppressionHit]] = defaultdict(list)
            for index, name, import_id, kind, list_channel, imported_at in await s.execute(query):
                by_index_hits[index].append(SuppressionHit(
                    list_name=name, list_kind=SuppressionKind(kind), import_id=import_id,
                    imported_at=_aware(imported_at),  # type: ignore[arg-type]
                    channel=Channel(list_channel) if list_channel else None))
            for contact_id, values in indexes.items():
                for index in values:
                    hits[contact_id].extend(by_index_hits.get(index, ()))

        brokers = await self._brokers({row["broker_name"] for row in contacts if row["broker_name"]}, today=today)

        out = {}
        for row in contacts:
            contact_id = row["contact_id"]
            art13 = notices[contact_id].get("13")
            art14 = notices[contact_id].get("14")
            informed = art13 is not None or art14 is not None
            at_sale = row["source"] == "sale"
            minor_until = row["minor_until"]
            out[contact_id] = RecipientFacts(
                contact_id=contact_id,
                kind=ContactKind(row["kind"]),
                relationship=Relationship(row["relationship"]),
                collected_from_person=row["collected_from_person"],
                obtained_at=_aware(row["obtained_at"]),  # type: ignore[arg-type]
                channel_addresses=frozenset(ch for ch, bit in CHANNEL_BITS.items() if row["channel_mask"] & bit),
                source=row["source"],
                broker_name=row["broker_name"],
                broker_verification=brokers.get(row["broker_name"], (BrokerVerification.NOT_VERIFIED, None))[0],
                broker_verified_at=brokers.get(row["broker_name"], (BrokerVerification.NOT_VERIFIED, None))[1],
                last_contact_from_person_at=_aware(row["last_contact_from_person_at"]),
                relationship_end_at=_aware(row["relationship_end_at"]),
                is_minor=minor_until is not None and minor_until > today,
                objections=tuple(dict.fromkeys(objections.get(contact_id, ()))),
                suppression_hits=tuple(hits.get(contact_id, ())),
                consents=tuple(consents.get(contact_id, ())),
                # Because a published Art. 13/14 notice is checked complete by consent, right to object included.
                informed_at_collection=informed,
                objection_offered_at_collection=informed,
                art13_notice_given_at=art13[0] if art13 else None,
                art14_notice_delivered_at=art14[0] if art14 else None,
                art14_delivery_id=art14[1] if art14 else (art13[1] if art13 else None),
                collected_at_sale=at_sale,
                sale_entity=seller_entity if at_sale else None,
                purchased_categories=frozenset(row["purchased_categories"] or ()),
                bloctel_checked_on=bloctel_on,
            )
        return out


def _objection(row: Mapping[str, Any]) -> Objection:
    scope = row["scope"]
    channel = None if scope == ALL_DIRECT_MARKETING else Channel(scope)
    return Objection(objection_id=row["objection_id"], at=_aware(row["at"]), channel=channel)  # type: ignore[arg-type]


def unknown_recipient(contact_id: str) -> RecipientFacts:
    """Returns the facts of a contact the projection has never seen: no address, nothing to rely on."""
    return RecipientFacts(contact_id=contact_id, kind=ContactKind.CONSUMER, relationship=Relationship.PROSPECT,
                          collected_from_person=False, obtained_at=_EPOCH)

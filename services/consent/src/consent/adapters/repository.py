"""The consent repositories: explicit mappings between rows (JSON where convenient) and domain aggregates."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from consent.adapters import orm
from consent.domain.breaches import (
    Assessment,
    Breach,
    BreachNature,
    Communication,
    CommunicationExemption,
    CommunicationMeans,
    Notification,
    RiskLevel,
    to_record,
)
from consent.domain.contract_terms import (
    Assignment,
    Confidentiality,
    ConfidentialityInstrument,
    ContractTerms,
    Licence,
    Owner,
    Reversibility,
    SecurityObligations,
    Work,
)
from consent.domain.model import (
    Channel,
    CollectionMethod,
    Collector,
    CollectorKind,
    Consent,
    ConsentProof,
    ConsentStatus,
    ConsentTerms,
    DataCategory,
    LawfulBasis,
    Objection,
    ObjectionReason,
    Purpose,
    PurposeVersion,
    SecurityMeasures,
    Transfer,
    TransferSafeguard,
)
from consent.domain.model import Party as NamedParty
from consent.domain.notices import Notice, NoticeArticle, NoticeDelivery
from consent.domain.parties import Contract, Party, PartyRole, PartyStatus
from consent.domain.processors import (
    Authorisation,
    Location,
    Processor,
    ProcessorContract,
    ProcessorRole,
    ProcessorStatus,
    SubProcessor,
    TransferMechanism,
)

A = TypeVar("A")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    # The JSON documents keep each time with its offset, as the domain (aware times only) gave it.
    return _required_time(value) if value is not None else None


def _required_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _party(value: NamedParty | None) -> dict[str, str] | None:
    return {"name": value.name, "contact": value.contact} if value is not None else None


def _party_from(value: dict[str, str] | None) -> NamedParty | None:
    return _required_party(value) if value is not None else None


def _required_party(value: dict[str, str]) -> NamedParty:
    return NamedParty(**value)


# --- The ports: what the handlers may ask of each repository (the fakes implement them in memory).

#: A keyset position in a sorted list: (sort value, record id).
Keyset = tuple[Any, Any]


class AbstractRepository(abc.ABC, Generic[A]):
    """Hands out aggregates and remembers them in `seen`, where the unit of work collects their events."""

    @property
    @abc.abstractmethod
    def seen(self) -> list[A]:
        """Returns the aggregates handed out or added in this unit of work."""

    @abc.abstractmethod
    def add(self, aggregate: A) -> None:
        """Registers a new aggregate (or a replacement of a loaded one) to be written on commit."""


class AbstractPurposeRepository(AbstractRepository[Purpose]):
    """The register of processing."""

    @abc.abstractmethod
    async def get(self, purpose_id: str, *, for_update: bool = False) -> Purpose | None:
        """Returns the purpose or None."""

    @abc.abstractmethod
    async def list_all(self) -> list[Purpose]:
        """Returns every purpose, in order of registration."""

    @abc.abstractmethod
    async def page(self, *, after: Keyset | None, limit: int) -> list[Purpose]:
        """Returns a page of purposes in order of registration, after the keyset `after`."""


class AbstractNoticeRepository(AbstractRepository[Notice]):
    """Notice versions."""

    @abc.abstractmethod
    async def get(self, notice_id: str, version: int | None = None) -> Notice | None:
        """Returns the given version of a notice, or its latest, or None."""


class AbstractDeliveryRepository(AbstractRepository[NoticeDelivery]):
    """Proofs of notice delivery."""

    @abc.abstractmethod
    async def for_contact(self, contact_id: str) -> list[NoticeDelivery]:
        """Returns a contact's deliveries, oldest first."""

    @abc.abstractmethod
    async def delete(self, delivery_ids: Iterable[str]) -> None:
        """Deletes deliveries for good (erasure)."""


class AbstractConsentRepository(AbstractRepository[Consent]):
    """Consent records, withdrawn ones included."""

    @abc.abstractmethod
    async def get(self, consent_id: str, *, for_update: bool = False) -> Consent | None:
        """Returns the consent or None."""

    @abc.abstractmethod
    async def for_contact(self, contact_id: str, *, for_update: bool = False) -> list[Consent]:
        """Returns a contact's consents, oldest first."""

    @abc.abstractmethod
    async def delete(self, consent_ids: Iterable[str]) -> None:
        """Deletes consents for good (erasure)."""


class AbstractObjectionRepository(AbstractRepository[Objection]):
    """Objections to direct marketing, kept (as blind indexes) after erasure."""

    @abc.abstractmethod
    async def for_contact(self, contact_id: str) -> list[Objection]:
        """Returns a contact's objections, oldest first."""

    @abc.abstractmethod
    async def list_all(self) -> list[Objection]:
        """Returns every objection, oldest first."""

    @abc.abstractmethod
    async def matching(
        self, blind_indexes: Iterable[str], *, after: Keyset | None = None, limit: int = 1000
    ) -> list[Objection]:
        """Returns the objections carrying any of the blind indexes, oldest first."""


class AbstractProcessorRepository(AbstractRepository[Processor]):
    """The vendor registry."""

    @abc.abstractmethod
    async def get(self, processor_id: str, *, for_update: bool = False) -> Processor | None:
        """Returns the processor or None."""

    @abc.abstractmethod
    async def list_all(self) -> list[Processor]:
        """Returns every processor, by legal name."""

    @abc.abstractmethod
    async def page(self, *, after: Keyset | None, limit: int) -> list[Processor]:
        """Returns a page of processors by legal name, after the keyset `after`."""


class AbstractPartyRepository(AbstractRepository[Party]):
    """The parties to the deployment."""

    @abc.abstractmethod
    async def get(self, party_id: str, *, for_update: bool = False) -> Party | None:
        """Returns the party or None."""

    @abc.abstractmethod
    async def list_all(self) -> list[Party]:
        """Returns every party, by legal name."""

    @abc.abstractmethod
    async def page(self, *, after: Keyset | None, limit: int) -> list[Party]:
        """Returns a page of parties by legal name, after the keyset `after`."""


class AbstractContractRepository(AbstractRepository[Contract]):
    """Contract versions per party."""

    @abc.abstractmethod
    async def for_party(self, party_id: str, *, for_update: bool = False) -> list[Contract]:
        """Returns a party's contract versions, oldest first."""

    @abc.abstractmethod
    async def for_parties(self, party_ids: Iterable[str]) -> list[Contract]:
        """Returns the contract versions of the given parties."""

    @abc.abstractmethod
    async def list_all(self, *, for_update: bool = False) -> list[Contract]:
        """Returns every contract version."""

    @abc.abstractmethod
    async def expiring_or_expired_by(self, until: datetime, *, for_update: bool = False) -> list[Contract]:
        """Returns the contract versions expiring on or before `until` (their parties' later ones too)."""


class AbstractBreachRepository(AbstractRepository[Breach]):
    """The breach register."""

    @abc.abstractmethod
    async def get(self, breach_id: str, *, for_update: bool = False) -> Breach | None:
        """Returns the breach or None."""

    @abc.abstractmethod
    async def page(
        self, *, after: Keyset | None, limit: int, overdue_at: datetime | None = None
    ) -> list[Breach]:
        """Returns a page of breaches by awareness time; with `overdue_at`, only those overdue then."""

    @abc.abstractmethod
    async def overdue(self, at: datetime, *, for_update: bool = False) -> list[Breach]:
        """Returns every breach overdue at `at` (open, deadline passed), longest overdue first."""


class AbstractContactIndexRepository(abc.ABC):
    """The blind indexes each live contact has had (a projection of contacts.events)."""

    @abc.abstractmethod
    async def get(self, contact_id: str) -> tuple[str, ...]:
        """Returns the contact's known blind indexes (none when unknown)."""

    @abc.abstractmethod
    async def merge(self, contact_id: str, blind_indexes: Iterable[str], *, at: datetime) -> tuple[str, ...]:
        """Adds blind indexes to the contact's set (order-independent, idempotent); returns the whole set."""

    @abc.abstractmethod
    async def delete(self, contact_id: str) -> None:
        """Forgets the contact's indexes (erasure)."""


# --- The SQLAlchemy repositories.


class _Repository(AbstractRepository[A]):
    """Loads and saves one kind of aggregate; remembers every aggregate it handed out in `seen`."""

    table: sa.Table

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._seen: dict[Hashable, A] = {}
        self._loaded: dict[Hashable, dict[str, Any]] = {}

    @property
    def seen(self) -> list[A]:
        """Returns the aggregates handed out or added in this unit of work."""
        return list(self._seen.values())

    def add(self, aggregate: A) -> None:
        """Registers a new aggregate (or a replacement of a loaded one) to be written on flush."""
        self._seen[self._key(aggregate)] = aggregate

    async def _page(
        self, *where: Any, order_by: tuple[Any, Any], after: Keyset | None, limit: int
    ) -> list[A]:
        """Returns up to `limit` aggregates after the keyset `after` (sort value, id) in `order_by` order."""
        if after is not None:
            first, second = order_by
            where = (*where, sa.or_(first > after[0], sa.and_(first == after[0], second > after[1])))
        return await self._select(*where, order_by=order_by, limit=limit)

    async def _select(
        self, *where: Any, order_by: Iterable[Any] = (), for_update: bool = False, limit: int | None = None
    ) -> list[A]:
        query = sa.select(self.table).where(*where).order_by(*order_by)
        if limit is not None:
            query = query.limit(limit)
        if for_update and self._session.bind is not None and self._session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        found = []
        for row in (await self._session.execute(query)).mappings():
            key = self._row_key(row)
            if key in self._seen:
                found.append(self._seen[key])
                continue
            aggregate = self._to_domain(row)
            self._loaded[key] = self._from_domain(aggregate)
            self._seen[key] = aggregate
            found.append(aggregate)
        return found

    async def _delete(self, *where: Any) -> None:
        await self._session.execute(self.table.delete().where(*where))

    def _forget(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self._seen.pop(key, None)
            self._loaded.pop(key, None)

    async def flush(self) -> None:
        """Inserts new aggregates and updates those whose row changed."""
        for key, aggregate in self._seen.items():
            row = self._from_domain(aggregate)
            loaded = self._loaded.get(key)
            if loaded is None:
                await self._session.execute(self.table.insert().values(**row))
            elif loaded != row:
                pk = [column == row[column.name] for column in self.table.primary_key.columns]
                await self._session.execute(self.table.update().where(*pk).values(**row))
            self._loaded[key] = row

    def _row_key(self, row: Any) -> Hashable:
        return tuple(row[column.name] for column in self.table.primary_key.columns)

    def _key(self, aggregate: A) -> Hashable:
        row = self._from_domain(aggregate)
        return tuple(row[column.name] for column in self.table.primary_key.columns)

    def _from_domain(self, aggregate: A) -> dict[str, Any]:
        raise NotImplementedError

    def _to_domain(self, row: Any) -> A:
        raise NotImplementedError


# --- Purposes.


def purpose_version_from_domain(v: PurposeVersion) -> dict[str, Any]:
    """Returns one register version as a JSON document."""
    return {
        "version": v.version,
        "valid_from": _iso(v.valid_from),
        "valid_to": _iso(v.valid_to),
        "name": v.name,
        "controller": _party(v.controller),
        "dpo": _party(v.dpo),
        "description": v.description,
        "lawful_basis": v.lawful_basis.value,
        "legitimate_interest": v.legitimate_interest,
        "data_categories": {c.value: list(items) for c, items in v.data_categories.items()},
        "special_categories": v.special_categories,
        "special_categories_detail": list(v.special_categories_detail),
        "data_subjects": list(v.data_subjects),
        "recipients_internal": list(v.recipients_internal),
        "recipients_external": list(v.recipients_external),
        "processor_ids": list(v.processor_ids),
        "retention": dict(v.retention),
        "transfers": [
            {
                "recipient": t.recipient,
                "country": t.country,
                "safeguard": t.safeguard.value,
                "documentation": t.documentation,
            }
            for t in v.transfers
        ],
        "security_measures": dataclasses.asdict(v.security_measures),
        "dpia_required": v.dpia_required,
        "joint_controller": _party(v.joint_controller),
        "software": v.software,
        "art14_exemption_claimed": v.art14_exemption_claimed,
        "art14_exemption_ground": v.art14_exemption_ground,
        "channels": [c.value for c in v.channels],
        "retention_months": v.retention_months,
        "profiling": v.profiling,
        "dpia_reference": v.dpia_reference,
    }


def purpose_version_to_domain(d: dict[str, Any]) -> PurposeVersion:
    """Returns the register version stored as a JSON document."""
    return PurposeVersion(
        version=d["version"],
        valid_from=_required_time(d["valid_from"]),
        valid_to=_time(d["valid_to"]),
        name=d["name"],
        controller=_required_party(d["controller"]),
        dpo=_party_from(d["dpo"]),
        description=d["description"],
        lawful_basis=LawfulBasis(d["lawful_basis"]),
        legitimate_interest=d["legitimate_interest"],
        data_categories={DataCategory(c): tuple(items) for c, items in d["data_categories"].items()},
        special_categories=d["special_categories"],
        special_categories_detail=tuple(d["special_categories_detail"]),
        data_subjects=tuple(d["data_subjects"]),
        recipients_internal=tuple(d["recipients_internal"]),
        recipients_external=tuple(d["recipients_external"]),
        processor_ids=tuple(d["processor_ids"]),
        retention=dict(d["retention"]),
        transfers=tuple(
            Transfer(
                recipient=t["recipient"],
                country=t["country"],
                safeguard=TransferSafeguard(t["safeguard"]),
                documentation=t["documentation"],
            )
            for t in d["transfers"]
        ),
        security_measures=SecurityMeasures(**d["security_measures"]),
        dpia_required=d["dpia_required"],
        joint_controller=_party_from(d["joint_controller"]),
        software=d["software"],
        # Versions stored before the field existed claimed no exemption.
        art14_exemption_claimed=bool(d.get("art14_exemption_claimed")),
        art14_exemption_ground=d.get("art14_exemption_ground"),
        # Versions stored before issue 19 state no channel, retention in months, profiling or DPIA.
        channels=tuple(Channel(c) for c in d.get("channels") or ()),
        retention_months=d.get("retention_months"),
        profiling=bool(d.get("profiling")),
        dpia_reference=d.get("dpia_reference"),
    )


class PurposeRepository(_Repository[Purpose], AbstractPurposeRepository):
    """The register of processing."""

    table = orm.purposes

    async def get(self, purpose_id: str, *, for_update: bool = False) -> Purpose | None:
        """Returns the purpose or None."""
        found = await self._select(orm.purposes.c.purpose_id == purpose_id, for_update=for_update)
        return found[0] if found else None

    async def list_all(self) -> list[Purpose]:
        """Returns every purpose, in order of registration."""
        return await self._select(order_by=[orm.purposes.c.created_at, orm.purposes.c.purpose_id])

    async def page(self, *, after: Keyset | None, limit: int) -> list[Purpose]:
        """Returns a page of purposes in order of registration, after the keyset `after`."""
        return await self._page(
            order_by=(orm.purposes.c.created_at, orm.purposes.c.purpose_id), after=after, limit=limit
        )

    def _from_domain(self, purpose: Purpose) -> dict[str, Any]:
        return {
            "purpose_id": purpose.purpose_id,
            "versions": [purpose_version_from_domain(v) for v in purpose.versions],
            "created_at": purpose.versions[0].valid_from,
            "updated_at": max(v.valid_to or v.valid_from for v in purpose.versions),
        }

    def _to_domain(self, row: Any) -> Purpose:
        return Purpose(
            purpose_id=row["purpose_id"], versions=[purpose_version_to_domain(v) for v in row["versions"]]
        )


# --- Notices and their deliveries.


class NoticeRepository(_Repository[Notice], AbstractNoticeRepository):
    """Notice versions."""

    table = orm.notices

    async def get(self, notice_id: str, version: int | None = None) -> Notice | None:
        """Returns the given version of a notice, or its latest, or None."""
        clauses = [orm.notices.c.notice_id == notice_id]
        if version is not None:
            clauses.append(orm.notices.c.version == version)
        found = await self._select(*clauses, order_by=[orm.notices.c.version.desc()])
        return found[0] if found else None

    def _from_domain(self, notice: Notice) -> dict[str, Any]:
        return {
            "notice_id": notice.notice_id,
            "version": notice.version,
            "language": notice.language,
            "article": notice.article.value,
            "purpose_ids": list(notice.purpose_ids),
            "content": dict(notice.content),
            "not_applicable": sorted(notice.not_applicable),
            "published_at": notice.published_at,
            "content_hash": notice.content_hash,
        }

    def _to_domain(self, row: Any) -> Notice:
        return Notice(
            notice_id=row["notice_id"],
            version=row["version"],
            language=row["language"],
            article=NoticeArticle(row["article"]),
            purpose_ids=tuple(row["purpose_ids"]),
            content=dict(row["content"]),
            not_applicable=frozenset(row["not_applicable"]),
            published_at=row["published_at"],
            content_hash=row["content_hash"],
        )


class DeliveryRepository(_Repository[NoticeDelivery], AbstractDeliveryRepository):
    """Proofs of notice delivery."""

    table = orm.notice_deliveries

    async def for_contact(self, contact_id: str) -> list[NoticeDelivery]:
        """Returns a contact's deliveries, oldest first."""
        return await self._select(
            orm.notice_deliveries.c.contact_id == contact_id, order_by=[orm.notice_deliveries.c.delivered_at]
        )

    async def delete(self, delivery_ids: Iterable[str]) -> None:
        """Deletes deliveries for good (erasure)."""
        ids = list(delivery_ids)
        if ids:
            await self._delete(orm.notice_deliveries.c.delivery_id.in_(ids))
        self._forget((i,) for i in ids)

    def _from_domain(self, d: NoticeDelivery) -> dict[str, Any]:
        return {
            "delivery_id": d.delivery_id,
            "contact_id": d.contact_id,
            "notice_id": d.notice_id,
            "notice_version": d.notice_version,
            "content_hash": d.content_hash,
            "channel": d.channel,
            "delivered_at": d.delivered_at,
            "evidence": dict(d.evidence),
        }

    def _to_domain(self, row: Any) -> NoticeDelivery:
        return NoticeDelivery(
            delivery_id=row["delivery_id"],
            contact_id=row["contact_id"],
            notice_id=row["notice_id"],
            notice_version=row["notice_version"],
            content_hash=row["content_hash"],
            channel=row["channel"],
            delivered_at=row["delivered_at"],
            evidence=dict(row["evidence"]),
        )


# --- Consents and objections.


class ConsentRepository(_Repository[Consent], AbstractConsentRepository):
    """Consent records, withdrawn ones included."""

    table = orm.consents

    async def get(self, consent_id: str, *, for_update: bool = False) -> Consent | None:
        """Returns the consent or None."""
        found = await self._select(orm.consents.c.consent_id == consent_id, for_update=for_update)
        return found[0] if found else None

    async def for_contact(self, contact_id: str, *, for_update: bool = False) -> list[Consent]:
        """Returns a contact's consents, oldest first."""
        return await self._select(
            orm.consents.c.contact_id == contact_id,
            order_by=[orm.consents.c.requested_at, orm.consents.c.consent_id],
            for_update=for_update,
        )

    async def delete(self, consent_ids: Iterable[str]) -> None:
        """Deletes consents for good (erasure)."""
        ids = list(consent_ids)
        if ids:
            await self._delete(orm.consents.c.consent_id.in_(ids))
        self._forget((i,) for i in ids)

    def _from_domain(self, c: Consent) -> dict[str, Any]:
        return {
            "consent_id": c.consent_id,
            "contact_id": c.contact_id,
            "purpose_id": c.purpose_id,
            "purpose_version": c.purpose_version,
            "channel": c.channel.value,
            "status": c.status.value,
            "collection_method": c.collection_method.value,
            "wording": c.wording,
            "notice_id": c.notice_id,
            "notice_version": c.notice_version,
            "collector": {
                "kind": c.collector.kind.value,
                "name": c.collector.name,
                "partner_list_shown": list(c.collector.partner_list_shown),
            },
            "proof": {
                "captured_at": _iso(c.proof.captured_at),
                "source": c.proof.source,
                "ip": c.proof.ip,
                "user_agent": c.proof.user_agent,
            },
            "double_opt_in": c.double_opt_in,
            "requested_at": c.requested_at,
            "granted_at": c.granted_at,
            "confirmed_at": c.confirmed_at,
            "withdrawn_at": c.withdrawn_at,
            "withdrawal_source": c.withdrawal_source,
            "terms": c.terms.record(),
            "out_of_hours_calls": c.out_of_hours_calls,
            "partners": list(c.partners),
            "partner_categories": list(c.partner_categories),
            "email_tracking": c.email_tracking,
        }

    def _to_domain(self, row: Any) -> Consent:
        collector, proof = row["collector"], row["proof"]
        return Consent(
            consent_id=row["consent_id"],
            contact_id=row["contact_id"],
            purpose_id=row["purpose_id"],
            purpose_version=row["purpose_version"],
            channel=Channel(row["channel"]),
            status=ConsentStatus(row["status"]),
            collection_method=CollectionMethod(row["collection_method"]),
            wording=row["wording"],
            notice_id=row["notice_id"],
            notice_version=row["notice_version"],
            collector=Collector(
                kind=CollectorKind(collector["kind"]),
                name=collector["name"],
                partner_list_shown=tuple(collector["partner_list_shown"]),
            ),
            proof=ConsentProof(
                captured_at=_required_time(proof["captured_at"]),
                source=proof["source"],
                ip=proof["ip"],
                user_agent=proof["user_agent"],
            ),
            double_opt_in=row["double_opt_in"],
            requested_at=row["requested_at"],
            granted_at=row["granted_at"],
            confirmed_at=row["confirmed_at"],
            withdrawn_at=row["withdrawn_at"],
            withdrawal_source=row["withdrawal_source"],
            # Rows recorded before the terms were kept claim nothing: the gate treats them as unproven.
            terms=ConsentTerms(**{**row["terms"], "given_by": tuple(row["terms"]["given_by"])})
            if row["terms"]
            else ConsentTerms(),
            out_of_hours_calls=bool(row["out_of_hours_calls"]),
            # Rows recorded before 0007 name no partner and cover no e-mail tracking.
            partners=tuple(row["partners"] or ()),
            partner_categories=tuple(row["partner_categories"] or ()),
            email_tracking=bool(row["email_tracking"]),
        )


class ObjectionRepository(_Repository[Objection], AbstractObjectionRepository):
    """Objections to direct marketing, kept (as blind indexes) after erasure."""

    table = orm.objections

    async def for_contact(self, contact_id: str) -> list[Objection]:
        """Returns a contact's objections, oldest first."""
        return await self._select(orm.objections.c.contact_id == contact_id, order_by=[orm.objections.c.at])

    async def list_all(self) -> list[Objection]:
        """Returns every objection, oldest first."""
        return await self._select(order_by=[orm.objections.c.at, orm.objections.c.objection_id])

    async def matching(
        self, blind_indexes: Iterable[str], *, after: Keyset | None = None, limit: int = 1000
    ) -> list[Objection]:
        """Returns the objections carrying any of the blind indexes, oldest first."""
        ids = sa.select(orm.objection_indexes.c.objection_id).where(
            orm.objection_indexes.c.blind_index.in_(list(blind_indexes))
        )
        return await self._page(
            orm.objections.c.objection_id.in_(ids),
            order_by=(orm.objections.c.at, orm.objections.c.objection_id),
            after=after,
            limit=limit,
        )

    async def flush(self) -> None:
        """Writes objections, then one index row per (blind index, objection) not written yet."""
        known = {key: set(row["blind_indexes"]) for key, row in self._loaded.items()}
        pending = [(o, known.get(key, set())) for key, o in self._seen.items()]
        await super().flush()
        rows = [
            {"blind_index": index, "objection_id": o.objection_id}
            for o, written in pending
            for index in o.blind_indexes
            if index not in written
        ]
        if rows:
            await self._session.execute(orm.objection_indexes.insert(), rows)

    def _from_domain(self, o: Objection) -> dict[str, Any]:
        return {
            "objection_id": o.objection_id,
            "contact_id": o.contact_id,
            "scope": o.scope,
            "at": o.at,
            "blind_indexes": list(o.blind_indexes),
            "reason": o.reason.value,
            "channel": o.channel.value if o.channel else None,
            "purpose_id": o.purpose_id,
        }

    def _to_domain(self, row: Any) -> Objection:
        return Objection(
            objection_id=row["objection_id"],
            contact_id=row["contact_id"],
            scope=row["scope"],
            at=row["at"],
            blind_indexes=tuple(row["blind_indexes"]),
            reason=ObjectionReason(row["reason"] or ObjectionReason.OBJECTION),
            channel=Channel(row["channel"]) if row["channel"] else None,
            purpose_id=row["purpose_id"],
        )


# --- Processors.


def _contract_from_domain(c: ProcessorContract | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "reference": c.reference,
        "signed_at": _iso(c.signed_at),
        "expires_at": _iso(c.expires_at),
        "clauses": dict(c.clauses),
        "scc_2021_915": c.scc_2021_915,
    }


def _contract_to_domain(d: dict[str, Any] | None) -> ProcessorContract | None:
    if d is None:
        return None
    return ProcessorContract(
        reference=d["reference"],
        signed_at=_time(d["signed_at"]),
        expires_at=_time(d["expires_at"]),
        clauses=dict(d["clauses"]),
        scc_2021_915=d["scc_2021_915"],
    )


def _mechanism(value: str | None) -> TransferMechanism | None:
    return TransferMechanism(value) if value is not None else None


class ProcessorRepository(_Repository[Processor], AbstractProcessorRepository):
    """The vendor registry."""

    table = orm.processors

    async def get(self, processor_id: str, *, for_update: bool = False) -> Processor | None:
        """Returns the processor or None."""
        found = await self._select(orm.processors.c.processor_id == processor_id, for_update=for_update)
        return found[0] if found else None

    async def list_all(self) -> list[Processor]:
        """Returns every processor, by legal name."""
        return await self._select(order_by=[orm.processors.c.legal_name, orm.processors.c.processor_id])

    async def page(self, *, after: Keyset | None, limit: int) -> list[Processor]:
        """Returns a page of processors by legal name, after the keyset `after`."""
        return await self._page(
            order_by=(orm.processors.c.legal_name, orm.processors.c.processor_id), after=after, limit=limit
        )

    def _from_domain(self, p: Processor) -> dict[str, Any]:
        return {
            "processor_id": p.processor_id,
            "legal_name": p.legal_name,
            "role": p.role.value,
            "status": p.status.value,
            "record": {
                "contact": p.contact,
                "dpo_contact": p.dpo_contact,
                "registration_id": p.registration_id,
                "purpose_ids": list(p.purpose_ids),
                "contract": _contract_from_domain(p.contract),
                "sub_processors": [
                    {
                        "name": s.name,
                        "country": s.country,
                        "authorisation": s.authorisation.value,
                        "authorised_at": _iso(s.authorised_at),
                        "transfer_mechanism": s.transfer_mechanism.value if s.transfer_mechanism else None,
                        "objection_window_days": s.objection_window_days,
                    }
                    for s in p.sub_processors
                ],
                "locations": [{"country": loc.country, "activity": loc.activity} for loc in p.locations],
                "transfer_mechanism": p.transfer_mechanism.value if p.transfer_mechanism else None,
                "tia_done_at": _iso(p.tia_done_at),
            },
        }

    def _to_domain(self, row: Any) -> Processor:
        r = row["record"]
        return Processor(
            processor_id=row["processor_id"],
            legal_name=row["legal_name"],
            role=ProcessorRole(row["role"]),
            status=ProcessorStatus(row["status"]),
            contact=r["contact"],
            dpo_contact=r["dpo_contact"],
            registration_id=r["registration_id"],
            purpose_ids=tuple(r["purpose_ids"]),
            contract=_contract_to_domain(r["contract"]),
            sub_processors=tuple(
                SubProcessor(
                    name=s["name"],
                    country=s["country"],
                    authorisation=Authorisation(s["authorisation"]),
                    authorised_at=_time(s["authorised_at"]),
                    transfer_mechanism=_mechanism(s["transfer_mechanism"]),
                    objection_window_days=s["objection_window_days"],
                )
                for s in r["sub_processors"]
            ),
            locations=tuple(
                Location(country=loc["country"], activity=loc["activity"]) for loc in r["locations"]
            ),
            transfer_mechanism=_mechanism(r["transfer_mechanism"]),
            tia_done_at=_time(r["tia_done_at"]),
        )


# --- Parties and their contracts.


class PartyRepository(_Repository[Party], AbstractPartyRepository):
    """The parties to the deployment."""

    table = orm.parties

    async def get(self, party_id: str, *, for_update: bool = False) -> Party | None:
        """Returns the party or None."""
        found = await self._select(orm.parties.c.party_id == party_id, for_update=for_update)
        return found[0] if found else None

    async def list_all(self) -> list[Party]:
        """Returns every party, by legal name."""
        return await self._select(order_by=[orm.parties.c.legal_name, orm.parties.c.party_id])

    async def page(self, *, after: Keyset | None, limit: int) -> list[Party]:
        """Returns a page of parties by legal name, after the keyset `after`."""
        return await self._page(
            order_by=(orm.parties.c.legal_name, orm.parties.c.party_id), after=after, limit=limit
        )

    def _from_domain(self, p: Party) -> dict[str, Any]:
        return {
            "party_id": p.party_id,
            "legal_name": p.legal_name,
            "roles": [r.value for r in p.roles],
            "status": p.status.value,
            "registered_at": p.registered_at,
            "record": {
                "registration_id": p.registration_id,
                "contact": p.contact,
                "purpose_ids": list(p.purpose_ids),
                "data_categories": list(p.data_categories),
                "systems": list(p.systems),
                "processor_id": p.processor_id,
                "broker_last_verified_at": _iso(p.broker_last_verified_at),
                "updated_at": _iso(p.updated_at),
            },
        }

    def _to_domain(self, row: Any) -> Party:
        r = row["record"]
        return Party(
            party_id=row["party_id"],
            legal_name=row["legal_name"],
            roles=tuple(PartyRole(x) for x in row["roles"]),
            status=PartyStatus(row["status"]),
            registered_at=row["registered_at"],
            registration_id=r["registration_id"],
            contact=r["contact"],
            purpose_ids=tuple(r["purpose_ids"]),
            data_categories=tuple(r["data_categories"]),
            systems=tuple(r["systems"]),
            processor_id=r["processor_id"],
            broker_last_verified_at=_time(r["broker_last_verified_at"]),
            updated_at=_time(r["updated_at"]),
        )


class ContractRepository(_Repository[Contract], AbstractContractRepository):
    """Contract versions per party."""

    table = orm.party_contracts

    async def for_party(self, party_id: str, *, for_update: bool = False) -> list[Contract]:
        """Returns a party's contract versions, oldest first."""
        return await self._select(
            orm.party_contracts.c.party_id == party_id,
            order_by=[orm.party_contracts.c.version],
            for_update=for_update,
        )

    async def for_parties(self, party_ids: Iterable[str]) -> list[Contract]:
        """Returns the contract versions of the given parties."""
        ids = list(party_ids)
        if not ids:
            return []
        return await self._select(
            orm.party_contracts.c.party_id.in_(ids),
            order_by=[orm.party_contracts.c.party_id, orm.party_contracts.c.version],
        )

    async def list_all(self, *, for_update: bool = False) -> list[Contract]:
        """Returns every contract version."""
        return await self._select(
            order_by=[orm.party_contracts.c.party_id, orm.party_contracts.c.version], for_update=for_update
        )

    async def expiring_or_expired_by(self, until: datetime, *, for_update: bool = False) -> list[Contract]:
        """Returns the contract versions with an expiry on or before `until` (their parties' later ones
        too)."""
        later = sa.select(orm.party_contracts.c.party_id).where(orm.party_contracts.c.expires_at <= until)
        return await self._select(
            orm.party_contracts.c.party_id.in_(later),
            order_by=[orm.party_contracts.c.party_id, orm.party_contracts.c.version],
            for_update=for_update,
        )

    def _from_domain(self, c: Contract) -> dict[str, Any]:
        return {
            "contract_id": c.contract_id,
            "party_id": c.party_id,
            "version": c.version,
            "reference": c.reference,
            "signed_at": c.signed_at,
            "expires_at": c.expires_at,
            "recorded_at": c.recorded_at,
            "record": {
                "clauses": sorted(c.clauses),
                "breach_notification_hours": c.breach_notification_hours,
                "scc_2021_915": c.scc_2021_915,
                "licence_scope": c.licence_scope,
                "terms": terms_to_record(c.terms),
            },
            "expiring_notified_at": c.expiring_notified_at,
            "expired_notified_at": c.expired_notified_at,
        }

    def _to_domain(self, row: Any) -> Contract:
        r = row["record"]
        return Contract(
            contract_id=row["contract_id"],
            party_id=row["party_id"],
            version=row["version"],
            reference=row["reference"],
            signed_at=row["signed_at"],
            expires_at=row["expires_at"],
            clauses=frozenset(r["clauses"]),
            recorded_at=row["recorded_at"],
            breach_notification_hours=r["breach_notification_hours"],
            scc_2021_915=r["scc_2021_915"],
            licence_scope=r["licence_scope"],
            terms=terms_from_record(r.get("terms")),
            expiring_notified_at=row["expiring_notified_at"],
            expired_notified_at=row["expired_notified_at"],
        )


def breach_status(breach: Breach) -> str:
    """Returns the stored status: `notified`, `not_notifiable`, or `open` (the clock still runs)."""
    if breach.notification is not None:
        return "notified"
    if breach.risk is RiskLevel.UNLIKELY:
        return "not_notifiable"
    return "open"


def breach_from_record(
    r: dict[str, Any], *, overdue_notified_at: datetime | None, updated_at: datetime
) -> Breach:
    """Rebuilds a breach from its stored record (`breaches.to_record`)."""
    a, n, c = r.get("assessment"), r.get("notification"), r.get("communication")
    return Breach(
        breach_id=r["breach_id"],
        aware_at=_required_time(r["aware_at"]),
        recorded_at=_required_time(r["recorded_at"]),
        nature=tuple(BreachNature(x) for x in r["nature"]),
        description=r["description"],
        reference=r.get("reference"),
        occurred_from=_time(r.get("occurred_from")),
        occurred_until=_time(r.get("occurred_until")),
        data_categories=tuple(r.get("data_categories") or ()),
        special_categories=bool(r.get("special_categories")),
        subject_categories=tuple(r.get("subject_categories") or ()),
        approx_subjects=r.get("approx_subjects"),
        approx_records=r.get("approx_records"),
        likely_consequences=r.get("likely_consequences") or "",
        measures_taken=r.get("measures_taken") or "",
        measures_proposed=r.get("measures_proposed") or "",
        dpo=_party_from(r.get("dpo")),
        source_party_id=r.get("source_party_id"),
        assessment=None
        if a is None
        else Assessment(
            risk=RiskLevel(a["risk"]),
            justification=a["justification"],
            assessed_at=_required_time(a["assessed_at"]),
        ),
        notification=None
        if n is None
        else Notification(
            notified_at=_required_time(n["notified_at"]),
            reference=n["reference"],
            delay_reasons=n.get("delay_reasons"),
            phased=bool(n.get("phased")),
            recorded_at=_required_time(n["recorded_at"]),
        ),
        communication=None
        if c is None
        else Communication(
            communicated_at=_time(c.get("communicated_at")),
            means=CommunicationMeans(c["means"]) if c.get("means") else None,
            subjects_informed=c.get("subjects_informed"),
            exemption=CommunicationExemption(c["exemption"]) if c.get("exemption") else None,
            justification=c.get("justification"),
            recorded_at=_required_time(c["recorded_at"]),
        ),
        overdue_notified_at=overdue_notified_at,
        updated_at=updated_at,
    )


class BreachRepository(_Repository[Breach], AbstractBreachRepository):
    """The breach register; the record is one JSON document, the clock's columns are indexed."""

    table = orm.breaches

    async def get(self, breach_id: str, *, for_update: bool = False) -> Breach | None:
        """Returns the breach or None."""
        found = await self._select(orm.breaches.c.breach_id == breach_id, for_update=for_update)
        return found[0] if found else None

    async def page(
        self, *, after: Keyset | None, limit: int, overdue_at: datetime | None = None
    ) -> list[Breach]:
        """Returns a page of breaches by awareness time; with `overdue_at`, only those overdue then."""
        where = self._overdue_at(overdue_at) if overdue_at is not None else ()
        return await self._page(
            *where, order_by=(orm.breaches.c.aware_at, orm.breaches.c.breach_id), after=after, limit=limit
        )

    async def overdue(self, at: datetime, *, for_update: bool = False) -> list[Breach]:
        """Returns every breach overdue at `at`, longest overdue first."""
        return await self._select(
            *self._overdue_at(at),
            order_by=[orm.breaches.c.aware_at, orm.breaches.c.breach_id],
            for_update=for_update,
        )

    @staticmethod
    def _overdue_at(at: datetime) -> tuple[Any, ...]:
        return (orm.breaches.c.status == "open", orm.breaches.c.deadline_at < at)

    def _from_domain(self, b: Breach) -> dict[str, Any]:
        return {
            "breach_id": b.breach_id,
            "aware_at": b.aware_at,
            "deadline_at": b.deadline,
            "status": breach_status(b),
            "recorded_at": b.recorded_at,
            "updated_at": b.updated_at or b.recorded_at,
            "overdue_notified_at": b.overdue_notified_at,
            "record": to_record(b),
        }

    def _to_domain(self, row: Any) -> Breach:
        return breach_from_record(
            row["record"], overdue_notified_at=row["overdue_notified_at"], updated_at=row["updated_at"]
        )


def terms_to_record(t: ContractTerms | None) -> dict[str, Any] | None:
    """Returns contract terms as a JSON document (inside the contract's `record`)."""
    if t is None:
        return None
    return {
        "developments_owner": t.developments_owner.value if t.developments_owner else None,
        "parameterisation_owner": t.parameterisation_owner.value if t.parameterisation_owner else None,
        "assignment": None
        if t.assignment is None
        else {**dataclasses.asdict(t.assignment), "covers": [w.value for w in t.assignment.covers]},
        "licence": None if t.licence is None else dataclasses.asdict(t.licence),
        "confidentiality": None
        if t.confidentiality is None
        else {
            **dataclasses.asdict(t.confidentiality),
            "instrument": t.confidentiality.instrument.value if t.confidentiality.instrument else None,
        },
        "security": None if t.security is None else dataclasses.asdict(t.security),
        "reversibility": None if t.reversibility is None else dataclasses.asdict(t.reversibility),
    }


def terms_from_record(d: dict[str, Any] | None) -> ContractTerms | None:
    """Rebuilds contract terms from their JSON document (None on contracts recorded before them)."""
    if d is None:
        return None
    a, lic, c, s = d.get("assignment"), d.get("licence"), d.get("confidentiality"), d.get("security")
    return ContractTerms(
        developments_owner=Owner(d["developments_owner"]) if d.get("developments_owner") else None,
        parameterisation_owner=Owner(d["parameterisation_owner"])
        if d.get("parameterisation_owner")
        else None,
        assignment=None
        if a is None
        else Assignment(
            **{
                **a,
                "covers": tuple(Work(w) for w in a["covers"]),
                "rights": tuple(a["rights"]),
                "territory": tuple(a["territory"]),
            }
        ),
        licence=None if lic is None else Licence(**{**lic, "territory": tuple(lic["territory"])}),
        confidentiality=None
        if c is None
        else Confidentiality(
            staff_bound=c["staff_bound"],
            instrument=ConfidentialityInstrument(c["instrument"]) if c.get("instrument") else None,
            reference=c.get("reference"),
        ),
        security=None if s is None else SecurityObligations(**s),
        reversibility=Reversibility(**d["reversibility"]) if d.get("reversibility") else None,
    )


class ContactIndexRepository(AbstractContactIndexRepository):
    """The blind indexes each live contact has had (a projection of contacts.events)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, contact_id: str) -> tuple[str, ...]:
        """Returns the contact's known blind indexes (none when unknown)."""
        found = (
            await self._session.execute(
                sa.select(orm.contact_indexes.c.blind_indexes).where(
                    orm.contact_indexes.c.contact_id == contact_id
                )
            )
        ).scalar()
        return tuple(found or ())

    async def merge(self, contact_id: str, blind_indexes: Iterable[str], *, at: datetime) -> tuple[str, ...]:
        """Adds blind indexes to the contact's set (order-independent, idempotent); returns the whole set."""
        table = orm.contact_indexes
        query = sa.select(table.c.blind_indexes).where(table.c.contact_id == contact_id)
        if self._session.bind is not None and self._session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        current = (await self._session.execute(query)).scalar()
        merged = tuple(dict.fromkeys([*(current or ()), *blind_indexes]))
        if current is None:
            await self._session.execute(
                table.insert().values(contact_id=contact_id, blind_indexes=list(merged), updated_at=at)
            )
        elif list(merged) != list(current):
            await self._session.execute(
                table.update()
                .where(table.c.contact_id == contact_id)
                .values(blind_indexes=list(merged), updated_at=at)
            )
        return merged

    async def delete(self, contact_id: str) -> None:
        """Forgets the contact's indexes (erasure)."""
        await self._session.execute(
            orm.contact_indexes.delete().where(orm.contact_indexes.c.contact_id == contact_id)
        )

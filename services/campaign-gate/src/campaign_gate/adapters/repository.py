"""Campaigns, suppression lists and check receipts in the gate's database."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from campaign_gate.adapters import orm
from campaign_gate.adapters.projection import upsert_all
from campaign_gate.domain.model import Campaign, Status, StoredFinding

_RECEIPT_BATCH = 5000


class AbstractCampaignRepository(abc.ABC):
    """The campaigns port; keeps the campaigns it handed out in `seen` for their events."""

    def __init__(self) -> None:
        self.seen: list[Campaign] = []

    @abc.abstractmethod
    def add(self, campaign: Campaign) -> None:
        """Adds a new campaign."""

    @abc.abstractmethod
    async def get(self, campaign_id: str) -> Campaign | None:
        """Returns a campaign or None."""

    @abc.abstractmethod
    async def listed(self, status: Status | None, *, limit: int) -> list[Campaign]:
        """Returns up to `limit` campaigns of one status (all when None), last changed first (read only)."""


def _campaign(row: sa.RowMapping) -> Campaign:
    return Campaign(
        id=row["id"],
        status=Status(row["status"]),
        version=row["version"],
        spec=dict(row["spec"]),
        created_by=row["created_by"],
        updated_by=row["updated_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        findings=tuple(StoredFinding.from_dict(f) for f in row["findings"]),
        review=row["review"],
    )


class AbstractSuppressionRepository(abc.ABC):
    """The suppression lists port: lists, their imports and their blind-index entries."""

    @abc.abstractmethod
    async def ensure_list(
        self, *, name: str, kind: str, channel: str | None, at: datetime
    ) -> Mapping[str, Any]:
        """Returns the list, creating it with its kind and channel the first time."""

    @abc.abstractmethod
    async def add_import(
        self, *, import_id: str, list_name: str, indexes: Sequence[str], actor: str, at: datetime
    ) -> None:
        """Records an import and points each of its blind indexes at it (a re-imported index moves)."""

    @abc.abstractmethod
    async def lists(self) -> list[dict[str, Any]]:
        """Returns every list with its entry count and latest import."""


class AbstractCheckRepository(abc.ABC):
    """The checks port: check headers and their per-recipient receipts."""

    @abc.abstractmethod
    async def add_check(self, values: Mapping[str, Any]) -> None:
        """Stores a check's header."""

    @abc.abstractmethod
    async def finish_check(self, check_id: str, *, recipients: int, summary: Mapping[str, int]) -> None:
        """Stores a check's totals."""

    @abc.abstractmethod
    async def add_receipts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Stores receipts."""

    @abc.abstractmethod
    async def count_receipts(self, contact_id: str) -> int:
        """Returns how many receipts name a contact."""

    @abc.abstractmethod
    async def get_check(self, check_id: str) -> dict[str, Any] | None:
        """Returns a check's header with what is stored so far: `stored` (receipts) and `decided`
        (receipts by decision), or None."""

    @abc.abstractmethod
    async def lock_check(self, check_id: str) -> tuple[int, int]:
        """Locks a check's header for the transaction (PostgreSQL) and returns its next chunk number and
        the receipts its stored chunks hold."""

    @abc.abstractmethod
    async def decided_among(self, check_id: str, contact_ids: Sequence[str]) -> set[str]:
        """Returns those of `contact_ids` the check holds a receipt for."""

    @abc.abstractmethod
    async def mark_stale(self, check_id: str, *, stale: bool) -> None:
        """Sets whether any of a check's receipts was decided on a stale projection."""

    @abc.abstractmethod
    async def receipts_page(self, check_id: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Returns up to `limit` of a check's receipts (contact id, decision, reasons, evidence), by
        contact id, after the contact id `after`."""

    # --- Merkle chunks of receipts (campaign_gate.domain.receipts) ---

    @abc.abstractmethod
    def stage_chunk(self, values: Mapping[str, Any]) -> None:
        """Queues a chunk's row (check_id, chunk, first_index, count, root, at, event_id) for the commit."""

    @abc.abstractmethod
    async def flush_chunks(self) -> None:
        """Writes the staged chunks in the transaction (the unit of work calls it before committing)."""

    @abc.abstractmethod
    async def get_receipt(self, check_id: str, contact_id: str) -> dict[str, Any] | None:
        """Returns a receipt with its check's campaign, version and rule set, or None."""

    @abc.abstractmethod
    async def get_chunk(self, check_id: str, chunk: int) -> dict[str, Any] | None:
        """Returns a chunk's row, or None."""

    @abc.abstractmethod
    async def chunk_receipts(self, check_id: str, chunk: int) -> list[dict[str, Any]]:
        """Returns a chunk's receipts in chunk order."""

    @abc.abstractmethod
    async def chunks_of(self, check_id: str) -> list[dict[str, Any]]:
        """Returns a check's chunk rows in chunk order (empty for an unknown check)."""

    @abc.abstractmethod
    async def receipts_of(self, contact_id: str, *, limit: int) -> list[dict[str, Any]]:
        """Returns up to `limit` receipts naming a contact, newest check first, with their check's fields."""


class CampaignRepository(AbstractCampaignRepository):
    """Loads and saves campaigns on one session."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session
        self._new: list[Campaign] = []

    def add(self, campaign: Campaign) -> None:
        """Adds a new campaign."""
        self.seen.append(campaign)
        self._new.append(campaign)

    async def get(self, campaign_id: str) -> Campaign | None:
        """Returns a campaign or None."""
        row = (
            (await self.session.execute(sa.select(orm.campaigns).where(orm.campaigns.c.id == campaign_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        campaign = _campaign(row)
        self.seen.append(campaign)
        return campaign

    async def listed(self, status: Status | None, *, limit: int) -> list[Campaign]:
        """Returns up to `limit` campaigns of one status (all when None), last changed first (read only)."""
        query = sa.select(orm.campaigns).order_by(orm.campaigns.c.updated_at.desc()).limit(limit)
        if status is not None:
            query = query.where(orm.campaigns.c.status == status.value)
        return [_campaign(row) for row in (await self.session.execute(query)).mappings()]

    async def flush(self) -> None:
        """Writes every campaign handed out or added."""
        for campaign in self.seen:
            values = {
                "status": campaign.status.value,
                "version": campaign.version,
                "spec": campaign.spec,
                "findings": [f.as_dict() for f in campaign.findings],
                "review": campaign.review,
                "updated_by": campaign.updated_by,
                "updated_at": campaign.updated_at,
            }
            if campaign in self._new:
                await self.session.execute(
                    sa.insert(orm.campaigns).values(
                        id=campaign.id,
                        created_by=campaign.created_by,
                        created_at=campaign.created_at,
                        **values,
                    )
                )
            else:
                await self.session.execute(
                    sa.update(orm.campaigns).where(orm.campaigns.c.id == campaign.id).values(**values)
                )
        self._new.clear()


class SuppressionRepository(AbstractSuppressionRepository):
    """Suppression lists, their imports and their blind-index entries, on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure_list(
        self, *, name: str, kind: str, channel: str | None, at: datetime
    ) -> Mapping[str, Any]:
        """Returns the list, creating it with its kind and channel the first time."""
        row = (
            (
                await self.session.execute(
                    sa.select(orm.suppression_lists).where(orm.suppression_lists.c.name == name)
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            return dict(row)
        values = {"name": name, "kind": kind, "channel": channel, "created_at": at}
        await self.session.execute(sa.insert(orm.suppression_lists).values(**values))
        return values

    async def add_import(
        self, *, import_id: str, list_name: str, indexes: Sequence[str], actor: str, at: datetime
    ) -> None:
        """Records an import and points each of its blind indexes at it (a re-imported index moves)."""
        await self.session.execute(
            sa.insert(orm.suppression_imports).values(
                import_id=import_id, list_name=list_name, imported_at=at, entries=len(indexes), actor=actor
            )
        )
        await upsert_all(
            self.session,
            orm.suppression_entries,
            [
                {"list_name": list_name, "blind_index": index, "import_id": import_id}
                for index in dict.fromkeys(indexes)
            ],
            keys=["list_name", "blind_index"],
        )

    async def lists(self) -> list[dict[str, Any]]:
        """Returns every list with its entry count and latest import."""
        lists, imports, entries = (
            orm.suppression_lists.c,
            orm.suppression_imports.c,
            orm.suppression_entries.c,
        )
        latest = (
            sa.select(imports.list_name, sa.func.max(imports.imported_at).label("last_imported_at"))
            .group_by(imports.list_name)
            .subquery()
        )
        counts = (
            sa.select(entries.list_name, sa.func.count().label("entries"))
            .group_by(entries.list_name)
            .subquery()
        )
        query = (
            sa.select(
                lists.name,
                lists.kind,
                lists.channel,
                lists.created_at,
                latest.c.last_imported_at,
                counts.c.entries,
            )
            .outerjoin(latest, latest.c.list_name == lists.name)
            .outerjoin(counts, counts.c.list_name == lists.name)
            .order_by(lists.name)
        )
        out = []
        for row in (await self.session.execute(query)).mappings():
            item = dict(row)
            item["entries"] = item["entries"] or 0
            out.append(item)
        return out


async def _copy_receipts(connection: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> None:
    """COPYs receipts into `check_receipts` through the session's asyncpg connection (same transaction);
    reasons and evidence go as JSON text, which is what the json column's codec takes."""
    dumps = orjson.dumps
    # One tuple per receipt, written out: a generator over the column names costs twice as much.
    records = [
        (
            row["check_id"],
            row["contact_id"],
            row["decision"],
            dumps(row["reasons"]).decode(),
            dumps(row["evidence"]).decode(),
            row.get("chunk"),
            row.get("chunk_index"),
        )
        for row in rows
    ]
    if not records:
        return
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(orm.check_receipts.name, records=records, columns=_RECEIPT_COLUMNS)


#: The `check_receipts` columns `_copy_receipts` writes, in table order.
_RECEIPT_COLUMNS = ("check_id", "contact_id", "decision", "reasons", "evidence", "chunk", "chunk_index")
if tuple(c.name for c in orm.check_receipts.columns) != _RECEIPT_COLUMNS:
    raise ImportError("repository._copy_receipts names check_receipts' columns: update it with the table")


class CheckRepository(AbstractCheckRepository):
    """Checks and their per-recipient receipts, on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._chunks: list[dict[str, Any]] = []

    async def add_check(self, values: Mapping[str, Any]) -> None:
        """Stores a check's header."""
        await self.session.execute(sa.insert(orm.checks).values(**values))

    async def finish_check(self, check_id: str, *, recipients: int, summary: Mapping[str, int]) -> None:
        """Stores a check's totals."""
        await self.session.execute(
            sa.update(orm.checks)
            .where(orm.checks.c.id == check_id)
            .values(recipients=recipients, summary=dict(summary))
        )

    async def add_receipts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Stores receipts: with one COPY on PostgreSQL (in the session's transaction), else in batches of
        INSERTs."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await _copy_receipts(connection, rows)
            return
        batch: list[Mapping[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _RECEIPT_BATCH:
                await self.session.execute(sa.insert(orm.check_receipts), batch)
                batch = []
        if batch:
            await self.session.execute(sa.insert(orm.check_receipts), batch)

    async def count_receipts(self, contact_id: str) -> int:
        """Returns how many receipts name a contact."""
        return int(
            await self.session.scalar(
                sa.select(sa.func.count())
                .select_from(orm.check_receipts)
                .where(orm.check_receipts.c.contact_id == contact_id)
            )
            or 0
        )

    async def get_check(self, check_id: str) -> dict[str, Any] | None:
        """Returns a check's header with its stored receipts counted by decision, or None."""
        row = (
            (await self.session.execute(sa.select(orm.checks).where(orm.checks.c.id == check_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        r = orm.check_receipts.c
        decided: dict[str, int] = dict(
            (
                await self.session.execute(
                    sa.select(r.decision, sa.func.count()).where(r.check_id == check_id).group_by(r.decision)
                )
            ).all()
        )
        return {**row, "stored": sum(decided.values()), "decided": decided}

    async def lock_check(self, check_id: str) -> tuple[int, int]:
        """Locks the header (FOR UPDATE; SQLite serialises writers anyway) and returns its next chunk
        number and stored chunk receipts."""
        await self.session.execute(
            sa.select(orm.checks.c.id).where(orm.checks.c.id == check_id).with_for_update()
        )
        k = orm.check_chunks.c
        chunks, receipted = (
            await self.session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(k.count), 0)).where(
                    k.check_id == check_id
                )
            )
        ).one()
        return int(chunks), int(receipted)

    async def decided_among(self, check_id: str, contact_ids: Sequence[str]) -> set[str]:
        """Returns those of `contact_ids` the check holds a receipt for (one `= ANY` on PostgreSQL)."""
        r = orm.check_receipts.c
        ids = list(contact_ids)
        if (await self.session.connection()).dialect.name == "postgresql":
            among = r.contact_id == sa.any_(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.String)))
        else:
            among = r.contact_id.in_(ids)
        rows = await self.session.execute(sa.select(r.contact_id).where(r.check_id == check_id, among))
        return {cid for (cid,) in rows}

    async def mark_stale(self, check_id: str, *, stale: bool) -> None:
        """Sets the header's `stale`."""
        await self.session.execute(
            sa.update(orm.checks).where(orm.checks.c.id == check_id).values(stale=stale)
        )

    async def receipts_page(self, check_id: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Returns up to `limit` of a check's receipts by contact id, after `after`."""
        r = orm.check_receipts.c
        query = sa.select(r.contact_id, r.decision, r.reasons, r.evidence).where(r.check_id == check_id)
        if after is not None:
            query = query.where(r.contact_id > after)
        rows = await self.session.execute(query.order_by(r.contact_id).limit(limit))
        # Plain str keys (SQLAlchemy's column names are a str subclass, which orjson refuses as keys).
        return [
            {"contact_id": cid, "decision": decision, "reasons": reasons, "evidence": evidence}
            for cid, decision, reasons, evidence in rows
        ]

    def stage_chunk(self, values: Mapping[str, Any]) -> None:
        """Queues a chunk's row for the commit."""
        self._chunks.append(dict(values))

    async def flush_chunks(self) -> None:
        """Writes the staged chunks in the transaction."""
        if self._chunks:
            await self.session.execute(sa.insert(orm.check_chunks), self._chunks)
            self._chunks = []

    def _receipt_query(self) -> sa.Select[Any]:
        r, c = orm.check_receipts.c, orm.checks.c
        return sa.select(
            r.check_id,
            r.contact_id,
            r.decision,
            r.reasons,
            r.evidence,
            r.chunk,
            r.chunk_index,
            c.campaign_id,
            c.campaign_version,
            c.ruleset_version,
            c.checked_at,
        ).join(orm.checks, c.id == r.check_id)

    async def get_receipt(self, check_id: str, contact_id: str) -> dict[str, Any] | None:
        """Returns a receipt with its check's campaign, version and rule set, or None."""
        r = orm.check_receipts.c
        query = self._receipt_query().where(r.check_id == check_id, r.contact_id == contact_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def get_chunk(self, check_id: str, chunk: int) -> dict[str, Any] | None:
        """Returns a chunk's row, or None."""
        k = orm.check_chunks.c
        query = sa.select(orm.check_chunks).where(k.check_id == check_id, k.chunk == chunk)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def chunk_receipts(self, check_id: str, chunk: int) -> list[dict[str, Any]]:
        """Returns a chunk's receipts in chunk order."""
        r = orm.check_receipts.c
        query = (
            sa.select(r.contact_id, r.decision, r.reasons, r.evidence, r.chunk_index)
            .where(r.check_id == check_id, r.chunk == chunk)
            .order_by(r.chunk_index)
        )
        return [dict(row) for row in (await self.session.execute(query)).mappings()]

    async def chunks_of(self, check_id: str) -> list[dict[str, Any]]:
        """Returns a check's chunk rows in chunk order."""
        k = orm.check_chunks.c
        query = sa.select(orm.check_chunks).where(k.check_id == check_id).order_by(k.chunk)
        return [dict(row) for row in (await self.session.execute(query)).mappings()]

    async def receipts_of(self, contact_id: str, *, limit: int) -> list[dict[str, Any]]:
        """Returns up to `limit` receipts naming a contact, newest check first."""
        query = (
            self._receipt_query()
            .where(orm.check_receipts.c.contact_id == contact_id)
            .order_by(orm.checks.c.checked_at.desc(), orm.checks.c.id)
            .limit(limit)
        )
        return [dict(row) for row in (await self.session.execute(query)).mappings()]

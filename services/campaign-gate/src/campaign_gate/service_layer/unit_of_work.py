"""The campaign-gate unit of work: projection, campaigns, suppression lists, checks, inbox and outbox."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from shared.uow import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters import columns, orm, outgoing
from campaign_gate.adapters.contact_view import ContactColumnsView
from campaign_gate.adapters.projection import (
    AbstractProjectionRepository,
    ProjectionRepository,
    pg_driver,
    pg_upsert,
    unknown_recipient,
)
from campaign_gate.adapters.repository import (
    AbstractCampaignRepository,
    AbstractCheckRepository,
    AbstractSuppressionRepository,
    CampaignRepository,
    CheckRepository,
    SuppressionRepository,
)
from campaign_gate.domain import events
from campaign_gate.domain.bulk import RecipientColumns
from campaign_gate.domain.facts import CampaignFacts


class AbstractGateUnitOfWork(AbstractUnitOfWork):
    """The port handlers take: the gate's repositories, loose events, the inbox and a clock."""

    projection: AbstractProjectionRepository
    campaigns: AbstractCampaignRepository
    suppression: AbstractSuppressionRepository
    checks: AbstractCheckRepository

    @abc.abstractmethod
    def publish(self, event: events.Event) -> None:
        """Queues an event that belongs to no loaded aggregate (a receipt, an erasure) for the outbox."""

    @abc.abstractmethod
    async def first_delivery(self, *, event_id: str, topic: str) -> bool:
        """Records a consumed event id in the inbox; False when it was already processed (a duplicate)."""

    async def first_deliveries(self, deliveries: Sequence[tuple[str, str]]) -> set[str]:
        """Records consumed (event id, topic) pairs in the inbox; returns the ids not processed before.

        An id given twice counts once: its first delivery.
        """
        return {
            event_id
            for event_id, topic in _first_topics(deliveries).items()
            if await self.first_delivery(event_id=event_id, topic=topic)
        }

    def publish_as(self, event: events.Event, *, actor: str) -> None:
        """Queues a loose event published in the name of `actor` (not the committing one): the cause of
        an event applied in a batch. By default the committing actor is kept."""
        self.publish(event)

    async def recipient_columns(
        self, contact_ids: Sequence[str], *, campaign: CampaignFacts, today: date
    ) -> RecipientColumns:
        """Returns the columns of recipients (each once, in order) resolved for a campaign; a contact the
        projection never saw has no address and nothing to rely on. By default: the projection's facts,
        resolved one by one."""
        ids = list(dict.fromkeys(contact_ids))
        known = await self.projection.recipients(
            ids, purpose_id=campaign.purpose_id, channel=campaign.channel, today=today
        )
        return RecipientColumns.from_facts(
            campaign, [known.get(cid) or unknown_recipient(cid) for cid in ids]
        )


class GateUnitOfWork(SqlAlchemyUnitOfWork, AbstractGateUnitOfWork):
    """Opens a session with the gate's repositories; commit writes state, then outbox rows, once."""

    def __init__(
        self,
        *,
        broker_verification_max_age_days: int = 365,
        contact_view: ContactColumnsView | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(outbox_table=orm.outbox, inbox_table=orm.inbox, to_envelope=self._envelope, **kwargs)
        #: The process's columnar view of gate_contacts (PostgreSQL), which checks read; None: a query.
        self.contact_view = contact_view
        # id(event) → the actor it is published for, when not the committing one (see `publish_as`).
        self._actors: dict[int, str] = {}
        self._broker_max_age = broker_verification_max_age_days
        self.projection: ProjectionRepository
        self.campaigns: CampaignRepository
        self.suppression: SuppressionRepository
        self.checks: CheckRepository

    def _open(self, session: AsyncSession) -> None:
        self.projection = ProjectionRepository(session, broker_verification_max_age_days=self._broker_max_age)
        self.campaigns = CampaignRepository(session)
        self.suppression = SuppressionRepository(session)
        self.checks = CheckRepository(session)

    def _repositories(self) -> Iterable[Any]:
        return [self.campaigns]

    async def recipient_columns(
        self, contact_ids: Sequence[str], *, campaign: CampaignFacts, today: date
    ) -> RecipientColumns:
        """Returns the columns of recipients resolved for a campaign: on PostgreSQL read straight into
        columns (`adapters.columns`), elsewhere from the projection's facts."""
        if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
            return await columns.read_columns(
                self.projection, contact_ids, campaign=campaign, today=today, view=self.contact_view
            )
        return await super().recipient_columns(contact_ids, campaign=campaign, today=today)

    def publish_as(self, event: events.Event, *, actor: str) -> None:
        """Queues a loose event published in the name of `actor` (the cause of an event in a batch)."""
        self._actors[id(event)] = actor
        self.publish(event)

    def _envelope(self, event: Any, *, actor: str, correlation_id: str | None) -> Any:
        return outgoing.to_envelope(
            event, actor=self._actors.pop(id(event), actor), correlation_id=correlation_id
        )

    async def _flush(self) -> None:
        await self.campaigns.flush()
        await self.checks.flush_chunks()
        await self.projection.flush()

    async def first_deliveries(self, deliveries: Sequence[tuple[str, str]]) -> set[str]:
        """Records consumed (event id, topic) pairs in the inbox in one statement; returns the ids not
        processed before (an id given twice counts once)."""
        now = datetime.now(UTC)
        rows = [
            {"event_id": event_id, "topic": topic, "processed_at": now}
            for event_id, topic in _first_topics(deliveries).items()
        ]
        if not rows:
            return set()
        driver = await pg_driver(self.session)
        if driver is not None:
            written = await pg_upsert(driver, orm.inbox, rows, keys=["event_id"], keep_stored=True)
            return {str(record[0]) for record in written}
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        insert = pg_insert(orm.inbox) if dialect == "postgresql" else sqlite_insert(orm.inbox)
        statement = insert.on_conflict_do_nothing(index_elements=["event_id"]).returning(orm.inbox.c.event_id)
        result = await self.session.execute(statement, rows)
        return {cast("str", event_id) for event_id in result.scalars()}


def _first_topics(deliveries: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Returns event id → topic of each id's first delivery among `deliveries`."""
    first: dict[str, str] = {}
    for event_id, topic in deliveries:
        first.setdefault(event_id, topic)
    return first

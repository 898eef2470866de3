"""The campaign-gate unit of work: projection, campaigns, suppression lists, checks, inbox and outbox."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from shared.uow import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_gate.adapters import orm, outgoing
from campaign_gate.adapters.projection import AbstractProjectionRepository, ProjectionRepository
from campaign_gate.adapters.repository import (
    AbstractCampaignRepository,
    AbstractCheckRepository,
    AbstractSuppressionRepository,
    CampaignRepository,
    CheckRepository,
    SuppressionRepository,
)
from campaign_gate.domain import events


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


class GateUnitOfWork(SqlAlchemyUnitOfWork, AbstractGateUnitOfWork):
    """Opens a session with the gate's repositories; commit writes state, then outbox rows, once."""

    def __init__(self, *, broker_verification_max_age_days: int = 365, **kwargs: Any) -> None:
        super().__init__(
            outbox_table=orm.outbox, inbox_table=orm.inbox, to_envelope=outgoing.to_envelope, **kwargs
        )
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

    async def _flush(self) -> None:
        await self.campaigns.flush()

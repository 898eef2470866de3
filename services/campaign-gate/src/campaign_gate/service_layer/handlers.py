"""Use cases of campaign-gate: campaigns and their review, suppression-list imports, per-recipient checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from campaign_gate.adapters.projection import unknown_recipient
from campaign_gate.domain import campaigns as domain
from campaign_gate.domain import clock, events, review, rules
from campaign_gate.domain.decision import RecipientDecision, decide_recipients
from campaign_gate.domain.facts import Channel, SuppressionKind
from campaign_gate.service_layer.unit_of_work import GateUnitOfWork
from shared.blind_index import BlindIndexer, InvalidIdentifierError

#: Recipients decided and stored per transaction in a check.
CHECK_BATCH = 5000


class NotFoundError(Exception):
    """The named campaign or list does not exist."""


@dataclass(frozen=True)
class CreateCampaign:
    spec: dict[str, Any]
    actor: str


@dataclass(frozen=True)
class ChangeCampaign:
    campaign_id: str
    changes: dict[str, Any]
    actor: str


@dataclass(frozen=True)
class SubmitCampaign:
    campaign_id: str
    actor: str


@dataclass(frozen=True)
class ReviewCampaign:
    campaign_id: str
    actor: str
    approve: bool
    #: The rejection's reason (an approval is justified by its sign-offs, never by free text).
    justification: str | None = None
    sign_offs: tuple[review.SignOff, ...] = ()


@dataclass(frozen=True)
class ImportSuppressionEntries:
    list_name: str
    kind: SuppressionKind
    channel: Channel | None
    actor: str
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    blind_indexes: Sequence[str] = ()


@dataclass(frozen=True)
class CheckCampaign:
    campaign_id: str
    actor: str
    stale: bool
    stale_reason: str = ""


@dataclass
class CheckResult:
    """A finished or running check: its id, the campaign version it checked, and the counts so far."""

    check_id: str
    campaign_id: str
    campaign_version: int
    ruleset_version: str
    stale: bool
    summary: dict[str, int] = field(default_factory=lambda: {"allow": 0, "needs_review": 0, "block": 0})

    @property
    def recipients(self) -> int:
        """Returns how many recipients were decided."""
        return sum(self.summary.values())


async def _campaign_or_raise(uow: GateUnitOfWork, campaign_id: str) -> domain.Campaign:
    campaign = await uow.campaigns.get(campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    return campaign


async def _facts(uow: GateUnitOfWork, campaign: domain.Campaign) -> tuple[Any, Any]:
    purpose_row = await uow.projection.purpose(str(campaign.spec["purpose_id"]))
    purpose = (domain.PurposeInfo(purpose_row["purpose_id"], purpose_row["lawful_basis"], purpose_row["retired"])
               if purpose_row else None)
    processor_id = campaign.spec.get("processor_id")
    processor = await uow.projection.processor(str(processor_id)) if processor_id else None
    return domain.campaign_facts(campaign, purpose=purpose, processor=processor), processor


async def create_campaign(cmd: CreateCampaign, uow: GateUnitOfWork) -> domain.Campaign:
    """Creates a draft campaign."""
    async with uow:
        campaign = domain.Campaign.draft(spec=cmd.spec, by=cmd.actor, at=uow.clock())
        uow.campaigns.add(campaign)
        await uow.commit(actor=cmd.actor)
        return campaign


async def get_campaign(campaign_id: str, uow: GateUnitOfWork) -> domain.Campaign:
    """Returns a campaign or raises NotFoundError."""
    async with uow:
        return await _campaign_or_raise(uow, campaign_id)


async def change_campaign(cmd: ChangeCampaign, uow: GateUnitOfWork) -> domain.Campaign:
    """Changes a campaign; after submission or approval it goes back to draft."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        campaign.change(changes=cmd.changes, by=cmd.actor, at=uow.clock())
        await uow.commit(actor=cmd.actor)
        return campaign


async def submit_campaign(cmd: SubmitCampaign, uow: GateUnitOfWork) -> domain.Campaign:
    """Runs the automated review (sections E, F, I) and stores its findings."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        facts, processor = await _facts(uow, campaign)
        now = uow.clock()
        findings = list(review.review_campaign(facts, at=now))
        unknown = domain.missing_processor(campaign, processor)
        if unknown is not None:
            findings.insert(0, unknown)
        campaign.submit(findings=findings, by=cmd.actor, at=now)
        await uow.commit(actor=cmd.actor)
        return campaign


async def review_campaign(cmd: ReviewCampaign, uow: GateUnitOfWork) -> domain.Campaign:
    """Approves or rejects a submitted campaign (reviewer only, four eyes for approval)."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        if cmd.approve:
            campaign.approve(reviewer=cmd.actor, sign_offs=cmd.sign_offs, at=uow.clock())
        else:
            campaign.reject(reviewer=cmd.actor, reason=cmd.justification, at=uow.clock())
        await uow.commit(actor=cmd.actor)
        return campaign


def blind_indexes_of(cmd: ImportSuppressionEntries, indexer: BlindIndexer) -> list[str]:
    """Normalises and hashes raw e-mails and phones; raises InvalidIdentifierError naming the first bad one."""
    out = list(cmd.blind_indexes)
    for i, email in enumerate(cmd.emails):
        try:
            out.append(indexer.email(email))
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(f"emails[{i}]", exc.reason) from None
    for i, phone in enumerate(cmd.phones):
        try:
            out.append(indexer.phone(phone))
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(f"phones[{i}]", exc.reason) from None
    return list(dict.fromkeys(out))


async def import_suppression_entries(cmd: ImportSuppressionEntries, indexer: BlindIndexer,
                                     uow: GateUnitOfWork) -> dict[str, Any]:
    """Imports blind indexes (raw values are hashed first, never stored) with the import date."""
    indexes = blind_indexes_of(cmd, indexer)
    async with uow:
        now = uow.clock()
        listed = await uow.suppression.ensure_list(name=cmd.list_name, kind=cmd.kind.value,
                                                   channel=cmd.channel.value if cmd.channel else None, at=now)
        import_id = str(uuid.uuid4())
        await uow.suppression.add_import(import_id=import_id, list_name=cmd.list_name, indexes=indexes,
                                         actor=cmd.actor, at=now)
        uow.publish(events.SuppressionListImported(cmd.list_name, listed["kind"], import_id, len(indexes), now))
        await uow.commit(actor=cmd.actor)
    return {"list": cmd.list_name, "kind": listed["kind"], "channel": listed["channel"], "import_id": import_id,
            "imported_at": now, "entries": len(indexes)}


async def list_suppression_lists(uow: GateUnitOfWork) -> list[dict[str, Any]]:
    """Returns every suppression list with its size and latest import."""
    async with uow:
        return await uow.suppression.lists()


def receipt(decision: RecipientDecision) -> dict[str, Any]:
    """Returns the JSON form of one recipient's decision."""
    return {"contact_id": decision.contact_id, "decision": decision.decision.value,
            "reasons": [{"rule": r.rule, "message": r.message} for r in decision.reasons],
            "evidence": list(decision.evidence)}


async def _start(cmd: CheckCampaign, uow: GateUnitOfWork) -> tuple[CheckResult, Any]:
    campaign = await _campaign_or_raise(uow, cmd.campaign_id)
    facts, _ = await _facts(uow, campaign)
    result = CheckResult(str(uuid.uuid4()), campaign.id, campaign.version, rules.RULESET_VERSION, cmd.stale)
    await uow.checks.add_check({"id": result.check_id, "campaign_id": campaign.id,
                                "campaign_version": campaign.version, "actor": cmd.actor,
                                "checked_at": uow.clock(), "ruleset_version": rules.RULESET_VERSION,
                                "stale": cmd.stale, "recipients": 0, "summary": result.summary})
    return result, facts


async def _decide(result: CheckResult, facts: Any, contact_ids: Sequence[str], *,
                  uow: GateUnitOfWork) -> list[dict[str, Any]]:
    now = uow.clock()
    known = await uow.projection.recipients(contact_ids, purpose_id=facts.purpose_id, channel=facts.channel,
                                            today=clock.paris_date(now))
    recipients = [known.get(cid) or unknown_recipient(cid) for cid in contact_ids]
    out = _receipts(result, facts, recipients, now=now, uow=uow)
    await uow.checks.add_receipts({"check_id": result.check_id, **r} for r in out)
    return out


async def _finish(result: CheckResult, uow: GateUnitOfWork) -> None:
    await uow.checks.finish_check(result.check_id, recipients=result.recipients, summary=result.summary)
    uow.publish(events.CheckCompleted(result.check_id, result.campaign_id, result.campaign_version,
                                      result.recipients, dict(result.summary), result.stale,
                                      result.ruleset_version, uow.clock()))


async def check_once(cmd: CheckCampaign, contact_ids: Sequence[str], *,
                     uow: GateUnitOfWork) -> tuple[CheckResult, list[dict[str, Any]]]:
    """Decides a small check in one transaction: header, receipts, outbox rows and totals commit together."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        facts, _ = await _facts(uow, campaign)
        ids = list(dict.fromkeys(contact_ids))
        now = uow.clock()
        known = await uow.projection.recipients(ids, purpose_id=facts.purpose_id, channel=facts.channel,
                                                today=clock.paris_date(now))
        stale = cmd.stale
        result = CheckResult(str(uuid.uuid4()), campaign.id, campaign.version, rules.RULESET_VERSION, stale)
        recipients = [known.get(cid) or unknown_recipient(cid) for cid in ids]
        out = _receipts(result, facts, recipients, now=now, uow=uow)
        await uow.checks.add_check({"id": result.check_id, "campaign_id": campaign.id,
                                    "campaign_version": campaign.version, "actor": cmd.actor, "checked_at": now,
                                    "ruleset_version": rules.RULESET_VERSION, "stale": stale,
                                    "recipients": result.recipients, "summary": dict(result.summary)})
        await uow.checks.add_receipts({"check_id": result.check_id, **r} for r in out)
        uow.publish(events.CheckCompleted(result.check_id, result.campaign_id, result.campaign_version,
                                          result.recipients, dict(result.summary), stale, result.ruleset_version,
                                          now))
        await uow.commit(actor=cmd.actor)
        return result, out


def _receipts(result: CheckResult, facts: Any, recipients: Sequence[Any], *, now: datetime,
              uow: GateUnitOfWork) -> list[dict[str, Any]]:
    decisions = list(decide_recipients(facts, recipients, at=now, stale=result.stale))
    out = [receipt(d) for d in decisions]
    for d, r in zip(decisions, out, strict=True):
        result.summary[d.decision.value] += 1
        uow.publish(events.RecipientChecked(
            result.check_id, result.campaign_id, result.campaign_version, d.contact_id, d.decision.value,
            tuple(r["reasons"]), d.evidence, d.ruleset_version, now))
    return out


async def start_check(cmd: CheckCampaign, uow: GateUnitOfWork) -> tuple[CheckResult, Any]:
    """Records the header of a check and returns it with the campaign's facts."""
    async with uow:
        result, facts = await _start(cmd, uow)
        await uow.commit(actor=cmd.actor)
        return result, facts


async def check_batch(result: CheckResult, facts: Any, contact_ids: Sequence[str], *, actor: str,
                      uow: GateUnitOfWork) -> list[dict[str, Any]]:
    """Decides one batch of recipients, stores their receipts and queues them on `campaigns.events`."""
    async with uow:
        out = await _decide(result, facts, contact_ids, uow=uow)
        await uow.commit(actor=actor)
        return out


async def finish_check(result: CheckResult, *, actor: str, uow: GateUnitOfWork) -> CheckResult:
    """Stores a check's totals and emits its completion."""
    async with uow:
        await _finish(result, uow)
        await uow.commit(actor=actor)
        return result


async def check_stream(cmd: CheckCampaign, contact_ids: AsyncIterator[str] | Iterable[str], *,
                       uow_factory: Any,
                       batch: int = CHECK_BATCH) -> AsyncIterator[dict[str, Any] | CheckResult]:
    """Yields each recipient's receipt as batches are decided, then the finished CheckResult."""
    result, facts = await start_check(cmd, uow_factory())

    seen: set[str] = set()

    async def each() -> AsyncIterator[str]:
        if hasattr(contact_ids, "__aiter__"):
            async for cid in contact_ids:  # type: ignore[union-attr]
                yield cid
        else:
            for cid in contact_ids:  # type: ignore[union-attr]
                yield cid

    async def batches() -> AsyncIterator[list[str]]:
        pending: list[str] = []
        async for cid in each():
            # Because a receipt is kept once per recipient and check, a repeated id is decided once.
            if cid in seen:
                continue
            seen.add(cid)
            pending.append(cid)
            if len(pending) >= batch:
                yield pending
                pending = []
        if pending:
            yield pending

    async for ids in batches():
        for item in await check_batch(result, facts, ids, actor=cmd.actor,
                                      uow=uow_factory()):
            yield item
    yield await finish_check(result, actor=cmd.actor, uow=uow_factory())


def now_utc() -> datetime:
    """Returns the current time in UTC."""
    return datetime.now(UTC)

"""Use cases of campaign-gate: campaigns and their review, suppression-list imports, per-recipient checks,
and the projection of contacts' and consent's events; each takes a command and a unit of work."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.blind_index import BlindIndexer, InvalidIdentifierError
from shared.events import EventEnvelope

from campaign_gate import contracts
from campaign_gate.adapters.projection import parse_time, unknown_recipient
from campaign_gate.domain import bulk, clock, events, review, rules
from campaign_gate.domain import model as domain
from campaign_gate.domain.decision import RecipientDecision
from campaign_gate.domain.errors import NotFoundError
from campaign_gate.service_layer.commands import (
    ChangeCampaign,
    CheckCampaign,
    CreateCampaign,
    ImportSuppressionEntries,
    ProjectEvent,
    ResetProjection,
    ReviewCampaign,
    SubmitCampaign,
)
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork

#: Recipients decided and stored per transaction in a check.
CHECK_BATCH = 5000


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


async def _campaign_or_raise(uow: AbstractGateUnitOfWork, campaign_id: str) -> domain.Campaign:
    campaign = await uow.campaigns.get(campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    return campaign


async def _facts(uow: AbstractGateUnitOfWork, campaign: domain.Campaign) -> tuple[Any, Any]:
    purpose_row = await uow.projection.purpose(str(campaign.spec["purpose_id"]))
    purpose = (
        domain.PurposeInfo(purpose_row["purpose_id"], purpose_row["lawful_basis"], purpose_row["retired"])
        if purpose_row
        else None
    )
    processor_id = campaign.spec.get("processor_id")
    processor = await uow.projection.processor(str(processor_id)) if processor_id else None
    return domain.campaign_facts(campaign, purpose=purpose, processor=processor), processor


async def create_campaign(cmd: CreateCampaign, uow: AbstractGateUnitOfWork) -> domain.Campaign:
    """Creates a draft campaign."""
    async with uow:
        campaign = domain.Campaign.draft(spec=cmd.spec.as_json(), by=cmd.actor, at=uow.clock())
        uow.campaigns.add(campaign)
        await uow.commit(actor=cmd.actor)
        return campaign


async def get_campaign(campaign_id: str, uow: AbstractGateUnitOfWork) -> domain.Campaign:
    """Returns a campaign or raises NotFoundError."""
    async with uow:
        return await _campaign_or_raise(uow, campaign_id)


async def change_campaign(cmd: ChangeCampaign, uow: AbstractGateUnitOfWork) -> domain.Campaign:
    """Changes a campaign; after submission or approval it goes back to draft."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        campaign.change(changes=cmd.changes.as_json(), by=cmd.actor, at=uow.clock())
        await uow.commit(actor=cmd.actor)
        return campaign


async def submit_campaign(cmd: SubmitCampaign, uow: AbstractGateUnitOfWork) -> domain.Campaign:
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


async def review_campaign(cmd: ReviewCampaign, uow: AbstractGateUnitOfWork) -> domain.Campaign:
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
    """Normalises and hashes raw e-mails and phones; raises InvalidIdentifierError naming the first bad
    one."""
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


async def import_suppression_entries(
    cmd: ImportSuppressionEntries, indexer: BlindIndexer, uow: AbstractGateUnitOfWork
) -> dict[str, Any]:
    """Imports blind indexes (raw values are hashed first, never stored) with the import date."""
    indexes = blind_indexes_of(cmd, indexer)
    async with uow:
        now = uow.clock()
        listed = await uow.suppression.ensure_list(
            name=cmd.list_name,
            kind=cmd.kind.value,
            channel=cmd.channel.value if cmd.channel else None,
            at=now,
        )
        import_id = str(uuid.uuid4())
        await uow.suppression.add_import(
            import_id=import_id, list_name=cmd.list_name, indexes=indexes, actor=cmd.actor, at=now
        )
        uow.publish(
            events.SuppressionListImported(cmd.list_name, listed["kind"], import_id, len(indexes), now)
        )
        await uow.commit(actor=cmd.actor)
    return {
        "list": cmd.list_name,
        "kind": listed["kind"],
        "channel": listed["channel"],
        "import_id": import_id,
        "imported_at": now,
        "entries": len(indexes),
    }


async def list_suppression_lists(uow: AbstractGateUnitOfWork) -> list[dict[str, Any]]:
    """Returns every suppression list with its size and latest import."""
    async with uow:
        return await uow.suppression.lists()


def receipt(decision: RecipientDecision) -> dict[str, Any]:
    """Returns the JSON form of one recipient's decision by the scalar oracle (the served path words its
    receipts the same way from the columnar masks: `bulk.BulkDecisions.receipts`)."""
    return {
        "contact_id": decision.contact_id,
        "decision": decision.decision.value,
        "reasons": [{"rule": r.rule, "message": r.message} for r in decision.reasons],
        "evidence": list(decision.evidence),
    }


async def _start(cmd: CheckCampaign, uow: AbstractGateUnitOfWork) -> tuple[CheckResult, Any]:
    campaign = await _campaign_or_raise(uow, cmd.campaign_id)
    facts, _ = await _facts(uow, campaign)
    result = CheckResult(str(uuid.uuid4()), campaign.id, campaign.version, rules.RULESET_VERSION, cmd.stale)
    await uow.checks.add_check(
        {
            "id": result.check_id,
            "campaign_id": campaign.id,
            "campaign_version": campaign.version,
            "actor": cmd.actor,
            "checked_at": uow.clock(),
            "ruleset_version": rules.RULESET_VERSION,
            "stale": cmd.stale,
            "recipients": 0,
            "summary": result.summary,
        }
    )
    return result, facts


async def _decide(
    result: CheckResult, facts: Any, contact_ids: Sequence[str], *, uow: AbstractGateUnitOfWork
) -> list[dict[str, Any]]:
    now = uow.clock()
    known = await uow.projection.recipients(
        contact_ids, purpose_id=facts.purpose_id, channel=facts.channel, today=clock.paris_date(now)
    )
    recipients = [known.get(cid) or unknown_recipient(cid) for cid in contact_ids]
    out = _receipts(result, facts, recipients, now=now, uow=uow)
    await uow.checks.add_receipts({"check_id": result.check_id, **r} for r in out)
    return out


async def _finish(result: CheckResult, uow: AbstractGateUnitOfWork) -> None:
    await uow.checks.finish_check(result.check_id, recipients=result.recipients, summary=result.summary)
    uow.publish(
        events.CheckCompleted(
            result.check_id,
            result.campaign_id,
            result.campaign_version,
            result.recipients,
            dict(result.summary),
            result.stale,
            result.ruleset_version,
            uow.clock(),
        )
    )


async def check_once(
    cmd: CheckCampaign, contact_ids: Sequence[str], *, uow: AbstractGateUnitOfWork
) -> tuple[CheckResult, list[dict[str, Any]]]:
    """Decides a small check in one transaction: header, receipts, outbox rows and totals commit together."""
    async with uow:
        campaign = await _campaign_or_raise(uow, cmd.campaign_id)
        facts, _ = await _facts(uow, campaign)
        ids = list(dict.fromkeys(contact_ids))
        now = uow.clock()
        known = await uow.projection.recipients(
            ids, purpose_id=facts.purpose_id, channel=facts.channel, today=clock.paris_date(now)
        )
        stale = cmd.stale
        result = CheckResult(str(uuid.uuid4()), campaign.id, campaign.version, rules.RULESET_VERSION, stale)
        recipients = [known.get(cid) or unknown_recipient(cid) for cid in ids]
        out = _receipts(result, facts, recipients, now=now, uow=uow)
        await uow.checks.add_check(
            {
                "id": result.check_id,
                "campaign_id": campaign.id,
                "campaign_version": campaign.version,
                "actor": cmd.actor,
                "checked_at": now,
                "ruleset_version": rules.RULESET_VERSION,
                "stale": stale,
                "recipients": result.recipients,
                "summary": dict(result.summary),
            }
        )
        await uow.checks.add_receipts({"check_id": result.check_id, **r} for r in out)
        uow.publish(
            events.CheckCompleted(
                result.check_id,
                result.campaign_id,
                result.campaign_version,
                result.recipients,
                dict(result.summary),
                stale,
                result.ruleset_version,
                now,
            )
        )
        await uow.commit(actor=cmd.actor)
        return result, out


def _receipts(
    result: CheckResult, facts: Any, recipients: Sequence[Any], *, now: datetime, uow: AbstractGateUnitOfWork
) -> list[dict[str, Any]]:
    """Decides recipients with the columnar evaluator and returns their receipts (queued for the audit
    log too); the campaign-scope rows are evaluated once for the whole batch."""
    decided = bulk.decide_receipts(facts, recipients, at=now, stale=result.stale)
    out = decided.receipts()
    for value, count in decided.summary().items():
        result.summary[value] += count
    _publish_receipts(result, out, now=now, uow=uow)
    return out


def _publish_receipts(
    result: CheckResult, receipts: Sequence[dict[str, Any]], *, now: datetime, uow: AbstractGateUnitOfWork
) -> None:
    """Queues a batch of a check's receipts for the audit log on `campaigns.events`."""
    for r in receipts:
        uow.publish(
            events.RecipientChecked(
                result.check_id,
                result.campaign_id,
                result.campaign_version,
                r["contact_id"],
                r["decision"],
                tuple(r["reasons"]),
                tuple(r["evidence"]),
                result.ruleset_version,
                now,
            )
        )


async def start_check(cmd: CheckCampaign, uow: AbstractGateUnitOfWork) -> tuple[CheckResult, Any]:
    """Records the header of a check and returns it with the campaign's facts."""
    async with uow:
        result, facts = await _start(cmd, uow)
        await uow.commit(actor=cmd.actor)
        return result, facts


async def check_batch(
    result: CheckResult, facts: Any, contact_ids: Sequence[str], *, actor: str, uow: AbstractGateUnitOfWork
) -> list[dict[str, Any]]:
    """Decides one batch of recipients, stores their receipts and queues them on `campaigns.events`."""
    async with uow:
        out = await _decide(result, facts, contact_ids, uow=uow)
        await uow.commit(actor=actor)
        return out


async def finish_check(result: CheckResult, *, actor: str, uow: AbstractGateUnitOfWork) -> CheckResult:
    """Stores a check's totals and emits its completion."""
    async with uow:
        await _finish(result, uow)
        await uow.commit(actor=actor)
        return result


async def check_stream(
    cmd: CheckCampaign,
    contact_ids: Iterable[str],
    *,
    uow_factory: Callable[[], AbstractGateUnitOfWork],
    batch: int = CHECK_BATCH,
) -> AsyncIterator[dict[str, Any] | CheckResult]:
    """Yields each recipient's receipt as batches are decided (one transaction each), then the CheckResult."""
    result, facts = await start_check(cmd, uow_factory())

    def batches() -> Iterable[list[str]]:
        pending: list[str] = []
        seen: set[str] = set()
        for cid in contact_ids:
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

    for ids in batches():
        for item in await check_batch(result, facts, ids, actor=cmd.actor, uow=uow_factory()):
            yield item
    yield await finish_check(result, actor=cmd.actor, uow=uow_factory())


# --- The projection of contacts and consent ------------------------------------------------------


async def _apply(uow: AbstractGateUnitOfWork, envelope: EventEnvelope) -> None:
    p, t, data, at = uow.projection, envelope.type, envelope.data, envelope.time
    if t in (contracts.CONTACT_CREATED, contracts.CONTACT_UPDATED, contracts.INTERACTION_RECORDED):
        await p.put_contact(envelope.subject, data.get("facts") or {}, at=at)
    elif t == contracts.CONTACT_RETENTION_FLAGGED:
        await p.set_contact_status(
            envelope.subject, "retention_flagged", at=at, retention_rule=data.get("rule")
        )
    elif t == contracts.CONTACT_ERASED:
        await p.erase_contact(envelope.subject, at=at)
        await p.erase_consent_data(envelope.subject, (), ())
        kept = await uow.checks.count_receipts(envelope.subject)
        uow.publish(events.ContactForgotten(envelope.subject, kept, at))
    elif t in (contracts.CONSENT_REQUESTED, contracts.CONSENT_GRANTED):
        granted = t == contracts.CONSENT_GRANTED
        await p.put_consent(
            {
                "consent_id": data["consent_id"],
                "contact_id": data["contact_id"],
                "purpose_id": data["purpose_id"],
                "channel": data["channel"],
                "status": "granted" if granted else "requested",
                "granted_at": parse_time(data.get("granted_at")) if granted else None,
                "withdrawn_at": None,
                "notice_id": data.get("notice_id"),
                "notice_version": data.get("notice_version"),
                "collector_kind": data.get("collector_kind"),
                "collector_name": data.get("collector_name"),
                "requested_at": parse_time(data.get("requested_at")),
                # Consent's own record of how the consent was given: absent means not shown, never assumed.
                "proof_present": bool(data.get("proof_present", False)),
                "positive_act": bool(data.get("positive_act", False)),
                "withdrawal_info_given": bool(data.get("withdrawal_info_given", False)),
                "explicit": bool(data.get("explicit", False)),
                "given_by": [str(g) for g in data.get("given_by") or ()],
                "out_of_hours_calls": bool(data.get("out_of_hours_calls", False)),
                "updated_at": at,
            }
        )
    elif t == contracts.CONSENT_WITHDRAWN:
        await p.withdraw_consent(
            consent_id=data["consent_id"],
            contact_id=data["contact_id"],
            purpose_id=data["purpose_id"],
            channel=data["channel"],
            granted_at=parse_time(data.get("granted_at")),
            withdrawn_at=parse_time(data["withdrawn_at"]) or at,
            at=at,
        )
    elif t == contracts.OBJECTION_RECORDED:
        await p.put_objection(
            objection_id=data["objection_id"],
            contact_id=data.get("contact_id"),
            scope=data["scope"],
            at=parse_time(data.get("at")) or at,
            blind_indexes=data.get("blind_indexes") or (),
        )
    elif t == contracts.NOTICE_PUBLISHED:
        await p.put_notice(
            notice_id=data["notice_id"],
            version=int(data["version"]),
            article=str(data["article"]),
            purpose_ids=[str(i) for i in data.get("purpose_ids") or ()],
        )
    elif t == contracts.NOTICE_DELIVERED:
        await p.put_delivery(
            {
                "delivery_id": data["delivery_id"],
                "contact_id": data["contact_id"],
                "notice_id": data["notice_id"],
                "notice_version": int(data["notice_version"]),
                "channel": data.get("channel"),
                "delivered_at": parse_time(data.get("at")) or at,
            }
        )
    elif t in (contracts.PURPOSE_REGISTERED, contracts.PURPOSE_REVISED, contracts.PURPOSE_RETIRED):
        await p.put_purpose(
            purpose_id=data["purpose_id"],
            version=int(data["version"]),
            lawful_basis=data.get("lawful_basis"),
            name=data.get("name"),
            retired=t == contracts.PURPOSE_RETIRED,
            art14_exemption_claimed=(
                None if t == contracts.PURPOSE_RETIRED else bool(data.get("art14_exemption_claimed", False))
            ),
        )
    elif t in (contracts.PARTY_REGISTERED, contracts.PARTY_UPDATED):
        values = {
            "legal_name": data["legal_name"],
            "roles": list(data.get("roles") or []),
            "status": data["status"],
            "broker_last_verified_at": parse_time(data.get("broker_last_verified_at")),
            "processor_id": data.get("processor_id"),
        }
        if data.get("missing_clauses") is not None:
            # Because a party update restates its current contract's missing clauses for its new roles.
            values["missing_clauses"] = data["missing_clauses"]
        await p.put_party(party_id=data["party_id"], values=values)
    elif t in (contracts.CONTRACT_SIGNED, contracts.CONTRACT_EXPIRING, contracts.CONTRACT_EXPIRED):
        await p.put_party(
            party_id=data["party_id"],
            values={
                "roles": list(data.get("roles") or []),
                "status": data.get("party_status") or "active",
                "contract_id": data["contract_id"],
                "contract_signed_at": parse_time(data.get("signed_at")),
                "contract_expires_at": parse_time(data.get("expires_at")),
                "missing_clauses": data.get("missing_clauses") or {},
                "broker_last_verified_at": parse_time(data.get("broker_last_verified_at")),
            },
        )
    elif t in (contracts.PROCESSOR_REGISTERED, contracts.PROCESSOR_UPDATED):
        contract: Any = data.get("contract") or _contract_from_consent_facts(data.get("facts"))
        await p.put_processor(
            processor_id=data["processor_id"],
            legal_name=data.get("legal_name"),
            role=data.get("role"),
            status=data["status"],
            contract=contract if isinstance(contract, dict) else None,
        )
    elif t == contracts.CONSENT_DATA_ERASED:
        await p.erase_consent_data(
            envelope.subject, data.get("consent_ids") or (), data.get("delivery_ids") or ()
        )


def _contract_from_consent_facts(facts: Any) -> dict[str, Any] | None:
    """Keeps consent's processor facts as published: contract dates, the Art. 28(3) clauses it lacks and
    every other gap consent computed (sub-processors, transfers). The gate keeps no clause or EEA list."""
    if not isinstance(facts, dict):
        return None
    return {
        "signed_at": facts.get("signed_at"),
        "expires_at": facts.get("expires_at"),
        "missing_clauses": list(facts.get("missing_clauses") or []),
        "gaps": [
            g for g in facts.get("gaps") or [] if isinstance(g, dict) and g.get("code") and g.get("topic")
        ],
    }


async def project_event(cmd: ProjectEvent, uow: AbstractGateUnitOfWork) -> bool:
    """Applies one event to the projection; returns False for a duplicate (already in the inbox)."""
    async with uow:
        await uow.projection.record_offset(
            topic=cmd.topic, partition=cmd.partition, offset=cmd.offset, event_time=cmd.envelope.time
        )
        first = await uow.first_delivery(event_id=cmd.envelope.id, topic=cmd.topic)
        if first:
            await _apply(uow, cmd.envelope)
        await uow.commit(actor=cmd.envelope.actor)
        return first


async def reset_projection(cmd: ResetProjection, uow: AbstractGateUnitOfWork) -> None:
    """Empties the projection before a rebuild from the topics (run it, then consume with a new group)."""
    async with uow:
        await uow.projection.reset(contracts.CONSUMED_TOPICS)
        await uow.commit(actor=cmd.actor)

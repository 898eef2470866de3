"""Use cases of campaign-gate: campaigns and their review, suppression-list imports, per-recipient checks
and their receipts read back with proofs, and the projection of contacts' and consent's events; each takes
a command and a unit of work."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.blind_index import BlindIndexer, InvalidIdentifierError
from shared.events import EventEnvelope
from vigie_verify.merkle import leaf_hash

from campaign_gate import contracts
from campaign_gate.adapters.projection import contact_row, objection_scope, parse_time
from campaign_gate.domain import bulk, clock, events, review, rules
from campaign_gate.domain import model as domain
from campaign_gate.domain.decision import RecipientDecision
from campaign_gate.domain.errors import CheckNotResumableError, NotFoundError, ReceiptIntegrityError
from campaign_gate.domain.receipts import (
    CHUNK_EVENT_TYPE,
    RECEIPT_CHUNK,
    ChunkHeader,
    ChunkTree,
    chunk_receipt_bytes,
    chunk_root,
    receipt_bytes,
    timestamp,
)
from campaign_gate.service_layer.commands import (
    ChangeCampaign,
    CheckCampaign,
    CreateCampaign,
    ImportSuppressionEntries,
    ProjectEvent,
    ProjectEvents,
    ResetProjection,
    ResumeCheck,
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
    #: Receipt chunks committed so far, and the receipts in them (the next chunk's number and first index).
    chunks: int = 0
    receipted: int = 0
    #: The recipients decided stale alone (records about them not applied yet), and how many were.
    stale_ids: frozenset[str] = frozenset()
    stale_recipients: int = 0

    @property
    def any_stale(self) -> bool:
        """Returns whether any receipt of the check was decided on a stale projection."""
        return self.stale or self.stale_recipients > 0

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
        domain.PurposeInfo(
            purpose_row["purpose_id"],
            purpose_row["lawful_basis"],
            purpose_row["retired"],
            entry=purpose_row.get("entry"),
        )
        if purpose_row
        else None
    )
    processor_id = campaign.spec.get("processor_id")
    processor = await uow.projection.processor(str(processor_id)) if processor_id else None
    # Every party the campaign names, as consent's party register knows it (an unknown one is absent).
    named = [str(p["party_id"]) for p in campaign.spec.get("parties") or ()]
    parties = await uow.projection.parties(named) if named else {}
    facts = domain.campaign_facts(campaign, purpose=purpose, processor=processor, parties=parties)
    return facts, processor


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


async def list_campaigns(
    status: domain.Status | None, limit: int, uow: AbstractGateUnitOfWork
) -> list[domain.Campaign]:
    """Returns up to `limit` campaigns of one status (all when None), last changed first."""
    async with uow:
        return await uow.campaigns.listed(status, limit=limit)


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
        entry = facts.register
        campaign.submit(
            findings=findings, by=cmd.actor, at=now, register_version=entry.version if entry else None
        )
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
    result.stale_ids = await _stale_ids(cmd, uow)
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
            # Because a header gets its summary when the check finishes: an empty one marks it running.
            "summary": {},
        }
    )
    return result, facts


async def _stale_ids(cmd: CheckCampaign | ResumeCheck, uow: AbstractGateUnitOfWork) -> frozenset[str]:
    """Returns the contacts unapplied records concern: those named, and those holding a blind index an
    unapplied objection names."""
    if cmd.stale or not (cmd.stale_contacts or cmd.stale_indexes):
        return frozenset()
    return cmd.stale_contacts | await uow.projection.contacts_holding(cmd.stale_indexes)


async def _decide(
    result: CheckResult,
    facts: Any,
    contact_ids: Sequence[str],
    *,
    uow: AbstractGateUnitOfWork,
    read: tuple[datetime, bulk.RecipientColumns] | None = None,
) -> list[dict[str, Any]]:
    if read is None:
        now = uow.clock()
        columns = await uow.recipient_columns(contact_ids, campaign=facts, today=clock.paris_date(now))
    else:
        now, columns = read
    out = _receipts(result, facts, columns, now=now, uow=uow)
    await uow.checks.add_receipts({"check_id": result.check_id, **r} for r in out)
    return out


async def _finish(result: CheckResult, uow: AbstractGateUnitOfWork) -> None:
    await uow.checks.finish_check(result.check_id, recipients=result.recipients, summary=result.summary)
    if result.any_stale and not result.stale:
        await uow.checks.mark_stale(result.check_id, stale=True)
    uow.publish(
        events.CheckCompleted(
            result.check_id,
            result.campaign_id,
            result.campaign_version,
            result.recipients,
            dict(result.summary),
            result.any_stale,
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
        columns = await uow.recipient_columns(ids, campaign=facts, today=clock.paris_date(now))
        result = CheckResult(
            str(uuid.uuid4()), campaign.id, campaign.version, rules.RULESET_VERSION, cmd.stale
        )
        result.stale_ids = await _stale_ids(cmd, uow)
        out = _receipts(result, facts, columns, now=now, uow=uow)
        stale = result.any_stale
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
    result: CheckResult,
    facts: Any,
    columns: bulk.RecipientColumns,
    *,
    now: datetime,
    uow: AbstractGateUnitOfWork,
) -> list[dict[str, Any]]:
    """Decides recipients with the columnar evaluator and returns their receipts (queued for the audit
    log too); the campaign-scope rows are evaluated once for the whole batch."""
    decided = bulk.decide_bulk(facts, columns, at=now, stale=result.stale, stale_ids=result.stale_ids)
    if decided.stale_rows is not None:
        result.stale_recipients += int(decided.stale_rows.sum())
    out = decided.receipts()
    for value, count in decided.summary().items():
        result.summary[value] += count
    _publish_receipts(result, out, now=now, uow=uow)
    return out


def _publish_receipts(
    result: CheckResult, receipts: Sequence[dict[str, Any]], *, now: datetime, uow: AbstractGateUnitOfWork
) -> None:
    """Commits a batch of a check's receipts to the audit log as Merkle chunks: one event per chunk.

    The batch is cut, in order, into chunks of at most RECEIPT_CHUNK; each chunk's RFC 9162 root over
    its receipts' canonical bytes is staged in the gate and queued on `campaigns.events` as a
    `ReceiptChunkCommitted`, in the caller's transaction. Each receipt gains its `chunk` and
    `chunk_index`, stored with it, so the gate can later prove it into its chunk's root.
    """
    at = timestamp(now)
    for start in range(0, len(receipts), RECEIPT_CHUNK):
        part = receipts[start : start + RECEIPT_CHUNK]
        number, first = result.chunks, result.receipted
        root = chunk_root(
            chunk_receipt_bytes(
                check_id=result.check_id,
                campaign_id=result.campaign_id,
                campaign_version=result.campaign_version,
                ruleset_version=result.ruleset_version,
                at=at,
                receipts=part,
            )
        )
        for index, r in enumerate(part):
            r["chunk"], r["chunk_index"] = number, index
        header = ChunkHeader(
            check_id=result.check_id,
            campaign_id=result.campaign_id,
            campaign_version=result.campaign_version,
            ruleset_version=result.ruleset_version,
            chunk=number,
            first_index=first,
            count=len(part),
            root=root,
            at=at,
        )
        uow.checks.stage_chunk(
            {
                "check_id": result.check_id,
                "chunk": number,
                "first_index": first,
                "count": len(part),
                "root": root,
                "at": at,
                "event_id": header.event_id,
            }
        )
        uow.publish(
            events.ReceiptChunkCommitted(
                result.check_id,
                result.campaign_id,
                result.campaign_version,
                result.ruleset_version,
                number,
                first,
                len(part),
                root.hex(),
                now,
            )
        )
        result.chunks += 1
        result.receipted += len(part)


async def start_check(cmd: CheckCampaign, uow: AbstractGateUnitOfWork) -> tuple[CheckResult, Any]:
    """Records the header of a check and returns it with the campaign's facts."""
    async with uow:
        result, facts = await _start(cmd, uow)
        await uow.commit(actor=cmd.actor)
        return result, facts


async def read_batch(
    facts: Any, contact_ids: Sequence[str], *, uow: AbstractGateUnitOfWork
) -> tuple[datetime, bulk.RecipientColumns]:
    """Reads a batch's recipients resolved for a campaign (in a transaction of its own) and returns them
    with the instant they were read at, which their decisions carry."""
    async with uow:
        now = uow.clock()
        return now, await uow.recipient_columns(contact_ids, campaign=facts, today=clock.paris_date(now))


async def check_batch(
    result: CheckResult,
    facts: Any,
    contact_ids: Sequence[str],
    *,
    actor: str,
    uow: AbstractGateUnitOfWork,
    read: tuple[datetime, bulk.RecipientColumns] | None = None,
) -> list[dict[str, Any]]:
    """Decides one batch of recipients (read here, or beforehand by `read_batch`), stores their receipts
    and queues them on `campaigns.events`."""
    async with uow:
        out = await _decide(result, facts, contact_ids, uow=uow, read=read)
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
    # Because a batch's write (receipts' COPY, commit) waits on the database: the next batch's read runs
    # meanwhile, on another connection. Every read starts after the check's wait for the projection, and
    # the batches' recipients are distinct, so a read ahead sees what a read in turn would.
    batches = iter(_unique_batches(contact_ids, batch))
    ids = next(batches, None)
    ahead = asyncio.ensure_future(read_batch(facts, ids, uow=uow_factory())) if ids is not None else None
    try:
        while ids is not None and ahead is not None:
            read = await ahead
            following = next(batches, None)
            ahead = (
                asyncio.ensure_future(read_batch(facts, following, uow=uow_factory()))
                if following is not None
                else None
            )
            for item in await check_batch(result, facts, ids, actor=cmd.actor, uow=uow_factory(), read=read):
                yield item
            ids = following
    finally:
        if ahead is not None and not ahead.done():
            # Because the read holds a connection in a transaction: it ends (rolled back) before the
            # stream does.
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead
    yield await finish_check(result, actor=cmd.actor, uow=uow_factory())


def _unique_batches(contact_ids: Iterable[str], batch: int) -> Iterable[list[str]]:
    """Yields the ids in batches of `batch`, each id once (a receipt is kept once per recipient and check)."""
    pending: list[str] = []
    seen: set[str] = set()
    for cid in contact_ids:
        if cid in seen:
            continue
        seen.add(cid)
        pending.append(cid)
        if len(pending) >= batch:
            yield pending
            pending = []
    if pending:
        yield pending


async def resume_check_stream(
    cmd: ResumeCheck,
    contact_ids: Iterable[str],
    *,
    uow_factory: Callable[[], AbstractGateUnitOfWork],
    batch: int = CHECK_BATCH,
) -> AsyncIterator[dict[str, Any] | CheckResult]:
    """Resumes a check that stopped before its end (a dropped connection, a restarted gate): yields the
    receipts of the recipients it held none for, decided batch by batch under the same check id, then
    the CheckResult with the whole check's totals.

    The caller sends the check's recipients again (all of them, or those left); those already decided
    are skipped, so no recipient gets two receipts and the chunks continue where the stored ones end.
    NotFoundError for an unknown check; CheckNotResumableError when it finished or when its campaign
    version or the rule set changed since it began (its receipts would not be one decision).
    """
    result, facts, stale_before = await _reopened(cmd, uow_factory())
    for ids in _unique_batches(contact_ids, batch):
        for item in await _resumed_batch(result, facts, ids, actor=cmd.actor, uow=uow_factory()):
            yield item
    async with uow_factory() as uow:
        row = await uow.checks.get_check(result.check_id)
        if row is None:  # a header is never deleted; a database restored in between would do it
            raise NotFoundError(f"check {result.check_id} not found")
        result.summary = {"allow": 0, "needs_review": 0, "block": 0} | row["decided"]
        # Because the header's `stale` says whether any of its receipts was decided stale.
        result.stale = result.any_stale or stale_before
        await uow.checks.mark_stale(result.check_id, stale=result.stale)
        await _finish(result, uow)
        await uow.commit(actor=cmd.actor)
    yield result


async def ensure_resumable(check_id: str, uow: AbstractGateUnitOfWork) -> None:
    """Raises NotFoundError or CheckNotResumableError unless the check can be resumed now (asked before
    a resumption streams its answer, so the refusal is a 404 or 409 rather than a cut stream)."""
    async with uow:
        await _resumable(check_id, uow)


async def _resumable(check_id: str, uow: AbstractGateUnitOfWork) -> tuple[dict[str, Any], domain.Campaign]:
    row = await uow.checks.get_check(check_id)
    if row is None:
        raise NotFoundError(f"check {check_id} not found")
    if row["summary"]:
        raise CheckNotResumableError(f"check {check_id} has finished: it holds all its receipts")
    campaign = await _campaign_or_raise(uow, row["campaign_id"])
    if campaign.version != row["campaign_version"]:
        raise CheckNotResumableError(
            f"campaign {campaign.id} changed since check {check_id} began (version "
            f"{row['campaign_version']}, now {campaign.version}): run a new check"
        )
    if row["ruleset_version"] != rules.RULESET_VERSION:
        raise CheckNotResumableError(
            f"the rule set changed since check {check_id} began ({row['ruleset_version']}, now "
            f"{rules.RULESET_VERSION}): run a new check"
        )
    return row, campaign


async def _reopened(cmd: ResumeCheck, uow: AbstractGateUnitOfWork) -> tuple[CheckResult, Any, bool]:
    async with uow:
        row, campaign = await _resumable(cmd.check_id, uow)
        facts, _ = await _facts(uow, campaign)
        stale_ids = await _stale_ids(cmd, uow)
    result = CheckResult(cmd.check_id, campaign.id, campaign.version, rules.RULESET_VERSION, cmd.stale)
    result.stale_ids = stale_ids
    return result, facts, bool(row["stale"])


async def _resumed_batch(
    result: CheckResult, facts: Any, contact_ids: Sequence[str], *, actor: str, uow: AbstractGateUnitOfWork
) -> list[dict[str, Any]]:
    async with uow:
        # Under the check's row lock (PostgreSQL), so two resumptions of one check take turns: each
        # batch continues the chunks stored so far and skips the recipients already decided.
        result.chunks, result.receipted = await uow.checks.lock_check(result.check_id)
        decided = await uow.checks.decided_among(result.check_id, contact_ids)
        todo = [cid for cid in contact_ids if cid not in decided]
        out = await _decide(result, facts, todo, uow=uow) if todo else []
        await uow.commit(actor=actor)
        return out


async def check_status(check_id: str, uow: AbstractGateUnitOfWork) -> dict[str, Any]:
    """Returns a check's progress: its header, `finished` or `running` (a check that stopped before
    its end stays `running`), the recipients decided and stored so far and their summary. NotFoundError
    for an unknown check."""
    async with uow:
        row = await uow.checks.get_check(check_id)
    if row is None:
        raise NotFoundError(f"check {check_id} not found")
    return {
        "check_id": row["id"],
        "campaign_id": row["campaign_id"],
        "campaign_version": row["campaign_version"],
        "ruleset_version": row["ruleset_version"],
        "stale": row["stale"],
        "checked_at": row["checked_at"],
        "state": "finished" if row["summary"] else "running",
        "recipients": row["stored"],
        "summary": {"allow": 0, "needs_review": 0, "block": 0} | row["decided"],
    }


async def check_receipts(
    check_id: str, *, uow_factory: Callable[[], AbstractGateUnitOfWork], page: int = CHECK_BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yields a check's stored receipts by contact id, a page per read transaction (a running check's
    receipts stored so far)."""
    after: str | None = None
    while True:
        async with uow_factory() as uow:
            rows = await uow.checks.receipts_page(check_id, after=after, limit=page)
        if not rows:
            return
        yield rows
        after = rows[-1]["contact_id"]


# --- Receipts read back with their proofs ----------------------------------------------------------
# The audit log holds one entry per chunk of a check's receipts (its root); the gate keeps the receipts.
# A receipt is proven by rebuilding its chunk's tree from the stored receipts, checking the rebuilt
# root against the one committed, and returning the receipt's audit path.

#: The most receipts a person's listing returns (newest checks first).
MAX_RECEIPTS_OF_A_PERSON = 10_000


def _receipt_bytes(check: dict[str, Any], receipt: dict[str, Any], at: str) -> bytes:
    return receipt_bytes(
        check_id=check["check_id"],
        campaign_id=check["campaign_id"],
        campaign_version=check["campaign_version"],
        ruleset_version=check["ruleset_version"],
        at=at,
        contact_id=receipt["contact_id"],
        decision=receipt["decision"],
        reasons=receipt["reasons"],
        evidence=receipt["evidence"],
    )


async def receipt_with_proof(check_id: str, contact_id: str, uow: AbstractGateUnitOfWork) -> dict[str, Any]:
    """Returns a receipt, its canonical bytes, its chunk and its inclusion proof into the chunk's root.

    NotFoundError when the check holds no receipt for the contact, or the receipt predates chunks.
    """
    async with uow:
        found = await uow.checks.get_receipt(check_id, contact_id)
        if found is None:
            raise NotFoundError(f"check {check_id} holds no receipt for contact {contact_id}")
        if found["chunk"] is None:
            raise NotFoundError(
                f"the receipt of contact {contact_id} in check {check_id} was decided before receipts were "
                "committed in chunks: its audit entry is its own recipient_checked event"
            )
        chunk = await uow.checks.get_chunk(check_id, found["chunk"])
        members = await uow.checks.chunk_receipts(check_id, found["chunk"])
    if chunk is None:
        raise ReceiptIntegrityError(f"chunk {found['chunk']} of check {check_id} is missing")
    at = chunk["at"]
    tree = ChunkTree(
        chunk_receipt_bytes(
            check_id=found["check_id"],
            campaign_id=found["campaign_id"],
            campaign_version=found["campaign_version"],
            ruleset_version=found["ruleset_version"],
            at=at,
            receipts=members,
        )
    )
    index = found["chunk_index"]
    if tree.count != chunk["count"] or tree.root != bytes(chunk["root"]):
        raise ReceiptIntegrityError(
            f"the stored receipts of chunk {chunk['chunk']} of check {check_id} no longer hash to its "
            "committed root"
        )
    canonical = _receipt_bytes(found, found, at)
    return {
        "check_id": check_id,
        "campaign_id": found["campaign_id"],
        "campaign_version": found["campaign_version"],
        "ruleset_version": found["ruleset_version"],
        "contact_id": contact_id,
        "decision": found["decision"],
        "reasons": found["reasons"],
        "evidence": found["evidence"],
        "at": at,
        "canonical": base64.b64encode(canonical).decode(),
        "leaf_hash": leaf_hash(canonical).hex(),
        "index": index,
        "inclusion_proof": [h.hex() for h in tree.proof(index)],
        "chunk": {
            "number": chunk["chunk"],
            "first_index": chunk["first_index"],
            "count": chunk["count"],
            "root": bytes(chunk["root"]).hex(),
            "event_id": chunk["event_id"],
            "event_type": CHUNK_EVENT_TYPE,
        },
    }


async def receipts_of(contact_id: str, uow: AbstractGateUnitOfWork) -> list[dict[str, Any]]:
    """Returns what the gate decided about a person: every receipt naming the contact, newest first.

    Each names its check and chunk, so that `GET /v1/checks/{check_id}/receipts/{contact_id}` proves it.
    """
    async with uow:
        rows = await uow.checks.receipts_of(contact_id, limit=MAX_RECEIPTS_OF_A_PERSON)
    return [
        {
            "check_id": row["check_id"],
            "campaign_id": row["campaign_id"],
            "campaign_version": row["campaign_version"],
            "ruleset_version": row["ruleset_version"],
            "checked_at": row["checked_at"].isoformat(),
            "contact_id": row["contact_id"],
            "decision": row["decision"],
            "reasons": row["reasons"],
            "evidence": row["evidence"],
            "chunk": row["chunk"],
            "chunk_index": row["chunk_index"],
        }
        for row in rows
    ]


async def chunks_of(check_id: str, uow: AbstractGateUnitOfWork) -> dict[str, Any]:
    """Returns a check's receipt chunks: what the audit log must hold, one entry per chunk.

    An auditor compares them with the log's `receipt_chunk_committed` entries under the campaign; the
    counts add up to the receipts committed. NotFoundError for a check with no chunk.
    """
    async with uow:
        rows = await uow.checks.chunks_of(check_id)
    if not rows:
        raise NotFoundError(f"check {check_id} has no receipt chunk")
    return {
        "check_id": check_id,
        "receipts": sum(row["count"] for row in rows),
        "chunks": [
            {
                "number": row["chunk"],
                "first_index": row["first_index"],
                "count": row["count"],
                "root": bytes(row["root"]).hex(),
                "at": row["at"],
                "event_id": row["event_id"],
                "event_type": CHUNK_EVENT_TYPE,
            }
            for row in rows
        ],
    }


# --- The projection of contacts and consent ------------------------------------------------------


#: The actor a projection batch commits as (an event it publishes names its own cause's actor).
PROJECTION_ACTOR = "campaign-gate/projection"

#: What applying one event does to the projection, built from the event before anything is written.
Apply = Callable[[AbstractGateUnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class ProjectionChange:
    """One event's effect on the projection, checked and parsed (`projection_change`), and the stored
    rows it builds on (read for a whole batch at once)."""

    apply: Apply
    contact_id: str | None = None
    consent_id: str | None = None


async def _nothing(_uow: AbstractGateUnitOfWork) -> None:
    """What an event type the gate does not read does to the projection."""


def _text(data: dict[str, Any], key: str) -> str:
    """Returns a required text field of an event's data; raises KeyError or ValueError without one."""
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is not a non-empty text")
    return value


def _consent_values(data: dict[str, Any], *, granted: bool, at: datetime) -> dict[str, Any]:
    return {
        "consent_id": _text(data, "consent_id"),
        "contact_id": _text(data, "contact_id"),
        "purpose_id": _text(data, "purpose_id"),
        "channel": _text(data, "channel"),
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
        # Issue 19: an event from before consent published them names no partner and covers no tracking.
        "partners": [str(p) for p in data.get("partners") or ()],
        "partner_categories": [str(p) for p in data.get("partner_categories") or ()],
        "email_tracking": bool(data.get("email_tracking", False)),
        "updated_at": at,
    }


def projection_change(envelope: EventEnvelope) -> ProjectionChange:  # noqa: C901, PLR0911, PLR0912 - one branch per event type
    """Returns what an event does to the projection, or raises KeyError, TypeError or ValueError when
    it can never be applied (the consumer dead-letters it). An event type the gate does not read
    changes nothing.

    Every field is read and checked here, before the batch's transaction writes anything, so that a
    bad event is refused alone instead of failing the events polled with it.
    """
    t, data, at, subject = envelope.type, envelope.data, envelope.time, envelope.subject
    if t in (
        contracts.CONTACT_CREATED,
        contracts.CONTACT_UPDATED,
        contracts.INTERACTION_RECORDED,
        contracts.PROCESSING_RESTRICTED,
        contracts.RESTRICTION_LIFTED,
    ):
        row = contact_row(subject, data.get("facts"), at=at)
        return ProjectionChange(lambda uow: uow.projection.put_contact(row), contact_id=subject)
    if t == contracts.CONTACT_RETENTION_FLAGGED:
        rule = data.get("rule")
        return ProjectionChange(
            lambda uow: uow.projection.set_contact_status(
                subject, "retention_flagged", at=at, retention_rule=None if rule is None else str(rule)
            ),
            contact_id=subject,
        )
    if t == contracts.CONTACT_ERASED:

        async def erase(uow: AbstractGateUnitOfWork) -> None:
            await uow.projection.erase_contact(subject, at=at)
            await uow.projection.erase_consent_data(subject, (), ())
            kept = await uow.checks.count_receipts(subject)
            uow.publish_as(events.ContactForgotten(subject, kept, at), actor=envelope.actor)

        return ProjectionChange(erase, contact_id=subject)
    if t in (contracts.CONSENT_REQUESTED, contracts.CONSENT_GRANTED):
        values = _consent_values(data, granted=t == contracts.CONSENT_GRANTED, at=at)
        return ProjectionChange(
            lambda uow: uow.projection.put_consent(values), consent_id=values["consent_id"]
        )
    if t == contracts.CONSENT_WITHDRAWN:
        withdrawal: dict[str, Any] = {
            "consent_id": _text(data, "consent_id"),
            "contact_id": _text(data, "contact_id"),
            "purpose_id": _text(data, "purpose_id"),
            "channel": _text(data, "channel"),
            "granted_at": parse_time(data.get("granted_at")),
            "withdrawn_at": parse_time(data["withdrawn_at"]) or at,
            "at": at,
        }
        return ProjectionChange(
            lambda uow: uow.projection.withdraw_consent(**withdrawal), consent_id=withdrawal["consent_id"]
        )
    if t == contracts.OBJECTION_RECORDED:
        scope, channel, purpose_id = objection_scope(
            data.get("scope"), data.get("channel"), data.get("purpose_id")
        )
        objection: dict[str, Any] = {
            "objection_id": _text(data, "objection_id"),
            "contact_id": data.get("contact_id"),
            "scope": scope,
            "channel": channel,
            "purpose_id": purpose_id,
            "at": parse_time(data.get("at")) or at,
            "blind_indexes": [str(i) for i in data.get("blind_indexes") or ()],
        }
        return ProjectionChange(lambda uow: uow.projection.put_objection(**objection))
    if t == contracts.NOTICE_PUBLISHED:
        notice: dict[str, Any] = {
            "notice_id": _text(data, "notice_id"),
            "version": int(data["version"]),
            "article": _text(data, "article"),
            "purpose_ids": [str(i) for i in data.get("purpose_ids") or ()],
        }
        return ProjectionChange(lambda uow: uow.projection.put_notice(**notice))
    if t == contracts.NOTICE_DELIVERED:
        delivery: dict[str, Any] = {
            "delivery_id": _text(data, "delivery_id"),
            "contact_id": _text(data, "contact_id"),
            "notice_id": _text(data, "notice_id"),
            "notice_version": int(data["notice_version"]),
            "channel": data.get("channel"),
            "delivered_at": parse_time(data.get("at")) or at,
        }
        return ProjectionChange(lambda uow: uow.projection.put_delivery(delivery))
    if t in (contracts.PURPOSE_REGISTERED, contracts.PURPOSE_REVISED, contracts.PURPOSE_RETIRED):
        purpose: dict[str, Any] = {
            "purpose_id": _text(data, "purpose_id"),
            "version": int(data["version"]),
            "lawful_basis": data.get("lawful_basis"),
            "name": data.get("name"),
            "retired": t == contracts.PURPOSE_RETIRED,
            "art14_exemption_claimed": (
                None if t == contracts.PURPOSE_RETIRED else bool(data.get("art14_exemption_claimed", False))
            ),
        }
        if t != contracts.PURPOSE_RETIRED and isinstance(data.get("entry"), dict):
            # The register-entry facts of the version in force (issue 19); a retirement keeps the last.
            purpose["entry"] = data["entry"]
        return ProjectionChange(lambda uow: uow.projection.put_purpose(**purpose))
    if t in (contracts.PARTY_REGISTERED, contracts.PARTY_UPDATED):
        party_id = _text(data, "party_id")
        party: dict[str, Any] = {
            "legal_name": data["legal_name"],
            "roles": list(data.get("roles") or []),
            "status": data["status"],
            "broker_last_verified_at": parse_time(data.get("broker_last_verified_at")),
            "processor_id": data.get("processor_id"),
            "purpose_ids": [str(i) for i in data.get("purpose_ids") or ()],
        }
        if data.get("term_gaps") is not None:
            party["term_gaps"] = _term_gaps(data["term_gaps"])
        if data.get("missing_clauses") is not None:
            # Because a party update restates its current contract's missing clauses for its new roles.
            party["missing_clauses"] = data["missing_clauses"]
        return ProjectionChange(lambda uow: uow.projection.put_party(party_id=party_id, values=party))
    if t in (contracts.CONTRACT_SIGNED, contracts.CONTRACT_EXPIRING, contracts.CONTRACT_EXPIRED):
        signatory = _text(data, "party_id")
        contract_values: dict[str, Any] = {
            "roles": list(data.get("roles") or []),
            "status": data.get("party_status") or "active",
            "contract_id": data["contract_id"],
            "contract_signed_at": parse_time(data.get("signed_at")),
            "contract_expires_at": parse_time(data.get("expires_at")),
            "missing_clauses": data.get("missing_clauses") or {},
            "broker_last_verified_at": parse_time(data.get("broker_last_verified_at")),
            "term_gaps": _term_gaps(data.get("term_gaps") or ()),
        }
        return ProjectionChange(
            lambda uow: uow.projection.put_party(party_id=signatory, values=contract_values)
        )
    if t in (contracts.PROCESSOR_REGISTERED, contracts.PROCESSOR_UPDATED):
        contract: Any = data.get("contract") or _contract_from_consent_facts(data.get("facts"))
        processor: dict[str, Any] = {
            "processor_id": _text(data, "processor_id"),
            "legal_name": data.get("legal_name"),
            "role": data.get("role"),
            "status": _text(data, "status"),
            "contract": contract if isinstance(contract, dict) else None,
        }
        return ProjectionChange(lambda uow: uow.projection.put_processor(**processor))
    if t == contracts.CONSENT_DATA_ERASED:
        consent_ids = [str(i) for i in data.get("consent_ids") or ()]
        delivery_ids = [str(i) for i in data.get("delivery_ids") or ()]
        return ProjectionChange(
            lambda uow: uow.projection.erase_consent_data(subject, consent_ids, delivery_ids)
        )
    return ProjectionChange(_nothing)


def _term_gaps(gaps: Any) -> list[dict[str, str]]:
    """Keeps consent's TERM gaps of a party's contract as published: rule id and field, no text."""
    return [{"rule": str(g["rule"]), "field": str(g.get("field") or "")} for g in gaps if isinstance(g, dict)]


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


@dataclass
class ProjectionResult:
    """What a batch did: the events applied (first deliveries), and the refused ones with why."""

    applied: list[ProjectEvent] = field(default_factory=list)
    refused: list[tuple[ProjectEvent, Exception]] = field(default_factory=list)


async def project_events(cmd: ProjectEvents, uow: AbstractGateUnitOfWork) -> ProjectionResult:
    """Applies a polled batch in one transaction: each first delivery in polled order (a duplicate, by
    the inbox, changes nothing), then the next offset of every partition, refused records included.

    An event that can never be applied is refused before anything is written (`projection_change`)
    and returned, for the consumer to dead-letter; its offset is recorded with the others', so that it
    cannot keep the projection stale. The writes are applied in memory and reach the database as one
    upsert per table at commit (see `ProjectionRepository`): the final state is the one-by-one one.
    """
    result = ProjectionResult()
    changes: list[tuple[ProjectEvent, ProjectionChange]] = []
    for event in cmd.events:
        try:
            changes.append((event, projection_change(event.envelope)))
        except (KeyError, TypeError, ValueError) as exc:
            result.refused.append((event, exc))
    # The next offset per partition, and the time of the last event there (None for a record not read).
    positions: dict[tuple[str, int], tuple[int, datetime | None]] = {}
    polled: list[tuple[str, int, int, datetime | None]] = [(t, p, o, None) for t, p, o in cmd.undecodable]
    polled += [(e.topic, e.partition, e.offset, e.envelope.time) for e in cmd.events]
    for topic, partition, offset, event_time in polled:
        if offset > positions.get((topic, partition), (-1, None))[0]:
            positions[(topic, partition)] = (offset, event_time)
    async with uow:
        new = await uow.first_deliveries([(e.envelope.id, e.topic) for e, _change in changes])
        await uow.projection.prefetch(
            contact_ids={c.contact_id for e, c in changes if c.contact_id and e.envelope.id in new},
            consent_ids={c.consent_id for e, c in changes if c.consent_id and e.envelope.id in new},
        )
        for event, change in changes:
            if event.envelope.id in new:
                new.discard(event.envelope.id)  # a second delivery in the same batch is a duplicate
                await change.apply(uow)
                result.applied.append(event)
        for (topic, partition), (offset, event_time) in sorted(positions.items()):
            await uow.projection.record_offset(
                topic=topic, partition=partition, offset=offset, event_time=event_time
            )
        await uow.commit(actor=PROJECTION_ACTOR)
    return result


async def project_event(cmd: ProjectEvent, uow: AbstractGateUnitOfWork) -> bool:
    """Applies one event to the projection (a batch of one); returns False for a duplicate (already in
    the inbox). An event that can never be applied raises its KeyError, TypeError or ValueError."""
    result = await project_events(ProjectEvents(events=(cmd,)), uow)
    if result.refused:
        raise result.refused[0][1]
    return bool(result.applied)


async def reset_projection(cmd: ResetProjection, uow: AbstractGateUnitOfWork) -> None:
    """Empties the projection before a rebuild from the topics (run it, then consume with a new group)."""
    async with uow:
        await uow.projection.reset(contracts.CONSUMED_TOPICS)
        await uow.commit(actor=cmd.actor)

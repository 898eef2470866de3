"""The campaign-gate HTTP API (`/v1/…`, SPEC §4): thin translators between HTTP and the handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from shared.web import problem

from campaign_gate.adapters.freshness import Freshness
from campaign_gate.bootstrap import CampaignGate
from campaign_gate.domain import review
from campaign_gate.domain.facts import StudyFacts
from campaign_gate.domain.model import Campaign, Status, StoredFinding, study_facts
from campaign_gate.entrypoints import schemas
from campaign_gate.entrypoints.deps import (
    Admin,
    Marketer,
    Reader,
    ReceiptReader,
    Reviewer,
    ServiceDep,
    UnitOfWorkDep,
)
from campaign_gate.service_layer import commands, handlers
from campaign_gate.service_layer.handlers import CheckResult

router = APIRouter(prefix="/v1", tags=["campaign-gate"])
NDJSON = "application/x-ndjson"


class InvalidCheckInputError(ValueError):
    """An NDJSON check line that is not a contact id."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.problem_extra = {"errors": [{"field": f"line {line}", "message": reason}]}


def _finding(finding: StoredFinding, study: StudyFacts | None = None) -> schemas.Finding:
    grounds = None
    if finding.severity == "needs_review":
        g = review.grounds_for(finding.rule, study)
        grounds = schemas.SignOffGrounds(
            bases=list(g.bases),
            reference_required=g.reference_required,
            min_explanation=review.MIN_EXPLANATION,
        )
    return schemas.Finding(**finding.as_dict(), sign_off=grounds)


def _read(campaign: Campaign) -> schemas.CampaignRead:
    return schemas.CampaignRead(
        id=campaign.id,
        status=campaign.status.value,
        version=campaign.version,
        spec=campaign.spec,
        # Because a study answer allows only some verdicts: the bases listed are those the answers allow.
        findings=[_finding(f, study_facts(campaign.spec.get("study"))) for f in campaign.findings],
        review=campaign.review,
        created_by=campaign.created_by,
        updated_by=campaign.updated_by,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


def _criteria(items: list[schemas.Criterion]) -> tuple[commands.Criterion, ...]:
    return tuple(
        commands.Criterion(
            c.attribute,
            c.operator,
            tuple(c.value) if isinstance(c.value, list) else c.value,
            c.justification.model_dump() if c.justification else None,
        )
        for c in items
    )


#: Campaign fields whose HTTP form is a nested model → their command form.
_NESTED: dict[str, Any] = {
    "message": lambda m: commands.Message(**m.model_dump()),
    "call_script": lambda s: commands.CallScript(**s.model_dump()),
    "targeting": _criteria,
    "offer_eligibility": _criteria,
    # Issue 19: the per-operation study is stored as the JSON the API validated.
    "study": lambda s: s.model_dump(mode="json"),
    "parties": lambda ps: tuple(commands.NamedParty(p.party_id, p.role) for p in ps),
}


def _campaign_fields(
    body: schemas.CampaignFields | schemas.CampaignPatch, names: Iterable[str]
) -> dict[str, Any]:
    """Returns the named fields of a campaign body as the command's values (lists become tuples)."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if value is not None and name in _NESTED:
            value = _NESTED[name](value)
        elif isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


@router.post("/campaigns", status_code=201, response_model=schemas.CampaignRead)
async def create_campaign(
    body: schemas.CampaignFields, who: Marketer, uow: UnitOfWorkDep
) -> schemas.CampaignRead:
    """Creates a draft campaign."""
    spec = commands.CampaignSpec(**_campaign_fields(body, type(body).model_fields))
    return _read(await handlers.create_campaign(commands.CreateCampaign(spec, who.subject), uow))


@router.get("/campaigns", response_model=schemas.CampaignList)
async def list_campaigns(
    _who: Reader,
    uow: UnitOfWorkDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.CampaignList:
    """Lists campaigns, last changed first, of one status or all (a reviewer's queue: `status=submitted`)."""
    found = await handlers.list_campaigns(status, limit, uow)
    return schemas.CampaignList(items=[_read(c) for c in found])


@router.get("/campaigns/{campaign_id}", response_model=schemas.CampaignRead)
async def get_campaign(campaign_id: str, _who: Reader, uow: UnitOfWorkDep) -> schemas.CampaignRead:
    """Returns a campaign with its findings and review."""
    return _read(await handlers.get_campaign(campaign_id, uow))


@router.patch("/campaigns/{campaign_id}", response_model=schemas.CampaignRead)
async def change_campaign(
    campaign_id: str, body: schemas.CampaignPatch, who: Marketer, uow: UnitOfWorkDep
) -> schemas.CampaignRead:
    """Changes fields; a submitted, approved or rejected campaign goes back to draft."""
    changes = commands.CampaignChanges(
        given=frozenset(body.model_fields_set), **_campaign_fields(body, body.model_fields_set)
    )
    command = commands.ChangeCampaign(campaign_id, changes, who.subject)
    return _read(await handlers.change_campaign(command, uow))


@router.post(
    "/campaigns/{campaign_id}/submit",
    response_model=schemas.CampaignRead,
    responses={503: {"description": "the projection has not applied what was published before; retry"}},
)
async def submit_campaign(campaign_id: str, who: Marketer, service: ServiceDep) -> Any:
    """Runs the automated review and returns its findings, once the projection holds every event
    published before the submission (a register entry, a processor, a purpose the review reads); 503
    with Retry-After when it does not within `review_catch_up_seconds`, and nothing is stored."""
    await handlers.get_campaign(campaign_id, service.uow())
    # Because the review reads campaign facts only: a backlog of people's records (an import) does not
    # hold it.
    freshness = await service.projection_freshness(
        catch_up_seconds=service.settings.review_catch_up_seconds, recipients=()
    )
    if freshness.stale:
        # Because a review against facts not applied yet gives false blocks (PROC-01, PAR-01 for a
        # register or party just created) or passes a change not applied yet; checks fail closed
        # (GATE_STALE) for the same reason.
        return problem(
            503,
            "projection not caught up",
            detail=f"the review waits for the gate's projection: {freshness.reason}",
            headers={"Retry-After": "1"},
        )
    command = commands.SubmitCampaign(campaign_id, who.subject)
    return _read(await handlers.submit_campaign(command, service.uow()))


@router.post("/campaigns/{campaign_id}/approve", response_model=schemas.CampaignRead)
async def approve_campaign(
    campaign_id: str, body: schemas.ApprovalDecision, who: Reviewer, uow: UnitOfWorkDep
) -> schemas.CampaignRead:
    """Approves a submitted campaign: no block finding, four eyes, and one structured sign-off per rule
    with needs-review findings (a basis that rule allows, an explanation, a reference where required);
    a missing or invalid sign-off is a 422 naming it."""
    sign_offs = tuple(review.SignOff(s.rule, s.basis, s.explanation, s.reference) for s in body.sign_offs)
    command = commands.ReviewCampaign(campaign_id, who.subject, approve=True, sign_offs=sign_offs)
    return _read(await handlers.review_campaign(command, uow))


@router.post("/campaigns/{campaign_id}/reject", response_model=schemas.CampaignRead)
async def reject_campaign(
    campaign_id: str, body: schemas.ReviewDecision, who: Reviewer, uow: UnitOfWorkDep
) -> schemas.CampaignRead:
    """Rejects a submitted campaign."""
    command = commands.ReviewCampaign(
        campaign_id, who.subject, approve=False, justification=body.justification
    )
    return _read(await handlers.review_campaign(command, uow))


async def _ndjson_ids(request: Request) -> AsyncIterator[str]:
    buffer = b""
    line_no = 0

    def parse(raw: bytes) -> str | None:
        nonlocal line_no
        line_no += 1
        raw = raw.strip()
        if not raw:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidCheckInputError(line_no, "not JSON") from None
        if isinstance(value, dict):
            value = value.get("contact_id")
        if not isinstance(value, str) or not value or len(value) > 64:
            raise InvalidCheckInputError(line_no, 'expected a contact id or {"contact_id": …}')
        return value

    async for chunk in request.stream():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            cid = parse(raw)
            if cid is not None:
                yield cid
    cid = parse(buffer)
    if cid is not None:
        yield cid


@router.post(
    "/campaigns/{campaign_id}/checks",
    response_model=schemas.CheckRead,
    responses={200: {"content": {NDJSON: {}}}},
)
async def check_campaign(campaign_id: str, request: Request, who: Marketer, service: ServiceDep) -> Any:
    """Decides each recipient: JSON `{"contact_ids": […]}` in and out, or NDJSON streamed in and out."""

    async def known() -> None:
        await handlers.get_campaign(campaign_id, service.uow())

    def stream(freshness: Freshness, ids: list[str]) -> AsyncIterator[dict[str, Any] | CheckResult]:
        command = commands.CheckCampaign(campaign_id, who.actor, **_staleness(freshness))
        return handlers.check_stream(command, ids, uow_factory=service.uow)

    async def once(freshness: Freshness, ids: list[str]) -> tuple[CheckResult, list[dict[str, Any]]] | None:
        if len(ids) > handlers.CHECK_BATCH:
            return None
        command = commands.CheckCampaign(campaign_id, who.actor, **_staleness(freshness))
        return await handlers.check_once(command, ids, uow=service.uow())

    return await _served_check(request, service, known, stream, once)


@router.post(
    "/checks/{check_id}/resume",
    response_model=schemas.CheckRead,
    responses={200: {"content": {NDJSON: {}}}, 409: {"description": "finished, or its campaign changed"}},
)
async def resume_check(
    check_id: Annotated[str, Path(max_length=36)], request: Request, who: Marketer, service: ServiceDep
) -> Any:
    """Resumes a check that stopped before its end (a dropped connection, a restarted gate): send its
    recipients again, as JSON or NDJSON like a check; those it holds a receipt for are skipped, the others
    are decided under the same check id, and the answer carries their receipts and the whole check's
    totals. 409 when the check finished or its campaign or the rule set changed since it began."""

    async def resumable() -> None:
        await handlers.ensure_resumable(check_id, service.uow())

    def stream(freshness: Freshness, ids: list[str]) -> AsyncIterator[dict[str, Any] | CheckResult]:
        command = commands.ResumeCheck(check_id, who.actor, **_staleness(freshness))
        return handlers.resume_check_stream(command, ids, uow_factory=service.uow)

    async def never(_freshness: Freshness, _ids: list[str]) -> None:
        return None

    return await _served_check(request, service, resumable, stream, never)


def _staleness(freshness: Freshness) -> dict[str, Any]:
    """The staleness fields of a check command, from the projection's freshness for its recipients."""
    return {
        "stale": freshness.stale,
        "stale_reason": freshness.reason,
        "stale_contacts": freshness.stale_contacts,
        "stale_indexes": freshness.stale_indexes,
    }


async def _served_check(
    request: Request,
    service: CampaignGate,
    refusal: Callable[[], Awaitable[None]],
    stream: Callable[[Freshness, list[str]], AsyncIterator[dict[str, Any] | CheckResult]],
    once: Callable[[Freshness, list[str]], Awaitable[tuple[CheckResult, list[dict[str, Any]]] | None]],
) -> Any:
    """Reads a check's recipients (JSON or NDJSON), probes the projection, and answers in the request's
    form: NDJSON streamed batch by batch, or one JSON document (`once` decides a small check in one
    transaction when it can). `refusal` raises what would refuse the check (404, 409): before a stream,
    whose status is sent with its first line, it runs first; a JSON answer raises it from the handler."""
    if request.headers.get("content-type", "").split(";")[0].strip() == NDJSON:
        await refusal()
        # Because Starlette's streaming response listens for a disconnect on the same receive channel,
        # the request is read (line by line, validated) before the response streams out; a bad line
        # is then a 422 with nothing decided or stored.
        ids = [cid async for cid in _ndjson_ids(request)]
        items = stream(await service.projection_freshness(recipients=ids), ids)

        async def body() -> AsyncIterator[bytes]:
            # Because each yield is one write to the socket: a batch's receipts go out in one.
            pending: list[dict[str, Any]] = []
            async for item in items:
                if isinstance(item, CheckResult):
                    if pending:
                        service.count_decisions(pending)
                        yield b"".join(orjson.dumps(r) + b"\n" for r in pending)
                    yield orjson.dumps(_header(item)) + b"\n"
                    return
                pending.append(item)
                if len(pending) >= handlers.CHECK_BATCH:
                    service.count_decisions(pending)
                    yield b"".join(orjson.dumps(r) + b"\n" for r in pending)
                    pending = []

        return StreamingResponse(body(), media_type=NDJSON)
    try:
        payload = schemas.CheckRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    # The probe comes first: it waits until the projection holds the events published before now that
    # weigh on these recipients.
    freshness = await service.projection_freshness(recipients=payload.contact_ids)
    done = await once(freshness, payload.contact_ids)
    if done is not None:
        result, receipts = done
    else:
        receipts = []
        async for item in stream(freshness, payload.contact_ids):
            if isinstance(item, CheckResult):
                result = item
            else:
                receipts.append(item)
    service.count_decisions(receipts)
    return JSONResponse({**_header(result), "recipients": receipts})


@router.get("/checks/{check_id}", response_model=schemas.CheckStatus)
async def get_check(
    check_id: Annotated[str, Path(max_length=36)], _who: ReceiptReader, uow: UnitOfWorkDep
) -> Any:
    """Returns a check's progress: running or finished, the recipients decided so far and their summary."""
    return await handlers.check_status(check_id, uow)


@router.get("/checks/{check_id}/receipts", responses={200: {"content": {NDJSON: {}}}})
async def download_check_receipts(
    check_id: Annotated[str, Path(max_length=36)], _who: ReceiptReader, service: ServiceDep
) -> StreamingResponse:
    """Streams a check's stored receipts as an NDJSON file, one receipt per line by contact id (while the
    check runs, those stored so far)."""
    await handlers.check_status(check_id, service.uow())

    async def lines() -> AsyncIterator[bytes]:
        async for page in handlers.check_receipts(check_id, uow_factory=service.uow):
            yield b"".join(orjson.dumps(r) + b"\n" for r in page)

    return StreamingResponse(
        lines(),
        media_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="check-{check_id}-receipts.ndjson"'},
    )


@router.get("/checks/{check_id}/receipts/{contact_id}", response_model=schemas.ReceiptProof)
async def get_receipt(
    check_id: Annotated[str, Path(max_length=36)],
    contact_id: Annotated[str, Path(max_length=64)],
    _who: ReceiptReader,
    uow: UnitOfWorkDep,
) -> Any:
    """Returns one receipt with its canonical bytes, its chunk, and its inclusion proof into the chunk's
    root; the chunk's event id finds the audit-log entry holding that root (`vigie-verify receipt`)."""
    return await handlers.receipt_with_proof(check_id, contact_id, uow)


@router.get("/checks/{check_id}/chunks", response_model=schemas.CheckChunks)
async def get_check_chunks(
    check_id: Annotated[str, Path(max_length=36)], _who: ReceiptReader, uow: UnitOfWorkDep
) -> Any:
    """Returns a check's receipt chunks (number, first index, count, root, time, event id): the audit
    log holds one entry per chunk, found by its event id."""
    return await handlers.chunks_of(check_id, uow)


@router.get("/contacts/{contact_id}/receipts", response_model=schemas.PersonReceipts)
async def get_receipts_of_contact(
    contact_id: Annotated[str, Path(max_length=64)], _who: ReceiptReader, uow: UnitOfWorkDep
) -> Any:
    """Returns what the gate decided about a person: every receipt naming the contact, newest first
    (the data-subject access export reads it)."""
    return {"contact_id": contact_id, "receipts": await handlers.receipts_of(contact_id, uow)}


def _header(result: CheckResult) -> dict[str, Any]:
    return {
        "check_id": result.check_id,
        "campaign_id": result.campaign_id,
        "campaign_version": result.campaign_version,
        "ruleset_version": result.ruleset_version,
        "stale": result.any_stale,
        "summary": result.summary,
    }


@router.post(
    "/suppression-lists/{name}/entries", status_code=201, response_model=schemas.SuppressionImportRead
)
async def import_suppression_entries(
    name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")],
    body: schemas.SuppressionImport,
    who: Admin,
    service: ServiceDep,
) -> Any:
    """Imports raw e-mails and phones (hashed on import) or blind indexes into a list, dated today."""
    command = commands.ImportSuppressionEntries(
        list_name=name,
        kind=body.kind,
        channel=body.channel,
        actor=who.actor,
        emails=body.emails,
        phones=body.phones,
        blind_indexes=body.blind_indexes,
    )
    return await handlers.import_suppression_entries(command, service.indexer, service.uow())


@router.get("/suppression-lists", response_model=list[schemas.SuppressionListRead])
async def list_suppression_lists(_who: Reader, uow: UnitOfWorkDep) -> Any:
    """Lists suppression lists with their size and latest import (a Bloctel list older than 30 days
    blocks)."""
    return await handlers.list_suppression_lists(uow)

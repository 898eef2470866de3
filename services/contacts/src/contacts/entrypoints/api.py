"""The contacts HTTP API: contacts (`/v1/contacts…`) and data-subject requests (`/v1/requests…`, SPEC §7,
for the DPO's tools); thin translators between HTTP and the handlers."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from shared.web import MAX_INTEGER, problem

from contacts.adapters.peers import PeerUnavailableError
from contacts.bootstrap import Contacts
from contacts.domain.model import Contact
from contacts.domain.requests import (
    DataSubjectRequest,
    ExtensionRefusedError,
    RequestError,
    RequestKind,
    RequestNotFoundError,
    RequestStepRefusedError,
)
from contacts.entrypoints import import_run, importing, schemas
from contacts.entrypoints.deps import (
    Admin,
    ContactReader,
    ContactWriter,
    DeskDep,
    DpoTools,
    HumanReviewer,
    PreparerDep,
    ServiceDep,
    UnitOfWorkDep,
)
from contacts.service_layer import commands, handlers
from contacts.service_layer.rights_desk import RightsDesk

router = APIRouter(prefix="/v1", tags=["contacts"])
requests_router = APIRouter(prefix="/v1", tags=["data-subject requests"])


def _read(contact: Contact) -> schemas.ContactRead:
    personal = contact.personal
    return schemas.ContactRead(
        id=contact.id,
        kind=contact.kind,
        relationship=contact.relationship,
        status=contact.status.value,
        version=contact.version,
        given_name=personal.given_name,
        family_name=personal.family_name,
        email=personal.email,
        phone=personal.phone,
        postal_address=personal.postal_address,
        birth_date=personal.birth_date,
        external_ref=personal.external_ref,
        collected_from_person=contact.origin.collected_from_person,
        source=contact.origin.source,
        broker_name=contact.origin.broker_name,
        obtained_at=contact.obtained_at,
        last_contact_from_person_at=contact.last_contact_from_person_at,
        relationship_end_at=contact.relationship_end_at,
        attributes=contact.attributes,
        timezone=contact.timezone,
        timezone_source=contact.timezone_source,
        profession=contact.profession,
        phone_collection=contact.phone_collection.as_dict() if contact.phone_collection else None,
        stop_pub=contact.stop_pub,
        purchases=[p.as_dict() for p in contact.purchases],
        contracts=[c.as_dict() for c in contact.contracts],
        call_attempts=contact.call_attempts,
        last_call_refusal_at=contact.last_call_refusal_at,
        majority_on=contact.majority_on(),
        digital_consent_age_on=contact.digital_consent_age_on(),
        restriction=contact.restriction.as_dict() if contact.restriction else None,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


#: Serializes a ContactRead to JSON bytes as FastAPI does for a `response_model` (pydantic's serializer).
_CONTACT_READ_JSON = schemas.ContactRead.__pydantic_serializer__.to_json


def _etag(contact: Contact) -> str:
    return f'"{contact.version}"'


def _version_from_if_match(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        version = int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        return -1
    # Because no stored version is that large, and the database could not even compare with it.
    return version if 0 <= version <= MAX_INTEGER else -1


@router.post("/contacts", status_code=201, response_model=schemas.ContactRead)
async def create_contact(body: schemas.ContactCreate, principal: ContactWriter, request: Request) -> Response:
    """Creates a contact; 409 names the existing contact when the e-mail or phone is already known."""
    # The unit of work straight from the app, not a dependency: FastAPI's solving of one more
    # dependency per request cost more than building it.
    service: Contacts = request.app.state.service
    contact = await handlers.create_contact(
        importing.create_command(body, actor=principal.actor), service.uow()
    )
    # The body FastAPI would send (the same serializer and options: by alias, nothing excluded), without
    # its second validation of a ContactRead just built and validated from the service's own contact.
    return Response(
        _CONTACT_READ_JSON(_read(contact), by_alias=True),
        status_code=201,
        media_type="application/json",
        headers={"ETag": _etag(contact), "Location": f"/v1/contacts/{contact.id}"},
    )


@router.get("/contacts/{contact_id}", response_model=schemas.ContactRead)
async def get_contact(
    contact_id: str, uow: UnitOfWorkDep, _principal: ContactReader, response: Response
) -> schemas.ContactRead:
    """Returns a contact with its personal data."""
    contact = await handlers.get_contact(contact_id, uow)
    response.headers["ETag"] = _etag(contact)
    return _read(contact)


@router.get("/contacts", response_model=schemas.ContactList)
async def find_contacts(
    uow: UnitOfWorkDep,
    _principal: ContactReader,
    email: str | None = Query(None, max_length=254),
    phone: str | None = Query(None, max_length=40),
    source: str | None = Query(None, max_length=200),
    external_ref: str | None = Query(None, max_length=schemas.MAX_EXTERNAL_REF),
) -> schemas.ContactList | Response:
    """Finds contacts by e-mail, phone, or `source` and `external_ref` together, through the blind
    indexes (one of them is required)."""
    if external_ref and not source:
        return problem(
            422,
            "Invalid request",
            detail="external_ref is unique per source: give source too.",
            type_="https://vigie.dev/problems/validation",
            errors=[{"field": "query.source", "message": "required with external_ref", "type": "missing"}],
        )
    if not email and not phone and not external_ref:
        raise HTTPException(status_code=400, detail="give email, phone, or source and external_ref")
    contacts = await handlers.find_contacts(
        email=email, phone=phone, source=source, external_ref=external_ref, uow=uow
    )
    return schemas.ContactList(items=[_read(c) for c in contacts])


@router.patch("/contacts/{contact_id}", response_model=schemas.ContactRead)
async def update_contact(
    contact_id: str,
    body: schemas.ContactUpdate,
    uow: UnitOfWorkDep,
    principal: ContactWriter,
    response: Response,
    if_match: str | None = Header(None),
) -> schemas.ContactRead:
    """Changes the given fields; with If-Match, only if the contact is still at that version (else 412)."""
    contact = await handlers.update_contact(
        commands.UpdateContact(
            actor=principal.actor,
            contact_id=contact_id,
            changes=importing.contact_changes(body),
            expected_version=_version_from_if_match(if_match),
        ),
        uow,
    )
    response.headers["ETag"] = _etag(contact)
    return _read(contact)


@router.post("/contacts/{contact_id}/interactions", status_code=201, response_model=schemas.InteractionRead)
async def record_interaction(
    contact_id: str, body: schemas.InteractionCreate, uow: UnitOfWorkDep, principal: ContactWriter
) -> schemas.InteractionRead:
    """Records an interaction; 422 names a field its kind requires (seller, outcome) or does not take.

    sale/purchase (seller, product_categories) fold into the contact's purchases; contract_start and
    contract_end open and close a seller's contract; call_attempt (outcome) is counted for the
    calling limits and, like an open, never restarts retention.
    """
    interaction_id = await handlers.record_interaction(
        commands.RecordInteraction(
            actor=principal.actor,
            contact_id=contact_id,
            kind=body.kind,
            occurred_at=body.occurred_at,
            channel=body.channel,
            seller=body.seller,
            product_categories=body.product_categories,
            outcome=body.outcome,
        ),
        uow,
    )
    return schemas.InteractionRead(
        id=interaction_id,
        contact_id=contact_id,
        kind=body.kind,
        seller=body.seller,
        product_categories=body.product_categories,
        outcome=body.outcome,
    )


@router.post(
    "/contacts:import",
    response_model=schemas.ImportReport,
    responses={200: {"content": {import_run.NDJSON: {}}}},
)
async def import_contacts(
    request: Request, service: ServiceDep, preparer: PreparerDep, principal: ContactWriter
) -> Response:
    """Imports CSV or NDJSON rows: valid rows are kept, known people recognised, errors given by row
    number; `results` gives every row's outcome (created, existing or error) with its contact id and
    external reference, in row order. With `Accept: application/x-ndjson` the report streams as NDJSON
    lines: each batch's row results once the batch commits, a progress line after each, a summary."""
    body = await request.body()
    try:
        rows = importing.open_rows(body, request.headers.get("content-type", ""))
    except importing.UnsupportedImportFormatError as error:
        raise HTTPException(status_code=415, detail=str(error)) from error
    except UnicodeDecodeError as error:
        raise HTTPException(status_code=400, detail="the body is not UTF-8 text") from error
    except importing.MalformedImportError as error:
        return problem(
            422,
            "Invalid request",
            detail=f"Nothing was imported: {error}.",
            type_="https://vigie.dev/problems/validation",
            errors=[{"field": error.field, "message": str(error), "type": "import_malformed"}],
        )
    run = import_run.ImportRun(service=service, preparer=preparer, actor=principal.actor, total=rows.total)
    if import_run.wants_stream(request.headers.get("accept")):
        return StreamingResponse(run.stream(rows.rows), media_type=import_run.NDJSON)
    return Response(await run.report(rows.rows), media_type="application/json")


@router.post("/retention:sweep", response_model=schemas.SweepReport)
async def sweep_retention(service: ServiceDep, principal: Admin) -> schemas.SweepReport:
    """Runs a retention sweep now (admin): flags contacts past retention, erases those past the grace."""
    report = await service.sweep_retention(actor=principal.actor)
    return schemas.SweepReport(**report.as_dict())


# --- Data-subject requests.


def _request_read(request: DataSubjectRequest, now: datetime) -> schemas.RequestRead:
    return schemas.RequestRead(
        id=request.id,
        kind=request.kind,
        status=request.status.value,
        contact_id=request.contact_id,
        received_at=request.received_at,
        due_at=request.due_at,
        extended_months=request.extended_months,
        overdue=request.is_overdue(now=now),
        confirmations=request.confirmations,
        awaiting_confirmation_from=request.awaiting(),
        completed_at=request.completed_at,
        history=[schemas.HistoryRead(at=h.at, action=h.action, note=h.note) for h in request.history],
        details=request.details,
    )


async def _get_request(desk: RightsDesk, request_id: str) -> DataSubjectRequest:
    try:
        return await handlers.get_request(request_id, desk.new_uow())
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error


@requests_router.post("/requests", status_code=201, response_model=schemas.RequestRead)
async def submit_request(
    body: schemas.RequestCreate, desk: DeskDep, principal: DpoTools, response: Response
) -> schemas.RequestRead | Response:
    """Records a request and honours it as far as it can now; an unknown person gets `no_data_found`.

    A restriction names its ground of Art. 18(1) (`grounds`) and takes effect at once; a contestation
    names the automated decision (`decision`), may carry the person's `point_of_view`, and waits for a
    human reviewer (`POST /v1/requests/{id}/human-review`, then `/outcome`).
    """
    if problems := body.kind_problems():
        return problem(
            422,
            "Invalid request",
            detail="the request lacks or misplaces what its kind takes",
            type_="https://vigie.dev/problems/validation",
            errors=problems,
        )
    request = await desk.submit(
        commands.ReceiveRequest(
            actor=principal.actor,
            kind=body.kind,
            contact_id=body.contact_id,
            email=body.email,
            phone=body.phone,
            details=body.details(),
        ),
        changes=importing.contact_changes(body.changes) if body.changes else None,
    )
    response.headers["Location"] = f"/v1/requests/{request.id}"
    return _request_read(request, desk.clock())


@requests_router.get("/requests", response_model=schemas.RequestList)
async def list_requests(
    desk: DeskDep,
    _principal: DpoTools,
    overdue: bool = False,
    kind: RequestKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.RequestList:
    """Lists open requests, oldest due first; `overdue=true` keeps those past their due date, `kind` those
    of one kind."""
    now = desk.clock()
    found = await handlers.list_open_requests(
        desk.new_uow(), overdue_at=now if overdue else None, kind=kind, limit=limit
    )
    return schemas.RequestList(items=[_request_read(r, now) for r in found])


@requests_router.get("/requests/{request_id}", response_model=schemas.RequestRead)
async def get_request(request_id: str, desk: DeskDep, _principal: DpoTools) -> schemas.RequestRead:
    """Returns a request with its status, due date, confirmations and history."""
    return _request_read(await _get_request(desk, request_id), desk.clock())


@requests_router.get("/requests/{request_id}/export", response_model=None)
async def export_request(
    request_id: str,
    desk: DeskDep,
    _principal: DpoTools,
    format: Literal["json", "portability", "csv"] = "json",  # noqa: A002 - query name
) -> Any:
    """Returns what every service holds about the person (json), or the data they provided, flat
    (portability: a JSON object of field → value; csv: the same rows as `field,value` CSV)."""
    request = await _get_request(desk, request_id)
    if request.kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        raise HTTPException(status_code=409, detail=f"a {request.kind.value} request has no export")
    try:
        export = await desk.export(request)
    except PeerUnavailableError as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    if format == "csv":
        return Response(
            portability_csv(export),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="portability-{request.id}.csv"'},
        )
    if format == "portability":
        return {
            "request_id": request.id,
            "generated_at": export["generated_at"],
            "data": dict(portability_rows(export)),
        }
    return export


@requests_router.post("/requests/{request_id}/extension", response_model=schemas.RequestRead)
async def extend_request(
    request_id: str, body: schemas.ExtensionCreate, desk: DeskDep, principal: DpoTools
) -> schemas.RequestRead:
    """Extends the due date by one or two months (two in all), within the first month, with the reason."""
    try:
        request = await handlers.extend_request(
            commands.ExtendRequest(
                actor=principal.actor, request_id=request_id, months=body.months, reason=body.reason
            ),
            desk.new_uow(),
        )
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    except ExtensionRefusedError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except RequestError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return _request_read(request, desk.clock())


def _step_refused(error: RequestStepRefusedError) -> Response:
    return problem(
        422,
        "Invalid request",
        detail=str(error),
        type_="https://vigie.dev/problems/validation",
        errors=error.problem_extra["errors"],
    )


@requests_router.post("/requests/{request_id}/restriction-lifting", response_model=schemas.RequestRead)
async def lift_restriction(
    request_id: str, body: schemas.RestrictionLifting, desk: DeskDep, principal: DpoTools
) -> schemas.RequestRead | Response:
    """Lifts the restriction a request obtained (Art. 18(3)): with the reason, and when and how the person
    was informed, before now; the gate may use the contact again once it has projected the lifting."""
    try:
        request = await handlers.lift_restriction(
            commands.LiftRestriction(
                actor=principal.actor,
                request_id=request_id,
                reason=body.reason,
                informed_at=body.informed_at,
                informed_by=body.informed_by,
            ),
            desk.new_uow(),
        )
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    except RequestStepRefusedError as error:
        return _step_refused(error)
    except RequestError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return _request_read(request, desk.clock())


@requests_router.get("/contestations", response_model=schemas.RequestList)
async def list_contestations(
    desk: DeskDep, _principal: HumanReviewer, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> schemas.RequestList:
    """The human-review queue (Art. 22(3)): open contestations, oldest due first, with the decision
    contested, the person's point of view and the reviewer who took each up."""
    now = desk.clock()
    found = await handlers.list_contestations(desk.new_uow(), limit=limit)
    return schemas.RequestList(items=[_request_read(r, now) for r in found])


@requests_router.post("/requests/{request_id}/human-review", response_model=schemas.RequestRead)
async def start_human_review(request_id: str, desk: DeskDep, principal: HumanReviewer) -> schemas.RequestRead:
    """The calling reviewer takes up a contestation (open → human review); the audit log records who."""
    try:
        request = await handlers.start_human_review(
            commands.StartHumanReview(actor=principal.actor, request_id=request_id), desk.new_uow()
        )
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    except RequestError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return _request_read(request, desk.clock())


@requests_router.post("/requests/{request_id}/outcome", response_model=schemas.RequestRead)
async def decide_contestation(
    request_id: str, body: schemas.ContestationOutcome, desk: DeskDep, principal: HumanReviewer
) -> schemas.RequestRead | Response:
    """The reviewer who took the contestation up decides it: upheld, overturned or amended, with reasons."""
    try:
        request = await handlers.decide_contestation(
            commands.DecideContestation(
                actor=principal.actor, request_id=request_id, outcome=body.outcome, reasons=body.reasons
            ),
            desk.new_uow(),
        )
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    except RequestStepRefusedError as error:
        return _step_refused(error)
    except RequestError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return _request_read(request, desk.clock())


def portability_rows(export: dict[str, Any]) -> list[tuple[str, str]]:
    """Flattens the data the person provided (their contact record and consents) into (field, value) rows."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{prefix}.{key}" if prefix else key, value[key])
        elif isinstance(value, list):
            for n, item in enumerate(value):
                walk(f"{prefix}[{n}]", item)
        elif value is not None:
            rows.append((prefix, str(value)))

    walk("contact", (export.get("contacts") or {}).get("contact") or {})
    walk("consents", (export.get("consent") or {}).get("consents") or [])
    return rows


def portability_csv(export: dict[str, Any]) -> str:
    """Returns the portability rows as RFC 4180 CSV with a `field,value` header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["field", "value"])
    writer.writerows(portability_rows(export))
    return buffer.getvalue()

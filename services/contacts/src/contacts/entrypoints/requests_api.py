"""The data-subject requests API (`/v1/requests…`, SPEC §7), for the DPO's tools (integrator, admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from shared.auth import Principal, require_roles

from contacts.adapters.peers import AUDIT_LOG, CAMPAIGN_GATE, CONSENT, Peers, PeerUnavailableError
from contacts.bootstrap import Contacts
from contacts.domain.requests import (
    DataSubjectRequest,
    ExtensionRefusedError,
    RequestError,
    RequestKind,
    RequestNotFoundError,
)
from contacts.entrypoints.schemas import ContactUpdate, Email, Phone
from contacts.requests_settings import RequestsSettings
from contacts.service_layer import requests as rights

router = APIRouter(prefix="/v1", tags=["data-subject requests"])

DpoTools = Annotated[Principal, Depends(require_roles("integrator", "admin"))]


def requests_settings(service: Contacts) -> RequestsSettings:
    """Returns the requests settings set on the service (tests) or read from the environment."""
    settings = getattr(service, "requests_settings", None)
    if settings is None:
        settings = RequestsSettings()
        service.requests_settings = settings  # type: ignore[attr-defined]
    return settings


def desk_for(service: Contacts) -> rights.RightsDesk:
    """Returns the service's rights desk, built once; `service.peer_transports` ({name: transport}) reaches
    the peers in-process (tests)."""
    desk = getattr(service, "rights_desk", None)
    if desk is None:
        extra = requests_settings(service)
        settings = service.settings
        peers = Peers(urls={CONSENT: extra.consent_url, CAMPAIGN_GATE: extra.campaign_gate_url,
                            AUDIT_LOG: extra.audit_log_url},
                      settings=settings, timeout_seconds=extra.peer_timeout_seconds,
                      transports=getattr(service, "peer_transports", None))

        def new_uow() -> rights.RequestsUnitOfWork:
            return rights.RequestsUnitOfWork(vault=service.vault, session_factory=service.runtime.session_factory,
                                             after_commit=service.runtime.wake_relay, clock=service.clock)

        def now() -> datetime:
            return service.clock() if service.clock is not None else datetime.now(UTC)

        desk = rights.RightsDesk(new_uow=new_uow, peers=peers, clock=now)
        service.rights_desk = desk  # type: ignore[attr-defined]
    return desk


def _desk(request: Request) -> rights.RightsDesk:
    return desk_for(request.app.state.service)


DeskDep = Annotated[rights.RightsDesk, Depends(_desk)]


class RequestCreate(BaseModel):
    """A data-subject request; the person is named by exactly one of contact_id, email or phone."""

    model_config = ConfigDict(extra="forbid")
    kind: RequestKind
    contact_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    #: For a rectification: the fields to correct, as in `PATCH /v1/contacts/{id}`.
    changes: ContactUpdate | None = None

    @model_validator(mode="after")
    def _one_person_and_changes(self) -> RequestCreate:
        named = [n for n in ("contact_id", "email", "phone") if getattr(self, n)]
        if len(named) != 1:
            raise ValueError("name the person by exactly one of contact_id, email or phone")
        if self.kind is RequestKind.RECTIFICATION and not (self.changes and self.changes.model_fields_set):
            raise ValueError("a rectification needs the changes to make")
        if self.kind is not RequestKind.RECTIFICATION and self.changes is not None:
            raise ValueError("changes are only for a rectification")
        return self


class HistoryRead(BaseModel):
    """One step of a request."""

    at: datetime
    action: str
    note: str | None


class RequestRead(BaseModel):
    """A data-subject request as it stands."""

    id: str
    kind: RequestKind
    status: str
    contact_id: str | None
    received_at: datetime
    due_at: datetime
    extended_months: int
    overdue: bool
    confirmations: dict[str, datetime]
    awaiting_confirmation_from: list[str]
    completed_at: datetime | None
    history: list[HistoryRead]


class RequestList(BaseModel):
    """Open requests, oldest due first."""

    items: list[RequestRead]


class ExtensionCreate(BaseModel):
    """An extension of the due date (Art. 12(3)): one or two months in all, with the reason."""

    model_config = ConfigDict(extra="forbid")
    months: Annotated[int, Field(ge=1, le=2)]
    reason: Annotated[str, Field(min_length=3, max_length=1000)]


def _read(request: DataSubjectRequest, now: datetime) -> RequestRead:
    return RequestRead(
        id=request.id, kind=request.kind, status=request.status.value, contact_id=request.contact_id,
        received_at=request.received_at, due_at=request.due_at, extended_months=request.extended_months,
        overdue=request.is_overdue(now=now), confirmations=request.confirmations,
        awaiting_confirmation_from=request.awaiting(), completed_at=request.completed_at,
        history=[HistoryRead(at=h.at, action=h.action, note=h.note) for h in request.history])


async def _get(desk: rights.RightsDesk, request_id: str) -> DataSubjectRequest:
    try:
        return await rights.get_request(request_id, desk.new_uow())
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error


@router.post("/requests", status_code=201, response_model=RequestRead)
async def submit_request(body: RequestCreate, desk: DeskDep, principal: DpoTools, response: Response) -> RequestRead:
    """Records a request and honours it as far as it can now; an unknown person gets `no_data_found`."""
    changes = body.changes.model_dump(exclude_unset=True) if body.changes else None
    request = await desk.submit(rights.ReceiveRequest(actor=principal.actor, kind=body.kind,
                                                      contact_id=body.contact_id, email=body.email,
                                                      phone=body.phone), changes=changes)
    response.headers["Location"] = f"/v1/requests/{request.id}"
    return _read(request, desk.clock())


@router.get("/requests", response_model=RequestList)
async def list_requests(desk: DeskDep, _principal: DpoTools, overdue: bool = False,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> RequestList:
    """Lists open requests, oldest due first; `overdue=true` keeps those past their due date."""
    now = desk.clock()
    found = await rights.list_open_requests(desk.new_uow(), overdue_at=now if overdue else None, limit=limit)
    return RequestList(items=[_read(r, now) for r in found])


@router.get("/requests/{request_id}", response_model=RequestRead)
async def get_request(request_id: str, desk: DeskDep, _principal: DpoTools) -> RequestRead:
    """Returns a request with its status, due date, confirmations and history."""
    return _read(await _get(desk, request_id), desk.clock())


@router.get("/requests/{request_id}/export", response_model=None)
async def export_request(request_id: str, desk: DeskDep, _principal: DpoTools,
                         format: Literal["json", "portability", "csv"] = "json",  # noqa: A002 - the query name.
                         ) -> Any:
    """Returns what every service holds about the person (json), or the data they provided, flat
    (portability: a JSON object of field → value; csv: the same rows as `field,value` CSV)."""
    request = await _get(desk, request_id)
    if request.kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        raise HTTPException(status_code=409, detail=f"a {request.kind.value} request has no export")
    try:
        export = await desk.export(request)
    except PeerUnavailableError as error:
        raise HTTPException(status_code=503, detail=str(error)) from error
    if format == "csv":
        return Response(rights.portability_csv(export), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="portability-{request.id}.csv"'})
    if format == "portability":
        return {"request_id": request.id, "generated_at": export["generated_at"],
                "data": dict(rights.portability_rows(export))}
    return export


@router.post("/requests/{request_id}/extension", response_model=RequestRead)
async def extend_request(request_id: str, body: ExtensionCreate, desk: DeskDep, principal: DpoTools) -> RequestRead:
    """Extends the due date by one or two months (two in all), within the first month, with the reason."""
    try:
        request = await rights.extend_request(rights.ExtendRequest(
            actor=principal.actor, request_id=request_id, months=body.months, reason=body.reason), desk.new_uow())
    except RequestNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    except ExtensionRefusedError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except RequestError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return _read(request, desk.clock())

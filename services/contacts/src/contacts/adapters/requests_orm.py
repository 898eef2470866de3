"""Data-subject requests in the contacts database, and their events as CloudEvents on `contacts.events`.

The table holds no personal data: the person is named by contact id only (or by nobody when no data
was found); history notes are written by the service or the DPO's extension reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contacts.adapters.orm import metadata
from contacts.domain import requests as domain

data_subject_requests = sa.Table(
    "data_subject_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("contact_id", sa.String(36), nullable=True, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("extended_months", sa.Integer, nullable=False),
    #: {service: ISO time} of the erasure confirmations received.
    sa.Column("confirmations", sa.JSON, nullable=False),
    sa.Column("history", sa.JSON, nullable=False),
    sa.Column("overdue_reported_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_data_subject_requests_status_due", "status", "due_at"),
)

#: Objections of people we hold no contact for, until consent accepts them (blind indexes only).
objection_forwards = sa.Table(
    "objection_forwards",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("blind_indexes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_objection_forwards_pending", "forwarded_at", "created_at"),
)

class RequestRepository:
    """Loads and saves requests on the unit of work's session; `seen` feeds the outbox."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._seen: dict[str, domain.DataSubjectRequest] = {}
        self._loaded: dict[str, int] = {}
        self._forwards: dict[str, domain.ObjectionForward] = {}
        self._forwards_new: set[str] = set()
        self._postgres = session.bind is not None and session.bind.dialect.name == "postgresql"

    @property
    def seen(self) -> list[domain.DataSubjectRequest]:
        """Returns the requests handed out or added in this unit of work."""
        return list(self._seen.values())

    def add(self, request: domain.DataSubjectRequest) -> None:
        """Registers a new request to be inserted on flush."""
        self._seen[request.id] = request

    async def get_or_raise(self, request_id: str, *, for_update: bool = False) -> domain.DataSubjectRequest:
        """Returns the request or raises RequestNotFoundError."""
        query = sa.select(data_subject_requests).where(data_subject_requests.c.id == request_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            raise domain.RequestNotFoundError(request_id)
        return self._track(row)

    async def open_for_contact(self, contact_id: str, *, kind: domain.RequestKind | None = None,
                               for_update: bool = False) -> list[domain.DataSubjectRequest]:
        """Returns the open requests about a contact (of one kind if given)."""
        c = data_subject_requests.c
        query = sa.select(data_subject_requests).where(
            c.contact_id == contact_id, c.status.notin_([s.value for s in domain.FINAL_STATUSES]))
        if kind is not None:
            query = query.where(c.kind == kind.value)
        if for_update and self._postgres:
            query = query.with_for_update()
        return [self._track(row) for row in (await self._session.execute(query.order_by(c.received_at))).mappings()]

    async def open_requests(self, *, due_before: datetime | None = None, kind: domain.RequestKind | None = None,
                            limit: int = 500) -> list[domain.DataSubjectRequest]:
        """Returns open requests, oldest due first, optionally only those due before a time or of one kind."""
        c = data_subject_requests.c
        query = sa.select(data_subject_requests).where(c.status.notin_([s.value for s in domain.FINAL_STATUSES]))
        if due_before is not None:
            query = query.where(c.due_at < due_before)
        if kind is not None:
            query = query.where(c.kind == kind.value)
        rows = (await self._session.execute(query.order_by(c.due_at, c.id).limit(limit))).mappings()
        return [self._track(row) for row in rows]

    def add_forward(self, forward: domain.ObjectionForward) -> None:
        """Registers a pending objection forward to be inserted on flush."""
        self._forwards[forward.id] = forward
        self._forwards_new.add(forward.id)

    async def get_forward(self, forward_id: str) -> domain.ObjectionForward | None:
        """Returns an objection forward (saved on flush when changed), or None."""
        row = (await self._session.execute(sa.select(objection_forwards).where(
            objection_forwards.c.id == forward_id))).mappings().first()
        return self._track_forward(row) if row is not None else None

    async def pending_forwards(self, *, request_id: str | None = None,
                               limit: int = 500) -> list[domain.ObjectionForward]:
        """Returns the objection forwards consent has not accepted yet (of one request if given), oldest first."""
        c = objection_forwards.c
        query = sa.select(objection_forwards).where(c.forwarded_at.is_(None))
        if request_id is not None:
            query = query.where(c.request_id == request_id)
        rows = (await self._session.execute(query.order_by(c.created_at, c.id).limit(limit))).mappings()
        return [self._track_forward(row) for row in rows]

    def _track_forward(self, row: Any) -> domain.ObjectionForward:
        forward = self._forwards.get(row["id"])
        if forward is None:
            forward = domain.ObjectionForward(
                id=row["id"], request_id=row["request_id"], blind_indexes=list(row["blind_indexes"]),
                created_at=_aware(row["created_at"]), attempts=row["attempts"],
                last_attempt_at=_aware(row["last_attempt_at"]), forwarded_at=_aware(row["forwarded_at"]))
            self._forwards[forward.id] = forward
        return forward

    async def flush(self) -> None:
        """Inserts new requests and updates changed ones with a version check; saves objection forwards."""
        for forward in self._forwards.values():
            values = {"id": forward.id, "request_id": forward.request_id, "blind_indexes": forward.blind_indexes,
                      "created_at": forward.created_at, "attempts": forward.attempts,
                      "last_attempt_at": forward.last_attempt_at, "forwarded_at": forward.forwarded_at}
            if forward.id in self._forwards_new:
                await self._session.execute(objection_forwards.insert().values(**values))
                self._forwards_new.discard(forward.id)
            else:
                await self._session.execute(objection_forwards.update().where(
                    objection_forwards.c.id == forward.id).values(**values))
        for request in self.seen:
            values = _row(request)
            loaded = self._loaded.get(request.id)
            if loaded is None:
                await self._session.execute(data_subject_requests.insert().values(**values))
            elif loaded != request.version:
                result = await self._session.execute(data_subject_requests.update().where(
                    data_subject_requests.c.id == request.id,
                    data_subject_requests.c.version == loaded).values(**values))
                if result.rowcount != 1:
                    raise domain.RequestError(f"request {request.id} changed concurrently; retry")
            self._loaded[request.id] = request.version

    def _track(self, row: Any) -> domain.DataSubjectRequest:
        request = self._seen.get(row["id"])
        if request is None:
            request = _domain(row)
            self._seen[request.id] = request
            self._loaded[request.id] = request.version
        return request


def _row(request: domain.DataSubjectRequest) -> dict[str, Any]:
    return {
        "id": request.id, "kind": request.kind.value, "contact_id": request.contact_id,
        "status": request.status.value, "received_at": request.received_at, "due_at": request.due_at,
        "extended_months": request.extended_months,
        "confirmations": {s: t.isoformat() for s, t in request.confirmations.items()},
        "history": [h.as_dict() for h in request.history], "overdue_reported_at": request.overdue_reported_at,
        "completed_at": request.completed_at, "version": request.version,
    }


def _domain(row: Any) -> domain.DataSubjectRequest:
    return domain.DataSubjectRequest(
        id=row["id"], kind=domain.RequestKind(row["kind"]), contact_id=row["contact_id"],
        received_at=_aware(row["received_at"]), due_at=_aware(row["due_at"]),
        status=domain.RequestStatus(row["status"]), extended_months=row["extended_months"],
        confirmations={s: datetime.fromisoformat(t) for s, t in (row["confirmations"] or {}).items()},
        history=[domain.HistoryEntry(at=datetime.fromisoformat(h["at"]), action=h["action"], note=h.get("note"))
                 for h in row["history"] or []],
        overdue_reported_at=_aware(row["overdue_reported_at"]), completed_at=_aware(row["completed_at"]),
        version=row["version"])


def _aware(value: Any) -> Any:
    # Because SQLite hands back naive datetimes for timezone-aware columns; Vigie stores UTC only.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value

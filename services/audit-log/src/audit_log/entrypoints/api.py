"""The audit-log HTTP API: read-only queries, checkpoints, proofs, exports and full verification."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
import orjson
import sqlalchemy as sa

from audit_log.adapters import orm
from audit_log.adapters.log_store import entry_filters, utc, verify_log, with_stored_nodes
from audit_log.bootstrap import AuditLog
from shared.auth import Principal, require_roles
from vigie_verify import merkle


router = APIRouter(prefix="/v1", tags=["audit-log"])
# Because the log is the evidence auditors check against us: the operators (admin) do not read it.
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]


def _service(request: Request) -> AuditLog:
    return request.app.state.service


ServiceDep = Annotated[AuditLog, Depends(_service)]


def _entry_json(service: AuditLog, row: Any) -> dict[str, Any]:
    event = service.store.open_event(row, row.wrapped_key)
    return {
        "index": row.idx, "event_id": row.event_id, "type": row.event_type, "source": row.source,
        "subject": row.subject, "actor": row.actor, "event_time": utc(row.event_time).isoformat(),
        "integrated_at": utc(row.integrated_at).isoformat(), "leaf_hash": bytes(row.leaf_hash).hex(),
        "canonical": base64.b64encode(bytes(row.canonical)).decode(),
        "redacted": event is None, "event": event,
    }


def _with_subject_key(query: sa.Select[Any]) -> sa.Select[Any]:
    """Adds the entry's subject key (NULL once shredded) to a query on entries, saving a round trip per entry."""
    keys = orm.subject_keys
    return query.add_columns(keys.c.wrapped_key).select_from(
        orm.entries.outerjoin(keys, keys.c.subject == orm.entries.c.subject))


def _filters(service: AuditLog, *, subject: str | None, type_: str | None, actor: str | None,
             since: datetime | None, until: datetime | None) -> list[Any]:
    pseudonym = service.store.keys.pseudonym(subject) if subject else None
    return list(entry_filters(subject_pseudonym=pseudonym, event_type=type_, actor=actor, since=since, until=until))


@router.get("/entries")
async def list_entries(service: ServiceDep, _principal: Auditor, subject: str | None = None,
                       type: str | None = None, actor: str | None = None,  # noqa: A002 - the contract's name.
                       since: datetime | None = None, until: datetime | None = None,
                       cursor: Annotated[int | None, Query(ge=0)] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Lists entries by subject (contact id), type, actor and time, oldest first, with a cursor."""
    clauses = _filters(service, subject=subject, type_=type, actor=actor, since=since, until=until)
    if cursor is not None:
        clauses.append(orm.entries.c.idx >= cursor)
    query = _with_subject_key(sa.select(orm.entries)).where(*clauses).order_by(orm.entries.c.idx).limit(limit + 1)
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [_entry_json(service, row) for row in rows[:limit]]
    return {"items": items, "next_cursor": str(rows[limit].idx) if len(rows) > limit else None}


@router.get("/entries/{index}")
async def get_entry(index: int, service: ServiceDep, _principal: Auditor) -> dict[str, Any]:
    """Returns one entry with its canonical bytes and leaf hash."""
    async with service.runtime.engine.connect() as conn:
        row = (await conn.execute(_with_subject_key(sa.select(orm.entries)).where(orm.entries.c.idx == index))).first()
    if row is None:
        raise HTTPException(404, f"no entry at index {index}")
    return _entry_json(service, row)


@router.get("/checkpoint", response_class=PlainTextResponse)
async def get_checkpoint(service: ServiceDep, _principal: Auditor) -> PlainTextResponse:
    """Returns the latest signed checkpoint (C2SP tlog-checkpoint note, Ed25519)."""
    async with service.runtime.engine.connect() as conn:
        row = await service.store.latest_checkpoint(conn)
    if row is None:
        raise HTTPException(404, "no checkpoint yet: the log is empty")
    return PlainTextResponse(row.note, media_type="text/plain; charset=utf-8")


@router.get("/public-key")
async def get_public_key(service: ServiceDep, _principal: Auditor) -> dict[str, str]:
    """Returns the checkpoint signing key as a note verifier key."""
    keys = service.store.keys
    raw = keys.signing_key.public_key().public_bytes_raw()
    return {"origin": keys.origin, "key_name": keys.key_name, "vkey": keys.vkey(), "public_key_hex": raw.hex()}


@router.get("/proofs/inclusion")
async def inclusion_proof(service: ServiceDep, _principal: Auditor, index: Annotated[int, Query(ge=0)],
                          tree_size: Annotated[int, Query(ge=1)]) -> dict[str, Any]:
    """Returns the RFC 9162 audit path of an entry in the tree of the given size."""
    if index >= tree_size:
        raise HTTPException(400, "index must be below tree_size")
    async with service.runtime.engine.connect() as conn:
        try:
            # Because one query for every node the path, the root and the leaf need keeps a proof one
            # round trip; a tree larger than the log lacks stored nodes, which is how it is refused.
            path, root, leaf = await with_stored_nodes(conn, lambda get: (
                merkle.inclusion_proof(index, tree_size, get), merkle.root_hash(tree_size, get), get(0, index)))
        except merkle.MissingNodeError:
            raise HTTPException(400, "tree_size must be at most the log's size") from None
    return {"index": index, "tree_size": tree_size, "leaf_hash": leaf.hex(), "audit_path": [h.hex() for h in path],
            "root_hash": root.hex()}


@router.get("/proofs/consistency")
async def consistency_proof(service: ServiceDep, _principal: Auditor, first: Annotated[int, Query(ge=1)],
                            second: Annotated[int, Query(ge=1)]) -> dict[str, Any]:
    """Returns the RFC 9162 consistency path between two tree sizes."""
    if first > second:
        raise HTTPException(400, "first must be at most second")
    async with service.runtime.engine.connect() as conn:
        try:
            path, first_root, second_root = await with_stored_nodes(conn, lambda get: (
                merkle.consistency_proof(first, second, get), merkle.root_hash(first, get),
                merkle.root_hash(second, get)))
        except merkle.MissingNodeError:
            raise HTTPException(400, "second must be at most the log's size") from None
    return {"first": first, "second": second, "consistency_path": [h.hex() for h in path],
            "first_root": first_root.hex(), "second_root": second_root.hex()}


@router.get("/export")
async def export(service: ServiceDep, _principal: Auditor, format: str = "ndjson",  # noqa: A002
                 subject: str | None = None, type: str | None = None,  # noqa: A002
                 actor: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> StreamingResponse:
    """Streams entries as NDJSON or CSV, each with its canonical bytes and leaf hash for offline checks."""
    if format not in ("ndjson", "csv"):
        raise HTTPException(422, "format must be ndjson or csv")
    clauses = _filters(service, subject=subject, type_=type, actor=actor, since=since, until=until)

    async def _rows() -> AsyncIterator[bytes]:
        if format == "csv":
            yield _csv_line(["index", "event_id", "type", "subject", "actor", "event_time", "leaf_hash", "canonical"])
        async with service.runtime.engine.connect() as conn:
            result = await conn.stream(sa.select(orm.entries).where(*clauses).order_by(orm.entries.c.idx))
            async for row in result:
                fields = {"index": row.idx, "event_id": row.event_id, "type": row.event_type, "subject": row.subject,
                          "actor": row.actor, "event_time": utc(row.event_time).isoformat(),
                          "leaf_hash": bytes(row.leaf_hash).hex(),
                          "canonical": base64.b64encode(bytes(row.canonical)).decode()}
                yield orjson.dumps(fields) + b"\n" if format == "ndjson" else _csv_line(list(fields.values()))

    media = "application/x-ndjson" if format == "ndjson" else "text/csv"
    return StreamingResponse(_rows(), media_type=media)


def _csv_line(values: list[Any]) -> bytes:
    """Returns one RFC 4180 CSV line, quoting what needs it."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


@router.get("/verify")
async def verify(service: ServiceDep, _principal: Auditor) -> dict[str, Any]:
    """Recomputes every leaf and root from the canonical bytes; names the first bad index, gaps and duplicates."""
    async with service.runtime.engine.connect() as conn:
        report = await verify_log(conn, service.store)
    return {"ok": not report.problems, "tree_size": report.tree_size, "root_hash": report.root_hash.hex(),
            "first_bad_index": report.first_bad_index, "problems": report.problems,
            "checkpoint_size": report.checkpoint_size}

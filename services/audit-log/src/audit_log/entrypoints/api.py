"""The audit-log HTTP API: read-only queries, checkpoints, proofs, exports and full verification."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from shared.web import MAX_INTEGER

from audit_log.domain.errors import (
    EntryNotFoundError,
    NoCheckpointError,
    ProofOutOfRangeError,
    TamperedEntryError,
)
from audit_log.domain.model import EntrySelection
from audit_log.entrypoints import schemas
from audit_log.entrypoints.deps import Auditor, UnitOfWorkDep
from audit_log.service_layer import commands, handlers

router = APIRouter(prefix="/v1", tags=["audit-log"])
#: A subject, type or actor to select entries by.
Filter = Annotated[str | None, Query(max_length=200)]


def _selection(
    *,
    subject: str | None,
    type_: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    event_id: str | None = None,
) -> EntrySelection:
    return EntrySelection(
        subject=subject or None,
        event_type=type_ or None,
        actor=actor or None,
        since=since,
        until=until,
        event_id=event_id or None,
    )


@router.get("/entries", response_model=schemas.EntryPage)
async def list_entries(
    uow: UnitOfWorkDep,
    _principal: Auditor,
    subject: Filter = None,
    type: Filter = None,
    actor: Filter = None,  # noqa: A002 - the contract's name.
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_INTEGER)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    event_id: Filter = None,
) -> schemas.EntryPage:
    """Lists entries by subject (contact id), type, actor and time, oldest first, with a cursor.

    A page holding an entry that fails its checks (see `get_entry`) is refused with 409.
    """
    try:
        page = await handlers.list_entries(
            commands.ListEntries(
                selection=_selection(
                    subject=subject, type_=type, actor=actor, since=since, until=until, event_id=event_id
                ),
                limit=limit,
                cursor=cursor,
            ),
            uow,
        )
    except TamperedEntryError as exc:
        raise HTTPException(409, str(exc)) from None
    return schemas.EntryPage(
        items=[schemas.EntryPublic.of(e) for e in page.items],
        next_cursor=str(page.next_cursor) if page.next_cursor is not None else None,
    )


@router.get("/entries/{index}", response_model=schemas.EntryPublic)
async def get_entry(
    index: Annotated[int, Path(ge=0, le=MAX_INTEGER)], uow: UnitOfWorkDep, _principal: Auditor
) -> schemas.EntryPublic:
    """Returns one entry with its canonical bytes and leaf hash; every field is read from the canonical
    bytes, once they hash to the entry's leaf in the tree and every stored column agrees with them
    (409 naming the entry otherwise: it was altered in the database)."""
    try:
        return schemas.EntryPublic.of(await handlers.get_entry_or_raise(index, uow))
    except EntryNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except TamperedEntryError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/checkpoint", response_class=PlainTextResponse)
async def get_checkpoint(uow: UnitOfWorkDep, _principal: Auditor) -> PlainTextResponse:
    """Returns the latest signed checkpoint (C2SP tlog-checkpoint note, Ed25519)."""
    try:
        checkpoint = await handlers.latest_checkpoint_or_raise(uow)
    except NoCheckpointError as exc:
        raise HTTPException(404, str(exc)) from None
    return PlainTextResponse(checkpoint.note, media_type="text/plain; charset=utf-8")


@router.get("/public-key", response_model=schemas.PublicKeyPublic)
async def get_public_key(uow: UnitOfWorkDep, _principal: Auditor) -> schemas.PublicKeyPublic:
    """Returns the checkpoint signing key as a note verifier key."""
    key = await handlers.signer_key(uow)
    return schemas.PublicKeyPublic(
        origin=key.origin, key_name=key.key_name, vkey=key.vkey, public_key_hex=key.public_key.hex()
    )


@router.get("/proofs/inclusion", response_model=schemas.InclusionProofPublic)
async def inclusion_proof(
    uow: UnitOfWorkDep,
    _principal: Auditor,
    index: Annotated[int, Query(ge=0, le=MAX_INTEGER)],
    tree_size: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
) -> schemas.InclusionProofPublic:
    """Returns the RFC 9162 audit path of an entry in the tree of the given size."""
    try:
        proof = await handlers.prove_inclusion(commands.ProveInclusion(index=index, tree_size=tree_size), uow)
    except ProofOutOfRangeError as exc:
        raise HTTPException(400, str(exc)) from None
    return schemas.InclusionProofPublic.of(proof)


@router.get("/proofs/consistency", response_model=schemas.ConsistencyProofPublic)
async def consistency_proof(
    uow: UnitOfWorkDep,
    _principal: Auditor,
    first: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
    second: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
) -> schemas.ConsistencyProofPublic:
    """Returns the RFC 9162 consistency path between two tree sizes."""
    try:
        proof = await handlers.prove_consistency(commands.ProveConsistency(first=first, second=second), uow)
    except ProofOutOfRangeError as exc:
        raise HTTPException(400, str(exc)) from None
    return schemas.ConsistencyProofPublic.of(proof)


@router.get("/export")
async def export(
    uow: UnitOfWorkDep,
    _principal: Auditor,
    format: str = "ndjson",  # noqa: A002
    subject: Filter = None,
    type: Filter = None,  # noqa: A002
    actor: Filter = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """Streams entries as NDJSON or CSV, each with its canonical bytes and leaf hash for offline checks.

    Every field is read from the checked canonical bytes; an entry that fails its checks ends the
    export with a last line `{"error": ...}` naming it (CSV: a row whose first cell is `error`).
    """
    if format not in ("ndjson", "csv"):
        raise HTTPException(422, "format must be ndjson or csv")
    selection = _selection(subject=subject, type_=type, actor=actor, since=since, until=until)

    async def _lines() -> AsyncIterator[bytes]:
        if format == "csv":
            yield _csv_line(schemas.EXPORT_COLUMNS)
        try:
            async for entry in handlers.export_entries(selection, uow):
                fields = schemas.export_fields(entry)
                yield orjson.dumps(fields) + b"\n" if format == "ndjson" else _csv_line(list(fields.values()))
        except TamperedEntryError as exc:
            # Because the status line is already sent: the export says where it stopped and why.
            failure = {"error": str(exc), "index": exc.index}
            yield orjson.dumps(failure) + b"\n" if format == "ndjson" else _csv_line(["error", str(exc)])

    media = "application/x-ndjson" if format == "ndjson" else "text/csv"
    return StreamingResponse(_lines(), media_type=media)


def _csv_line(values: list[Any]) -> bytes:
    """Returns one RFC 4180 CSV line, quoting what needs it."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


@router.get("/verify", response_model=schemas.VerifyReportPublic)
async def verify(uow: UnitOfWorkDep, _principal: Auditor) -> schemas.VerifyReportPublic:
    """Recomputes every leaf and root from the canonical bytes; names the first bad index,
    gaps and duplicates."""
    return schemas.VerifyReportPublic.of(await handlers.verify_log(uow))

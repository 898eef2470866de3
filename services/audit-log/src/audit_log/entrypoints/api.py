"""The audit-log HTTP API: read-only queries, checkpoints, proofs, exports and full verification."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from shared.auth import Principal, require_roles
from shared.web import MAX_INTEGER, problem

from audit_log.adapters.receipts_client import GateUnavailableError
from audit_log.domain.errors import (
    EntryNotFoundError,
    NoCheckpointError,
    ProofOutOfRangeError,
    TamperedEntryError,
)
from audit_log.domain.model import EntrySelection
from audit_log.entrypoints import schemas
from audit_log.entrypoints.deps import Auditor, ServiceDep, UnitOfWorkDep
from audit_log.service_layer import bundle, commands, handlers

router = APIRouter(prefix="/v1", tags=["audit-log"])
# Because a person's whole trail is what an access request (admin, on contacts) already returns: the
# operators may assemble it; the log itself (entries, proofs, exports) stays the auditors'.
TrailReader = Annotated[Principal, Depends(require_roles("auditor", "admin"))]
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


@router.get(
    "/subjects/{subject_id}/proof-bundle",
    responses={200: {"content": {"application/json": {}}, "description": "the signed bundle, as a file"}},
)
async def proof_bundle(
    subject_id: Annotated[str, Path(min_length=1, max_length=200)],
    service: ServiceDep,
    _principal: TrailReader,
) -> Response:
    """Returns one person's proof-of-consent bundle as a downloadable JSON file (`vigie-verify bundle`).

    Every entry filed under the subject below the latest signed checkpoint, with its audit path to that
    checkpoint and its event (null once an erasure destroyed the key that sealed it), the subject's
    current data key, every receipt campaign-gate holds about the person with its proof into its chunk
    root and the chunk's entry with its audit path, the checkpoint itself, and an Ed25519 signature by
    the log's key over the whole. 404 when the log holds nothing about the subject under a checkpoint;
    503 when campaign-gate does not answer.
    """
    try:
        signed = await bundle.build_proof_bundle(
            bundle.BuildProofBundle(subject_id=subject_id, max_items=service.settings.bundle_max_items),
            service.uow,
            service.gate(),
            keys=service.keys,
            now=service.clock() if service.clock is not None else datetime.now(UTC),
        )
    except (NoCheckpointError, bundle.NothingAboutSubjectError) as exc:
        raise HTTPException(404, str(exc)) from None
    except bundle.BundleTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except TamperedEntryError as exc:
        raise HTTPException(409, str(exc)) from None
    except GateUnavailableError as exc:
        if exc.status in (409, 413):
            raise HTTPException(exc.status, str(exc)) from None
        return problem(
            503,
            "campaign-gate unavailable",
            detail=f"the person's receipts could not be read: {exc}",
            headers={"Retry-After": "5"},
        )
    body = json.dumps(signed, indent=1, sort_keys=True, ensure_ascii=True).encode() + b"\n"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in subject_id)[:80]
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="proof-bundle-{name}.json"'},
    )

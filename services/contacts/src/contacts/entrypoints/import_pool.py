"""The CPU-bound half of a bulk import, spread over worker processes.

Each import row costs validation (e-mail and phone normalisation, `importing.row_command`), a data
key and AES-GCM sealing, blind indexes and its event: pure Python work on one core, and the import's
bound. A `RowPreparer` hands slices of a batch to a pool of worker processes (one per core by
default), each holding its own vault built from the same keys, and gets back, per row, either its
problems or a `PreparedContact` (stored row and outbox row, on PostgreSQL already encoded as binary
COPY rows, so that the API process neither unpickles their values nor encodes them again), with the
row's external reference for the report. Deciding duplicates and writing stay in the API process, in
one transaction per batch (`handlers.import_prepared`).

Below `parallel_min_rows` rows, or with one worker, the rows are prepared in the calling process:
starting workers costs more than it saves on a small import.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from contacts.adapters import import_copy
from contacts.adapters.protection import PersonalDataVault
from contacts.entrypoints import importing, schemas
from contacts.service_layer import commands, handlers

#: A row to prepare: its number and either its parsed fields (CSV) or its raw NDJSON line.
RawRow = tuple[int, dict[str, Any] | bytes]
#: A prepared row, or (row number, problems) for a row in error.
Prepared = commands.PreparedContact | tuple[int, list[dict[str, str]]]
#: A row's outcome and its external reference as given (for the report; None when it has none).
Outcome = tuple[Prepared, str | None]

_vault: PersonalDataVault | None = None


def _init_worker(keks: dict[str, bytes], active_kek: str, blind_index_key: bytes) -> None:
    global _vault  # noqa: PLW0603 - one vault per worker process, built once at its start.
    _vault = PersonalDataVault.from_keys(keks=keks, active_kek=active_kek, blind_index_key=blind_index_key)
    # Because the worker's own objects (modules, schemas, keys) live as long as it does: frozen out of
    # the collector's generations, they are not scanned again on every collection a batch triggers
    # (measured in one process over an import's rows: 170 -> 128 µs per row).
    gc.freeze()


def _prepare_in_worker(
    rows: list[RawRow], actor: str, at: datetime, correlation_id: str | None, binary: bool
) -> list[Outcome]:
    assert _vault is not None, "the worker was started without its keys"
    return prepare_rows(rows, vault=_vault, actor=actor, at=at, correlation_id=correlation_id, binary=binary)


def prepare_rows(
    rows: Sequence[RawRow],
    *,
    vault: PersonalDataVault,
    actor: str,
    at: datetime,
    correlation_id: str | None,
    binary: bool = False,
) -> list[Outcome]:
    """Validates and prepares rows (in any process): a PreparedContact each, or the row's problems, with
    the row's external reference; `binary` encodes the prepared rows for PostgreSQL's binary COPY.

    With `binary` the rows are prepared as a batch (`_prepare_batch`): the same contacts, rows and
    events as `handlers.prepare_import_row` makes one by one, with the work the rows share done once.
    """
    out: list[Outcome] = []
    valid: list[tuple[int, int, commands.CreateContact, str | None, str | None]] = []
    now = datetime.now(UTC)
    for number, raw in rows:
        if isinstance(raw, bytes):
            try:
                fields = orjson.loads(raw)
            except orjson.JSONDecodeError:
                out.append(((number, [_row_problem("row is not valid JSON")]), None))
                continue
            if not isinstance(fields, dict):
                out.append(((number, [_row_problem("row is not a JSON object")]), None))
                continue
        else:
            fields = raw
        ref = external_ref_of(fields)
        try:
            cmd, email = importing.row_command(fields, actor=actor, now=now)
        except ValidationError as error:
            out.append(((number, importing.field_errors(error)), ref))
            continue
        if binary:
            valid.append((len(out), number, cmd, email, ref))
            out.append(((number, []), ref))  # its place, filled by _prepare_batch
            continue
        prepared = handlers.prepare_import_row(
            cmd,
            vault,
            at=at,
            correlation_id=correlation_id,
            number=number,
            email_normalised=email,
        )
        out.append((prepared, ref))
    if valid:
        _prepare_batch(out, valid, vault=vault, actor=actor, at=at, correlation_id=correlation_id)
    return out


def _prepare_batch(
    out: list[Outcome],
    valid: list[tuple[int, int, commands.CreateContact, str | None, str | None]],
    *,
    vault: PersonalDataVault,
    actor: str,
    at: datetime,
    correlation_id: str | None,
) -> None:
    # Because the per-row path (`handlers.prepare_import_row`) drew random bytes five times per row, built
    # a cipher object per data key through a cache and encoded every shared value of both rows again:
    # here ids and keys come from one call each, and `ImportCopyRows` encodes shared values once.
    ids = import_copy.uuid4_strings(2 * len(valid))
    contacts = []
    for n, (_, _, cmd, email, _) in enumerate(valid):
        contacts.append(
            handlers.new_contact(cmd, vault, at=at, email_normalised=email, contact_id=ids[2 * n])
        )
    sealed = vault.seal_new_many([(c.id, c.personal, c.attributes) for c in contacts])
    copy = import_copy.ImportCopyRows(actor=actor, correlation_id=correlation_id, now=datetime.now(UTC))
    for n, ((position, number, _, _, ref), contact, seal) in enumerate(
        zip(valid, contacts, sealed, strict=True)
    ):
        [event] = contact.events
        out[position] = (
            commands.PreparedContact(
                row=number,
                contact_id=contact.id,
                indexes=contact.indexes,
                contact_row=copy.contact_row(contact, seal),
                outbox_row=copy.event_row(event, ids[2 * n + 1]),
            ),
            ref,
        )


def external_ref_of(fields: dict[str, Any]) -> str | None:
    """Returns a row's external_ref as given, for the report to map every row (even one in error), or
    None when it has none that could be valid."""
    value = fields.get("external_ref")
    return value if isinstance(value, str) and 0 < len(value) <= schemas.MAX_EXTERNAL_REF else None


def _row_problem(message: str) -> dict[str, str]:
    return {"field": "(row)", "message": message, "type": "row_invalid"}


class RowPreparer:
    """Prepares import batches on a pool of worker processes (started on first use, one per core)."""

    def __init__(
        self,
        *,
        vault: PersonalDataVault,
        keys: tuple[dict[str, bytes], str, bytes],
        workers: int = 0,
        parallel_min_rows: int = 1000,
        binary: bool = False,
    ) -> None:
        self._vault = vault
        self._binary = binary
        self._keys = keys
        self.workers = workers or os.cpu_count() or 1
        self._parallel_min_rows = parallel_min_rows
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # Spawned, not forked: the API process runs an event loop and Kafka client threads.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=self._keys,
            )
        return self._pool

    async def prepare(
        self, rows: list[RawRow], *, actor: str, at: datetime, correlation_id: str | None
    ) -> list[Outcome]:
        """Returns the rows prepared (with their external references), in their order."""
        if self.workers <= 1 or len(rows) < self._parallel_min_rows:
            return prepare_rows(
                rows,
                vault=self._vault,
                actor=actor,
                at=at,
                correlation_id=correlation_id,
                binary=self._binary,
            )
        loop = asyncio.get_running_loop()
        size = -(-len(rows) // self.workers)
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._executor(),
                    _prepare_in_worker,
                    rows[start : start + size],
                    actor,
                    at,
                    correlation_id,
                    self._binary,
                )
                for start in range(0, len(rows), size)
            )
        )
        return [item for part in parts for item in part]

    def close(self) -> None:
        """Stops the worker processes (if any started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

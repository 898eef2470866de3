"""One bulk import (`POST /v1/contacts:import`): rows batched, prepared on the worker pool while the
previous batch is written, each batch committed in one transaction; its report as one JSON document
or as NDJSON lines streamed while the import runs.

Both forms come from the same run. After each batch commits, the run hands out that batch's row
results in row order: the created and recognised rows with their contact ids, and the rows in error
whose parsing or validation failed while the batch was being gathered (those are never stored). A
streamed report writes them at once, with a progress line, and ends with a summary line; the JSON
report gathers them into `ImportReport`.

If the client goes away mid-stream, the run stops at its next step: the batches already committed
stay committed (their ContactCreated events are in the outbox and reach Kafka), a batch being
written when it went completes or fails as a whole, and no later batch is written. Sending the same
file again is safe: the committed rows that carry an external reference, an e-mail or a phone come
back as `existing`, with their contact ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from shared.logging import correlation_id

from contacts.bootstrap import Contacts
from contacts.domain.errors import DuplicateContactError
from contacts.entrypoints import import_pool, importing
from contacts.service_layer import commands, handlers

logger = logging.getLogger(__name__)

#: The media type of a streamed report; `Accept` naming it (or `application/ndjson`) asks for one.
NDJSON = "application/x-ndjson"
_STREAM_TYPES = {"application/x-ndjson", "application/ndjson"}

#: A row's result as a report line: row, status, contact_id, external_ref, matched_on or errors.
Line = dict[str, Any]


def wants_stream(accept: str | None) -> bool:
    """True when the Accept header names an NDJSON media type (with a non-zero quality)."""
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() not in _STREAM_TYPES:
            continue
        quality = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            return True
    return False


class ImportRun:
    """One import: its batches, the counts so far and each committed batch's row results."""

    def __init__(
        self, *, service: Contacts, preparer: import_pool.RowPreparer, actor: str, total: int | None = None
    ) -> None:
        self.service, self.preparer, self.actor = service, preparer, actor
        self.total = total
        self.rows = 0
        self.created = 0
        self.matched = 0
        self.rejected = 0
        self.errors_listed = 0
        self.errors_omitted = 0
        self._started = time.monotonic()
        # The batch being gathered: its rows in error so far (listed, and the count of those past the cap).
        self._open: list[Line] = []
        self._open_omitted = 0
        self._writing: asyncio.Task[tuple[list[Line], int]] | None = None
        self._preparing: asyncio.Future[list[import_pool.Outcome]] | None = None

    # --- The run -----------------------------------------------------------------------------------

    async def batches(
        self, rows: Iterable[tuple[int, dict[str, Any] | bytes | None, str | None]]
    ) -> AsyncIterator[list[Line]]:
        """Imports the rows; yields each batch's row results (row order) as soon as the batch commits.

        A batch's rows in error come with it. A failure to store raises here, after the results of
        every batch committed before it were yielded.
        """
        size = self.service.settings.import_batch_rows
        batch: list[import_pool.RawRow] = []
        try:
            for number, fields, parse_error in rows:
                self.rows += 1
                if fields is None:
                    self._row_error(number, None, [_row_problem(f"row {parse_error}")])
                    continue
                batch.append((number, fields))
                if len(batch) >= size:
                    async for lines in self._batch(batch):
                        yield lines
                    batch = []
            if batch:
                async for lines in self._batch(batch):
                    yield lines
            if self._writing is not None:
                await asyncio.wait({self._writing})
                yield self._written()
            if self._open or self._open_omitted:  # rows in error after the last batch
                yield self._closed(self._take_open())
        finally:
            self._abandon()

    async def _batch(self, rows: list[import_pool.RawRow]) -> AsyncIterator[list[Line]]:
        # The batch is prepared on the pool while the previous one is written; the previous one's
        # results go out the moment it commits, even while this one is still being prepared.
        self._preparing = preparing = asyncio.ensure_future(
            self.preparer.prepare(
                rows, actor=self.actor, at=self.service.now(), correlation_id=correlation_id.get()
            )
        )
        if self._writing is not None:
            # asyncio.wait, not await: a client gone away must not cancel a batch being written.
            await asyncio.wait({self._writing, preparing}, return_when=asyncio.FIRST_COMPLETED)
            if self._writing.done():
                yield self._written()
        prepared = await preparing
        self._preparing = None
        refs: dict[int, str | None] = {}
        ready: list[commands.PreparedContact] = []
        for item, ref in prepared:
            if isinstance(item, commands.PreparedContact):
                ready.append(item)
                refs[item.row] = ref
            else:
                self._row_error(item[0], ref, item[1])
        if self._writing is not None:
            await asyncio.wait({self._writing})
            yield self._written()
        self._writing = asyncio.create_task(self._store(ready, refs, self._take_open()))

    def _take_open(self) -> tuple[list[Line], int]:
        taken = (self._open, self._open_omitted)
        self._open, self._open_omitted = [], 0
        return taken

    async def _store(
        self,
        ready: list[commands.PreparedContact],
        refs: dict[int, str | None],
        in_error: tuple[list[Line], int],
    ) -> tuple[list[Line], int]:
        lines, omitted = in_error
        if ready:
            cmd = commands.ImportPrepared(actor=self.actor, rows=ready)
            try:
                outcome = await handlers.import_prepared(cmd, self.service.uow())
            except DuplicateContactError:
                # A concurrent writer took an index between the lookup and the insert: the retry sees it.
                outcome = await handlers.import_prepared(cmd, self.service.uow())
            for number, contact_id in outcome.created.items():
                lines.append({"row": number, "status": "created", "contact_id": contact_id,
                              "external_ref": refs[number]})  # fmt: skip
            for number, (contact_id, matched_on) in outcome.known.items():
                lines.append({"row": number, "status": "existing", "contact_id": contact_id,
                              "external_ref": refs[number], "matched_on": matched_on})  # fmt: skip
            lines.sort(key=lambda line: line["row"])
        return lines, omitted

    def _written(self) -> list[Line]:
        writing, self._writing = self._writing, None
        assert writing is not None
        return self._closed(writing.result())

    def _closed(self, batch: tuple[list[Line], int]) -> list[Line]:
        """Counts a committed batch's results (and its rows in error) into the run's totals."""
        lines, omitted = batch
        for line in lines:
            status = line["status"]
            if status == "created":
                self.created += 1
            elif status == "existing":
                self.matched += 1
            else:
                self.rejected += 1
        self.rejected += omitted
        return lines

    def _row_error(self, row: int, external_ref: str | None, errors: list[dict[str, str]]) -> None:
        # Because a body of bad rows must not make a report many times its size: the rows in error past
        # the first ones are counted, with no line of their own.
        if self.errors_listed >= importing.MAX_REPORTED_ROWS:
            self.errors_omitted += 1
            self._open_omitted += 1
            return
        self.errors_listed += 1
        kept = errors[: importing.MAX_ROW_PROBLEMS]
        if len(errors) > len(kept):
            kept.append(
                {
                    "field": "(row)",
                    "message": f"and {len(errors) - len(kept)} more problems",
                    "type": "problems_omitted",
                }
            )
        self._open.append(
            {"row": row, "status": "error", "contact_id": None, "external_ref": external_ref, "errors": kept}
        )

    def _abandon(self) -> None:
        # The run ends early (client gone, or a failure): nothing more is prepared; a batch being
        # written finishes on its own, all or nothing, and a failure of it is logged.
        if self._preparing is not None and not self._preparing.done():
            self._preparing.cancel()
        if self._writing is not None and not self._writing.done():
            self._writing.add_done_callback(_log_failure)

    # --- The two reports ------------------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        """The counts so far, of rows whose batch committed (and rows in error): a progress line."""
        return {
            "type": "progress",
            "rows_done": self.created + self.matched + self.rejected,
            "rows_total": self.total,
            "created": self.created,
            "matched": self.matched,
            "rejected": self.rejected,
            "elapsed_s": round(time.monotonic() - self._started, 3),
        }

    def summary(self) -> dict[str, Any]:
        """The summary line that ends a streamed report of a finished import."""
        return {
            "type": "summary",
            "rows": self.rows,
            "created": self.created,
            "matched": self.matched,
            "rejected": self.rejected,
            "errors_omitted": self.errors_omitted,
            "elapsed_s": round(time.monotonic() - self._started, 3),
        }

    async def stream(
        self, rows: Iterable[tuple[int, dict[str, Any] | bytes | None, str | None]]
    ) -> AsyncIterator[bytes]:
        """The streamed report: each batch's row lines and a progress line once the batch commits, then
        the summary; a failure ends it with an `error` line instead (what is reported stays committed)."""
        try:
            async for lines in self.batches(rows):
                # One write per batch: its row lines and the progress line after them.
                chunk = [orjson.dumps({"type": "row", **line}) for line in lines]
                chunk.append(orjson.dumps(self.progress()))
                yield b"\n".join(chunk) + b"\n"
        except Exception:
            logger.exception("import stopped by an error after %d committed rows", self.created)
            stopped = {
                "type": "error",
                "status": 500,
                "title": "The import stopped",
                "detail": "The rows reported above are committed; the batch that failed and the rows after "
                "it were not imported. Sending the file again is safe: committed rows come back as existing.",
                "rows_done": self.created + self.matched + self.rejected,
                "elapsed_s": round(time.monotonic() - self._started, 3),
            }
            yield orjson.dumps(stopped) + b"\n"
            return
        yield orjson.dumps(self.summary()) + b"\n"

    async def report(self, rows: Iterable[tuple[int, dict[str, Any] | bytes | None, str | None]]) -> bytes:
        """The JSON report (`ImportReport`), as bytes: a report of 100,000 rows through the response
        model costs seconds."""
        results: list[Line] = []
        known: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        async for lines in self.batches(rows):
            for line in lines:
                if line["status"] == "error":
                    errors.append({"row": line["row"], "errors": line.pop("errors")})
                elif line["status"] == "existing":
                    known.append({"row": line["row"], "existing_contact_id": line["contact_id"],
                                  "matched_on": line["matched_on"]})  # fmt: skip
                results.append(line)
        return orjson.dumps(
            {
                "rows": self.rows,
                "created": self.created,
                "known": known,
                "errors": errors,
                "errors_omitted": self.errors_omitted,
                "results": results,
            }
        )


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("an import batch failed after its client went away", exc_info=task.exception())


def _row_problem(message: str) -> dict[str, str]:
    return {"field": "(row)", "message": message, "type": "row_invalid"}

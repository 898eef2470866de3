"""Offline full verification of an NDJSON log export against a signed checkpoint.

Lines are decoded, checked and hashed in batches; a large export's batches run in worker processes
(one per core) while the next batch is read, and the leaves are folded into the root in order.
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from multiprocessing import get_context

from vigie_verify.checkpoint import Checkpoint
from vigie_verify.entries import canonical_document, loads, served_mismatches
from vigie_verify.errors import LogError
from vigie_verify.merkle import HASH_SIZE, RootAccumulator, leaf_hash

__all__ = ["ExportReport", "verify_export"]

# Leaves are folded in batches so that per-leaf interpreter overhead stays small on large exports.
_BATCH = 8192


@dataclass(frozen=True)
class ExportReport:
    """The outcome of a successful export verification."""

    checked: int
    beyond_checkpoint: int


def _decode_entry(line: str | bytes, *, expected: int, line_number: int) -> tuple[int, bytes, bytes | None]:
    """Returns (index, canonical bytes, recorded leaf hash or None) of one export line."""
    try:
        entry = loads(line)
    except ValueError:
        raise LogError(f"line {line_number} (entry {expected}) is not JSON", index=expected) from None
    if not isinstance(entry, dict):
        raise LogError(f"line {line_number} (entry {expected}) is not a JSON object", index=expected)
    if "error" in entry:
        # Because the log ends an export at an entry that fails its own checks, and says why.
        where = entry.get("index", expected)
        raise LogError(
            f"entry {where}: the log stopped its export: {entry['error']}",
            index=where if isinstance(where, int) else expected,
        )
    index = entry.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise LogError(f"line {line_number} (entry {expected}) has no integer 'index'", index=expected)
    canonical_b64 = entry.get("canonical")
    if not isinstance(canonical_b64, str):
        raise LogError(f"entry {index} (line {line_number}) has no 'canonical' field", index=index)
    try:
        canonical = base64.b64decode(canonical_b64, validate=True)
    except (binascii.Error, ValueError):
        raise LogError(
            f"entry {index} (line {line_number}): 'canonical' is not base64", index=index
        ) from None
    try:
        wrong = served_mismatches(canonical_document(canonical), entry)
    except ValueError:
        wrong = ["canonical"]
    if wrong:
        raise LogError(
            f"entry {index} (line {line_number}): served {', '.join(wrong)} differ"
            f"{'s' if len(wrong) == 1 else ''} from its canonical bytes",
            index=index,
        )
    recorded: bytes | None = None
    if "leaf_hash" in entry:
        try:
            recorded = bytes.fromhex(entry["leaf_hash"])
        except (TypeError, ValueError):
            raise LogError(
                f"entry {index} (line {line_number}): 'leaf_hash' is not hex", index=index
            ) from None
    return index, canonical, recorded


@dataclass(frozen=True)
class _Batch:
    """What a batch of export lines holds once checked: its indices' range and their leaf hashes."""

    first: int | None
    last: int | None
    leaves: bytes
    error: LogError | None


def check_lines(first_line: int, lines: Sequence[str | bytes]) -> _Batch:
    """Decodes and checks a batch of export lines (numbered from `first_line`); indices must run on
    from the batch's first. A pure function of its arguments, so that it can run in any process."""
    leaves: list[bytes] = []
    first: int | None = None
    expected = 0
    for line_number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            index, canonical, recorded = _decode_entry(line, expected=expected, line_number=line_number)
            if first is None:
                first = expected = index
            _check_index(index, expected, line_number)
            computed = leaf_hash(canonical)
            if recorded is not None and recorded != computed:
                raise LogError(
                    f"entry {index}: canonical bytes hash to {computed.hex()}, "
                    f"the entry records {recorded.hex()}",
                    index=index,
                )
        except LogError as exc:
            return _Batch(first, expected - 1 if first is not None else None, b"".join(leaves), exc)
        leaves.append(computed)
        expected += 1
    return _Batch(first, expected - 1 if first is not None else None, b"".join(leaves), None)


def _check_index(index: int, expected: int, line_number: int) -> None:
    if index < expected:
        raise LogError(
            f"entry {expected}: found index {index} again at line {line_number} (duplicate or reordered)",
            index=expected,
        )
    if index > expected:
        missing = f"entry {expected} is" if index == expected + 1 else f"entries {expected}..{index - 1} are"
        raise LogError(f"{missing} missing before line {line_number} (gap)", index=expected)


def _batches(lines: Iterable[str | bytes], size: int) -> Iterator[tuple[int, list[str | bytes]]]:
    iterator = iter(lines)
    line_number = 1
    while batch := list(islice(iterator, size)):
        yield line_number, batch
        line_number += len(batch)


def verify_export(
    lines: Iterable[str | bytes], *, checkpoint: Checkpoint, workers: int | None = None
) -> ExportReport:
    """Checks that the export's first ``checkpoint.size`` entries rebuild the checkpoint's root.

    Indices must run 0, 1, 2, ... without gaps or duplicates, every leaf hash is recomputed from the
    canonical bytes, and every field served beside them (type, actor, subject, times...) must say
    what the canonical bytes say. Raises LogError naming the first bad index. `workers` processes
    check the lines (default: one per core; 0 or 1 checks in this process).
    """
    workers = os.cpu_count() or 1 if workers is None else workers
    accumulator = RootAccumulator()
    state = {"expected": 0, "beyond": 0}

    def fold(batch: _Batch, first_line: int) -> None:
        if batch.first is not None:
            _check_index(batch.first, state["expected"], first_line)
        if batch.error is not None:
            raise batch.error
        if batch.last is None:
            return
        leaves = [batch.leaves[o : o + HASH_SIZE] for o in range(0, len(batch.leaves), HASH_SIZE)]
        covered = max(0, min(len(leaves), checkpoint.size - state["expected"]))
        accumulator.extend(leaves[:covered])
        state["beyond"] += len(leaves) - covered
        state["expected"] = batch.last + 1

    batches = _batches(lines, _BATCH)
    head = list(islice(batches, 2))
    batches = chain(head, batches)
    # Because starting worker processes costs more than checking one batch here.
    if workers <= 1 or len(head) < 2:
        for first_line, batch in batches:
            fold(check_lines(first_line, batch), first_line)
    else:
        # Because spawning is safe in any host process (a forked event loop or thread is not).
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            in_flight: collections.deque[tuple[Future[_Batch], int]] = collections.deque()
            for first_line, batch in batches:
                in_flight.append((pool.submit(check_lines, first_line, batch), first_line))
                if len(in_flight) > 2 * workers:
                    future, line = in_flight.popleft()
                    fold(future.result(), line)
            while in_flight:
                future, line = in_flight.popleft()
                fold(future.result(), line)
    if accumulator.size < checkpoint.size:
        raise LogError(
            f"export ends after {accumulator.size} entries; the checkpoint covers {checkpoint.size} "
            f"(entries {accumulator.size}..{checkpoint.size - 1} missing)",
            index=accumulator.size,
        )
    root = accumulator.root()
    if root != checkpoint.root_hash:
        # Every leaf matched its recorded hash, so the change was made consistently to bytes and
        # hash; one export and one checkpoint cannot tell which leaf it is.
        raise LogError(
            f"entries 0..{checkpoint.size - 1} hash to root {root.hex()}, the checkpoint says "
            f"{checkpoint.root_hash.hex()}; an entry was altered together with its leaf_hash "
            "(locate it with 'inclusion' against the live log)"
        )
    return ExportReport(checked=checkpoint.size, beyond_checkpoint=state["beyond"])

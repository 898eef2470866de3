"""Offline full verification of an NDJSON log export against a signed checkpoint.

An export file is cut into blocks of bytes at line ends. Each block is read straight from the file,
decoded, checked and hashed by a worker process (one per core); it hands back only its range of
indices and the roots of the complete subtrees over its entries, which are folded into the root in
order. Lines from any other iterable are checked in batches the same way.
"""

from __future__ import annotations

import collections
import os
from binascii import a2b_base64
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from json.encoder import encode_basestring_ascii
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, TypeVar

from vigie_verify.entries import (
    FAST_JSON,
    SERVED_FIELDS,
    TIME_KEYS,
    canonical_document,
    loads,
    served_mismatches,
)
from vigie_verify.errors import LogError
from vigie_verify.merkle import RootAccumulator, compact_range, leaf_hash

if TYPE_CHECKING:
    from vigie_verify.checkpoint import Checkpoint

try:  # Because pybase64 decodes an entry's canonical bytes ~10x faster (0.6 vs 6 us here), when installed.
    from pybase64 import b64decode as _simd_b64decode

    #: True when base64 is decoded by pybase64 (optional); by the standard library's binascii otherwise.
    FAST_BASE64 = True
except ImportError:  # The verifier depends on cryptography only; tests run both ways.
    FAST_BASE64 = False

__all__ = ["ExportReport", "verify_export", "verify_export_file"]

_T = TypeVar("_T")

# Lines of an iterable are checked in batches so that per-batch overhead stays small on large exports.
_BATCH = 8192
# Bytes of an export file per block: a few thousand entries, a few milliseconds of reading.
_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class ExportReport:
    """The outcome of a successful export verification."""

    checked: int
    beyond_checkpoint: int


_enc = encode_basestring_ascii
# Every byte but a quote, a backslash, a control character or a non-ASCII byte: what may stand in a
# JSON string without an escape and be read back as itself.
_PLAIN = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')
_SEALED_KEY = b'","sealed_event":"'
_SOURCE_KEY = b'","source":"'
# The quotes of the writer's middle part: `_SEALED_KEY`'s four, `_SOURCE_KEY`'s four, the last one.
_MIDDLE_QUOTES = b'"' * 9


def _in_writer_layout(canonical: bytes, served: dict[str, Any]) -> bool:
    """True when the canonical bytes are the log writer's encoding (sorted keys, no spaces) around
    the export's served fields: then each served field is what the bytes say, without parsing them.

    The bytes must begin with the served actor, event id, event time, type and index, end with the
    served subject, and hold between them only plain strings under the three other keys, so that
    the bytes are one JSON object without a repeated key. False sends the entry to the full parse,
    which names the fields that differ.
    """
    try:
        actor, event_id, event_time = served["actor"], served["event_id"], served["event_time"]
        event_type, subject, index = served["type"], served["subject"], served["index"]
    except KeyError:
        return False
    if "source" in served or "integrated_at" in served:
        return False
    if not (
        type(actor) is str
        and type(event_id) is str
        and type(event_time) is str
        and type(event_type) is str
        and type(subject) is str
        and type(index) is int
    ):
        return False
    head = (
        f'{{"actor":{_enc(actor)},"event_id":{_enc(event_id)},"event_time":{_enc(event_time)},'
        f'"event_type":{_enc(event_type)},"index":{index},"integrated_at":"'
    ).encode()
    tail = f',"subject":{_enc(subject)}}}'.encode()
    if not (
        len(canonical) >= len(head) + len(tail) and canonical.startswith(head) and canonical.endswith(tail)
    ):
        return False
    # The rest must be `integrated_at"` + `_SEALED_KEY` + sealed + `_SOURCE_KEY` + source + `"`, each
    # value plain: then its only quotes are those nine, and the two keys are found where they stand.
    middle = canonical[len(head) : len(canonical) - len(tail)]
    if middle.translate(None, _PLAIN) != _MIDDLE_QUOTES or not middle.endswith(b'"'):
        return False
    sealed_at = middle.find(_SEALED_KEY)
    source_at = middle.find(_SOURCE_KEY, sealed_at + len(_SEALED_KEY))
    if sealed_at < 0 or source_at < 0 or source_at + len(_SOURCE_KEY) >= len(middle):
        return False
    try:
        # Because the full comparison takes a time that does not parse as differing from itself.
        return datetime.fromisoformat(event_time).tzinfo is not None
    except ValueError:
        return False


_SERVED = tuple(SERVED_FIELDS.items())
_ABSENT = object()


def _agrees_parsed(canonical: bytes, served: dict[str, Any]) -> bool:
    """True when the canonical bytes parse (with orjson) to an object that holds each served field
    as the same value of the same type, and each such time parses with its zone: then the served
    fields say what the bytes say. False sends the entry to `served_mismatches`, which decides."""
    try:
        document = loads(canonical)
    except ValueError:
        return False
    if type(document) is not dict:
        return False
    for name, key in _SERVED:
        served_value = served.get(name, _ABSENT)
        if served_value is _ABSENT:
            continue
        value = document.get(key, _ABSENT)
        if value is _ABSENT:
            continue
        if value != served_value or type(value) is not type(served_value):
            return False
        if key in TIME_KEYS:
            try:
                if datetime.fromisoformat(value).tzinfo is None:
                    return False
            except (TypeError, ValueError):
                return False
    return True


# Because, per entry of the B5 log here, parsing with orjson and comparing took ~2.3 us, checking the
# writer's layout ~3.3 us, and parsing with the standard library and comparing ~5.5 us.
_agrees = _agrees_parsed if FAST_JSON else _in_writer_layout


def strict_b64decode(text: str) -> bytes:
    """Decodes strict base64 as `base64.b64decode(validate=True)` does, or raises ValueError."""
    if FAST_BASE64:
        try:
            return _simd_b64decode(text, validate=True)
        except ValueError:
            # Because pybase64 refuses a few inputs binascii's strict mode takes (excess padding after
            # a full quantum): binascii decides, so both paths accept and decode the same texts.
            pass
    # What base64.b64decode(validate=True) runs, without its wrapper.
    return a2b_base64(text, strict_mode=True)


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
        canonical = strict_b64decode(canonical_b64)
    except ValueError:
        raise LogError(
            f"entry {index} (line {line_number}): 'canonical' is not base64", index=index
        ) from None
    if not _agrees(canonical, entry):
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
    """What a run of export lines holds once checked: its indices' range, the complete subtrees
    over those below the checkpoint's size, and how many lie beyond it."""

    first: int | None
    last: int | None
    #: (level, hash) of the maximal complete subtrees over [first, min(last + 1, limit)), in order.
    subtrees: list[tuple[int, bytes]]
    beyond: int
    #: The line number of the first entry, and how many lines the run had (blank ones included).
    first_entry_line: int
    lines: int
    error: LogError | None


def check_lines(first_line: int, lines: Sequence[str | bytes], limit: int) -> _Batch:
    """Decodes and checks a run of export lines (numbered from `first_line`); indices must run on
    from the run's first. Entries from index `limit` on (the checkpoint's size) are checked but
    left out of the subtrees. A pure function of its arguments, so that it can run in any process.
    """
    leaves: list[bytes] = []
    first: int | None = None
    first_entry_line = first_line
    expected = 0
    for line_number, line in enumerate(lines, start=first_line):
        if not line or line.isspace():  # What `not line.strip()` says, without a copy.
            continue
        try:
            index, canonical, recorded = _decode_entry(line, expected=expected, line_number=line_number)
            if first is None:
                first = expected = index
                first_entry_line = line_number
            if index != expected:
                _check_index(index, expected, line_number)
            computed = leaf_hash(canonical)
            if recorded is not None and recorded != computed:
                raise LogError(
                    f"entry {index}: canonical bytes hash to {computed.hex()}, "
                    f"the entry records {recorded.hex()}",
                    index=index,
                )
        except LogError as exc:
            last = expected - 1 if first is not None else None
            return _Batch(first, last, [], 0, first_entry_line, len(lines), exc)
        leaves.append(computed)
        expected += 1
    if first is None:
        return _Batch(None, None, [], 0, first_entry_line, len(lines), None)
    covered = max(0, min(len(leaves), limit - first))
    subtrees = compact_range(first, leaves[:covered]) if covered else []
    return _Batch(first, expected - 1, subtrees, len(leaves) - covered, first_entry_line, len(lines), None)


def _check_index(index: int, expected: int, line_number: int) -> None:
    if index < expected:
        raise LogError(
            f"entry {expected}: found index {index} again at line {line_number} (duplicate or reordered)",
            index=expected,
        )
    if index > expected:
        missing = f"entry {expected} is" if index == expected + 1 else f"entries {expected}..{index - 1} are"
        raise LogError(f"{missing} missing before line {line_number} (gap)", index=expected)


def _block_lines(path: str, start: int, end: int) -> list[bytes]:
    """Returns the lines of the file that begin in bytes [start, end), without their newlines."""
    with open(path, "rb") as file:
        # Because the byte before the block says whether a line begins at `start`.
        offset = start - 1 if start else 0
        file.seek(offset)
        data = file.read(end - offset)
        # The rest of the line in progress at `end`, which belongs to this block.
        rest = file.readline() if data and not data.endswith(b"\n") else b""
    lines = data.split(b"\n")
    if rest:
        lines[-1] += rest[:-1] if rest.endswith(b"\n") else rest
    elif not lines[-1]:
        lines.pop()  # Not a line: what follows the block's last newline.
    if start:
        del lines[0]  # The end of a line begun before the block (empty if one begins at `start`).
    return lines


def check_block(path: str, start: int, end: int, limit: int) -> _Batch:
    """Checks the lines of an export file that begin in bytes [start, end), numbered from 1 (see
    `check_lines`); the error it may carry is numbered from the block. Runs in any process."""
    return check_lines(1, _block_lines(path, start, end), limit)


class _Fold:
    """Folds checked runs, in order, into the checkpoint's root, checking that indices run on."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.accumulator = RootAccumulator()
        self.expected = 0
        self.beyond = 0

    def add(self, batch: _Batch, line_offset: int = 0) -> None:
        """Takes the next run; `line_offset` turns its line numbers into the export's."""
        if batch.first is not None:
            _check_index(batch.first, self.expected, batch.first_entry_line + line_offset)
        if batch.error is not None:
            raise batch.error
        if batch.last is None:
            return
        for level, subtree_hash in batch.subtrees:
            self.accumulator.append_subtree(level, subtree_hash)
        self.beyond += batch.beyond
        self.expected = batch.last + 1

    def report(self) -> ExportReport:
        checkpoint = self.checkpoint
        size = self.accumulator.size
        if size < checkpoint.size:
            raise LogError(
                f"export ends after {size} entries; the checkpoint covers {checkpoint.size} "
                f"(entries {size}..{checkpoint.size - 1} missing)",
                index=size,
            )
        root = self.accumulator.root()
        if root != checkpoint.root_hash:
            # Every leaf matched its recorded hash, so the change was made consistently to bytes and
            # hash; one export and one checkpoint cannot tell which leaf it is.
            raise LogError(
                f"entries 0..{checkpoint.size - 1} hash to root {root.hex()}, the checkpoint says "
                f"{checkpoint.root_hash.hex()}; an entry was altered together with its leaf_hash "
                "(locate it with 'inclusion' against the live log)"
            )
        return ExportReport(checked=checkpoint.size, beyond_checkpoint=self.beyond)


def _pool(workers: int) -> ProcessPoolExecutor:
    # Because spawning is safe in any host process (a forked event loop or thread is not).
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def verify_export_file(
    path: str | os.PathLike[str], *, checkpoint: Checkpoint, workers: int | None = None
) -> ExportReport:
    """Checks an export file as `verify_export` does; `workers` processes each read and check
    blocks of the file themselves (default: one per core; 0 or 1 checks in this process)."""
    path = os.fspath(path)
    workers = (os.cpu_count() or 1) if workers is None else workers
    size = os.path.getsize(path)
    blocks = [(start, min(start + _BLOCK_BYTES, size)) for start in range(0, size, _BLOCK_BYTES)]
    fold = _Fold(checkpoint)
    first_line = 1

    def take(batch: _Batch, start: int, end: int) -> None:
        nonlocal first_line
        offset = first_line - 1
        if batch.error is not None:
            # Because a worker numbers lines from its block: check the block again here to name the line.
            batch, offset = check_lines(first_line, _block_lines(path, start, end), checkpoint.size), 0
        fold.add(batch, offset)
        first_line += batch.lines

    # Because starting worker processes costs more than checking a block or two here.
    if workers <= 1 or len(blocks) < 3:
        for start, end in blocks:
            take(check_block(path, start, end, checkpoint.size), start, end)
        return fold.report()
    with _pool(workers) as pool:
        calls = ((path, start, end, checkpoint.size) for start, end in blocks)
        checked = _in_order(pool, check_block, calls, 2 * workers)
        for (start, end), batch in zip(blocks, checked, strict=True):
            take(batch, start, end)
    return fold.report()


def _in_order(
    pool: Executor, fn: Callable[..., _T], calls: Iterable[tuple[Any, ...]], window: int
) -> Iterator[_T]:
    """Submits `fn` with each argument tuple, keeping at most `window` + 1 calls in the pool, and
    yields their results in call order."""
    in_flight: collections.deque[Future[_T]] = collections.deque()
    for args in calls:
        in_flight.append(pool.submit(fn, *args))
        if len(in_flight) > window:
            yield in_flight.popleft().result()
    while in_flight:
        yield in_flight.popleft().result()


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
    check batches of lines (default: one per core; 0 or 1 checks in this process); a file is
    checked faster by `verify_export_file`, whose workers read it themselves.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    fold = _Fold(checkpoint)
    batches = _batches(lines, _BATCH)
    head = list(islice(batches, 2))
    if workers <= 1 or len(head) < 2:
        for first_line, batch in chain(head, batches):
            fold.add(check_lines(first_line, batch, checkpoint.size))
        return fold.report()
    with _pool(workers) as pool:
        calls = ((first_line, batch, checkpoint.size) for first_line, batch in chain(head, batches))
        for checked in _in_order(pool, check_lines, calls, 2 * workers):
            fold.add(checked)
    return fold.report()

"""Offline full verification of an NDJSON log export against a signed checkpoint."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass

from vigie_verify.checkpoint import Checkpoint
from vigie_verify.errors import LogError
from vigie_verify.merkle import RootAccumulator, leaf_hash

__all__ = ["ExportReport", "verify_export"]

# Leaves are folded in batches so that per-leaf interpreter overhead stays small on large exports.
_BATCH = 4096


@dataclass(frozen=True)
class ExportReport:
    """The outcome of a successful export verification."""

    checked: int
    beyond_checkpoint: int


def _decode_entry(line: str | bytes, *, expected: int, line_number: int) -> tuple[int, bytes, bytes | None]:
    """Returns (index, canonical bytes, recorded leaf hash or None) of one export line."""
    try:
        entry = json.loads(line)
    except ValueError:
        raise LogError(f"line {line_number} (entry {expected}) is not JSON", index=expected) from None
    if not isinstance(entry, dict):
        raise LogError(f"line {line_number} (entry {expected}) is not a JSON object", index=expected)
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
    recorded: bytes | None = None
    if "leaf_hash" in entry:
        try:
            recorded = bytes.fromhex(entry["leaf_hash"])
        except (TypeError, ValueError):
            raise LogError(
                f"entry {index} (line {line_number}): 'leaf_hash' is not hex", index=index
            ) from None
    return index, canonical, recorded


def verify_export(lines: Iterable[str | bytes], *, checkpoint: Checkpoint) -> ExportReport:
    """Checks that the export's first ``checkpoint.size`` entries rebuild the checkpoint's root.

    Indices must run 0, 1, 2, ... without gaps or duplicates, and every leaf hash is recomputed
    from the canonical bytes. Raises LogError naming the first bad index.
    """
    accumulator = RootAccumulator()
    batch: list[bytes] = []
    expected = 0
    beyond = 0
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        index, canonical, recorded = _decode_entry(line, expected=expected, line_number=line_number)
        if index < expected:
            raise LogError(
                f"entry {expected}: found index {index} again at line {line_number} (duplicate or reordered)",
                index=expected,
            )
        if index > expected:
            missing = (
                f"entry {expected} is" if index == expected + 1 else f"entries {expected}..{index - 1} are"
            )
            raise LogError(f"{missing} missing before line {line_number} (gap)", index=expected)
        computed = leaf_hash(canonical)
        if recorded is not None and recorded != computed:
            raise LogError(
                f"entry {index}: canonical bytes hash to {computed.hex()}, "
                f"the entry records {recorded.hex()}",
                index=index,
            )
        expected += 1
        if index >= checkpoint.size:
            beyond += 1
            continue
        batch.append(computed)
        if len(batch) >= _BATCH:
            accumulator.extend(batch)
            batch = []
    accumulator.extend(batch)
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
    return ExportReport(checked=checkpoint.size, beyond_checkpoint=beyond)

"""What an entry's canonical bytes say, whether what was served agrees, and the batch-wide checks of a
full verification (leaf hashes, complete-subtree hashes), which run in worker processes.

An entry's canonical bytes are the only thing a leaf hash commits to. Anything served beside them
(the entry's type, actor, subject, times...) is worth only what it agrees with them, so a verifier
compares every served field with the canonical value it stands for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

try:  # Because orjson parses a canonical entry several times faster, when it is installed.
    from orjson import loads

    #: True when JSON is parsed by orjson (optional); the standard library's parser otherwise.
    FAST_JSON = True
except ImportError:  # The verifier depends on cryptography only; tests run both ways.
    loads = json.loads  # type: ignore[assignment]
    FAST_JSON = False

__all__ = [
    "FAST_JSON",
    "SERVED_FIELDS",
    "ChunkOutcome",
    "canonical_document",
    "loads",
    "check_chunk",
    "micros",
    "served_mismatches",
    "subtree_levels",
]

#: Served field name -> the canonical key it stands for (an export's or the API's names).
SERVED_FIELDS = {
    "index": "index",
    "event_id": "event_id",
    "type": "event_type",
    "source": "source",
    "subject": "subject",
    "actor": "actor",
    "event_time": "event_time",
    "integrated_at": "integrated_at",
}
#: Canonical keys holding ISO 8601 times; they are compared as instants, not as text.
TIME_KEYS = frozenset({"event_time", "integrated_at"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def canonical_document(canonical: bytes) -> dict[str, Any]:
    """Returns the JSON object an entry's canonical bytes hold; ValueError if they hold none."""
    document = loads(canonical)
    if not isinstance(document, dict):
        raise ValueError("canonical bytes are not a JSON object")
    return document


def micros(value: str | datetime) -> int:
    """Returns an instant (ISO 8601 text with a zone, or an aware datetime) as microseconds since 1970."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("a time without a zone")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _same(key: str, canonical_value: Any, served_value: Any) -> bool:
    if key in TIME_KEYS and canonical_value is not None and served_value is not None:
        try:
            served = served_value if isinstance(served_value, int) else micros(served_value)
            return micros(canonical_value) == served
        except (TypeError, ValueError):
            return False
    return bool(canonical_value == served_value and type(canonical_value) is type(served_value))


def served_mismatches(document: Mapping[str, Any], served: Mapping[str, Any]) -> list[str]:
    """Returns the served fields (by their served names) whose value differs from the canonical one.

    Only the fields present both in `served` and in the canonical document are compared (a
    canonical document without a key commits to no value for it, and the document itself is what the
    leaf hash covers); times may be served as ISO text or as microseconds since 1970.
    """
    return [
        name
        for name, key in SERVED_FIELDS.items()
        if name in served and key in document and not _same(key, document[key], served[name])
    ]


def subtree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Returns the hashes of every complete subtree over `leaves`, level by level (level 0: the leaves).

    The leaves must start at a multiple of 2**(number of levels - 1) in the tree, so that the
    subtrees found here are the tree's own complete subtrees.
    """
    sha256 = hashlib.sha256
    levels = [list(leaves)]
    level = levels[0]
    while len(level) > 1:
        level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        levels.append(level)
    return levels


@dataclass
class ChunkOutcome:
    """What one chunk of entries showed: its problems and its complete-subtree hashes per level."""

    low: int
    count: int
    #: (index, what is wrong), in index order.
    problems: list[tuple[int, str]] = field(default_factory=list)
    #: Level -> the concatenated hashes of the chunk's complete subtrees at that level.
    levels: list[bytes] = field(default_factory=list)


def check_chunk(
    low: int,
    indices: Sequence[int] | None,
    canonicals: Sequence[bytes],
    recorded_leaves: Sequence[bytes] | None,
    served: Mapping[str, Sequence[Any]] | None,
    stored_leaves: bytes = b"",
) -> ChunkOutcome:
    """Checks a run of entries from index `low` on and hashes the complete subtrees over them.

    Each leaf hash is recomputed from the canonical bytes and compared with the recorded one (if
    any); each served column (served name -> one value per entry) is compared with what the
    canonical bytes say; `indices` (if given) must run low, low+1, ... Where an entry is missing,
    its leaf is taken from `stored_leaves` (the tree's stored level-0 hashes from `low` on, concatenated),
    so that one gap is reported once and the rest of the tree is still checked. A pure function of
    its arguments, so that it can run in any process.
    """
    sha256 = hashlib.sha256
    leaves = [sha256(b"\x00" + canonical).digest() for canonical in canonicals]
    positions = list(indices) if indices is not None else list(range(low, low + len(leaves)))
    outcome = ChunkOutcome(low=low, count=len(leaves))
    problems: dict[int, list[str]] = {}
    if recorded_leaves is not None and leaves != list(recorded_leaves):
        for index, computed, recorded in zip(positions, leaves, recorded_leaves, strict=True):
            if computed != recorded:
                problems.setdefault(index, []).append("entry does not match its leaf hash")
    if served:
        names = list(served)
        columns = [served[name] for name in names]
        for position, canonical in enumerate(canonicals):
            index = positions[position]
            try:
                document = canonical_document(canonical)
            except ValueError:
                problems.setdefault(index, []).append("canonical bytes are not a JSON object")
                continue
            values = {name: column[position] for name, column in zip(names, columns, strict=True)}
            values["index"] = index
            wrong = served_mismatches(document, values)
            if wrong:
                problems.setdefault(index, []).append(
                    f"{', '.join(wrong)} differ{'s' if len(wrong) == 1 else ''} from the canonical bytes"
                )
    if positions != list(range(low, low + len(leaves))):
        for offset, index in enumerate(positions):
            if index != low + offset:
                outcome.problems.append((low + offset, f"gap or duplicate: next stored index is {index}"))
                break  # Because one gap shifts every later index: report where it starts only.
        end = max(positions) + 1 if positions else low
        placed = [stored_leaves[o : o + 32] or b"\x00" * 32 for o in range(0, (end - low) * 32, 32)]
        for index, leaf in zip(positions, leaves, strict=True):
            placed[index - low] = leaf
        leaves = placed
    outcome.count = len(leaves)
    outcome.problems += [(index, "; ".join(what)) for index, what in sorted(problems.items())]
    outcome.levels = [b"".join(level) for level in subtree_levels(leaves)]
    return outcome

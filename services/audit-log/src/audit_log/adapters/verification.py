"""Full verification of the stored log: every entry, every stored Merkle node, the signed root.

Each entry's leaf hash is recomputed from its canonical bytes and compared with the stored leaf hash;
each query column (event id, type, source, subject, actor, times) is compared with what the
canonical bytes say; every stored complete-subtree node, at every level, is compared with the one
recomputed from the leaves; the root at the latest checkpoint's size, computed from the leaves
alone, is compared with the signed checkpoint, whose signature is checked too.

The log is read in chunks of a power-of-two size aligned on the tree, so that a chunk's subtrees are
the tree's own; the hashing of a chunk runs in a pool of worker processes (one per core) while the
next chunk is read.
"""

from __future__ import annotations

import asyncio
import collections
import os
from collections.abc import Awaitable
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import sqlalchemy as sa
from shared.db import asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncConnection
from vigie_verify import merkle
from vigie_verify.checkpoint import open_checkpoint
from vigie_verify.entries import ChunkOutcome, check_chunk, micros, subtree_levels
from vigie_verify.errors import VerificationError

from audit_log.adapters import orm
from audit_log.domain.model import Problem, SignedCheckpoint, VerifyReport

_HASH = merkle.HASH_SIZE
#: The columns compared with the canonical bytes, by their served names, in the order read.
_SERVED = ("event_id", "type", "source", "subject", "actor", "event_time", "integrated_at")
_pool: ProcessPoolExecutor | None = None


def worker_pool() -> Executor:
    """Returns this process's pool of verification workers (one per core), started on first use."""
    global _pool
    if _pool is None:
        # Because forking a process that runs an event loop and driver threads is unsafe: spawn.
        _pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn"))
    return _pool


def _aligned(chunk: int) -> int:
    """Returns the largest power of two at most `chunk` (at least 2)."""
    return 1 << max(1, chunk.bit_length() - 1)


async def _read_entries_pg(conn: AsyncConnection, low: int, high: int) -> list[Any]:
    driver = await asyncpg_connection(conn)
    return list(
        await driver.fetch(
            "SELECT idx, canonical, leaf_hash, event_id, event_type, source, subject, actor, "
            "(extract(epoch FROM event_time) * 1000000)::bigint, "
            "(extract(epoch FROM integrated_at) * 1000000)::bigint "
            "FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            low,
            high,
        )
    )


async def _read_entries_sql(conn: AsyncConnection, low: int, high: int) -> list[Any]:
    e = orm.entries.c
    rows = await conn.execute(
        sa.select(
            e.idx,
            e.canonical,
            e.leaf_hash,
            e.event_id,
            e.event_type,
            e.source,
            e.subject,
            e.actor,
            e.event_time,
            e.integrated_at,
        )
        .where(e.idx >= low, e.idx < high)
        .order_by(e.idx)
    )
    return [(*row[:8], micros(row[8]), micros(row[9])) for row in rows]


async def _read_nodes(conn: AsyncConnection, ranges: list[tuple[int, int, int]]) -> dict[int, bytes]:
    """Returns, per level, the concatenated stored hashes of the nodes in [low, high) of that level."""
    if not ranges:
        return {}
    if conn.dialect.name == "postgresql":
        driver = await asyncpg_connection(conn)
        # Because one aggregated bytea per level moves the nodes without a row object each.
        records = await driver.fetch(
            "SELECT w.level, string_agg(t.hash, ''::bytea ORDER BY t.idx) "
            "FROM unnest($1::smallint[], $2::bigint[], $3::bigint[]) AS w(level, lo, hi) "
            "JOIN tree_nodes t ON t.level = w.level AND t.idx >= w.lo AND t.idx < w.hi "
            "GROUP BY w.level",
            [r[0] for r in ranges],
            [r[1] for r in ranges],
            [r[2] for r in ranges],
        )
        return {record[0]: bytes(record[1]) for record in records}
    t = orm.tree_nodes.c
    found: dict[int, bytes] = {}
    for level, low, high in ranges:
        rows = await conn.execute(
            sa.select(t.hash).where(t.level == level, t.idx >= low, t.idx < high).order_by(t.idx)
        )
        found[level] = b"".join(bytes(row[0]) for row in rows)
    return found


class _Nodes:
    """Compares stored nodes with recomputed ones and names each altered node once.

    A node recomputed from altered leaves differs from its stored value, and so do its ancestors;
    only the lowest differing node of each such path is reported (its children agree, or it is a
    leaf), which is the one that was changed (or whose entry was).
    """

    def __init__(self) -> None:
        self.differing: set[tuple[int, int]] = set()
        self.problems: list[Problem] = []
        #: Entries already named for their own bytes: their leaf differs in the tree for that reason.
        self.bad_entries: set[int] = set()

    def compare(self, level: int, first: int, stored: bytes, computed: bytes) -> None:
        if stored == computed:
            return
        for offset in range(0, len(computed), _HASH):
            if stored[offset : offset + _HASH] == computed[offset : offset + _HASH]:
                continue
            index = first + offset // _HASH
            self.differing.add((level, index))
            below = {(level - 1, 2 * index), (level - 1, 2 * index + 1)} if level else set()
            if below & self.differing or (not level and index in self.bad_entries):
                continue
            what = (
                "is missing" if offset >= len(stored) else "differs from the one recomputed from the leaves"
            )
            self.problems.append(
                Problem(index << level, f"stored tree node (level {level}, index {index}) {what}")
            )


class _Roots:
    """Collects the recomputed nodes that the roots at the given tree sizes are made of."""

    def __init__(self, sizes: set[int]) -> None:
        self.wanted: set[tuple[int, int]] = set()
        self.found: dict[tuple[int, int], bytes] = {}

        def _record(level: int, index: int) -> bytes:
            self.wanted.add((level, index))
            return b"\x00" * _HASH

        for size in sizes:
            if size:
                merkle.root_hash(size, _record)

    def take(self, level: int, first: int, hashes: bytes) -> None:
        for wanted_level, index in self.wanted:
            offset = (index - first) * _HASH
            if wanted_level == level and 0 <= offset < len(hashes):
                self.found[(level, index)] = hashes[offset : offset + _HASH]

    def root(self, size: int) -> bytes | None:
        if size == 0:
            return merkle.EMPTY_ROOT
        try:
            return merkle.root_hash(size, lambda level, index: self.found[(level, index)])
        except KeyError:
            return None


async def verify_stored_log(
    conn: AsyncConnection,
    *,
    checkpoint: SignedCheckpoint | None,
    vkey: str,
    size: int,
    chunk: int,
    max_problems: int,
    executor: Executor | None,
) -> VerifyReport:
    """Recomputes the log from its canonical bytes and names what differs (see the module's docstring).

    `executor` runs the per-chunk hashing (None: in this process).
    """
    chunk = _aligned(chunk)
    top = chunk.bit_length() - 1  # The level of a full chunk's root.
    checkpoint_size = checkpoint.tree_size if checkpoint is not None else None
    problems: list[Problem] = []
    nodes = _Nodes()
    roots = _Roots({size} | ({checkpoint_size} if checkpoint_size else set()))
    tops: list[bytes] = []
    read = _read_entries_pg if conn.dialect.name == "postgresql" else _read_entries_sql
    loop = asyncio.get_running_loop()
    in_flight: collections.deque[tuple[Awaitable[ChunkOutcome], dict[int, bytes]]] = collections.deque()
    depth = 1 + (getattr(executor, "_max_workers", 1) if executor is not None else 0)

    def settle(outcome: ChunkOutcome, stored: dict[int, bytes]) -> None:
        problems.extend(Problem(index, text) for index, text in outcome.problems)
        nodes.bad_entries.update(index for index, _ in outcome.problems)
        for level, computed in enumerate(outcome.levels):
            first = outcome.low >> level
            nodes.compare(level, first, stored.get(level, b""), computed)
            roots.take(level, first, computed)
        if outcome.count == chunk and len(outcome.levels) > top:
            tops.append(outcome.levels[top])

    try:
        for low in range(0, size, chunk):
            rows = await read(conn, low, low + chunk)
            end = rows[-1][0] + 1 if rows else low
            stored = await _read_nodes(
                conn,
                [
                    (level, low >> level, end >> level)
                    for level in range(top + 1)
                    if end >> level > low >> level
                ],
            )
            columns = list(zip(*rows, strict=True)) if rows else [()] * 10
            served = dict(zip(_SERVED, columns[3:], strict=True))
            arguments = (low, columns[0], columns[1], columns[2], served, stored.get(0, b""))
            if executor is None:
                settle(check_chunk(*arguments), stored)
                continue
            in_flight.append((loop.run_in_executor(executor, check_chunk, *arguments), stored))
            while len(in_flight) >= depth:
                future, held = in_flight.popleft()
                settle(await future, held)
        while in_flight:
            future, held = in_flight.popleft()
            settle(await future, held)
    finally:
        for future, _ in in_flight:
            asyncio.ensure_future(future).cancel()

    # Because the chunks' roots make up every higher level: recompute those and check them too.
    above = merkle_levels_above(tops)
    stored_above = await _read_nodes(
        conn, [(top + n, 0, len(hashes) // _HASH) for n, hashes in enumerate(above) if n]
    )
    for n, computed in enumerate(above):
        if n:
            nodes.compare(top + n, 0, stored_above.get(top + n, b""), computed)
            roots.take(top + n, 0, computed)

    problems += nodes.problems
    root = roots.root(size) or merkle.EMPTY_ROOT
    if checkpoint is not None:
        problems += _checkpoint_problems(
            checkpoint, vkey=vkey, size=size, root=roots.root(checkpoint.tree_size)
        )
    problems.sort(key=lambda p: (p.index is None, p.index or 0))
    return VerifyReport(
        tree_size=size, root_hash=root, problems=problems[:max_problems], checkpoint_size=checkpoint_size
    )


def merkle_levels_above(tops: list[bytes]) -> list[bytes]:
    """Returns the levels built on full chunks' roots (index 0: the roots themselves), concatenated."""
    if not tops:
        return []
    return [b"".join(level) for level in subtree_levels(tops)]


def _checkpoint_problems(
    checkpoint: SignedCheckpoint, *, vkey: str, size: int, root: bytes | None
) -> list[Problem]:
    """Returns what is wrong with the latest checkpoint against the recomputed log."""
    problems: list[Problem] = []
    try:
        note = open_checkpoint(checkpoint.note, vkey=vkey)
        if note.size != checkpoint.tree_size or note.root_hash != checkpoint.root_hash:
            problems.append(Problem(None, "the checkpoint's note differs from its stored size or root"))
    except VerificationError as exc:
        problems.append(Problem(None, f"the latest checkpoint's signature does not verify: {exc}"))
    if checkpoint.tree_size > size:
        problems.append(Problem(size, f"checkpoint covers {checkpoint.tree_size} entries, log has {size}"))
    elif root != checkpoint.root_hash:
        problems.append(Problem(None, "recomputed root differs from the signed checkpoint"))
    return problems

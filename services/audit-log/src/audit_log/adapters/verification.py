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
from collections.abc import Awaitable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime
from json.encoder import encode_basestring_ascii as _string
from multiprocessing import get_context
from typing import Any

import sqlalchemy as sa
from shared.db import asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncConnection
from vigie_verify import merkle
from vigie_verify.checkpoint import open_checkpoint
from vigie_verify.entries import (
    ChunkOutcome,
    canonical_document,
    check_chunk,
    served_mismatches,
    subtree_levels,
)
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
    return [tuple(row) for row in rows]


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


def _ranges(low: int, end: int, top: int) -> list[tuple[int, int, int]]:
    """Returns (level, first, end) of the complete nodes over entries [low, end), levels 0..top."""
    return [(level, low >> level, end >> level) for level in range(top + 1) if end >> level > low >> level]


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def check_rows(low: int, rows: Sequence[Any], stored_leaves: bytes) -> ChunkOutcome:
    """Checks entry rows (idx, canonical, leaf_hash, event_id, event_type, source, subject, actor,
    event_time, integrated_at) from index `low` on, and hashes their subtrees (see `check_chunk`).

    A column agrees with the canonical bytes when the bytes are exactly what the writer encodes
    from the columns around the sealed event (one comparison per entry); otherwise the canonical
    JSON is parsed and the fields that differ are named.
    """
    isoformat: dict[datetime, str] = {}
    suspects: list[int] = []
    enc = _string
    for position, row in enumerate(rows):
        index, canonical, _, event_id, event_type, source, subject, actor, event_time, integrated_at = row
        integrated = isoformat.get(integrated_at)
        if integrated is None:
            integrated = isoformat[integrated_at] = integrated_at.isoformat()
        # Because this runs once per entry: `canonical_entry_text`'s encoding, spelled out around the
        # sealed event (a drift between the two would make every entry a suspect, and fail the tests).
        head = (
            f'{{"actor":{enc(actor)},"event_id":{enc(event_id)},"event_time":"{event_time.isoformat()}",'
            f'"event_type":{enc(event_type)},"index":{index},"integrated_at":"{integrated}","sealed_event":"'
        ).encode()
        tail = f'","source":{enc(source)},"subject":{enc(subject)}}}'.encode()
        if not (
            canonical.startswith(head)
            and canonical.endswith(tail)
            and not canonical[len(head) : len(canonical) - len(tail)].translate(None, _B64)
        ):
            suspects.append(position)
    flagged: list[tuple[int, str]] = []
    for position in suspects:
        # Because only the suspects need naming: their JSON is parsed and the differing fields named.
        row = rows[position]
        try:
            wrong = served_mismatches(
                canonical_document(row[1]),
                {"index": row[0], **{name: row[3 + n] for n, name in enumerate(_SERVED)}},
            )
        except ValueError:
            wrong = ["canonical"]
        if wrong:
            verb = "differs" if len(wrong) == 1 else "differ"
            flagged.append((row[0], f"{', '.join(wrong)} {verb} from the canonical bytes"))
        else:
            # A document that says the same as the columns in another spelling is not the writer's.
            flagged.append((row[0], "canonical bytes are not in the writer's encoding"))
    outcome = check_chunk(
        low, [row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows], None, stored_leaves
    )
    if flagged:
        merged: dict[int, list[str]] = {}
        for index, text in sorted(outcome.problems + flagged):
            merged.setdefault(index, []).append(text)
        outcome.problems = [(index, "; ".join(texts)) for index, texts in merged.items()]
    return outcome


_ENTRIES_SQL = (
    "SELECT idx, canonical, leaf_hash, event_id, event_type, source, subject, actor, event_time, "
    "integrated_at FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx"
)
_NODES_SQL = (
    "SELECT w.level, string_agg(t.hash, ''::bytea ORDER BY t.idx) "
    "FROM unnest($1::smallint[], $2::bigint[], $3::bigint[]) AS w(level, lo, hi) "
    "JOIN tree_nodes t ON t.level = w.level AND t.idx >= w.lo AND t.idx < w.hi "
    "GROUP BY w.level"
)


async def _pg_chunk(driver: Any, low: int, high: int, top: int) -> tuple[ChunkOutcome, dict[int, bytes]]:
    """Reads and checks the entries [low, high) and their stored nodes on an asyncpg connection."""
    # Because fetch is the fastest read that yields the values (bench B5, 200,000 entries): a binary
    # COPY of the same rows arrives with ~1.2 us of client CPU per row against ~3 us for fetch, but
    # decoding its rows in Python costs ~6 us (120,000 rows/s against 200,000); a cursor is no faster.
    rows = await driver.fetch(_ENTRIES_SQL, low, high)
    end = rows[-1][0] + 1 if rows else low
    ranges = _ranges(low, end, top)
    records = await driver.fetch(
        _NODES_SQL, [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]
    )
    stored = {record[0]: bytes(record[1]) for record in records}
    return check_rows(low, rows, stored.get(0, b"")), stored


_worker: dict[str, Any] = {}


def verify_chunk_in_worker(dsn: str, low: int, high: int, top: int) -> tuple[ChunkOutcome, dict[int, bytes]]:
    """Reads and checks one chunk on this worker process's own connection (kept between chunks).

    Sound to read apart from the caller's transaction: the rows below the tree size it verifies
    never change (append-only), and any that did would be reported.
    """
    import asyncpg

    loop = _worker.get("loop")
    if loop is None:
        loop = _worker["loop"] = asyncio.new_event_loop()

    async def _run() -> tuple[ChunkOutcome, dict[int, bytes]]:
        driver = _worker.get(dsn)
        if driver is None or driver.is_closed():
            driver = _worker[dsn] = await asyncpg.connect(dsn)
        return await _pg_chunk(driver, low, high, top)

    return loop.run_until_complete(_run())


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

    `executor` (PostgreSQL only) reads and checks chunks in worker processes, each on its own
    connection, while this process compares their nodes; None does everything here.
    """
    chunk = _aligned(chunk)
    top = chunk.bit_length() - 1  # The level of a full chunk's root.
    checkpoint_size = checkpoint.tree_size if checkpoint is not None else None
    problems: list[Problem] = []
    nodes = _Nodes()
    roots = _Roots({size} | ({checkpoint_size} if checkpoint_size else set()))
    tops: list[bytes] = []
    postgres = conn.dialect.name == "postgresql"

    def settle(outcome: ChunkOutcome, stored: dict[int, bytes]) -> None:
        problems.extend(Problem(index, text) for index, text in outcome.problems)
        nodes.bad_entries.update(index for index, _ in outcome.problems)
        for level, computed in enumerate(outcome.levels):
            first = outcome.low >> level
            nodes.compare(level, first, stored.get(level, b""), computed)
            roots.take(level, first, computed)
        if outcome.count == chunk and len(outcome.levels) > top:
            tops.append(outcome.levels[top])

    if executor is not None and postgres:
        dsn = conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        loop = asyncio.get_running_loop()
        depth = 2 * (getattr(executor, "_max_workers", 1) or 1)
        in_flight: collections.deque[Awaitable[tuple[ChunkOutcome, dict[int, bytes]]]] = collections.deque()
        try:
            for low in range(0, size, chunk):
                in_flight.append(
                    loop.run_in_executor(executor, verify_chunk_in_worker, dsn, low, low + chunk, top)
                )
                if len(in_flight) >= depth:
                    settle(*(await in_flight.popleft()))
            while in_flight:
                settle(*(await in_flight.popleft()))
        finally:
            for future in in_flight:
                asyncio.ensure_future(future).cancel()
    else:
        for low in range(0, size, chunk):
            if postgres:
                settle(*(await _pg_chunk(await asyncpg_connection(conn), low, low + chunk, top)))
                continue
            rows = await _read_entries_sql(conn, low, low + chunk)
            end = rows[-1][0] + 1 if rows else low
            stored = await _read_nodes(conn, _ranges(low, end, top))
            settle(check_rows(low, rows, stored.get(0, b"")), stored)

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

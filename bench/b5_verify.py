"""B5: full-log verification (the /v1/verify logic) against a bare bulk read of the same rows.

Since issue 17 item 5 verification also compares every query column with the canonical bytes and
every stored Merkle node with the recomputed one, so the baseline reads the same columns it reads
(the earlier three-column read is reported beside it).

One PostgreSQL log of `--entries` entries is built through the service's own append path and
checkpointed. Then, alternately, (a) the baseline reads every entry's (idx, canonical, leaf_hash)
with the driver, in the same chunks, and does nothing else; (b) `verify_log` reads the same rows plus
the level-0 tree nodes, recomputes every leaf hash, compares it with the stored leaf and node, checks
that indices run 0..n-1, folds the Merkle root and compares it with the signed checkpoint.
`python -m bench.b5_verify [--entries 200000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.b3_audit_append import make_events, migrated, service_for
from infra import local_postgres

ROOT = Path(__file__).resolve().parent.parent


async def build_log(admin: str, entries: int, *, batch: int = 2000) -> str:
    """Returns the URL of a fresh log holding `entries` entries and a checkpoint over all of them."""
    from audit_log.service_layer import commands, handlers

    url = await migrated(admin, "bench_log")
    service = service_for(url, "127.0.0.1:9")
    try:
        events = make_events(entries, max(1, entries // 20))
        for start in range(0, entries, batch):
            await handlers.integrate_events(
                commands.IntegrateEvents(
                    tuple(commands.ConsumedEvent(e, e.encode()) for e in events[start : start + batch])
                ),
                service.uow(),
            )
        await handlers.sign_checkpoint(commands.SignCheckpoint(), service.uow())
    finally:
        await service.runtime.engine.dispose()
    return url


#: What verification reads of each entry (every column it checks against the canonical bytes).
VERIFIED_COLUMNS = (
    "idx, canonical, leaf_hash, event_id, event_type, source, subject, actor, event_time, integrated_at"
)


async def bare_read(url: str, chunk: int, columns: str = VERIFIED_COLUMNS) -> tuple[float, int]:
    """Reads every entry's `columns` with the driver, in chunks, and nothing else; returns (seconds, rows)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        size = await conn.fetchval("SELECT max(idx) + 1 FROM entries")
        rows = 0
        for low in range(0, size, chunk):
            rows += len(
                await conn.fetch(
                    f"SELECT {columns} FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                    low,
                    low + chunk,
                )
            )
        return time.perf_counter() - started, rows
    finally:
        await conn.close()


async def full_verification(url: str, chunk: int) -> tuple[float, int]:
    """Runs the service's full verification; returns (seconds, entries verified)."""
    from audit_log.service_layer.handlers import verify_log

    service = service_for(url, "127.0.0.1:9")
    try:
        started = time.perf_counter()
        report = await verify_log(service.uow(), chunk=chunk)
        elapsed = time.perf_counter() - started
        if report.problems or report.checkpoint_size != report.tree_size:
            raise SystemExit(f"the benchmark log does not verify: {report.problems[:3]}")
        return elapsed, report.tree_size
    finally:
        await service.runtime.engine.dispose()


async def write_export(url: str, path: Path) -> tuple[str, str]:
    """Writes the log as the API's NDJSON export (same fields and format) and returns the latest
    checkpoint's note and the log's verifier key."""
    import asyncpg
    import orjson
    from audit_log.domain.model import StoredEntry
    from audit_log.entrypoints.schemas import export_fields

    service = service_for(url, "127.0.0.1:9")
    vkey = service.keys.vkey()
    await service.runtime.engine.dispose()
    conn = await asyncpg.connect(url)
    try:
        note = await conn.fetchval("SELECT note FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
        with path.open("wb") as out:
            async with conn.transaction():
                async for r in conn.cursor(
                    f"SELECT {VERIFIED_COLUMNS} FROM entries ORDER BY idx", prefetch=5000
                ):
                    entry = StoredEntry(
                        index=r[0],
                        event_id=r[3],
                        event_type=r[4],
                        source=r[5],
                        subject_pseudonym=r[6],
                        actor=r[7],
                        event_time=r[8],
                        integrated_at=r[9],
                        leaf_hash=bytes(r[2]),
                        canonical=bytes(r[1]),
                    )
                    out.write(orjson.dumps(export_fields(entry)) + b"\n")
    finally:
        await conn.close()
    return note, vkey


def export_verification(path: Path, note: str, vkey: str, workers: int | None) -> tuple[float, int]:
    """Runs `vigie-verify log`'s check of an export file; returns (seconds, entries)."""
    from vigie_verify.checkpoint import open_checkpoint
    from vigie_verify.export import verify_export

    checkpoint = open_checkpoint(note, vkey=vkey)
    started = time.perf_counter()
    with path.open("rb") as lines:
        report = verify_export(lines, checkpoint=checkpoint, workers=workers)
    return time.perf_counter() - started, report.checked


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    try:
        url = await build_log(admin, args.entries)
        await bare_read(url, args.chunk)  # Warms the buffer cache for both.
        await full_verification(url, args.chunk)  # Starts the verification workers, as a running service has.
        export = run / "export.ndjson"
        note, vkey = await write_export(url, export)
        rounds = []
        for _ in range(args.rounds):
            bare_s, bare_rows = await bare_read(url, args.chunk)
            narrow_s, narrow_rows = await bare_read(url, args.chunk, "idx, canonical, leaf_hash")
            ours_s, verified = await full_verification(url, args.chunk)
            cli_s, cli_entries = await asyncio.to_thread(export_verification, export, note, vkey, None)
            rounds.append(
                {
                    "verified_per_s": round(verified / ours_s),
                    "bare_read_per_s": round(bare_rows / bare_s),
                    "bare_read_3_columns_per_s": round(narrow_rows / narrow_s),
                    "vigie_verify_export_per_s": round(cli_entries / cli_s),
                    "loadavg": Path("/proc/loadavg").read_text().split()[0],
                }
            )
    finally:
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    ours = sum(r["verified_per_s"] for r in rounds) / len(rounds)
    bare = sum(r["bare_read_per_s"] for r in rounds) / len(rounds)
    narrow = sum(r["bare_read_3_columns_per_s"] for r in rounds) / len(rounds)
    cli = sum(r["vigie_verify_export_per_s"] for r in rounds) / len(rounds)
    return {
        "benchmark": "B5 full-log verification "
        "(leaf recompute, stored leaf and node check, gaps, root vs checkpoint)",
        "baseline": "bare chunked read of the same rows and columns verification reads "
        f"({VERIFIED_COLUMNS}) with asyncpg, nothing else",
        "entries": args.entries,
        "chunk": args.chunk,
        "rounds": rounds,
        "verified_per_s": round(ours),
        "bare_read_per_s": round(bare),
        "ratio": round(ours / bare, 3),
        "bare_read_3_columns_per_s": round(narrow),
        "ratio_vs_3_column_read": round(ours / narrow, 3),
        "vigie_verify_export_per_s": round(cli),
        "vigie_verify_export_note": "vigie-verify log on the same log exported as the API's NDJSON, "
        "one worker process per core",
        "targets": {"verified_per_s": ">= 300000", "ratio": ">= 0.65"},
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b5_verify")
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b5_verify.json"))
    args = parser.parse_args()
    report = asyncio.run(_bench(args, Path(tempfile.mkdtemp(prefix="vigie-b5-"))))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""B5: full-log verification (the /v1/verify logic) against the fastest bare reads of the same rows,
and `vigie-verify log` on the same log's NDJSON export, in the same run.

Since issue 17 item 5 verification also compares every query column with the canonical bytes and
every stored Merkle node with the recomputed one, so the baselines read the same columns it reads
(the earlier three-column read is reported beside them).

One PostgreSQL log of `--entries` entries is built through the service's own append path and
checkpointed, then exported as the API's NDJSON. Then, in each round: (a) the baselines read every
entry's verified columns in the same chunks and do nothing else, three ways: `fetch` (asyncpg's
decoded rows, the form verification reads), a binary `COPY (SELECT ...) TO STDOUT` received as bytes
and not decoded (the fastest transfer PostgreSQL offers), and a server-side cursor; (b) `verify_log`
reads the same rows plus the stored tree nodes in worker processes (one per core), recomputes every
leaf hash, compares it and every column with the stored ones, checks that indices run 0..n-1, folds
the Merkle root and compares it with the signed checkpoint; (c) the `vigie-verify log` command, run
as a user runs it (a fresh process, its own workers), checks the export against the checkpoint.
Each is timed with the CPU it used per entry: this process, the verification workers, the
PostgreSQL server (from /proc), and the command with its workers.
`python -m bench.b5_verify [--entries 200000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.b3_audit_append import (
    find_postmaster,
    make_events,
    migrated,
    postgres_cpu_seconds,
    proc_stat,
    service_for,
)
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


def _client_cpu(workers: list[int]) -> float:
    """Returns the CPU seconds used by this process, the live worker processes `workers` and the children
    this process waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(stat[1] for pid in workers if (stat := proc_stat(pid)) is not None)
    return time.process_time() + live + children.ru_utime + children.ru_stime


class _Cpu:
    """CPU seconds used since construction by this process, its worker processes and waited-for
    children, and the PostgreSQL server."""

    def __init__(self, workers: list[int] | None = None) -> None:
        self.workers = workers or []
        self.wall = time.perf_counter()
        self.start = (_client_cpu(self.workers), postgres_cpu_seconds())

    def per_entry(self, entries: int) -> dict[str, float]:
        """Returns the wall seconds and the CPU microseconds per entry since construction."""
        client = _client_cpu(self.workers)
        return {
            "seconds": time.perf_counter() - self.wall,
            "client_cpu_us": round((client - self.start[0]) / entries * 1e6, 2),
            "postgres_cpu_us": round((postgres_cpu_seconds() - self.start[1]) / entries * 1e6, 2),
        }


def _chunk_sql(columns: str, low: int, high: int) -> str:
    return f"SELECT {columns} FROM entries WHERE idx >= {int(low)} AND idx < {int(high)} ORDER BY idx"


async def bare_read(
    url: str, chunk: int, columns: str = VERIFIED_COLUMNS, how: str = "fetch"
) -> dict[str, Any]:
    """Reads every entry's `columns` in chunks and nothing else, `how`: "fetch" (decoded rows),
    "copy" (binary COPY received as bytes, not decoded) or "cursor" (one server-side cursor)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        size = await conn.fetchval("SELECT max(idx) + 1 FROM entries")
        cpu = _Cpu()
        rows = received = 0
        if how == "cursor":
            async with conn.transaction():
                async for _ in conn.cursor(f"SELECT {columns} FROM entries ORDER BY idx", prefetch=chunk):
                    rows += 1
        for low in range(0, size, chunk) if how != "cursor" else ():
            if how == "fetch":
                rows += len(
                    await conn.fetch(
                        f"SELECT {columns} FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                        low,
                        low + chunk,
                    )
                )
            else:
                parts: list[bytes] = []

                async def sink(data: bytes, parts: list[bytes] = parts) -> None:
                    parts.append(data)

                await conn.copy_from_query(
                    _chunk_sql(columns, low, low + chunk), output=sink, format="binary"
                )
                received += sum(map(len, parts))
                rows += min(chunk, size - low)
        return {"rows": rows, **cpu.per_entry(rows), **({"bytes": received} if how == "copy" else {})}
    finally:
        await conn.close()


async def full_verification(url: str, chunk: int) -> dict[str, Any]:
    """Runs the service's full verification; returns its entries, wall seconds and CPU per entry."""
    from audit_log.adapters.verification import worker_pool
    from audit_log.service_layer.handlers import verify_log

    service = service_for(url, "127.0.0.1:9")
    try:
        cpu = _Cpu(list(getattr(worker_pool(), "_processes", None) or {}))
        report = await verify_log(service.uow(), chunk=chunk)
        measured = cpu.per_entry(report.tree_size)
        if report.problems or report.checkpoint_size != report.tree_size:
            raise SystemExit(f"the benchmark log does not verify: {report.problems[:3]}")
        return {"entries": report.tree_size, **measured}
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


def export_verification(path: Path, checkpoint: Path, vkey: str, entries: int) -> dict[str, Any]:
    """Runs `vigie-verify log` on the export in a fresh process, as a user runs it; returns its wall
    seconds (interpreter start included) and its CPU per entry (its workers included)."""
    cpu = _Cpu()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigie_verify",
            "log",
            "--export",
            str(path),
            "--checkpoint",
            str(checkpoint),
            "--vkey",
            vkey,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    measured = cpu.per_entry(entries)
    if result.returncode != 0 or f"OK {entries} entries" not in result.stdout:
        raise SystemExit(f"vigie-verify log failed on the benchmark export: {result.stdout} {result.stderr}")
    return {"entries": entries, **measured}


def _rate(measured: dict[str, Any], count: str = "entries") -> int:
    return round(measured[count] / measured["seconds"])


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    load_start = Path("/proc/loadavg").read_text().split()[0]
    started = time.strftime("%H:%M", time.gmtime())
    try:
        await find_postmaster(admin)
        url = await build_log(admin, args.entries)
        await bare_read(url, args.chunk)  # Warms the buffer cache for all.
        await full_verification(url, args.chunk)  # Starts the verification workers, as a running service has.
        export = run / "export.ndjson"
        note, vkey = await write_export(url, export)
        checkpoint = run / "checkpoint.txt"
        checkpoint.write_text(note)
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            fetch = await bare_read(url, args.chunk)
            copy = await bare_read(url, args.chunk, how="copy")
            cursor = await bare_read(url, args.chunk, how="cursor")
            narrow = await bare_read(url, args.chunk, "idx, canonical, leaf_hash")
            ours = await full_verification(url, args.chunk)
            cli = await asyncio.to_thread(export_verification, export, checkpoint, vkey, args.entries)
            bare = {
                "fetch": _rate(fetch, "rows"),
                "copy_binary": _rate(copy, "rows"),
                "cursor": _rate(cursor, "rows"),
            }
            fastest = max(bare, key=lambda how: bare[how])
            rounds.append(
                {
                    "verified_per_s": _rate(ours),
                    "bare_read_per_s": bare,
                    "fastest_bare_read": fastest,
                    "ratio": round(_rate(ours) / bare[fastest], 3),
                    "ratio_vs_fetch": round(_rate(ours) / bare["fetch"], 3),
                    "bare_read_3_columns_per_s": _rate(narrow, "rows"),
                    "vigie_verify_log_per_s": _rate(cli),
                    "export_vs_service": round(_rate(cli) / _rate(ours), 3),
                    "cpu_us_per_entry": {
                        "verification": {k: v for k, v in ours.items() if k.endswith("_us")},
                        "vigie_verify_log": {"client_cpu_us": cli["client_cpu_us"]},
                        "bare_fetch": {k: v for k, v in fetch.items() if k.endswith("_us")},
                        "bare_copy_binary": {k: v for k, v in copy.items() if k.endswith("_us")},
                    },
                    "loadavg": Path("/proc/loadavg").read_text().split()[0],
                }
            )
    finally:
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
        shutil.rmtree(run, ignore_errors=True)  # The export: ~330 MB at 200,000 entries.

    def mean(pick: Any) -> float:
        return sum(pick(r) for r in rounds) / len(rounds)

    return {
        "benchmark": "B5 full-log verification "
        "(leaf recompute, stored leaf and node check, column check, gaps, root vs checkpoint), "
        "and vigie-verify log on the NDJSON export",
        "baseline": "bare chunked reads of the same rows and columns verification reads "
        f"({VERIFIED_COLUMNS}), nothing else: asyncpg fetch (what verification reads), binary COPY "
        "received as bytes (not decoded), a server-side cursor; the ratio is against the fastest "
        "of the three in the same round",
        "entries": args.entries,
        "chunk": args.chunk,
        "rounds": rounds,
        "verified_per_s": round(mean(lambda r: r["verified_per_s"])),
        "bare_read_per_s": {
            how: round(mean(lambda r, how=how: r["bare_read_per_s"][how]))
            for how in rounds[0]["bare_read_per_s"]
        },
        "ratio": round(mean(lambda r: r["ratio"]), 3),
        "ratio_vs_fetch": round(mean(lambda r: r["ratio_vs_fetch"]), 3),
        "bare_read_3_columns_per_s": round(mean(lambda r: r["bare_read_3_columns_per_s"])),
        "vigie_verify_log_per_s": round(mean(lambda r: r["vigie_verify_log_per_s"])),
        "export_vs_service": round(mean(lambda r: r["export_vs_service"]), 3),
        "vigie_verify_log_note": "python -m vigie_verify log on the same log exported as the API's NDJSON, "
        "a fresh process per round (interpreter start and its worker processes included, one per core)",
        "targets": {
            "verified_per_s": ">= 300000",
            "ratio": ">= 0.65",
            "export_vs_service": "~1 (same speed)",
        },
        "machine": machine(),
        "loadavg": f"{load_start} at start, {Path('/proc/loadavg').read_text().split()[0]} at end "
        f"({started}-{time.strftime('%H:%M', time.gmtime())} UTC); per round in rounds[].loadavg",
        "flags": f"--entries {args.entries} --rounds {args.rounds} --chunk {args.chunk}",
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

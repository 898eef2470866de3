"""B3: sustained audit-log append rate, durability on, against COPY of the same rows.

Three measurements in one run, each into a fresh PostgreSQL database (fsync and synchronous_commit
on): (1) the real consumer path — events produced to a Kafka topic beforehand, then drained by the
service's ConsumerLoop and batch handler (decode, dedupe, seal under per-subject keys, canonical
bytes, leaf hashes, Merkle nodes, one transaction per polled batch); (2) the store alone — the same
events handed to the same use case in groups of `--batch`; (3) the baseline — the entry rows the
store writes, written again with COPY (asyncpg copy_records_to_table, one transaction per batch).
Per round the order is baseline, store, baseline, consumer, baseline, store, baseline: each of ours
is compared with the mean of the baselines right before and right after it (the baseline alone moves
by 2x between minutes on a shared machine).
`python -m bench.b3_audit_append [--events 100000] [--batch 1000] [--subjects 5000]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import machine
from infra import local_kafka, local_postgres

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = (
    "idx",
    "event_id",
    "event_type",
    "source",
    "subject",
    "actor",
    "event_time",
    "integrated_at",
    "sealed_event",
    "canonical",
    "leaf_hash",
)


async def _create_db(admin: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


async def migrated(admin: str, prefix: str) -> str:
    """Returns the URL of a fresh audit-log database on the admin URL's server."""
    from shared.migrations import upgrade

    url = await _create_db(admin, f"{prefix}_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "audit-log", url)
    return url


def make_events(count: int, subjects: int) -> list[Any]:
    """Returns `count` events about `subjects` contacts, shaped like the services' real events."""
    from shared.events import EventEnvelope

    ids = [str(uuid.uuid4()) for _ in range(subjects)]
    return [
        EventEnvelope(
            source="/contacts",
            type="vigie.contacts.contact_updated.v1",
            subject=ids[n % subjects],
            actor="integrator/crm-sync",
            correlationid=str(uuid.uuid4()),
            data={"contact_id": ids[n % subjects], "changed": ["relationship", "tags"], "n": n},
        )
        for n in range(count)
    ]


def service_for(url: str, kafka: str) -> Any:
    """Returns the audit-log service wired to a database and a broker."""
    from audit_log.bootstrap import bootstrap
    from audit_log.settings import AuditLogSettings

    return bootstrap(
        AuditLogSettings(
            database_url=url,
            KAFKA_BOOTSTRAP_SERVERS=kafka,
            VIGIE_PROFILE="test",
            consumer_group=f"b3-{uuid.uuid4().hex[:6]}",
        )
    )


#: The PostgreSQL server's postmaster, when it runs on this machine (set by `_bench`).
_POSTMASTER: list[int] = []


def postgres_cpu_seconds() -> float:
    """Returns the CPU seconds the PostgreSQL server has used so far (its postmaster, its live
    processes and the ones that exited; 0.0 when the server is not local)."""
    server = 0.0
    if _POSTMASTER:
        postmaster = _POSTMASTER[0]
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or (stat := proc_stat(pid)) is None:
                continue
            parent, cpu = stat
            if int(pid) == postmaster or parent == postmaster:
                server += cpu
    return server


def proc_stat(pid: int | str) -> tuple[int, float] | None:
    """Returns a live process's parent pid and the CPU seconds it used (utime, stime, and the children's
    it waited for: a closed connection's backend, for the postmaster); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> tuple[float, float]:
    """Returns the CPU seconds used so far by this process and by the PostgreSQL server."""
    return time.process_time(), postgres_cpu_seconds()


async def find_postmaster(url: str) -> None:
    """Finds the local PostgreSQL server's postmaster, whose CPU `postgres_cpu_seconds` counts."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        directory = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    try:
        _POSTMASTER[:] = [int((Path(directory) / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        _POSTMASTER.clear()  # Because a server elsewhere (or unreadable) is simply not measured.


def _per_item(before: tuple[float, float], after: tuple[float, float], count: int) -> dict[str, float | None]:
    return {
        "client_cpu_us": round((after[0] - before[0]) / count * 1e6, 1),
        "postgres_cpu_us": round((after[1] - before[1]) / count * 1e6, 1) if _POSTMASTER else None,
    }


async def _durability(url: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("fsync", "synchronous_commit", "wal_sync_method")
        }
    finally:
        await conn.close()


#: CPU per entry of each store run, and per row of each baseline run, in order.
STORE_CPU: list[dict[str, float | None]] = []
COPY_CPU: list[dict[str, float | None]] = []


async def store_only(url: str, kafka: str, events: list[Any], batch: int) -> float:
    """Appends the events through the use case in groups of `batch`; returns the elapsed seconds (and
    keeps the CPU per entry in STORE_CPU)."""
    from audit_log.service_layer import commands, handlers

    service = service_for(url, kafka)
    consumed = [commands.ConsumedEvent(envelope, envelope.encode()) for envelope in events]
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        for start in range(0, len(consumed), batch):
            await handlers.integrate_events(
                commands.IntegrateEvents(tuple(consumed[start : start + batch])), service.uow()
            )
        elapsed = time.perf_counter() - started
        STORE_CPU.append(_per_item(cpu, cpu_seconds(), len(consumed)))
        return elapsed
    finally:
        await service.runtime.engine.dispose()


async def plain_copy(source_url: str, target_url: str, batch: int) -> tuple[float, int]:
    """Copies the entry rows `source_url` holds into `target_url` with COPY (asyncpg
    copy_records_to_table), one transaction per batch; returns (seconds, rows)."""
    import asyncpg

    source = await asyncpg.connect(source_url)
    rows = [tuple(r) for r in await source.fetch(f"SELECT {', '.join(COLUMNS)} FROM entries ORDER BY idx")]
    await source.close()
    target = await asyncpg.connect(target_url)
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        for start in range(0, len(rows), batch):
            async with target.transaction():
                await target.copy_records_to_table(
                    "entries", columns=list(COLUMNS), records=rows[start : start + batch]
                )
        elapsed = time.perf_counter() - started
        COPY_CPU.append(_per_item(cpu, cpu_seconds(), len(rows)))
        return elapsed, len(rows)
    finally:
        await target.close()


async def copy_rate(admin: str, source_url: str, batch: int) -> float:
    """Returns the baseline's rows/s: the entry rows of `source_url` COPYed into a fresh database."""
    seconds, rows = await plain_copy(source_url, await migrated(admin, "b3_bare"), batch)
    return rows / seconds


async def through_kafka(url: str, kafka: str, events: list[Any]) -> dict[str, Any]:
    """Produces the events to a fresh topic, then times the service's consumer draining it into the log."""
    from aiokafka import AIOKafkaProducer
    from audit_log.entrypoints.consumer import batch_handler
    from shared.kafka import ConsumerLoop, ensure_topics

    topic = f"bench.b3.{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka, [topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for envelope in events:
            await producer.send(topic, envelope.encode(), key=envelope.subject.encode())
        await producer.flush()
    finally:
        await producer.stop()
    produced_in = time.perf_counter() - started
    service = service_for(url, kafka)
    await service.runtime.publisher.start()
    handler = batch_handler(service)

    loop = ConsumerLoop(
        bootstrap_servers=kafka,
        topics=[topic],
        group_id=service.settings.consumer_group,
        handle_batch=handler,
        publisher=service.runtime.publisher,
        # Because the service polls up to a group commit's worth of records (audit_log.entrypoints.consumer).
        max_records=service.settings.consumer_batch_records,
    )
    task = asyncio.create_task(loop.run())
    try:
        while service.tree_size == 0:
            await asyncio.sleep(0.001)
        # Because the clock starts at the first commit: group join and the first fetch are not appends.
        first_at, first_size, cpu = time.perf_counter(), service.tree_size, cpu_seconds()
        while service.tree_size < len(events):
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - first_at
        used = _per_item(cpu, cpu_seconds(), len(events) - first_size)
    finally:
        loop.stop()
        await task
        await service.runtime.publisher.stop()
        await service.runtime.engine.dispose()
    return {
        "seconds": elapsed,
        "appended": len(events) - first_size,
        "produce_seconds": produced_in,
        "cpu": used,
    }


def loadavg() -> list[float]:
    """Returns the machine's 1, 5 and 15-minute load averages (other work shares its cores)."""
    return [float(value) for value in Path("/proc/loadavg").read_text().split()[:3]]


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    load_at_start = loadavg()
    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    try:
        events = make_events(args.events, args.subjects)
        await find_postmaster(admin)
        warm = await migrated(admin, "b3_warm")
        await store_only(warm, kafka, make_events(2000, 200), args.batch)
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            STORE_CPU.clear()
            COPY_CPU.clear()
            # Because the COPY baseline alone moves by 2x between minutes on a shared machine, it is
            # measured right before and right after each of ours (fresh databases each time).
            # The baseline's rows: the entry rows the store writes (not timed here).
            rows_url = await migrated(admin, "b3_rows")
            await store_only(rows_url, kafka, events, args.batch)
            copies = [await copy_rate(admin, rows_url, args.batch)]
            store_first = len(events) / await store_only(
                await migrated(admin, "b3_store"), kafka, events, args.batch
            )
            copies.append(await copy_rate(admin, rows_url, args.batch))
            consumed = await through_kafka(await migrated(admin, "b3_kafka"), kafka, events)
            copies.append(await copy_rate(admin, rows_url, args.batch))
            store_again = len(events) / await store_only(
                await migrated(admin, "b3_store"), kafka, events, args.batch
            )
            copies.append(await copy_rate(admin, rows_url, args.batch))
            consumer = consumed["appended"] / consumed["seconds"]
            rounds.append(
                {
                    "store_appends_per_s": round((store_first + store_again) / 2),
                    "store_runs_per_s": [round(store_first), round(store_again)],
                    "copy_rows_per_s": round(sum(copies) / len(copies)),
                    "copy_runs_per_s": [round(c) for c in copies],
                    "consumer_appends_per_s": round(consumer),
                    # Each against the mean of the baselines taken right before and right after it.
                    "consumer_ratio": round(consumer / ((copies[1] + copies[2]) / 2), 3),
                    "store_ratio": round(
                        (
                            store_first / ((copies[0] + copies[1]) / 2)
                            + store_again / ((copies[2] + copies[3]) / 2)
                        )
                        / 2,
                        3,
                    ),
                    "produce_per_s": round(len(events) / consumed["produce_seconds"]),
                    # CPU per entry (per row for the baseline): the benchmark's process (the writer;
                    # the baseline's client) and the PostgreSQL server, over the timed intervals.
                    "cpu_us_per_entry": {
                        "consumer": consumed["cpu"],
                        "store": STORE_CPU[1:],
                        "copy": COPY_CPU[:],
                    },
                }
            )
        durability = await _durability(admin)
        load_at_end = loadavg()
    finally:
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")

    def mean(key: str) -> float:
        return float(sum(r[key] for r in rounds) / len(rounds))

    store, bare, consumer = (
        mean("store_appends_per_s"),
        mean("copy_rows_per_s"),
        mean("consumer_appends_per_s"),
    )
    return {
        "benchmark": "B3 audit-log sustained append rate "
        "(seal, canonical bytes, leaf + Merkle nodes, durable)",
        "baseline": "COPY of the same entry rows "
        "(asyncpg copy_records_to_table, one transaction per batch, durable commits)",
        "events": args.events,
        "subjects": args.subjects,
        "batch": args.batch,
        "rounds": rounds,
        "consumer_appends_per_s": round(consumer),
        "store_appends_per_s": round(store),
        "copy_rows_per_s": round(bare),
        "consumer_ratio": round(mean("consumer_ratio"), 3),
        "store_ratio": round(mean("store_ratio"), 3),
        "targets": {"appends_per_s": ">= 20000", "ratio": ">= 0.75"},
        "durability": durability,
        "loadavg": {"start": load_at_start, "end": load_at_end},
        "flags": f"--events {args.events} --batch {args.batch} --subjects {args.subjects} "
        f"--rounds {args.rounds}",
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b3_audit_append")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b3_audit_append.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="vigie-b3-"))
    try:
        report = asyncio.run(_bench(args, run))
    finally:
        # Because each run leaves its broker's log (~24 MB) behind otherwise.
        shutil.rmtree(run, ignore_errors=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

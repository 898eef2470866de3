"""B7: campaign-gate projection ingest, durability on, against a bare consume + COPY of the same records;
and how long a 100,000-row contacts import leaves the gate stale.

Part 1, ingest. N contacts' and consent's events, made by the producers' own code (contacts' `Contact`
and consent's `Purpose`/`Consent` aggregates, mapped by each service's `adapters.outgoing`), are
produced to `contacts.events` and `consent.events` on a real Kafka (key = subject, as the outbox relay
does). Ours: the gate's real consumer (`shared.kafka.ConsumerLoop` with `campaign_gate.entrypoints.
consumer.batch_handler`: decode, check, inbox, in-memory apply, one multi-row upsert per table and the
offsets, one transaction per polled batch) drains them into a fresh migrated PostgreSQL database.
Baseline, same run, same records: a bare aiokafka consumer reading the same partitions and COPYing
(asyncpg `copy_records_to_table`) each record's topic, partition, offset, key and value into a table,
one transaction per polled batch of the same size. Both durable (fsync, synchronous_commit on).

Part 2, stale after an import. The contacts service (uvicorn, relay on) and the gate (uvicorn,
projection consumer on) run on the same Kafka and PostgreSQL; one `POST /v1/contacts:import` of
`--import-rows` rows; from the moment it returns, the gate's own freshness check (`KafkaFreshness`,
the one checks use, with the gate's bound) is polled every 50 ms: seconds until it is no longer
stale, and until the projection has applied every record (lag 0).

`python -m bench.b7_projection_ingest [--events 100000] [--import-rows 100000] [--rounds 1]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import machine

ROOT = Path(__file__).resolve().parent.parent
BLIND_KEY = "bench-blind-index-key-0123456789abcdef"
#: CPython's default collector thresholds (the `plain` round's).
DEFAULT_GC_THRESHOLDS = (700, 10, 10)
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"


# --- Events, made by the producers' own code -----------------------------------------------------


def make_events(count: int) -> list[tuple[str, Any]]:
    """Returns (topic, envelope) pairs in publication order: a purpose, then per contact its creation,
    every second one an update, a consent (request and grant, double opt-in), every fifth a withdrawal;
    until `count` events."""
    from consent.adapters import outgoing as consent_outgoing
    from consent.domain.model import (
        Channel,
        CollectionMethod,
        Consent,
        ConsentAct,
        ConsentProof,
        ConsentTerms,
        GivenBy,
        LawfulBasis,
        Party,
        Purpose,
        TermsEntered,
    )
    from contacts.adapters import outgoing as contacts_outgoing
    from contacts.adapters.protection import PersonalDataVault
    from contacts.domain.model import Contact, Kind, Origin, PersonalData, Relationship
    from shared.blind_index import BlindIndexer
    from shared.envelope_crypto import KeyRing

    vault = PersonalDataVault(
        key_ring=KeyRing({"bench": os.urandom(32)}, "bench"), indexer=BlindIndexer(BLIND_KEY.encode())
    )
    wording = (
        "J'accepte de recevoir les offres d'Acme par e-mail. Je peux retirer mon consentement à tout moment."
    )
    out: list[tuple[str, Any]] = []

    def publish(mapping: Any, aggregate: Any, actor: str) -> None:
        out.extend(mapping.to_envelope(e, actor=actor, correlation_id=None) for e in aggregate.events)
        aggregate.events.clear()

    now = datetime.now(UTC)
    purpose = Purpose.register(
        at=now - timedelta(days=60),
        lawful_basis=LawfulBasis.CONSENT,
        name="Newsletter",
        controller=Party(name="Acme SAS", contact="1 rue de la Paix, 75002 Paris; privacy@acme.example"),
        description="Envoyer des offres commerciales aux prospects et clients",
        data_subjects=("prospects", "clients"),
        retention={"prospects": "3 ans après le dernier contact"},
    )
    publish(consent_outgoing, purpose, "consent/api")
    terms = ConsentTerms.derive(
        TermsEntered(act=ConsentAct.TICKED_BOX, given_by=(GivenBy.DATA_SUBJECT,)),
        wording=wording,
        notice_states_withdrawal=False,
    )
    n = 0
    while len(out) < count:
        at = now - timedelta(days=1, seconds=count - n)
        personal = PersonalData(email=f"person.{n}@example.org")
        contact = Contact.create(
            kind=Kind.CONSUMER,
            relationship=Relationship.PROSPECT,
            personal=personal,
            indexes=vault.indexes_for(personal),
            origin=Origin(collected_from_person=True, source="web_form"),
            obtained_at=at,
            at=at,
        )
        if n % 2 == 0:
            contact.update(changes={"profession": "Boulanger"}, at=at)
        publish(contacts_outgoing, contact, "contacts/api")
        consent = Consent.grant(
            contact_id=contact.id,
            purpose_id=purpose.purpose_id,
            purpose=purpose,
            channel=Channel.EMAIL,
            at=at,
            collection_method=CollectionMethod.WEB_FORM,
            wording=wording,
            proof=ConsentProof(
                captured_at=at,
                source="https://acme.example/form#v3",
                ip="203.0.113.0",
                user_agent="Mozilla/5.0",
            ),
            notice_id=None,
            notice_version=None,
            double_opt_in=None,
            terms=terms,
        )
        if consent.double_opt_in:
            consent.confirm(at + timedelta(minutes=1))
        if n % 5 == 0:
            consent.withdraw(at + timedelta(minutes=2), source="unsubscribe_link")
        publish(consent_outgoing, consent, "consent/api")
        n += 1
    return out[:count]


async def produce(kafka: str, events: list[tuple[str, Any]]) -> float:
    """Produces the events (key = subject, as the relay does); returns the seconds it took."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for topic, envelope in events:
            await producer.send(topic, envelope.encode(), key=envelope.subject.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


# --- Part 1: ingest ---------------------------------------------------------------------------------


async def _create_db(admin: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


async def migrated(admin: str, prefix: str) -> str:
    """Returns the URL of a fresh campaign-gate database on the admin URL's server."""
    from shared.migrations import upgrade

    url = await _create_db(admin, f"{prefix}_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "campaign-gate", url)
    return url


def _settings(url: str, kafka: str, **extra: Any) -> Any:
    from campaign_gate.settings import CampaignGateSettings

    return CampaignGateSettings(
        database_url=url,
        consumer_group=f"b7-{uuid.uuid4().hex[:8]}",
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        VIGIE_PROFILE="test",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        VIGIE_JWT_SECRET=JWT_SECRET,
        **extra,
    )


async def _end_offsets(kafka: str, topics: list[str]) -> dict[Any, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    client = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await client.start()
    try:
        await client._client.force_metadata_update()  # noqa: SLF001 - topics created after start
        partitions = [TopicPartition(t, p) for t in topics for p in client.partitions_for_topic(t) or ()]
        return dict(await client.end_offsets(partitions))
    finally:
        await client.stop()


class _GcClock:
    """Counts CPython's garbage collections and the time they take, per generation, while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


async def ours(
    url: str, kafka: str, total: int, *, profile: Path | None = None, plain: bool = False
) -> dict[str, float]:
    """Times the gate's real projection consumer draining the topics into its database (with `profile`,
    under cProfile, its stats written there: slower, for finding where the CPU goes, not for figures).

    `plain`: as the loop ran before it worked ahead (the handler called with each batch whole, decoding
    it in its turn) and with the collector's default thresholds: the same run's before.
    """
    from campaign_gate import contracts
    from campaign_gate.bootstrap import bootstrap
    from campaign_gate.entrypoints.consumer import BATCH_RECORDS, batch_handler
    from shared.kafka import ConsumerLoop, Refused

    from shared import kafka as shared_kafka

    service = bootstrap(_settings(url, kafka))
    await service.runtime.publisher.start()
    handler = batch_handler(service)
    if plain:

        async def whole(records: list[Any]) -> Refused:
            return await handler(records)

        gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
    else:
        shared_kafka._gc_tuned = False  # noqa: SLF001 - a round after a plain one tunes again
    loop = ConsumerLoop(
        bootstrap_servers=kafka,
        topics=list(contracts.CONSUMED_TOPICS),
        group_id=service.settings.consumer_group,
        handle_batch=whole if plain else handler,
        publisher=service.runtime.publisher,
        max_records=BATCH_RECORDS,
        tune_gc=not plain,
    )
    task = asyncio.create_task(loop.run())
    try:
        while loop.stats.handled == 0:
            await asyncio.sleep(0.001)
        # Because the clock starts at the first commit: group join and the first fetch are not ingest.
        first_at, first, cpu = time.perf_counter(), loop.stats.handled, time.process_time()
        profiler = cProfile.Profile() if profile is not None else None
        if profiler is not None:
            profiler.enable()
        with _GcClock() as collector:
            while loop.stats.handled + loop.stats.dead_lettered < total:
                await asyncio.sleep(0.002)
        elapsed, cpu = time.perf_counter() - first_at, time.process_time() - cpu
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        offsets = await service.consumed_offsets()
    finally:
        loop.stop()
        await task
        await service.runtime.publisher.stop()
        await service.runtime.engine.dispose()
    return {
        "seconds": elapsed,
        "records": total - first,
        "cpu_seconds": cpu,
        "gc_seconds": collector.seconds,
        "gc_collections": collector.collections,
        "gc_threshold": list(gc.get_threshold()),
        "offsets_recorded": sum(offsets.values()),
    }


async def bare_copy(url: str, kafka: str, topics: list[str], total: int, batch: int) -> dict[str, float]:
    """Times a bare consumer reading the same records and COPYing them raw into a table."""
    import asyncpg
    from aiokafka import AIOKafkaConsumer

    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE raw_records (topic text, part int, off bigint, key bytea, value bytea,"
        " PRIMARY KEY (topic, part, off))"
    )
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka,
        group_id=f"b7-bare-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    copied, first_at, first, cpu = 0, None, 0, 0.0
    try:
        while copied < total:
            batches = await consumer.getmany(timeout_ms=200, max_records=batch)
            records = [
                (r.topic, r.partition, r.offset, r.key, r.value) for rs in batches.values() for r in rs
            ]
            if not records:
                continue
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "raw_records", records=records, columns=["topic", "part", "off", "key", "value"]
                )
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            if first_at is None:
                first_at, first, cpu = time.perf_counter(), len(records), time.process_time()
            copied += len(records)
        elapsed = time.perf_counter() - (first_at or time.perf_counter())
        cpu = time.process_time() - cpu
    finally:
        await consumer.stop()
        await conn.close()
    return {"seconds": elapsed, "records": copied - first, "cpu_seconds": cpu}


def cpu_breakdown(events: list[tuple[str, Any]]) -> dict[str, float]:
    """Returns the CPU microseconds per event of the consumer's pure-Python steps, measured alone."""
    from campaign_gate.service_layer.handlers import projection_change
    from shared.events import EventEnvelope

    raw = [envelope.encode() for _topic, envelope in events]
    started = time.process_time()
    decoded = [EventEnvelope.decode(value) for value in raw]
    decode = time.process_time() - started
    started = time.process_time()
    for envelope in decoded:
        projection_change(envelope)
    parse = time.process_time() - started
    return {
        "decode_envelope": round(decode / len(raw) * 1e6, 1),
        "projection_change": round(parse / len(raw) * 1e6, 1),
    }


async def _durability(url: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
    finally:
        await conn.close()


async def ingest(
    admin: str,
    kafka: str,
    count: int,
    rounds: int,
    *,
    profile: Path | None = None,
    plain_too: bool = False,
) -> dict[str, Any]:
    """Part 1: produces the events once, then per round drains them with ours and with the baseline."""
    from campaign_gate import contracts
    from campaign_gate.entrypoints.consumer import BATCH_RECORDS
    from shared.kafka import ensure_topics

    topics = list(contracts.CONSUMED_TOPICS)
    await ensure_topics(kafka, topics)
    before = sum((await _end_offsets(kafka, topics)).values())
    made_at = time.perf_counter()
    events = make_events(count)
    made_s = time.perf_counter() - made_at
    produce_s = await produce(kafka, events)
    breakdown = cpu_breakdown(events)
    # Because the 100,000 events made here would stay on this process's heap while the consumer runs in
    # it, and every full garbage collection would walk them: a gate process holds no such heap.
    del events
    gc.collect()
    gc.freeze()
    total = sum((await _end_offsets(kafka, topics)).values())
    assert total - before >= count, (total, before, count)
    out: list[dict[str, Any]] = []
    for _ in range(rounds):
        ours_url, bare_url = (
            await migrated(admin, "b7_gate"),
            await _create_db(admin, f"b7_bare_{uuid.uuid4().hex[:6]}"),
        )
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        before_change = None
        if plain_too:
            before_change = await ours(await migrated(admin, "b7_plain"), kafka, total, plain=True)
        mine = await ours(ours_url, kafka, total, profile=profile)
        bare = await bare_copy(bare_url, kafka, topics, total, BATCH_RECORDS)
        out.append(
            {
                **(
                    {
                        "plain_events_per_s": round(before_change["records"] / before_change["seconds"]),
                        "plain_cpu_us_per_event": round(
                            before_change["cpu_seconds"] / max(before_change["records"], 1) * 1e6, 1
                        ),
                        "plain_gc_us_per_event": round(
                            before_change["gc_seconds"] / max(before_change["records"], 1) * 1e6, 1
                        ),
                        "plain_gc_collections": before_change["gc_collections"],
                    }
                    if before_change is not None
                    else {}
                ),
                "ours_events_per_s": round(mine["records"] / mine["seconds"]),
                "ours_gc_us_per_event": round(mine["gc_seconds"] / max(mine["records"], 1) * 1e6, 1),
                "ours_gc_collections": mine["gc_collections"],
                "ours_gc_threshold": mine["gc_threshold"],
                "baseline_records_per_s": round(bare["records"] / bare["seconds"]),
                "ours_seconds": round(mine["seconds"], 2),
                "baseline_seconds": round(bare["seconds"], 2),
                "ours_cpu_us_per_event": round(mine["cpu_seconds"] / max(mine["records"], 1) * 1e6, 1),
                "baseline_cpu_us_per_record": round(bare["cpu_seconds"] / max(bare["records"], 1) * 1e6, 1),
                "offsets_recorded": mine["offsets_recorded"],
                "loadavg_before": load_before,
                "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    ours_rate = sum(r["ours_events_per_s"] for r in out) / len(out)
    bare_rate = sum(r["baseline_records_per_s"] for r in out) / len(out)
    return {
        "events": count,
        "records_on_topics": total,
        "make_events_seconds": round(made_s, 2),
        "produce_seconds": round(produce_s, 2),
        "batch_records": BATCH_RECORDS,
        "cpu_us_per_event": breakdown,
        "rounds": out,
        "ours_events_per_s": round(ours_rate),
        "baseline_records_per_s": round(bare_rate),
        "ratio": round(ours_rate / bare_rate, 3),
        "durability": await _durability(admin),
    }


# --- Part 2: how long an import leaves the gate stale ------------------------------------------------


async def _offsets_reader(url: str) -> Any:
    from campaign_gate.adapters.projection import ProjectionRepository
    from shared.db import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine)

    async def consumed() -> dict[tuple[str, int], int]:
        async with sessions() as session:
            return await ProjectionRepository(session).offsets()

    return engine, consumed


async def stale_after_import(admin: str, kafka: str, rows: int, run: Path) -> dict[str, Any]:
    """Part 2: imports `rows` contacts through the contacts service while the gate projects them."""
    import httpx
    from campaign_gate import contracts
    from campaign_gate.adapters.freshness import KafkaFreshness
    from shared.kafka import ensure_topics
    from shared.migrations import upgrade

    from bench.b6_http_write import _start
    from bench.b_contacts_import import BATCH, _wait_published, import_request, make_rows
    from infra._proc import free_port, stop_pid, wait_for_port

    topics = list(contracts.CONSUMED_TOPICS)
    await ensure_topics(kafka, topics)
    contacts_url = await _create_db(admin, f"b7_contacts_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", contacts_url)
    gate_url = await migrated(admin, "b7_gate_import")
    bound = 5.0
    common = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "VIGIE_JWT_SECRET": JWT_SECRET,
        "VIGIE_BLIND_INDEX_KEY": BLIND_KEY,
        "VIGIE_LOG_LEVEL": "WARNING",
    }
    contacts_env = {
        **common,
        "CONTACTS_DATABASE_URL": contacts_url,
        "CONTACTS_IMPORT_BATCH_ROWS": str(BATCH),
        "CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
    }
    gate_env = {
        **common,
        "CAMPAIGN_GATE_DATABASE_URL": gate_url,
        "CAMPAIGN_GATE_CONSUMER_GROUP": f"b7-import-{uuid.uuid4().hex[:6]}",
        "CAMPAIGN_GATE_MAX_PROJECTION_LAG_SECONDS": str(bound),
    }
    contacts_port, gate_port = free_port(), free_port()
    contacts_pid = _start(
        ["contacts.main:app", "--factory", "--port", str(contacts_port)], contacts_env, run, "contacts"
    )
    gate_pid = _start(
        ["campaign_gate.main:app", "--factory", "--port", str(gate_port)], gate_env, run, "gate"
    )
    engine, consumed = await _offsets_reader(gate_url)
    freshness = KafkaFreshness(bootstrap_servers=kafka, topics=topics, bound_seconds=bound, consumed=consumed)
    _known, import_rows = make_rows(rows, existing=0)
    body, headers = import_request(import_rows, secret=JWT_SECRET)
    samples: list[tuple[float, bool, int]] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            state = await freshness.check()
            samples.append((time.perf_counter(), state.stale, sum(state.lag.values())))
            await asyncio.sleep(0.05)

    try:
        wait_for_port(contacts_port, timeout=60, log=run / "contacts.log")
        wait_for_port(gate_port, timeout=60, log=run / "gate.log")
        before = sum((await _end_offsets(kafka, topics)).values())
        while sum((await consumed()).values()) < before:  # the gate has applied what came before
            await asyncio.sleep(0.2)
        sampler = asyncio.create_task(sample())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{contacts_port}", timeout=3600) as client:
            started = time.perf_counter()
            response = await client.post("/v1/contacts:import", content=body, headers=headers)
            returned = time.perf_counter()
        assert response.status_code == 200, response.text[:500]
        created = response.json()["created"]
        published_s = await _wait_published(contacts_url, started, expected=created)
        total = sum((await _end_offsets(kafka, topics)).values())
        while sum((await consumed()).values()) < total:
            await asyncio.sleep(0.02)
        applied = time.perf_counter()
        await asyncio.sleep(0.5)
        sampling = False
        await sampler
    finally:
        sampling = False
        stop_pid(contacts_pid)
        stop_pid(gate_pid)
        # Because a reader stopped mid-fetch may raise its fetch's cancellation: not the bench's error.
        with contextlib.suppress(BaseException):
            await freshness.close()
        await engine.dispose()
    stale_after = [t for t, stale, _lag in samples if stale and t >= returned]
    stale_during = [t for t, stale, _lag in samples if stale]
    return {
        "rows": rows,
        "created": created,
        "records_published": total - before,
        "bound_seconds": bound,
        "import_seconds": round(returned - started, 2),
        "all_events_published_after_start_s": round(published_s, 2) if published_s is not None else None,
        "all_applied_after_import_returned_s": round(applied - returned, 2),
        "stale_after_import_returned_s": round(max(stale_after) - returned, 2) if stale_after else 0.0,
        "stale_samples_during_import": len([t for t in stale_during if t < returned]),
        "samples": len(samples),
        "max_lag_records": max((lag for _t, _s, lag in samples), default=0),
    }


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    from infra import local_kafka, local_postgres

    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    try:
        profile = Path(args.profile) if args.profile else None
        first = await ingest(
            admin, kafka, args.events, args.rounds, profile=profile, plain_too=args.plain_too
        )
        second = await stale_after_import(admin, kafka, args.import_rows, run) if args.import_rows else None
    finally:
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    return {
        "benchmark": "B7 campaign-gate projection ingest (decode, check, inbox, apply, one upsert per table "
        "and the offsets per polled batch, durable) and the stale window after a contacts import",
        "baseline": "bare aiokafka consumer of the same records, COPY (asyncpg copy_records_to_table) of "
        "topic, partition, offset, key and value, one transaction per polled batch of the same size",
        "ingest": first,
        "import": second,
        "targets": {"events_per_s": ">= 20000", "ratio": ">= 0.5", "stale_after_import_s": "<= 5"},
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b7_projection_ingest")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b7_projection_ingest.json"))
    parser.add_argument(
        "--plain-too",
        action="store_true",
        help="each round also drains the records with the loop as it was (whole batches, no decoding "
        "ahead, default collector thresholds), before ours: the same run's before and after",
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="run the gate's consumer under cProfile, its stats written to PATH (figures not comparable)",
    )
    args = parser.parse_args()
    report = asyncio.run(_bench(args, Path(tempfile.mkdtemp(prefix="vigie-b7-"))))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

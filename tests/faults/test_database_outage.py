"""Fault injection: PostgreSQL stops for 10 s while the audit log and the gate's projection ingest.

Both consumers write to a PostgreSQL cluster of the test's own, which is stopped (`pg_ctl -m fast`:
every connection cut) under a steady stream of contacts and consent events and started again 10 s
later. Nothing may be lost or dead-lettered: every event is applied exactly once once the stream is
done, the audit log's indices have no gap, and the same processes recover with no restart; readiness
says `consumers` failed while they could not apply, and ok after.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from audit_log.adapters import orm as audit_orm
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.adapters import orm as gate_orm
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from shared.db import make_engine
from shared.kafka import dead_letter_topic
from shared.logging import RepeatLimitFilter
from shared.testing.harness import common_settings, migrated_database, running

from tests.faults.conftest import OwnPostgres, headers_of, read_topic, readiness
from tests.producers import Upstream, now

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
OUTAGE_SECONDS = 10.0
STUCK_SECONDS = 3.0


async def test_postgres_stopped_for_10s_under_ingestion_loses_nothing_and_dead_letters_nothing(
    faults_kafka: str, own_postgres: OwnPostgres
) -> None:
    common = common_settings(faults_kafka)
    audit_settings = AuditLogSettings(
        database_url=await migrated_database(own_postgres.url, "audit-log"),
        consumer_group=f"faults-audit-{uuid.uuid4().hex[:8]}",
        checkpoint_every_seconds=0.5,
        consumer_batch_records=200,
        consumer_stuck_seconds=STUCK_SECONDS,
        **common,
    )
    gate_settings = CampaignGateSettings(
        database_url=await migrated_database(own_postgres.url, "campaign-gate"),
        consumer_group=f"faults-gate-{uuid.uuid4().hex[:8]}",
        consumer_stuck_seconds=STUCK_SECONDS,
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common,
    )
    contacts: list[str] = []
    stop_writing = asyncio.Event()
    readiness_seen: list[tuple[float, dict[str, str], dict[str, str]]] = []

    async with (
        Upstream(faults_kafka, blind_index_key=BLIND_KEY) as upstream,
        running(create_audit_app(audit_settings)) as audit,
        running(create_gate_app(gate_settings)) as gate,
    ):
        audit_runtime = audit.app.state.service.runtime
        gate_runtime = gate.app.state.service.runtime
        purpose = await upstream.purpose()

        async def _write() -> None:
            # About 3 events per step on two topics: a contact, then its consent (and confirmation).
            while not stop_writing.is_set():
                contact_id = str(uuid.uuid4())
                await upstream.contact(contact_id=contact_id, email=f"{contact_id}@example.org")
                await upstream.consent(contact_id, purpose.purpose_id, at=now())
                contacts.append(contact_id)
                await asyncio.sleep(0.03)

        async def _probe() -> None:
            while True:
                readiness_seen.append(
                    (
                        time.monotonic(),
                        await readiness(audit_runtime.readiness_checks()),
                        await readiness(gate_runtime.readiness_checks()),
                    )
                )
                await asyncio.sleep(0.5)

        lines = _Lines()
        logging.getLogger().addHandler(lines)
        level = logging.getLogger("shared").level
        logging.getLogger("shared").setLevel(logging.INFO)
        writer = asyncio.create_task(_write())
        prober = asyncio.create_task(_probe())
        try:
            await asyncio.sleep(2)
            await asyncio.to_thread(own_postgres.stop)
            down_at = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(own_postgres.start)
            up_at = time.monotonic()
            await asyncio.sleep(2)
            stop_writing.set()
            await writer
            published = {envelope.id for envelope in upstream.published}
            done = await _wait_applied(audit_settings.database_url, gate_settings.database_url, published)
            recovered_after = time.monotonic() - up_at
            final_audit = await readiness(audit_runtime.readiness_checks())
            final_gate = await readiness(gate_runtime.readiness_checks())
        finally:
            stop_writing.set()
            prober.cancel()
            logging.getLogger().removeHandler(lines)
            logging.getLogger("shared").setLevel(level)
            await asyncio.gather(writer, prober, return_exceptions=True)
        # The same consumer loops, never restarted, retried through the outage.
        audit_loop, gate_loop = audit_runtime.consumers[0], gate_runtime.consumers[0]
        assert audit_loop.stats.retries > 0 and gate_loop.stats.retries > 0, "the outage never hit them"
        assert audit_loop.stats.dead_lettered == 0 and gate_loop.stats.dead_lettered == 0
        assert all(not task.done() for task in audit_runtime._tasks + gate_runtime._tasks)

    audit_rows, gate_inbox, gate_contacts = done
    # Every event once in the audit log, the indices 0..n-1 without a gap.
    counts = Counter(event_id for event_id, _idx in audit_rows)
    assert set(counts) >= published, f"{len(published - set(counts))} events missing from the audit log"
    assert max(counts.values()) == 1
    indices = sorted(idx for _event_id, idx in audit_rows)
    assert indices == list(range(len(indices))), "the audit log's indices have a gap"
    # Every event once in the gate's inbox, every contact in its projection.
    assert published <= gate_inbox, f"{len(published - gate_inbox)} events never applied by the gate"
    assert set(contacts) <= gate_contacts
    # None dead-lettered by either group.
    groups = {audit_settings.consumer_group, gate_settings.consumer_group}
    for topic in ("contacts.events", "consent.events"):
        dead = [r for r in await read_topic(faults_kafka, dead_letter_topic(topic))]
        assert not [r for r in dead if headers_of(r).get("dlq-group") in groups], f"dead letters on {topic}"

    # Readiness: the consumers check failed during the outage (once stuck past the bound), ok after.
    during = [(a, g) for at, a, g in readiness_seen if down_at + STUCK_SECONDS + 1.5 < at < up_at]
    assert during and all(a["consumers"] != "ok" and g["consumers"] != "ok" for a, g in during), during
    assert set(final_audit.values()) == {"ok"} and set(final_gate.values()) == {"ok"}, (
        final_audit,
        final_gate,
    )
    # The consumers' retrying is logged in a few lines, not one per attempt (a line at the start, one at
    # recovery, a summary every 30 s). Other loggers are reported.
    by_logger = Counter(record.name for record in lines.records if record.levelno >= logging.WARNING)
    consumer_lines = [r for r in lines.records if r.name == "shared.kafka" and r.levelno >= logging.WARNING]
    assert len(consumer_lines) <= 8, [r.getMessage() for r in consumer_lines]
    print(f"\nwarnings and errors by logger during the run: {dict(by_logger)}")
    print(
        f"\n{len(published)} events ({len(contacts)} contacts), all applied {recovered_after:.1f}s after "
        f"PostgreSQL was back; retries: audit {audit_loop.stats.retries}, gate {gate_loop.stats.retries}"
    )


class _Lines(logging.Handler):
    """Keeps what a process configured by `configure_logging` would print (same repeat filter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RepeatLimitFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _wait_applied(
    audit_url: str, gate_url: str, published: set[str], timeout: float = 60.0
) -> tuple[list[tuple[str, int]], set[str], set[str]]:
    """Waits until the audit log and the gate's inbox hold every published event; returns what they hold."""
    audit_engine, gate_engine = make_engine(audit_url), make_engine(gate_url)
    entries, inbox = audit_orm.entries, gate_orm.inbox
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with audit_engine.connect() as conn:
                audit_rows = [
                    tuple(r) for r in await conn.execute(sa.select(entries.c.event_id, entries.c.idx))
                ]
            async with gate_engine.connect() as conn:
                gate_inbox = set((await conn.execute(sa.select(inbox.c.event_id))).scalars())
                gate_contacts = set(
                    (await conn.execute(sa.select(gate_orm.gate_contacts.c.contact_id))).scalars()
                )
            if published <= {r[0] for r in audit_rows} and published <= gate_inbox:
                return audit_rows, gate_inbox, gate_contacts
            if time.monotonic() > deadline:
                missing_audit = len(published - {r[0] for r in audit_rows})
                missing_gate = len(published - gate_inbox)
                raise AssertionError(
                    f"not applied after {timeout:.0f}s: {missing_audit} missing from the audit log, "
                    f"{missing_gate} from the gate (of {len(published)})"
                )
            await asyncio.sleep(0.3)
    finally:
        await audit_engine.dispose()
        await gate_engine.dispose()

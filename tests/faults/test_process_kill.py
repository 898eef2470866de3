"""Fault injection: the relay and the consumers killed with SIGKILL mid-batch, as separate processes.

The services run as they are deployed, each its own uvicorn process: contacts' relay alone
(`CONTACTS_RUN_RELAY`, no consumer), the audit log's writer and the gate's projection. contacts'
outbox holds a backlog of contact_created events, made by contacts' own domain and mapping.

- The relay is killed while a batch is in flight (records on the topic whose rows are not yet
  marked published), then started again: it publishes those rows a second time, and the rest. The
  test holds the relay's commit until the kill (a deferred trigger waits on an advisory lock the test
  holds), so the kill lands in that window on any machine: a relay pass publishes 500 records in a
  few milliseconds, which a polling probe missed under load.
- Each consumer is killed while it works through what the restarted relay publishes (it has applied
  part of it, and records wait for it), then started again.

After the restarts every event is on the topic at least once, and each is applied exactly once in
effect: one audit-log entry per event with gap-free indices, one gate inbox row and one projected
contact per event; every process is ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from audit_log.adapters import orm as audit_orm
from campaign_gate.adapters import orm as gate_orm
from contacts.adapters import orm as contacts_orm
from contacts.adapters import outgoing as contacts_outgoing
from contacts.domain.model import Contact, Kind, Origin, PersonalData, Relationship
from shared.db import make_engine
from shared.events import EventDecodeError, EventEnvelope
from shared.kafka import ensure_topics
from shared.outbox import add_many
from shared.testing.harness import JWT, ROOT, migrated_database
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from infra._proc import free_port, wait_for_port
from tests.faults.conftest import read_topic
from tests.producers import Upstream, now

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
BACKLOG = 1500
TOPIC = "contacts.events"


class Service:
    """One service as its own uvicorn process (its own session: a kill reaches its workers too)."""

    def __init__(self, name: str, package: str, env: dict[str, str], logs: Path) -> None:
        self.name, self.package, self.env, self.logs = name, package, env, logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        log = open(self.logs / f"{self.name}.{self.starts}.log", "wb")  # noqa: SIM115 - the child's.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{self.package}.main:app", "--factory"]
            + ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_listening(self) -> None:
        wait_for_port(self.port, timeout=60, log=self.logs / f"{self.name}.{self.starts}.log")

    def kill(self) -> None:
        """SIGKILL to the process and its group: no shutdown, no flush, no commit."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def ready(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return 0, str(error)


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@contextlib.asynccontextmanager
async def _services(*services: Service) -> AsyncIterator[None]:
    try:
        yield
    finally:
        # Because nothing is checked after this point: no graceful shutdown to wait for.
        for service in services:
            if service.proc is not None and service.proc.poll() is None:
                await asyncio.to_thread(service.kill)


async def _fill_outbox(engine: AsyncEngine, count: int) -> list[str]:
    """Writes `count` contact_created events as contacts' unit of work writes them; returns their ids."""
    vault = Upstream(None, blind_index_key=BLIND_KEY).vault
    items: list[tuple[str, EventEnvelope]] = []
    for n in range(count):
        personal = PersonalData(email=f"kill-{n}-{uuid.uuid4().hex[:6]}@example.org")
        contact = Contact.create(
            kind=Kind.CONSUMER,
            relationship=Relationship.PROSPECT,
            personal=personal,
            indexes=vault.indexes_for(personal),
            origin=Origin(collected_from_person=True, source="web_form", broker_name=None),
            obtained_at=now(),
            at=now(),
        )
        items += [
            contacts_outgoing.to_envelope(event, actor="contacts/api", correlation_id=None)
            for event in contact.events
        ]
    async with AsyncSession(engine) as session, session.begin():
        await add_many(session, contacts_orm.outbox, items)
    return [envelope.id for _topic, envelope in items]


#: The advisory lock the relay's commits wait on while the test holds it (a key nothing else takes).
_COMMIT_HOLD_KEY = 1_500_015


class _HeldCommits:
    """The transactions waiting at their commit for the test's advisory lock, and their end."""

    _WAITING = sa.text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key"
    ).bindparams(key=_COMMIT_HOLD_KEY)

    def __init__(self, holder: AsyncConnection) -> None:
        self._holder = holder

    async def waiting(self) -> list[int]:
        """The backends whose commit waits for the lock."""
        pids = list((await self._holder.execute(self._WAITING)).scalars())
        await self._holder.commit()  # each call sees the locks as they are now
        return pids

    async def abort_and_release(self) -> None:
        """Terminates the waiting backends, as the server ends a dead client's once it finds it gone
        (their transactions roll back), then lets later commits through."""
        pids = await self.waiting()
        for pid in pids:
            await self._holder.execute(sa.text("SELECT pg_terminate_backend(:pid)").bindparams(pid=pid))
        # Gone before the lock goes: a backend still waiting when it is released would commit.
        alive = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)").bindparams(pids=pids)

        async def _gone() -> bool:
            found = await self._holder.scalar(alive)
            await self._holder.commit()
            return not found

        await _until(_gone, "the held commits aborted", timeout=30)
        await self._holder.execute(sa.text("DROP TRIGGER hold_outbox_commit ON outbox"))
        await self._holder.execute(sa.text("DROP FUNCTION hold_outbox_commit()"))
        await self._holder.execute(sa.text(f"SELECT pg_advisory_unlock({_COMMIT_HOLD_KEY})"))
        await self._holder.commit()


@contextlib.asynccontextmanager
async def _outbox_commits_held(engine: AsyncEngine) -> AsyncIterator[_HeldCommits]:
    """Makes every transaction that marks outbox rows wait, at its commit, for an advisory lock held
    here (a deferred constraint trigger) until `abort_and_release`."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE FUNCTION hold_outbox_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"PERFORM pg_advisory_xact_lock_shared({_COMMIT_HOLD_KEY}); RETURN NULL; END $$"
            )
        )
        await conn.execute(
            sa.text(
                "CREATE CONSTRAINT TRIGGER hold_outbox_commit AFTER UPDATE ON outbox DEFERRABLE "
                "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_outbox_commit()"
            )
        )
    holder = await engine.connect()
    try:
        await holder.execute(sa.text(f"SELECT pg_advisory_lock({_COMMIT_HOLD_KEY})"))
        await holder.commit()  # the session-level lock stays; no transaction stays open beside it
        yield _HeldCommits(holder)
    finally:
        await holder.close()


async def _count(engine: AsyncEngine, query: sa.Select[Any]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def _until(probe: Callable[[], object], what: str, timeout: float = 90.0, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():  # type: ignore[misc]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f}s"
        await asyncio.sleep(every)


async def test_relay_and_consumers_killed_mid_batch_lose_nothing_and_apply_each_event_once(
    faults_kafka: str, postgres_admin_url: str, logs: Path
) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    urls = {
        name: await migrated_database(postgres_admin_url, name)
        for name in ("contacts", "audit-log", "campaign-gate")
    }
    engines = {name: make_engine(url) for name, url in urls.items()}
    common = {"KAFKA_BOOTSTRAP_SERVERS": faults_kafka, "VIGIE_PROFILE": "test", "VIGIE_LOG_LEVEL": "WARNING"}
    common |= JWT | {"VIGIE_BLIND_INDEX_KEY": BLIND_KEY}
    suffix = uuid.uuid4().hex[:8]
    relay = Service(
        "contacts-relay",
        "contacts",
        {
            **common,
            "CONTACTS_DATABASE_URL": urls["contacts"],
            "CONTACTS_RUN_RELAY": "true",
            "CONTACTS_RUN_CONSUMERS": "false",
        },
        logs,
    )
    audit = Service(
        "audit-writer",
        "audit_log",
        {
            **common,
            "AUDIT_LOG_DATABASE_URL": urls["audit-log"],
            "AUDIT_LOG_CONSUMER_GROUP": f"faults-audit-{suffix}",
            "AUDIT_LOG_CONSUMER_BATCH_RECORDS": "100",
        },
        logs,
    )
    gate = Service(
        "gate-projection",
        "campaign_gate",
        {
            **common,
            "CAMPAIGN_GATE_DATABASE_URL": urls["campaign-gate"],
            "CAMPAIGN_GATE_CONSUMER_GROUP": f"faults-gate-{suffix}",
            "CAMPAIGN_GATE_RUN_RELAY": "false",
        },
        logs,
    )
    outbox, entries, inbox = contacts_orm.outbox, audit_orm.entries, gate_orm.inbox
    published_rows = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
    started = time.monotonic()
    try:
        await ensure_topics(faults_kafka, [TOPIC, "consent.events", "campaigns.events"])
        end_probe = AIOKafkaConsumer(bootstrap_servers=faults_kafka, enable_auto_commit=False)
        await end_probe.start()
        partitions = [TopicPartition(TOPIC, p) for p in range(3)]
        before = sum((await end_probe.end_offsets(partitions)).values())

        async def _on_topic() -> int:
            return sum((await end_probe.end_offsets(partitions)).values()) - before

        async with _outbox_commits_held(engines["contacts"]) as held_commits, _services(relay, audit, gate):
            # All three start together (a process start is the slow part) while the backlog is written
            # in one transaction; the consumers take the relay's batches as they come.
            for service in (relay, audit, gate):
                service.start()
            event_ids = await _fill_outbox(engines["contacts"], BACKLOG)
            mine = set(event_ids)
            mine_in_audit = sa.select(sa.func.count()).where(entries.c.event_id.in_(event_ids))
            mine_in_gate = sa.select(sa.func.count()).where(inbox.c.event_id.in_(event_ids))
            state: dict[str, int] = {}

            # 1. The relay, killed with a batch in flight: on the topic, not yet marked in its outbox.
            async def _mid_batch() -> bool:
                on_topic = await _on_topic()
                marked = await _count(engines["contacts"], published_rows)
                state.update(on_topic=on_topic, marked=marked)
                # Its commit waiting for the test's lock: the kill cannot come after it.
                return on_topic > marked and marked < BACKLOG - 500 and bool(await held_commits.waiting())

            await _until(_mid_batch, "a relay batch in flight", every=0.005)
            await asyncio.to_thread(relay.kill)
            await held_commits.abort_and_release()
            phases = {"relay killed": time.monotonic() - started}
            at_kill = dict(state)
            relay.start()

            # 2. Each consumer, killed while it works through what the restarted relay publishes: it has
            # applied more than was on the topic before the relay's kill, and records wait for it.
            floor = at_kill["on_topic"]
            kills: dict[str, int] = {}

            async def _kill_working(service: Service, engine: AsyncEngine, query: sa.Select[Any]) -> None:
                async def _working() -> bool:
                    applied = await _count(engine, query)
                    return floor < applied < min(await _on_topic(), BACKLOG) or applied >= BACKLOG

                await _until(_working, f"{service.name} applying the backlog", every=0.005)
                await asyncio.to_thread(service.kill)
                kills[service.name] = await _count(engine, query)
                phases[f"{service.name} killed"] = time.monotonic() - started
                service.start()

            await asyncio.gather(
                _kill_working(audit, engines["audit-log"], mine_in_audit),
                _kill_working(gate, engines["campaign-gate"], mine_in_gate),
            )
            audit_at_kill, gate_at_kill = kills[audit.name], kills[gate.name]

            async def _applied() -> bool:
                return (
                    await _count(engines["audit-log"], mine_in_audit) == BACKLOG
                    and await _count(engines["campaign-gate"], mine_in_gate) == BACKLOG
                )

            try:
                await _until(_applied, "every event applied after the restarts", timeout=90, every=0.2)
            except AssertionError as failure:
                counts = (
                    await _count(engines["contacts"], published_rows),
                    await _count(engines["audit-log"], mine_in_audit),
                    await _count(engines["campaign-gate"], mine_in_gate),
                )
                tails = "\n".join(
                    f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                    for log in sorted(logs.glob("*.log"))
                )
                raise AssertionError(
                    f"{failure}; marked, audited, projected: {counts}; kills {kills}\n{tails}"
                ) from failure
            phases["all applied"] = time.monotonic() - started
            for service in (relay, audit, gate):
                await asyncio.to_thread(service.wait_listening)

            async def _all_ready() -> bool:
                answers = [await asyncio.to_thread(s.ready) for s in (relay, audit, gate)]
                return all(status == 200 for status, _body in answers)

            await _until(_all_ready, "every process ready", timeout=60, every=0.3)
        await end_probe.stop()

        # Nothing lost on the topic; the relay's kill left duplicates, which the consumers absorbed.
        delivered = Counter(
            event_id
            for r in await read_topic(faults_kafka, TOPIC)
            if (event_id := _event_id(r.value)) in mine  # other tests' records share the topic
        )
        assert set(delivered) == mine, f"{len(mine - set(delivered))} events never reached the topic"
        duplicates = sum(n - 1 for n in delivered.values())
        assert duplicates > 0, "the relay was not killed with a batch in flight"
        # The audit log commits every 100 records: its kill landed with part of the backlog applied. The
        # gate applies a whole poll at once, so where its kill landed is reported, not asserted.
        assert kills[audit.name] < BACKLOG, kills
        # Exactly once in effect: one entry per event, gap-free; one inbox row and one contact each.
        async with engines["audit-log"].connect() as conn:
            audited = Counter((await conn.execute(sa.select(entries.c.event_id))).scalars())
            indices = sorted((await conn.execute(sa.select(entries.c.idx))).scalars())
        assert all(audited[event_id] == 1 for event_id in mine) and max(audited.values()) == 1
        assert indices == list(range(len(indices))), "the audit log's indices have a gap"
        async with engines["campaign-gate"].connect() as conn:
            projected = await conn.scalar(sa.select(sa.func.count()).select_from(gate_orm.gate_contacts))
        assert projected is not None and projected >= BACKLOG
    finally:
        for engine in engines.values():
            await engine.dispose()
    print(
        f"\nrelay killed with {at_kill['on_topic']} records on the topic, {at_kill['marked']} rows marked; "
        f"{duplicates} duplicates delivered; audit-log killed at {audit_at_kill}/{BACKLOG}, the gate at "
        f"{gate_at_kill}/{BACKLOG}; all applied once, {time.monotonic() - started:.0f}s in all; "
        + ", ".join(f"{k} at {v:.1f}s" for k, v in phases.items())
    )


def _event_id(value: bytes | None) -> str | None:
    try:
        return EventEnvelope.decode(value or b"").id
    except EventDecodeError:
        return None


async def _marked_all(engine: AsyncEngine, published_rows: sa.Select[Any]) -> bool:
    return await _count(engine, published_rows) == BACKLOG

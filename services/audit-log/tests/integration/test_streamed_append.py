"""The group commit's streamed COPY (sealing a slice while PostgreSQL ingests the previous one) writes
byte for byte what the row-list path and the reference encoding write; a redelivered batch adds
nothing; a batch that fails half-way through its COPY leaves nothing behind and is appended whole,
once, when it is delivered again; a new batch is written without probing its event ids, and one that
the log already holds in part is undone and written again after the probe."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from audit_log import contracts
from audit_log.adapters import orm, sealing
from audit_log.adapters.repository import SqlLogRepository
from audit_log.bootstrap import AuditLog, bootstrap
from audit_log.domain.model import reference_canonical_entry_bytes
from audit_log.entrypoints import consumer
from audit_log.service_layer import commands, handlers
from shared.envelope_crypto import DataKey, decrypt_value
from shared.events import EventEnvelope
from vigie_verify import merkle

from .conftest import consumed, postgres_database, settings_for, sqlite_database

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 11, 0, 0, 123456, tzinfo=UTC)
#: More than two slices, and more than a worker pool's threshold, with a remainder.
COUNT = 2 * sealing.STREAM_SLICE + sealing.PARALLEL_FROM + 37


def _events(count: int = COUNT) -> list[EventEnvelope]:
    """Returns `count` events about 40 contacts; the first contact is erased half-way and comes back."""
    rng = random.Random(15)
    subjects = [f"contact-{n}" for n in range(40)]
    events = []
    for n in range(count):
        subject = subjects[n % 40]
        erased = n == count // 2 - (count // 2) % 40
        events.append(
            EventEnvelope(
                id=f"event-{n}-{rng.getrandbits(32):08x}",
                source="/contacts",
                type=contracts.CONTACT_ERASED if erased else "vigie.contacts.contact_updated.v1",
                subject=subject,
                actor="integrator/crm-sync" if n % 3 else "contacts/é-api",
                time=datetime(2026, 12, 7, 10, n % 60, n % 59, n, tzinfo=UTC),
                data={"contact_id": subject, "n": n},
            )
        )
    return events


class _SeededKeys:
    """A key ring whose data keys come from a seeded generator (wrapped = plaintext, tests only), so
    that two runs of the same batch are comparable byte for byte."""

    def __init__(self) -> None:
        self._rng = random.Random(42)

    def new_data_key(self) -> DataKey:
        key = self._rng.randbytes(32)
        return DataKey(plaintext=key, wrapped=b"test:" + key)

    def unwrap(self, wrapped: bytes) -> bytes:
        return wrapped.removeprefix(b"test:")


async def _service(url: str) -> AuditLog:
    service = bootstrap(settings_for(url, run_consumers=False), clock=lambda: AT)
    service.keys.key_ring = _SeededKeys()  # type: ignore[assignment]
    return service


async def _feed(service: AuditLog, events: list[EventEnvelope]) -> list[Any]:
    records = [consumed("contacts.events", e.encode(), offset=n) for n, e in enumerate(events)]
    return await consumer.batch_handler(service)(records)


async def _tables(service: AuditLog) -> dict[str, list[tuple[Any, ...]]]:
    async with service.runtime.engine.connect() as conn:
        return {
            "entries": [
                tuple(bytes(v) if isinstance(v, bytes | memoryview) else v for v in row)
                for row in await conn.execute(sa.select(orm.entries).order_by(orm.entries.c.idx))
            ],
            "tree_nodes": [
                (row.level, row.idx, bytes(row.hash))
                for row in await conn.execute(
                    sa.select(orm.tree_nodes).order_by(orm.tree_nodes.c.level, orm.tree_nodes.c.idx)
                )
            ],
            "subject_keys": sorted(
                (row.subject, bytes(row.wrapped_key))
                for row in await conn.execute(sa.select(orm.subject_keys))
            ),
            "shredded_subjects": sorted(
                (row.subject, row.event_id) for row in await conn.execute(sa.select(orm.shredded_subjects))
            ),
        }


@pytest.fixture
async def services(postgres_admin_url: str, tmp_path: Any) -> AsyncIterator[dict[str, AuditLog]]:
    """The service on a fresh PostgreSQL database (streamed COPY) and on SQLite (row lists)."""
    running = {
        "postgresql": await _service(await postgres_database(postgres_admin_url)),
        "sqlite": await _service(await sqlite_database(tmp_path)),
    }
    try:
        yield running
    finally:
        for service in running.values():
            await service.runtime.engine.dispose()


def _naive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(leaves[:split]), _naive_root(leaves[split:]))


async def test_the_streamed_copy_writes_the_same_bytes_as_the_row_list_path_and_the_reference(
    services: dict[str, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events()
    written = {}
    for name, service in services.items():
        # Because both runs must draw the same nonces and keys in the same order: reseeded per run.
        monkeypatch.setattr(sealing, "os", types.SimpleNamespace(urandom=random.Random(7).randbytes))
        service.keys.key_ring = _SeededKeys()  # type: ignore[assignment]
        # Two group commits: the second appends after a stored frontier (odd size, nodes read back).
        assert await _feed(service, events[:333]) == []
        assert await _feed(service, events[333:]) == []
        written[name] = await _tables(service)

    assert written["postgresql"] == written["sqlite"]
    tables = written["postgresql"]
    entries = tables["entries"]
    assert [row[0] for row in entries] == list(range(COUNT))
    keys = dict(tables["subject_keys"])
    pseudonym = services["postgresql"].keys.pseudonym
    erased = next(e for e in events if e.type == contracts.CONTACT_ERASED)
    assert tables["shredded_subjects"] == [(pseudonym(erased.subject), erased.id)]
    for event, row in zip(events, entries, strict=True):
        (
            idx,
            event_id,
            event_type,
            source,
            subject,
            actor,
            event_time,
            integrated_at,
            seal,
            canonical,
            leaf,
        ) = row
        assert (event_id, event_type, source, subject, actor, event_time, integrated_at) == (
            event.id,
            event.type,
            event.source,
            pseudonym(event.subject),
            event.actor,
            event.time,
            AT,
        )
        assert canonical == reference_canonical_entry_bytes(
            index=idx,
            event_id=event_id,
            event_type=event_type,
            source=source,
            subject_pseudonym=subject,
            actor=actor,
            event_time=event.time,
            integrated_at=AT,
            sealed_event=seal,
        )
        assert leaf == hashlib.sha256(b"\x00" + canonical).digest()
        if idx > erased_index(events):
            # The subject's current key (the first contact's new one after its erasure) opens it.
            assert decrypt_value(keys[subject][5:], seal, associated_data=event_id.encode()) == event.encode()
    leaves = [row[10] for row in entries]
    nodes = {(level, idx): value for level, idx, value in tables["tree_nodes"]}
    assert [nodes[(0, n)] for n in range(COUNT)] == leaves
    assert all(
        value == merkle.node_hash(nodes[(level - 1, 2 * idx)], nodes[(level - 1, 2 * idx + 1)])
        for (level, idx), value in nodes.items()
        if level
    )
    expected = {(level, idx) for level in range(COUNT.bit_length()) for idx in range(COUNT >> level)}
    assert set(nodes) == expected
    for service in services.values():
        async with service.uow() as uow:
            root = await uow.log.with_nodes(lambda get: merkle.root_hash(COUNT, get))
        assert root == _naive_root(leaves)


def erased_index(events: list[EventEnvelope]) -> int:
    return next(n for n, e in enumerate(events) if e.type == contracts.CONTACT_ERASED)


async def test_a_redelivered_batch_adds_nothing_and_an_overlapping_one_only_its_new_events(
    postgres_admin_url: str,
) -> None:
    service = await _service(await postgres_database(postgres_admin_url))
    try:
        events = _events(900)
        appended = await handlers.integrate_events(
            commands.IntegrateEvents(tuple(commands.ConsumedEvent(e, e.encode()) for e in events[:600])),
            service.uow(),
        )
        first = await _tables(service)
        assert len(appended) == 600 and appended[-1].index == 599
        assert [e.canonical_bytes() for e in appended] == [row[9] for row in first["entries"]]
        assert [e.index for e in appended[598:]] == [598, 599]

        await _feed(service, events[:600])
        assert await _tables(service) == first

        await _feed(service, events[300:900])
        tables = await _tables(service)
        assert [row[1] for row in tables["entries"]] == [e.id for e in events]
        assert [row[0] for row in tables["entries"]] == list(range(900))
        assert tables["entries"][:600] == first["entries"]
        report = await handlers.verify_log(service.uow())
        assert report.problems == [] and report.tree_size == 900
    finally:
        await service.runtime.engine.dispose()


async def test_a_batch_that_fails_half_way_through_its_copy_leaves_nothing_and_is_appended_once_on_redelivery(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await _service(await postgres_database(postgres_admin_url))
    try:
        events = _events(1000)
        await _feed(service, events[:100])
        before = await _tables(service)
        cached = dict(service.key_cache.known(service.keys.pseudonym(e.subject) for e in events))

        real, calls = sealing.seal_slice, []

        def failing(items: Any, integrated_at: str) -> Any:
            calls.append(len(items))
            if len(calls) == 3:
                raise ConnectionResetError("the writer died half-way through the batch")
            return real(items, integrated_at)

        monkeypatch.setattr(sealing, "seal_slice", failing)
        with pytest.raises(ConnectionResetError):
            await _feed(service, events[100:])
        assert len(calls) == 3  # Two slices were streamed into the COPY before the failure.
        assert await _tables(service) == before
        assert service.key_cache.known(service.keys.pseudonym(e.subject) for e in events) == cached

        monkeypatch.setattr(sealing, "seal_slice", real)
        await _feed(service, events[100:])
        await _feed(service, events)
        tables = await _tables(service)
        assert [row[1] for row in tables["entries"]] == [e.id for e in events]
        assert [row[0] for row in tables["entries"]] == list(range(1000))
        report = await handlers.verify_log(service.uow())
        assert report.problems == [] and report.tree_size == 1000
    finally:
        await service.runtime.engine.dispose()


async def test_with_sealing_workers_a_batch_streams_in_order_and_verifies(postgres_admin_url: str) -> None:
    service = bootstrap(
        settings_for(await postgres_database(postgres_admin_url), run_consumers=False, sealing_workers=2)
    )
    try:
        assert sealing.sealing_pool() is not None
        events = _events()
        assert await _feed(service, events) == []
        entries = (await _tables(service))["entries"]
        assert [(row[0], row[1]) for row in entries] == [(n, e.id) for n, e in enumerate(events)]
        for event, row in zip(events, entries, strict=True):
            assert json.loads(row[9])["sealed_event"] == base64.b64encode(row[8]).decode()
            assert json.loads(row[9])["event_time"] == event.time.isoformat()
            assert row[10] == hashlib.sha256(b"\x00" + row[9]).digest()
        last = await handlers.get_entry_or_raise(COUNT - 1, service.uow())
        assert last.event is not None and last.event["id"] == events[-1].id
        report = await handlers.verify_log(service.uow())
        assert report.problems == [] and report.tree_size == COUNT
    finally:
        sealing.configure(0)
        await service.runtime.engine.dispose()


async def test_a_new_batch_is_written_without_the_dedupe_probe_and_a_redelivered_one_after_it(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await _service(await postgres_database(postgres_admin_url))
    probes: list[int] = []
    real = SqlLogRepository._known_event_ids

    async def counting(self: SqlLogRepository, ids: list[str]) -> set[str]:
        probes.append(len(ids))
        return await real(self, ids)

    monkeypatch.setattr(SqlLogRepository, "_known_event_ids", counting)
    try:
        events = _events(700)
        newcomers = [
            EventEnvelope(
                source="/contacts", type="vigie.contacts.contact_created.v1", subject=f"new-{n}", actor="a"
            )
            for n in range(3)
        ]
        assert await _feed(service, events[:400]) == []
        assert probes == []  # Nothing redelivered: no probe.
        first = await _tables(service)

        # Overlapping the log: the unique index refuses it, the batch is undone and written after a probe.
        assert await _feed(service, [*events[200:700], *newcomers]) == []
        assert probes == [503]
        tables = await _tables(service)
        assert [row[1] for row in tables["entries"]] == [e.id for e in [*events, *newcomers]]
        assert [row[0] for row in tables["entries"]] == list(range(703))
        assert tables["entries"][:400] == first["entries"]
        # The undone attempt's keys (the newcomers' first ones) were never stored nor remembered.
        stored = {subject: wrapped[5:] for subject, wrapped in tables["subject_keys"]}
        pseudonyms = {service.keys.pseudonym(e.subject) for e in [*events, *newcomers]}
        assert service.key_cache.known(pseudonyms) == {p: stored[p] for p in pseudonyms if p in stored}
        assert all(service.keys.pseudonym(e.subject) in stored for e in newcomers)
        last = await handlers.get_entry_or_raise(702, service.uow())
        assert last.event is not None and last.event["id"] == newcomers[-1].id
        report = await handlers.verify_log(service.uow())
        assert report.problems == [] and report.tree_size == 703

        assert await _feed(service, events[:10]) == []
        assert probes == [503, 10] and await _tables(service) == tables
    finally:
        await service.runtime.engine.dispose()


async def test_a_collision_on_an_index_is_not_taken_for_a_redelivery(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await _service(await postgres_database(postgres_admin_url))
    try:
        events = _events(300)
        await _feed(service, events[:100])
        before = await _tables(service)

        async def stale_size(self: SqlLogRepository) -> int:
            return 50  # As a second writer that read the size before this one's commit would.

        monkeypatch.setattr(SqlLogRepository, "size", stale_size)
        with pytest.raises(asyncpg.UniqueViolationError) as refused:
            await _feed(service, events[100:])
        assert refused.value.constraint_name == "pk_entries"
        assert await _tables(service) == before
    finally:
        await service.runtime.engine.dispose()

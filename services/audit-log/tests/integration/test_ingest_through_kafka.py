"""Ingest for real: the producers' events, relayed to Kafka on every topic and some delivered twice,
become exactly one entry each, gap-free, in PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from audit_log.adapters import orm
from audit_log.main import create_app
from shared.events import EventEnvelope
from shared.testing.harness import auth, eventually, running

from tests.producers import Upstream

from .conftest import BLIND_INDEX_KEY, settings_for

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")


async def _produce(upstream: Upstream, run: str, count: int) -> list[EventEnvelope]:
    """Publishes `count` events about seven contacts, in turn on contacts.events, consent.events and
    campaigns.events, each made by its producer; every sixth is delivered a second time by its relay."""
    contacts = {}
    for n in range(count):
        subject = f"contact-{run}-{n % 7}"
        if n % 3 == 0:
            if subject in contacts:
                await upstream.update_contact(contacts[subject], attributes={"n": n})
            else:
                contacts[subject] = await upstream.contact(contact_id=subject)
        elif n % 3 == 1:
            await upstream.objection(contact_id=subject)
        else:
            await upstream.gate_contact_forgotten(subject)
        if n % 6 == 0:
            await upstream.redeliver(upstream.published[-1])
    return list(upstream.published)


async def _indices_of(engine, event_ids: list[str]) -> dict[str, list[int]]:
    e = orm.entries.c
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(e.event_id, e.idx).where(e.event_id.in_(event_ids)))).all()
    found: dict[str, list[int]] = {}
    for event_id, idx in rows:
        found.setdefault(event_id, []).append(idx)
    return found


async def _log_size_and_span(engine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        count, low, high = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.min(orm.entries.c.idx), sa.func.max(orm.entries.c.idx))
            )
        ).one()
    return count, low, high


async def _caught_up(service) -> bool:
    lag = await service.runtime.consumers[0].lag()
    return bool(lag) and all(v == 0 for v in lag.values())


async def test_every_event_on_every_topic_becomes_exactly_one_entry_with_gap_free_indices(
    kafka_bootstrap: str, postgres_url: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = settings_for(postgres_url, kafka=kafka_bootstrap, checkpoint_every_seconds=0.1)

    async with (
        running(create_app(settings)) as audit,
        Upstream(kafka_bootstrap, blind_index_key=BLIND_INDEX_KEY) as upstream,
    ):
        service = audit.app.state.service
        events = await _produce(upstream, run, 60)
        assert {e.source for e in events} == {"/vigie/contacts", "/vigie/consent", "/vigie/campaign-gate"}
        ids = [e.id for e in events]
        found = await eventually(lambda: _found_all(service.runtime.engine, ids))
        await eventually(lambda: _caught_up(service))

        assert all(len(indices) == 1 for indices in found.values()), (
            "a duplicate delivery made a second entry"
        )
        count, low, high = await _log_size_and_span(service.runtime.engine)
        assert (low, high) == (0, count - 1), "indices run 0..n-1 without gaps"
        verdict = (await audit.client.get("/v1/verify", headers=AUDITOR)).json()
        assert verdict["ok"] and verdict["tree_size"] == count
        checkpoint = await eventually(lambda: _checkpoint_size(audit, count))
        assert checkpoint == count
        metrics = (await audit.client.get("/metrics")).text
        assert f"audit_log_entries {float(count)}" in metrics
        assert _metric(metrics, "audit_log_appended_total") == count
        assert 0 <= _metric(metrics, "audit_log_checkpoint_age_seconds") < 60

    # A second consumer group replays every topic from the start into the same log: nothing is added.
    replay = settings.model_copy(update={"consumer_group": f"audit-replay-{run}"})
    async with running(create_app(replay)) as audit:
        service = audit.app.state.service
        await eventually(lambda: _caught_up(service), timeout=60)
        assert await _log_size_and_span(service.runtime.engine) == (count, 0, count - 1)
        assert _metric((await audit.client.get("/metrics")).text, "audit_log_appended_total") == 0


async def _found_all(engine, ids: list[str]) -> dict[str, list[int]] | None:
    found = await _indices_of(engine, ids)
    return found if len(found) == len(ids) else None


async def _checkpoint_size(audit, size: int) -> int | None:
    response = await audit.client.get("/v1/checkpoint", headers=AUDITOR)
    if response.status_code != 200:
        return None
    signed = int(response.text.splitlines()[1])
    return signed if signed == size else None


def _metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])

"""Fault injection: a gate check while the projection lags behind a withdrawal (SPEC §5, UNI-03).

The projection's consumer is gone (its process stopped) when a consent is withdrawn; checks are
answered by an API process that runs no consumer. The withdrawal is produced with a forged timestamp
an hour in the future: the topics stamp records with the broker's append time, so the forgery is
overwritten and cannot make the unapplied withdrawal look fresh. No check begun once the withdrawal
is older than the bound may allow: each says stale and blocks (GATE_STALE). Once a consumer applies
the withdrawal, checks are fresh again and refuse on it (UNI-03), with no restart of the API process.
A topic created on producer time is moved to append time by `ensure_topics`, keeping its own settings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from campaign_gate import contracts
from campaign_gate.main import create_app
from campaign_gate.settings import CampaignGateSettings
from consent.adapters import outgoing as consent_outgoing
from shared.kafka import ensure_topics
from shared.testing.harness import common_settings, eventually, migrated_database, running, token

from tests.bodies import email_campaign_body, study_sign_offs
from tests.faults.conftest import read_topic
from tests.producers import Upstream, now

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
BOUND_SECONDS = 1.5
MARKETER = {"Authorization": f"Bearer {token('marketer', 'reviewer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}
#: Record timestamp type of a topic on broker append time (1; 0 is the producer's create time).
LOG_APPEND_TIME = 1


@pytest.fixture
async def settings(faults_kafka: str, postgres_admin_url: str) -> CampaignGateSettings:
    return CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"faults-gate-{uuid.uuid4().hex[:8]}",
        max_projection_lag_seconds=BOUND_SECONDS,
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(faults_kafka),
    )


@pytest.fixture
async def upstream(faults_kafka: str) -> AsyncIterator[Upstream]:
    async with Upstream(faults_kafka, blind_index_key=BLIND_KEY) as producers:
        yield producers


async def _decide(client: Any, campaign_id: str, contact_id: str) -> tuple[bool, str, str | None]:
    """Returns a one-recipient check's staleness, decision and, for a block, the first rule refusing."""
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": [contact_id]}, headers=MARKETER
    )
    assert response.status_code == 200, response.text
    body = response.json()
    recipient = body["recipients"][0]
    refusing = recipient["reasons"][0]["rule"] if recipient["decision"] == "block" else None
    return body["stale"], recipient["decision"], refusing


async def _applied_everything(gate: Any) -> bool:
    freshness = await gate.app.state.service.projection_freshness()
    return not freshness.stale and all(v == 0 for v in freshness.lag.values())


async def test_a_check_during_projection_lag_never_allows_on_a_withdrawal_older_than_the_bound(
    settings: CampaignGateSettings, upstream: Upstream, faults_kafka: str
) -> None:
    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    obtained = now() - timedelta(days=10)
    api_only = settings.model_copy(update={"run_consumers": False})
    async with running(create_app(api_only)) as api:
        async with running(create_app(settings)) as projector:
            await upstream.purpose(purpose_id)
            notice = await upstream.notice([purpose_id])
            await upstream.contact(
                contact_id=contact_id, email=f"{contact_id}@example.org", obtained_at=obtained
            )
            await upstream.deliver(notice, contact_id, at=obtained)
            consent = await upstream.consent(contact_id, purpose_id, notice=notice, at=obtained)
            await eventually(lambda: _applied_everything(projector), timeout=30, interval=0.1)
            created = await api.client.post(
                "/v1/campaigns", json=email_campaign_body(purpose_id), headers=MARKETER
            )
            assert created.status_code == 201, created.text
            campaign_id = created.json()["id"]
            submitted = await api.client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
            assert submitted.status_code == 200, submitted.text
            approved = await api.client.post(
                f"/v1/campaigns/{campaign_id}/approve",
                json={"sign_offs": study_sign_offs(submitted.json()["findings"])},
                headers=REVIEWER,
            )
            assert approved.status_code == 200, approved.text
            await eventually(lambda: _applied_everything(projector), timeout=30, interval=0.1)
            assert await _decide(api.client, campaign_id, contact_id) == (False, "allow", None)
        # The projection's consumer is gone. The withdrawal, stamped an hour ahead by its producer.
        consent.withdraw(now(), source="unsubscribe_link")
        (withdrawal,) = [
            consent_outgoing.to_envelope(event, actor="consent/api", correlation_id=None)[1]
            for event in consent.events
        ]
        consent.events.clear()
        producer = AIOKafkaProducer(bootstrap_servers=faults_kafka)
        await producer.start()
        try:
            meta = await producer.send_and_wait(
                contracts.CONSENT_EVENTS,
                value=withdrawal.encode(),
                key=withdrawal.subject.encode(),
                headers=withdrawal.kafka_headers(),
                timestamp_ms=int((time.time() + 3600) * 1000),
            )
        finally:
            await producer.stop()
        published = time.time()
        (on_topic,) = [
            r
            for r in await read_topic(faults_kafka, contracts.CONSENT_EVENTS)
            if r.partition == meta.partition and r.offset == meta.offset
        ]
        assert on_topic.timestamp_type == LOG_APPEND_TIME, "the topic keeps the producer's timestamp"
        assert abs(on_topic.timestamp / 1000 - published) < 5, "the forged timestamp was kept"

        # Checks while the withdrawal waits: none begun past the bound allows.
        answers: list[tuple[float, tuple[bool, str, str | None]]] = []
        while time.time() < published + BOUND_SECONDS + 1.5:
            began = time.time()
            answers.append((began - published, await _decide(api.client, campaign_id, contact_id)))
            await asyncio.sleep(0.1)
        late = [answer for age, answer in answers if age > BOUND_SECONDS]
        assert late and all(a == (True, "block", "GATE_STALE") for a in late), answers
        early = [answer for age, answer in answers if age <= BOUND_SECONDS]
        assert all(a in ((False, "allow", None), (True, "block", "GATE_STALE")) for a in early), answers

        # A consumer comes back and applies it: the same API process refuses on the withdrawal.
        async with running(create_app(settings)) as projector:
            await eventually(lambda: _applied_everything(projector), timeout=30, interval=0.1)
            assert await _decide(api.client, campaign_id, contact_id) == (False, "block", "UNI-03")
    print(
        f"\n{len(answers)} checks during the lag: {len(early)} within the {BOUND_SECONDS}s bound "
        f"({sum(a[1] == 'allow' for a in early)} allow), {len(late)} past it, all GATE_STALE"
    )


async def test_a_topic_created_on_producer_time_is_moved_to_append_time_keeping_its_own_settings(
    faults_kafka: str,
) -> None:
    name = f"faults.created-by-hand.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=faults_kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs={"retention.ms": "123456789"})])

        async def _config() -> dict[str, str]:
            return await _config_of(admin, name)

        assert (await eventually(_config))["message.timestamp.type"] == "CreateTime"
        await ensure_topics(faults_kafka, [name])

        async def _moved() -> dict[str, str] | None:
            config = await _config()
            return config if config["message.timestamp.type"] == "LogAppendTime" else None

        config = await eventually(_moved, timeout=10, interval=0.2)
        assert config["retention.ms"] == "123456789", "the topic's own setting was dropped"
        assert (await _config_of(admin, f"{name}.dlq"))["message.timestamp.type"] == "LogAppendTime"
    finally:
        await admin.close()


async def _config_of(admin: AIOKafkaAdminClient, name: str) -> dict[str, str]:
    (answer,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    return {entry[0]: entry[1] for entry in answer.resources[0][4]}

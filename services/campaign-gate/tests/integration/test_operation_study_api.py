"""The per-operation study over HTTP (issue 19): a bad answer is a 422 naming its field with nothing stored,
an answered study is kept with the campaign version, the review asks a sign-off per answer, the approval
refuses without them, and the answers and the sign-offs reach `campaigns.events` (the audit log's input)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.main import create_app
from campaign_gate.settings import CampaignGateSettings
from shared.events import EventEnvelope
from shared.kafka import ensure_topics
from shared.testing.harness import common_settings, eventually, migrated_database, running, token

from tests.bodies import STUDY, email_campaign_body, study_sign_offs
from tests.producers import Upstream

pytestmark = pytest.mark.integration

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
MARKETER = {"Authorization": f"Bearer {token('marketer', subject='mia')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='rob')}"}


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> CampaignGateSettings:
    url = await migrated_database(postgres_admin_url, "campaign-gate")
    await ensure_topics(kafka_bootstrap, [*contracts.CONSUMED_TOPICS, contracts.CAMPAIGNS_EVENTS])
    return CampaignGateSettings(
        database_url=url,
        consumer_group=f"gate-{uuid.uuid4().hex[:8]}",
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(kafka_bootstrap),
    )


async def _campaign_rows(gate: Any) -> int:
    async with gate.app.state.service.runtime.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(orm.campaigns)))


async def _events_of(kafka: str, campaign_id: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        contracts.CAMPAIGNS_EVENTS,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    seen: dict[str, dict[str, Any]] = {}
    try:

        async def _probe() -> dict[str, dict[str, Any]] | None:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = EventEnvelope.decode(record.value)
                    if envelope.subject == campaign_id:
                        seen[envelope.type] = envelope.data
            return seen if wanted <= set(seen) else None

        return await eventually(_probe, timeout=30)
    finally:
        await consumer.stop()


async def test_the_study_is_validated_kept_signed_off_per_answer_and_published(
    settings: CampaignGateSettings, kafka_bootstrap: str
) -> None:
    purpose_id = str(uuid.uuid4())
    async with (
        Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as upstream,
        running(create_app(settings)) as gate,
    ):
        await upstream.purpose(purpose_id)
        before = await _campaign_rows(gate)
        bad = {
            **STUDY,
            "partners": {"transfers": True},
            "tracking": {"opening_pixels": False, "per_recipient": True},
        }
        refused = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose_id, study=bad), headers=MARKETER
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        fields = " ".join(e["field"] for e in refused.json()["errors"])
        assert "study.partners" in fields and "study.tracking" in fields, refused.json()
        assert await _campaign_rows(gate) == before, "nothing is stored for a refused body"

        async def _purpose_projected() -> Any:
            async with gate.app.state.service.runtime.engine.connect() as conn:
                return await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(orm.gate_purposes)
                    .where(orm.gate_purposes.c.purpose_id == purpose_id)
                )

        await eventually(_purpose_projected, timeout=30)
        created = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose_id), headers=MARKETER
        )
        assert created.status_code == 201, created.text
        campaign = created.json()
        assert campaign["spec"]["study"]["offer"]["reserved_to_target"] is False
        submitted = (
            await gate.client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=MARKETER)
        ).json()
        asked = {f["rule"]: f for f in submitted["findings"] if f["rule"].startswith("STUDY-")}
        assert set(asked) == {"STUDY-01", "STUDY-02", "STUDY-03", "STUDY-04", "STUDY-05"}
        assert all(f["severity"] == "needs_review" and f["sign_off"]["bases"] for f in asked.values())
        digest = asked["STUDY-01"]["evidence"][0].rsplit(":", 1)[1]

        path = f"/v1/campaigns/{campaign['id']}/approve"
        unsigned = await gate.client.post(path, json={"sign_offs": []}, headers=REVIEWER)
        assert unsigned.status_code == 422
        assert {e["field"] for e in unsigned.json()["errors"]} == {f"sign_offs[{r}]" for r in asked}
        by_author = await gate.client.post(
            path,
            json={"sign_offs": study_sign_offs(submitted["findings"])},
            headers={"Authorization": f"Bearer {token('marketer', 'reviewer', subject='mia')}"},
        )
        assert by_author.status_code == 403, "four eyes: the study's author cannot sign it off"
        approved = await gate.client.post(
            path, json={"sign_offs": study_sign_offs(submitted["findings"])}, headers=REVIEWER
        )
        assert approved.status_code == 200, approved.text
        target = next(s for s in approved.json()["review"]["sign_offs"] if s["rule"] == "STUDY-01")
        assert (
            target["evidence"] == [f"study:target:{digest}"]
            and approved.json()["review"]["reviewer"] == "rob"
        )

        published = await _events_of(
            kafka_bootstrap, campaign["id"], {contracts.CAMPAIGN_SUBMITTED, contracts.CAMPAIGN_APPROVED}
        )
        study = published[contracts.CAMPAIGN_SUBMITTED]["study"]
        assert study["target"] == {"answer": campaign["spec"]["study"]["target"], "digest": digest}
        signed = published[contracts.CAMPAIGN_APPROVED]["sign_offs"]
        assert {s["rule"] for s in signed} == set(asked)

        # A changed answer makes a new version, back to draft: its sign-offs are asked again.
        changed = await gate.client.patch(
            f"/v1/campaigns/{campaign['id']}",
            json={"study": {**STUDY, "tracking": {"opening_pixels": True}}},
            headers=MARKETER,
        )
        assert changed.json()["status"] == "draft" and changed.json()["version"] == 2

"""A check never decides without a record that was on the topics when it began (issue 14, B2: no late
allow), and past the bound the reason says the projection is stuck, by the record's timestamp in Kafka
(issue 17, item 2).

So every API process gives the same answer from its first check on: a withdrawal published while no
projection consumer runs is never answered with `allow, stale: false`, not even by a process that has
just started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from campaign_gate import contracts
from campaign_gate.main import create_app
from campaign_gate.settings import CampaignGateSettings
from shared.kafka import ensure_topics
from shared.testing.harness import common_settings, eventually, migrated_database, running, token

from tests.bodies import email_campaign_body, study_sign_offs
from tests.producers import Upstream, now

pytestmark = pytest.mark.integration

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
BOUND_SECONDS = 3.0
MARKETER = {"Authorization": f"Bearer {token('marketer', 'reviewer', subject='alice')}"}
REVIEWER = {"Authorization": f"Bearer {token('reviewer', subject='bob')}"}


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> CampaignGateSettings:
    url = await migrated_database(postgres_admin_url, "campaign-gate")
    await ensure_topics(kafka_bootstrap, [*contracts.CONSUMED_TOPICS, contracts.CAMPAIGNS_EVENTS])
    return CampaignGateSettings(
        database_url=url,
        consumer_group=f"gate-{uuid.uuid4().hex[:8]}",
        max_projection_lag_seconds=BOUND_SECONDS,
        VIGIE_BLIND_INDEX_KEY=BLIND_KEY,
        **common_settings(kafka_bootstrap),
    )


@pytest.fixture
async def upstream(kafka_bootstrap: str) -> AsyncIterator[Upstream]:
    async with Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as producers:
        yield producers


async def _check(client: Any, campaign_id: str, contact_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": [contact_id]}, headers=MARKETER
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _fresh_and_applied(gate: Any) -> bool:
    freshness = await gate.app.state.service.projection_freshness()
    return not freshness.stale and all(v == 0 for v in freshness.lag.values())


async def test_a_withdrawal_left_unapplied_is_stale_once_older_than_the_bound_even_in_a_fresh_process(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        obtained = now() - timedelta(days=10)
        notice = await upstream.notice([purpose_id])
        await upstream.contact(contact_id=contact_id, email=f"{contact_id}@example.org", obtained_at=obtained)
        await upstream.deliver(notice, contact_id, at=obtained)
        consent = await upstream.consent(contact_id, purpose_id, notice=notice, at=obtained)

        # Because the purpose reaches the gate through consent.events, the review waits until it is applied.
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)
        created = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose_id), headers=MARKETER
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        submitted = await gate.client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
        assert submitted.status_code == 200, submitted.text
        # The review asks only the sign-off of each answer of the campaign's study (issue 19).
        findings = submitted.json()["findings"]
        assert {f["rule"] for f in findings} == {f["rule"] for f in study_sign_offs(findings)}, findings
        approved = await gate.client.post(
            f"/v1/campaigns/{campaign_id}/approve",
            json={"sign_offs": study_sign_offs(findings)},
            headers=REVIEWER,
        )
        assert approved.status_code == 200, approved.text

        async def _allowed() -> Any:
            check = await _check(gate.client, campaign_id, contact_id)
            return check if check["recipients"][0]["decision"] == "allow" else None

        await eventually(_allowed, timeout=30, interval=0.2)
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)

    # No projection consumer runs from here on: the withdrawal stays unapplied.
    idle = settings.model_copy(update={"run_consumers": False})
    await upstream.withdraw(consent)
    published = time.time()
    async with running(create_app(idle)) as first:
        # Within the bound the withdrawal is young, but it was on the topic before the check began:
        # never a late allow. The check waits for it, then fails closed saying the projection catches up.
        within = await _check(first.client, campaign_id, contact_id)
        assert time.time() - published < BOUND_SECONDS, "the process took too long to start"
        assert within["stale"] is True, within
        assert within["recipients"][0]["decision"] == "block"
        assert within["recipients"][0]["reasons"][0]["rule"] == "GATE_STALE"
        freshness = await first.app.state.service.projection_freshness()
        assert freshness.stale and sum(freshness.lag.values()) == 1, freshness
        assert "not applied yet" in freshness.reason, freshness.reason

        await asyncio.sleep(published + BOUND_SECONDS + 0.2 - time.time())
        late = await _check(first.client, campaign_id, contact_id)
        assert late["stale"] is True, late
        assert late["recipients"][0]["decision"] == "block"
        assert late["recipients"][0]["reasons"][0]["rule"] == "GATE_STALE"

        # A process started now has no warm-up: its very first check is stale too.
        async with running(create_app(idle)) as second:
            started = await _check(second.client, campaign_id, contact_id)
            assert started["stale"] is True, started
            assert started["recipients"][0]["reasons"][0]["rule"] == "GATE_STALE"
            reason = (await second.app.state.service.projection_freshness()).reason
            assert "oldest unapplied record" in reason, reason

    # Once the projection applies the withdrawal, checks are fresh again and block on it.
    async with running(create_app(settings)) as gate:
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)
        applied = await _check(gate.client, campaign_id, contact_id)
        assert applied["stale"] is False, applied
        assert applied["recipients"][0]["decision"] == "block"
        assert applied["recipients"][0]["reasons"][0]["rule"] == "UNI-03"


async def test_a_submission_waits_for_the_projection_and_answers_503_storing_nothing_when_it_lags(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    """The review reads the purpose, register and processors from the projection: submitted before
    the gate has applied them, it would block on facts that exist (PROC-01, PAR-01). It waits for them
    instead, and answers 503 with Retry-After, storing nothing, when they stay unapplied."""
    purpose_id = str(uuid.uuid4())
    idle = settings.model_copy(update={"run_consumers": False, "review_catch_up_seconds": 0.5})
    await upstream.purpose(purpose_id)
    async with running(create_app(idle)) as lagging:
        created = await lagging.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose_id), headers=MARKETER
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        refused = await lagging.client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"].startswith("application/problem+json")
        detail = refused.json()["detail"]
        assert "unapplied record" in detail or "not applied yet" in detail, detail
        stored = await lagging.client.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER)
        assert stored.json()["status"] == "draft", stored.json()
        assert stored.json()["findings"] == [], stored.json()

    # With its consumer running, the same submission waits (no test-side wait for the projection) and
    # the review sees the purpose: only the study's sign-offs are asked.
    async with running(create_app(settings)) as gate:
        submitted = await gate.client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
        assert submitted.status_code == 200, submitted.text
        findings = submitted.json()["findings"]
        assert {f["rule"] for f in findings} == {f["rule"] for f in study_sign_offs(findings)}, findings


async def test_unapplied_records_about_some_people_block_only_them_and_a_campaign_fact_blocks_all(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    """While the projection has not applied records about some people (a bulk import, a withdrawal), a
    check decides everyone else and blocks only those people (GATE_STALE), named by the record's key, its
    contact id or, for an objection, its blind indexes; an unapplied purpose change blocks everyone."""
    purpose_id = str(uuid.uuid4())
    withdrawn, objecting, untouched = (str(uuid.uuid4()) for _ in range(3))
    email = f"{objecting}@example.org"
    obtained = now() - timedelta(days=10)
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        notice = await upstream.notice([purpose_id])
        consents = {}
        for contact_id in (withdrawn, objecting, untouched):
            mail = email if contact_id == objecting else f"{contact_id}@example.org"
            await upstream.contact(contact_id=contact_id, email=mail, obtained_at=obtained)
            await upstream.deliver(notice, contact_id, at=obtained)
            consents[contact_id] = await upstream.consent(contact_id, purpose_id, notice=notice, at=obtained)
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)
        created = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose_id), headers=MARKETER
        )
        campaign_id = created.json()["id"]
        submitted = await gate.client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
        approved = await gate.client.post(
            f"/v1/campaigns/{campaign_id}/approve",
            json={"sign_offs": study_sign_offs(submitted.json()["findings"])},
            headers=REVIEWER,
        )
        assert approved.status_code == 200, approved.text
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)

    idle = settings.model_copy(update={"run_consumers": False})
    # A withdrawal keyed by its contact, and an objection by e-mail only (keyed by the objection's id).
    await upstream.withdraw(consents[withdrawn])
    await upstream.objection(email=email)
    everyone = [withdrawn, objecting, untouched]
    async with running(create_app(idle)) as lagging:
        response = await lagging.client.post(
            f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": everyone}, headers=MARKETER
        )
        check = response.json()
        decided = {r["contact_id"]: (r["decision"], r["reasons"][0]["rule"]) for r in check["recipients"]}
        assert decided[withdrawn] == ("block", "GATE_STALE"), decided
        assert decided[objecting] == ("block", "GATE_STALE"), decided
        assert decided[untouched][0] == "allow", decided
        assert check["stale"] is True, check
        # The old whole-check answer, for a probe that names no recipient, is still stale.
        assert (await lagging.app.state.service.projection_freshness()).stale

        # The review reads campaign facts only: people's unapplied records do not hold a submission.
        assert not (await lagging.app.state.service.projection_freshness(recipients=())).stale

        await upstream.purpose(purpose_id)  # a revision of the campaign's purpose, left unapplied
        response = await lagging.client.post(
            f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": [untouched]}, headers=MARKETER
        )
        assert [r["reasons"][0]["rule"] for r in response.json()["recipients"]] == ["GATE_STALE"]
        assert (
            "purposes, notices, processors or parties"
            in (await lagging.app.state.service.projection_freshness(recipients=[untouched])).reason
        )

    # Once applied, the withdrawal and the objection decide those two, and the check is fresh.
    async with running(create_app(settings)) as gate:
        await eventually(lambda: _fresh_and_applied(gate), timeout=30, interval=0.1)
        check = await _check(gate.client, campaign_id, withdrawn)
        assert check["stale"] is False and check["recipients"][0]["decision"] == "block"
        assert check["recipients"][0]["reasons"][0]["rule"] != "GATE_STALE", check

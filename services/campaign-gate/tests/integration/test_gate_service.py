"""The gate for real: contacts' and consent's events on Kafka → projection in PostgreSQL → campaigns, checks.

Every upstream event is made by its producer's own code (tests/producers.py), never written by hand.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pytest
import sqlalchemy as sa
from campaign_gate import contracts
from campaign_gate.adapters import orm
from campaign_gate.adapters.freshness import KafkaFreshness
from campaign_gate.main import create_app
from campaign_gate.service_layer import commands, handlers
from campaign_gate.settings import CampaignGateSettings
from consent.domain.model import Consent
from consent.domain.notices import Notice
from contacts.domain.model import Contact
from shared.blind_index import BlindIndexer
from shared.events import EventEnvelope
from shared.kafka import ensure_topics
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running, token
from vigie_verify.receipt import check_receipt

from tests.bodies import STUDY, study_sign_offs
from tests.producers import Upstream, now

pytestmark = pytest.mark.integration

BLIND_KEY = "test-blind-index-key-0123456789abcdef"
ADMIN = auth("admin")
#: The bound a withdrawal must be consumed within before the next check refuses (the B2 figure is far lower).
WITHDRAWAL_BOUND_SECONDS = 2.0


def _token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, subject=subject)}"}


MARKETER = _token("alice", "marketer", "reviewer")
REVIEWER = _token("bob", "reviewer")


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


class Informed(NamedTuple):
    """A contact informed by an Art. 13 notice, and its e-mail consent when one was given."""

    contact: Contact
    notice: Notice
    consent: Consent | None


async def _informed_contact(
    upstream: Upstream, contact_id: str, purpose_id: str, *, email: str | None = None, consent: bool = True
) -> Informed:
    """A consumer who gave an e-mail on a form 10 days ago, got the Art. 13 notice for the purpose and, unless
    told otherwise, ticked the unticked consent box whose wording says how to withdraw, then confirmed it."""
    obtained = now() - timedelta(days=10)
    notice = await upstream.notice([purpose_id])
    contact = await upstream.contact(
        contact_id=contact_id, email=email or f"{contact_id}@example.org", obtained_at=obtained
    )
    await upstream.deliver(notice, contact_id, at=obtained)
    given = await upstream.consent(contact_id, purpose_id, notice=notice, at=obtained) if consent else None
    return Informed(contact, notice, given)


def _iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
async def upstream(kafka_bootstrap: str) -> AsyncIterator[Upstream]:
    async with Upstream(kafka_bootstrap, blind_index_key=BLIND_KEY) as producers:
        yield producers


def campaign_body(purpose_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "purpose_id": purpose_id,
        "channel": "email",
        "sender_entity": "Acme SAS",
        "message": {
            "subject": "Nos nouvelles chaussures",
            "body": "Découvrez la collection de printemps.",
            "unsubscribe_mechanism": "https://acme.example/stop",
            "unsubscribe_free": True,
            "right_to_object_statement": True,
            "sender_identification": "Acme SAS",
            "subject_related_to_offer": True,
            "objection_reminder": True,
        },
        "product_category": "shoes",
        "send_at": _iso(now() + timedelta(days=1)),
        "study": STUDY,
        **overrides,
    }


async def _projected(gate: Any, table: sa.Table, column: sa.Column[Any], value: str) -> None:
    engine = gate.app.state.service.runtime.engine

    async def _present() -> Any:
        async with engine.connect() as conn:
            return await conn.scalar(sa.select(sa.func.count()).select_from(table).where(column == value))

    await eventually(_present, timeout=30, interval=0.05)


async def _approved_campaign(gate: Any, purpose_id: str, **overrides: Any) -> str:
    client = gate.client
    # Because the purpose reaches the gate through consent.events, the review waits until it is projected.
    await _projected(gate, orm.gate_purposes, orm.gate_purposes.c.purpose_id, purpose_id)
    created = await client.post(
        "/v1/campaigns", json=campaign_body(purpose_id, **overrides), headers=MARKETER
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    submitted = await client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)
    assert submitted.status_code == 200, submitted.text
    # The review asks only the sign-off of each answer of the campaign's study (issue 19).
    findings = submitted.json()["findings"]
    assert {f["rule"] for f in findings} == {f["rule"] for f in study_sign_offs(findings)}, findings
    approved = await client.post(
        f"/v1/campaigns/{campaign_id}/approve",
        json={"sign_offs": study_sign_offs(findings)},
        headers=REVIEWER,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    return campaign_id


async def _check(client: Any, campaign_id: str, *contact_ids: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": list(contact_ids)}, headers=MARKETER
    )
    assert response.status_code == 200, response.text
    return response.json()


def _by_contact(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["contact_id"]: r for r in check["recipients"]}


async def test_a_withdrawal_or_an_objection_recorded_on_consent_blocks_the_next_check_within_the_bound(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, consenting, objecting, returning = (str(uuid.uuid4()) for _ in range(4))
    recipients = (consenting, objecting, returning)
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        consent = (await _informed_contact(upstream, consenting, purpose_id)).consent
        assert consent is not None
        await _informed_contact(upstream, objecting, purpose_id, email="objector@example.org")
        await _informed_contact(upstream, returning, purpose_id, email="returning@example.org")
        campaign_id = await _approved_campaign(gate, purpose_id)

        async def _all_allowed() -> Any:
            check = _by_contact(await _check(gate.client, campaign_id, *recipients))
            return check if all(r["decision"] == "allow" for r in check.values()) else None

        allowed = await eventually(_all_allowed, timeout=30, interval=0.2)
        assert allowed[consenting]["reasons"][0]["rule"] == "ELEC-01"
        assert f"consent:{consent.consent_id}" in allowed[consenting]["evidence"]

        await upstream.withdraw(consent)
        # The person objects on their own record (UNI-01).
        own = await upstream.objection(contact_id=objecting, email="objector@example.org")
        # This objection names no contact id: only the blind index of the e-mail ties it to the recipient,
        # as when an objector comes back through another record (UNI-02).
        by_hash = await upstream.objection(contact_id=None, email="Returning@example.org")
        published = time.perf_counter()

        async def _all_blocked() -> Any:
            check = _by_contact(await _check(gate.client, campaign_id, *recipients))
            return check if all(r["decision"] == "block" for r in check.values()) else None

        blocked = await eventually(_all_blocked, timeout=10, interval=0.01)
        delay = time.perf_counter() - published
        assert [r["rule"] for r in blocked[consenting]["reasons"]][0] == "UNI-03"
        assert "UNI-01" in [r["rule"] for r in blocked[objecting]["reasons"]]
        assert f"objection:{own.objection_id}" in blocked[objecting]["evidence"]
        assert "UNI-02" in [r["rule"] for r in blocked[returning]["reasons"]]
        assert f"objection:{by_hash.objection_id}" in blocked[returning]["evidence"]
        assert delay < WITHDRAWAL_BOUND_SECONDS, f"withdrawal to refusal took {delay:.3f}s"

        engine = gate.app.state.service.runtime.engine
        r, k = orm.check_receipts.c, orm.check_chunks.c
        async with engine.connect() as conn:
            receipts = (
                await conn.execute(
                    sa.select(r.decision, r.check_id, r.chunk).where(r.contact_id == consenting)
                )
            ).all()
            checks = {row.check_id for row in receipts}
            chunk_events = (
                (await conn.execute(sa.select(k.event_id).where(k.check_id.in_(checks)))).scalars().all()
            )
            outbox = (
                await conn.execute(sa.select(orm.outbox.c.key).where(orm.outbox.c.event_id.in_(chunk_events)))
            ).all()
        assert {"allow", "block"} <= {row.decision for row in receipts}, "every check is kept as a receipt"
        assert all(row.chunk is not None for row in receipts), "every receipt sits in a Merkle chunk"
        assert len(chunk_events) == len(checks) and [row.key for row in outbox] == [campaign_id] * len(
            checks
        ), "each check's chunk root goes to campaigns.events, keyed by the campaign"


async def test_the_projection_is_idempotent_when_an_event_is_delivered_twice(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        consent = (await _informed_contact(upstream, contact_id, purpose_id)).consent
        assert consent is not None
        envelope = await upstream.withdraw(consent)
        # The relay publishes the same row again, as after a crash between publishing and marking it.
        await upstream.redeliver(envelope)
        engine = gate.app.state.service.runtime.engine

        async def _inbox_count() -> Any:
            async with engine.connect() as conn:
                return await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(orm.inbox)
                    .where(orm.inbox.c.event_id == envelope.id)
                )

        await eventually(_inbox_count, timeout=30)
        service = gate.app.state.service

        async def _fresh() -> Any:
            return not (await service.projection_freshness()).stale and all(
                v == 0 for v in (await service.projection_freshness()).lag.values()
            )

        await eventually(_fresh, timeout=30)
        async with engine.connect() as conn:
            assert await _inbox_count() == 1
            rows = (
                await conn.execute(
                    sa.select(orm.gate_consents.c.consent_id).where(
                        orm.gate_consents.c.consent_id == consent.consent_id
                    )
                )
            ).all()
        assert len(rows) == 1


async def test_approval_needs_no_block_finding_a_justification_for_review_findings_and_four_eyes(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id = str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        client = gate.client
        # Unregistered purpose: PROC-04 blocks, so nobody may approve.
        unregistered = (
            await client.post("/v1/campaigns", json=campaign_body("no-such-purpose"), headers=MARKETER)
        ).json()
        findings = (await client.post(f"/v1/campaigns/{unregistered['id']}/submit", headers=MARKETER)).json()
        assert "PROC-04" in [f["rule"] for f in findings["findings"] if f["severity"] == "block"]
        refused = await client.post(
            f"/v1/campaigns/{unregistered['id']}/approve", json={"sign_offs": []}, headers=REVIEWER
        )
        assert refused.status_code == 422 and "PROC-04" in refused.json()["detail"]

        # The register entry declares the profiling campaign3 does, and its DPIA (else REG-06 blocks).
        await upstream.purpose(purpose_id, profiling=True, dpia_reference="DPIA-2026-14")
        campaign_id = await _approved_campaign(gate, purpose_id)

        # Any change after approval sends the campaign back to draft, and its checks block again.
        changed = await client.patch(
            f"/v1/campaigns/{campaign_id}", json={"product_category": "boots"}, headers=MARKETER
        )
        assert changed.json()["status"] == "draft" and changed.json()["version"] == 2
        check = await _check(client, campaign_id, str(uuid.uuid4()))
        assert check["recipients"][0]["reasons"][0]["rule"] == "CAMPAIGN_NOT_APPROVED"

        # Targeting on religion is flagged with its DISC rule and blocks approval.
        targeted = await client.patch(
            f"/v1/campaigns/{campaign_id}",
            headers=MARKETER,
            json={"targeting": [{"attribute": "religion", "operator": "eq", "value": "catholique"}]},
        )
        assert targeted.status_code == 200
        submitted = (await client.post(f"/v1/campaigns/{campaign_id}/submit", headers=MARKETER)).json()
        assert ("DISC-06", "block") in [(f["rule"], f["severity"]) for f in submitted["findings"]]

        # Four eyes: alice (a reviewer too) created and last changed it; a marketer is no reviewer.
        campaign2 = (
            await client.post("/v1/campaigns", json=campaign_body(purpose_id), headers=MARKETER)
        ).json()
        await client.post(f"/v1/campaigns/{campaign2['id']}/submit", headers=MARKETER)
        own = await client.post(f"/v1/campaigns/{campaign2['id']}/approve", json={}, headers=MARKETER)
        assert own.status_code == 403 and "four eyes" in own.json()["detail"]
        marketer_only = await client.post(
            f"/v1/campaigns/{campaign2['id']}/approve", json={}, headers=_token("carol", "marketer")
        )
        assert marketer_only.status_code == 403

        # Large-scale profiling with a declared DPIA still asks for review (DISC-12): approval needs a
        # structured sign-off, never free text.
        campaign3 = (
            await client.post(
                "/v1/campaigns",
                json=campaign_body(
                    purpose_id, large_scale_profiling=True, uses_profiling=True, dpia_reference="DPIA-2026-14"
                ),
                headers=MARKETER,
            )
        ).json()
        reviewed = (await client.post(f"/v1/campaigns/{campaign3['id']}/submit", headers=MARKETER)).json()
        [finding] = [f for f in reviewed["findings"] if not f["rule"].startswith("STUDY-")]
        assert (finding["rule"], finding["severity"]) == ("DISC-12", "needs_review")
        study = study_sign_offs(reviewed["findings"])
        assert "dpia_carried_out_covers_campaign" in finding["sign_off"]["bases"]
        assert finding["sign_off"]["reference_required"] is True
        bare = await client.post(f"/v1/campaigns/{campaign3['id']}/approve", json={}, headers=REVIEWER)
        assert bare.status_code == 422 and "DISC-12" in bare.json()["detail"]
        assert [e["field"] for e in bare.json()["errors"]] == [
            "sign_offs[DISC-12]",
            *(f"sign_offs[{s['rule']}]" for s in study),
        ]
        free_text = await client.post(
            f"/v1/campaigns/{campaign3['id']}/approve",
            json={"justification": "DPIA ref 2026-14 covers this profiling."},
            headers=REVIEWER,
        )
        assert free_text.status_code == 422 and "justification" in free_text.text
        sign_off = {
            "rule": "DISC-12",
            "basis": "dpia_carried_out_covers_campaign",
            "explanation": "The DPIA of March 2026 covers large-scale profiling for this newsletter.",
            "reference": "DPIA-2026-14",
        }
        wrong_basis = await client.post(
            f"/v1/campaigns/{campaign3['id']}/approve",
            headers=REVIEWER,
            json={"sign_offs": [{**sign_off, "basis": "we accept the risk"}, *study]},
        )
        assert wrong_basis.status_code == 422 and "not a ground" in wrong_basis.text
        justified = await client.post(
            f"/v1/campaigns/{campaign3['id']}/approve",
            json={"sign_offs": [sign_off, *study]},
            headers=REVIEWER,
        )
        assert justified.status_code == 200, justified.text
        [stored] = [s for s in justified.json()["review"]["sign_offs"] if s["rule"] == "DISC-12"]
        assert {k: stored[k] for k in sign_off} == sign_off and stored["evidence"] == ["dpia:DPIA-2026-14"]
        rejected = await client.post(
            f"/v1/campaigns/{campaign2['id']}/reject", json={"justification": "no"}, headers=REVIEWER
        )
        assert rejected.json()["status"] == "rejected"


async def test_a_large_check_streams_ndjson_in_and_out_with_a_summary_and_unknown_contacts_blocked(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, known = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await _informed_contact(upstream, known, purpose_id)
        campaign_id = await _approved_campaign(gate, purpose_id)
        await eventually(lambda: _allowed(gate.client, campaign_id, known), timeout=30, interval=0.2)
        unknown = [str(uuid.uuid4()) for _ in range(2_000)]
        body = b"\n".join(orjson.dumps({"contact_id": c}) for c in [known, *unknown]) + b"\n"
        response = await gate.client.post(
            f"/v1/campaigns/{campaign_id}/checks",
            content=body,
            headers={**MARKETER, "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in response.content.splitlines()]
        receipts, summary = lines[:-1], lines[-1]
        assert len(receipts) == 2_001
        assert receipts[0]["contact_id"] == known and receipts[0]["decision"] == "allow"
        assert {r["decision"] for r in receipts[1:]} == {"block"}
        assert summary["summary"] == {"allow": 1, "needs_review": 0, "block": 2_000}
        assert summary["ruleset_version"]

        # The operator's view of the finished check, and its receipts as a file (by contact id).
        status = await gate.client.get(f"/v1/checks/{summary['check_id']}", headers=MARKETER)
        assert status.status_code == 200, status.text
        assert status.json()["state"] == "finished"
        assert (status.json()["recipients"], status.json()["summary"]) == (2_001, summary["summary"])
        download = await gate.client.get(f"/v1/checks/{summary['check_id']}/receipts", headers=MARKETER)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/x-ndjson")
        assert "attachment" in download.headers["content-disposition"]
        stored = [orjson.loads(line) for line in download.content.splitlines()]
        fields = ("contact_id", "decision", "reasons", "evidence")
        assert stored == sorted(({k: r[k] for k in fields} for r in receipts), key=lambda r: r["contact_id"])
        missing = await gate.client.get(f"/v1/checks/{uuid.uuid4()}", headers=MARKETER)
        assert missing.status_code == 404
        assert (
            await gate.client.get(f"/v1/checks/{uuid.uuid4()}/receipts", headers=MARKETER)
        ).status_code == 404

        bad = await gate.client.post(
            f"/v1/campaigns/{campaign_id}/checks",
            content=b'{"nope": 1}\n',
            headers={**MARKETER, "Content-Type": "application/x-ndjson"},
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["errors"][0]["field"] == "line 1"


async def test_a_check_stopped_midway_resumes_by_id_deciding_only_the_recipients_left(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    """A check dropped after its first batch (a lost connection, a restarted gate) stays `running`; the
    marketer sends its recipients again to `POST /v1/checks/{id}/resume`: only those left are decided,
    under the same id, its chunks go on and every receipt still proves into its chunk's root."""
    purpose_id, known = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await _informed_contact(upstream, known, purpose_id)
        campaign_id = await _approved_campaign(gate, purpose_id)
        await eventually(lambda: _allowed(gate.client, campaign_id, known), timeout=30, interval=0.2)
        ids = [known, *(str(uuid.uuid4()) for _ in range(1_999))]
        service = gate.app.state.service
        # What a streamed check does until its connection drops: the header, then its first batch.
        command = commands.CheckCampaign(campaign_id, "alice", stale=False)
        started, facts = await handlers.start_check(command, service.uow())
        await handlers.check_batch(started, facts, ids[:500], actor="alice", uow=service.uow())
        check_id = started.check_id
        status = (await gate.client.get(f"/v1/checks/{check_id}", headers=MARKETER)).json()
        assert (status["state"], status["recipients"]) == ("running", 500), status

        body = b"\n".join(orjson.dumps({"contact_id": c}) for c in ids) + b"\n"
        resumed = await gate.client.post(
            f"/v1/checks/{check_id}/resume",
            content=body,
            headers={**MARKETER, "Content-Type": "application/x-ndjson"},
        )
        assert resumed.status_code == 200, resumed.text
        *receipts, header = [orjson.loads(line) for line in resumed.content.splitlines()]
        assert [r["contact_id"] for r in receipts] == ids[500:]
        assert header["check_id"] == check_id
        assert header["summary"] == {"allow": 1, "needs_review": 0, "block": 1_999}, header
        status = (await gate.client.get(f"/v1/checks/{check_id}", headers=MARKETER)).json()
        assert (status["state"], status["recipients"]) == ("finished", 2_000), status
        chunks = (await gate.client.get(f"/v1/checks/{check_id}/chunks", headers=MARKETER)).json()
        assert chunks["receipts"] == 2_000
        assert [c["first_index"] for c in chunks["chunks"]] == list(
            itertools.accumulate([0, *(c["count"] for c in chunks["chunks"][:-1])])
        )
        for contact_id in (known, ids[499], ids[500], ids[-1]):
            served = await gate.client.get(f"/v1/checks/{check_id}/receipts/{contact_id}", headers=MARKETER)
            assert served.status_code == 200, served.text
            check_receipt(served.json())

        again = await gate.client.post(
            f"/v1/checks/{check_id}/resume", json={"contact_ids": ids[:3]}, headers=MARKETER
        )
        assert again.status_code == 409, again.text
        assert "finished" in again.json()["detail"]
        unknown = await gate.client.post(
            f"/v1/checks/{uuid.uuid4()}/resume", json={"contact_ids": ids[:3]}, headers=MARKETER
        )
        assert unknown.status_code == 404, unknown.text


async def _allowed(client: Any, campaign_id: str, contact_id: str) -> bool:
    check = await _check(client, campaign_id, contact_id)
    return check["recipients"][0]["decision"] == "allow"


async def test_a_suppression_list_import_hashes_raw_values_and_blocks_matching_recipients(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    indexer = BlindIndexer(BLIND_KEY.encode())
    purpose_id, listed = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await _informed_contact(upstream, listed, purpose_id, email="Listed@Example.org")
        campaign_id = await _approved_campaign(gate, purpose_id)
        await eventually(lambda: _allowed(gate.client, campaign_id, listed), timeout=30, interval=0.2)

        bad = await gate.client.post(
            "/v1/suppression-lists/repoussoir/entries",
            json={"kind": "opposition", "emails": ["ok@example.org", "not-an-email"]},
            headers=ADMIN,
        )
        assert bad.status_code == 422 and "emails[1]" in bad.text and "not-an-email" not in bad.text
        assert (await gate.client.get("/v1/suppression-lists", headers=ADMIN)).json() == []
        forbidden = await gate.client.post(
            "/v1/suppression-lists/repoussoir/entries", json={"emails": ["x@example.org"]}, headers=MARKETER
        )
        assert forbidden.status_code == 403

        imported = await gate.client.post(
            "/v1/suppression-lists/repoussoir/entries",
            json={"kind": "opposition", "emails": [" listed@example.ORG "]},
            headers=ADMIN,
        )
        assert imported.status_code == 201, imported.text
        lists = (await gate.client.get("/v1/suppression-lists", headers=ADMIN)).json()
        assert lists[0]["name"] == "repoussoir" and lists[0]["entries"] == 1 and lists[0]["last_imported_at"]
        receipt = (await _check(gate.client, campaign_id, listed))["recipients"][0]
        assert receipt["decision"] == "block" and receipt["reasons"][0]["rule"] == "UNI-02"
        assert any(e.startswith("suppression:repoussoir:") for e in receipt["evidence"])
        engine = gate.app.state.service.runtime.engine
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(orm.suppression_entries.c.blind_index))).scalars().all()
        assert stored == [indexer.email("listed@example.org")], "only the blind index is kept"


async def test_checks_fail_closed_with_gate_stale_when_the_projection_lags_or_kafka_is_unreachable(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await _informed_contact(upstream, contact_id, purpose_id)
        campaign_id = await _approved_campaign(gate, purpose_id)
        await eventually(lambda: _allowed(gate.client, campaign_id, contact_id), timeout=30, interval=0.2)

    # The same database, but nothing consumes any more while events keep arriving.
    lagging = settings.model_copy(update={"run_consumers": False, "max_projection_lag_seconds": 0.2})
    async with running(create_app(lagging)) as gate:
        await _informed_contact(upstream, str(uuid.uuid4()), purpose_id)

        async def _stale() -> Any:
            check = await _check(gate.client, campaign_id, contact_id)
            return check if check["stale"] else None

        check = await eventually(_stale, timeout=10, interval=0.1)
        assert check["recipients"][0]["decision"] == "block"
        assert check["recipients"][0]["reasons"] == [
            {
                "rule": "GATE_STALE",
                "message": "The gate's projection is behind its topics; checks fail closed.",
            }
        ]

    async def _no_offsets() -> dict[tuple[str, int], int]:
        return {}

    unreachable = KafkaFreshness(
        bootstrap_servers="127.0.0.1:1",
        topics=contracts.CONSUMED_TOPICS,
        bound_seconds=5,
        consumed=_no_offsets,
        timeout_seconds=0.5,
    )
    try:
        freshness = await unreachable.check()
    finally:
        await unreachable.close()
    assert freshness.stale and "Kafka unreachable" in freshness.reason


async def test_the_projection_rebuilds_from_the_topics_with_a_new_consumer_group(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    from campaign_gate.service_layer.commands import ResetProjection
    from campaign_gate.service_layer.handlers import reset_projection

    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    consent_id = ""
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        consent = (await _informed_contact(upstream, contact_id, purpose_id)).consent
        assert consent is not None
        consent_id = consent.consent_id
        await upstream.withdraw(consent)
        await _projected(gate, orm.gate_consents, orm.gate_consents.c.consent_id, consent_id)
        engine = gate.app.state.service.runtime.engine

        async def _withdrawn() -> Any:
            async with engine.connect() as conn:
                return (
                    await conn.scalar(
                        sa.select(orm.gate_consents.c.status).where(
                            orm.gate_consents.c.consent_id == consent_id
                        )
                    )
                    == "withdrawn"
                )

        await eventually(_withdrawn, timeout=30)

    # The rebuild procedure: with the consumer stopped, empty the projection, then consume with a new group.
    from campaign_gate.bootstrap import bootstrap

    stopped = bootstrap(settings)
    try:
        await reset_projection(ResetProjection(), stopped.uow())
        async with stopped.runtime.engine.connect() as conn:
            assert (
                await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(orm.gate_consents)
                    .where(orm.gate_consents.c.consent_id == consent_id)
                )
                == 0
            )
    finally:
        await stopped.runtime.engine.dispose()

    rebuilt = settings.model_copy(update={"consumer_group": f"gate-rebuild-{uuid.uuid4().hex[:8]}"})
    async with running(create_app(rebuilt)) as gate:
        engine = gate.app.state.service.runtime.engine

        async def _replayed() -> Any:
            async with engine.connect() as conn:
                return (
                    await conn.scalar(
                        sa.select(orm.gate_consents.c.status).where(
                            orm.gate_consents.c.consent_id == consent_id
                        )
                    )
                    == "withdrawn"
                )

        # Replayed from the earliest offset, in per-contact order: granted then withdrawn.
        await eventually(_replayed, timeout=60)


async def test_an_erased_contact_is_forgotten_by_the_projection_and_the_gate_confirms_it_on_its_topic(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        informed = await _informed_contact(upstream, contact_id, purpose_id)
        assert informed.consent is not None
        await _projected(gate, orm.gate_consents, orm.gate_consents.c.consent_id, informed.consent.consent_id)
        await _projected(gate, orm.gate_contacts, orm.gate_contacts.c.contact_id, contact_id)
        await upstream.erase(informed.contact)
        engine = gate.app.state.service.runtime.engine

        async def _confirmed() -> Any:
            async with engine.connect() as conn:
                return (
                    (await conn.execute(sa.select(orm.outbox.c.value).where(orm.outbox.c.key == contact_id)))
                    .scalars()
                    .all()
                )

        values = await eventually(_confirmed, timeout=30)
        assert [EventEnvelope.decode(v).type for v in values] == [contracts.CONTACT_FORGOTTEN]
        async with engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(orm.gate_contacts).where(orm.gate_contacts.c.contact_id == contact_id)
                    )
                )
                .mappings()
                .one()
            )
            consents = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(orm.gate_consents)
                .where(orm.gate_consents.c.contact_id == contact_id)
            )
        assert (row["status"], row["email_index"], row["channel_mask"], consents) == ("erased", None, 0, 0)


# --- Parties and contracts (issue 10): what consent says of processors and data brokers -------------


async def test_a_processor_whose_contract_lacks_the_security_clause_is_blocked_at_review_naming_it(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, processor_id = str(uuid.uuid4()), f"p-{uuid.uuid4().hex[:8]}"
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await upstream.processor(
            processor_id=processor_id,
            missing_clauses=["c_security_art32"],
            expires_at=now() + timedelta(days=365),
        )
        await _projected(gate, orm.gate_processors, orm.gate_processors.c.processor_id, processor_id)
        await _projected(gate, orm.gate_purposes, orm.gate_purposes.c.purpose_id, purpose_id)
        created = await gate.client.post(
            "/v1/campaigns", headers=MARKETER, json=campaign_body(purpose_id, processor_id=processor_id)
        )
        submitted = await gate.client.post(f"/v1/campaigns/{created.json()['id']}/submit", headers=MARKETER)
        findings = {f["rule"] if "rule" in f else f["rule_id"]: f for f in submitted.json()["findings"]}
        assert "PROC-02" in findings and "c_security_art32" in findings["PROC-02"]["message"]
        refused = await gate.client.post(
            f"/v1/campaigns/{created.json()['id']}/approve", json={}, headers=REVIEWER
        )
        assert refused.status_code == 422


async def test_a_processor_contract_that_ends_before_send_at_after_approval_blocks_the_check(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id, processor_id, contact_id = str(uuid.uuid4()), f"p-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    async with running(create_app(settings)) as gate:
        await upstream.purpose(purpose_id)
        await _informed_contact(upstream, contact_id, purpose_id)
        processor = await upstream.processor(
            processor_id=processor_id, expires_at=now() + timedelta(days=365)
        )
        await _projected(gate, orm.gate_processors, orm.gate_processors.c.processor_id, processor_id)
        await _projected(gate, orm.gate_contacts, orm.gate_contacts.c.contact_id, contact_id)
        campaign_id = await _approved_campaign(gate, purpose_id, processor_id=processor_id)
        receipt = _by_contact(await _check(gate.client, campaign_id, contact_id))[contact_id]
        assert receipt["decision"] == "allow", receipt

        # The contract is cut short after approval: it now ends before the campaign's send_at.
        await upstream.update_processor(processor, contract_expires_at=now() + timedelta(hours=2))

        async def _blocked() -> Any:
            receipt = _by_contact(await _check(gate.client, campaign_id, contact_id))[contact_id]
            return receipt["decision"] == "block" and "PROC-01" in {r["rule"] for r in receipt["reasons"]}

        await eventually(_blocked, timeout=20)


async def _brokered_contact(upstream: Upstream, contact_id: str, *, broker: str) -> None:
    """A consumer whose e-mail and postal address came from a data broker 5 days ago."""
    await upstream.contact(
        contact_id=contact_id,
        email=f"{contact_id}@example.org",
        postal_address={
            "street": "1 rue de la Paix",
            "postal_code": "75002",
            "city": "Paris",
            "country": "FR",
        },
        collected_from_person=False,
        source="broker",
        broker_name=broker,
        obtained_at=now() - timedelta(days=5),
    )


async def _broker(upstream: Upstream, name: str, *, verified_days_ago: int) -> None:
    """A data broker under contract, whose consent forms we verified `verified_days_ago` days ago."""
    party = await upstream.party(
        name, roles=["data_broker"], broker_last_verified_at=now() - timedelta(days=verified_days_ago)
    )
    await upstream.sign_contract(party, expires_at=now() + timedelta(days=300))


async def test_uni05_applies_to_contacts_from_a_broker_whose_verification_is_stale_and_not_to_others(
    settings: CampaignGateSettings, upstream: Upstream
) -> None:
    purpose_id = str(uuid.uuid4())
    fresh_broker, stale_broker = f"Fresh Data {uuid.uuid4().hex[:6]}", f"Stale Data {uuid.uuid4().hex[:6]}"
    own, from_fresh, from_stale = (str(uuid.uuid4()) for _ in range(3))
    with_max_age = settings.model_copy(update={"broker_verification_max_age_days": 180})
    async with running(create_app(with_max_age)) as gate:
        await upstream.purpose(purpose_id, lawful_basis="legitimate_interests")
        await _broker(upstream, fresh_broker, verified_days_ago=20)
        await _broker(upstream, stale_broker, verified_days_ago=400)
        await _informed_contact(upstream, own, purpose_id, consent=False)
        await _brokered_contact(upstream, from_fresh, broker=fresh_broker)
        await _brokered_contact(upstream, from_stale, broker=stale_broker)
        for contact_id in (own, from_fresh, from_stale):
            await _projected(gate, orm.gate_contacts, orm.gate_contacts.c.contact_id, contact_id)
        await _projected(gate, orm.gate_parties, orm.gate_parties.c.legal_name, stale_broker)
        await _projected(gate, orm.gate_parties, orm.gate_parties.c.legal_name, fresh_broker)
        campaign_id = await _approved_campaign(gate, purpose_id)
        receipts = _by_contact(await _check(gate.client, campaign_id, own, from_fresh, from_stale))
    rules_of = {cid: {r["rule"] for r in receipt["reasons"]} for cid, receipt in receipts.items()}
    assert "UNI-05" in rules_of[from_stale]
    assert "UNI-05" not in rules_of[from_fresh]
    assert "UNI-05" not in rules_of[own]

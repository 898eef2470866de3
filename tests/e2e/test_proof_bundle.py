"""A person's proof-of-consent bundle, end to end: the producers' own events on a real Kafka (a contact, an
Art. 13 notice delivered, a double opt-in consent, its withdrawal, an objection), two real checks on
campaign-gate's API (before and after the withdrawal), the audit log ingesting all of it into
PostgreSQL and signing checkpoints; then the bundle downloaded over HTTP from audit-log (which asks the
gate over HTTP with its own service token), verified offline with `vigie-verify bundle`, and a tampered
copy refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.adapters import orm as gate_orm
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from fastapi import FastAPI
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running, token
from vigie_verify.cli import main as vigie_verify

from tests.bodies import email_campaign_body
from tests.producers import Upstream

pytestmark = pytest.mark.e2e

AUDITOR = auth("auditor")
MARKETER = {"Authorization": f"Bearer {token('marketer', subject='alice')}"}
BLIND_INDEX_KEY = "e2e-proof-bundle-blind-index-key-0123456789"
EMAIL, PHONE = "lea.bundle@example.org", "+33 6 98 76 54 32"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Serves an app whose lifespan already runs (`running`) over real HTTP; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, result=server.started), timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = vigie_verify(list(args))
    return code, out.getvalue() + err.getvalue()


async def test_a_persons_bundle_downloaded_over_http_verifies_offline_and_a_tampered_copy_does_not(
    kafka_bootstrap: str, postgres_admin_url: str, tmp_path: Path
) -> None:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    gate_port = _free_port()
    gate_settings = CampaignGateSettings(
        database_url=await migrated_database(postgres_admin_url, "campaign-gate"),
        consumer_group=f"gate-{suffix}",
        **common,
    )
    audit_settings = AuditLogSettings(
        database_url=await migrated_database(postgres_admin_url, "audit-log"),
        consumer_group=f"audit-{suffix}",
        checkpoint_every_seconds=0.2,
        campaign_gate_url=f"http://127.0.0.1:{gate_port}",
        **common,
    )
    gate_app, audit_app = create_gate_app(gate_settings), create_audit_app(audit_settings)
    async with (
        Upstream(kafka_bootstrap, blind_index_key=BLIND_INDEX_KEY) as up,
        running(audit_app) as audit,
        running(gate_app) as gate,
        _served(gate_app, gate_port),
        _served(audit_app, _free_port()) as log_url,
    ):
        # The person's trail, made and published by the producers' own code.
        person = str(uuid.uuid4())
        await up.contact(contact_id=person, email=EMAIL, phone=PHONE)
        purpose = await up.purpose()
        notice = await up.notice([purpose.purpose_id])
        await up.deliver(notice, person)
        consent = await up.consent(person, purpose.purpose_id, notice=notice)

        engine = gate.app.state.service.runtime.engine

        async def _purpose_projected() -> Any:
            async with engine.connect() as conn:
                return await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(gate_orm.gate_purposes)
                    .where(gate_orm.gate_purposes.c.purpose_id == purpose.purpose_id)
                )

        await eventually(_purpose_projected, timeout=30)
        created = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(purpose.purpose_id), headers=MARKETER
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        # Not approved (the review's study is not the subject here): the gate still decides each
        # recipient, blocking with CAMPAIGN_NOT_APPROVED, and commits the receipts.

        async def _check() -> dict[str, Any]:
            answer = await gate.client.post(
                f"/v1/campaigns/{campaign_id}/checks", json={"contact_ids": [person]}, headers=MARKETER
            )
            assert answer.status_code == 200, answer.text
            return dict(answer.json()["recipients"][0], check_id=answer.json()["check_id"])

        first = await _check()
        await up.withdraw(consent)
        await up.objection(contact_id=person)
        second = await _check()
        assert "CAMPAIGN_NOT_APPROVED" in {r["rule"] for r in second["reasons"]}

        # Everything reached the log and a checkpoint covers it: the bundle has 2 proven receipts.
        async def _bundle() -> httpx.Response | None:
            async with httpx.AsyncClient(base_url=log_url, timeout=30) as client:
                response = await client.get(f"/v1/subjects/{person}/proof-bundle", headers=AUDITOR)
            if response.status_code != 200:
                return None
            body = response.json()
            counts = body["covers"]["counts"]
            types = {e["type"] for e in body["entries"]}
            ready = counts["receipts"] >= 2 and {"vigie.consent.objection_recorded.v1"} <= types
            return response if ready else None

        response = await eventually(_bundle, timeout=30, interval=0.3)
        assert response.headers["content-disposition"] == f'attachment; filename="proof-bundle-{person}.json"'
        assert EMAIL not in response.text and PHONE not in response.text
        bundle = response.json()
        path = tmp_path / "bundle.json"
        path.write_bytes(response.content)

        vkey = (await audit.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]
        code, output = await asyncio.to_thread(_cli, "bundle", str(path), "--vkey", vkey)
        assert code == 0, output
        assert output.startswith(f"OK proof bundle of subject {person}")
        assert "2 gate receipt(s) proven" in output
        for kind in ("contact_created", "notice_delivered", "consent_granted", "consent_withdrawn"):
            assert f"{kind} 1" in output, (kind, output)

        # The bundle's receipts are the gate's two decisions, newest first.
        decided = [(r["check_id"], r["decision"]) for r in bundle["receipts"]]
        assert decided == [(second["check_id"], "block"), (first["check_id"], "block")]
        delivered = next(e for e in bundle["entries"] if e["type"] == "vigie.consent.notice_delivered.v1")
        assert delivered["event"]["data"]["content_hash"] == notice.content_hash

        # A full export of the log shows no entry of the person was left out.
        async with httpx.AsyncClient(base_url=log_url, timeout=30) as client:
            export = await client.get("/v1/export", headers=AUDITOR)
        (tmp_path / "export.ndjson").write_bytes(export.content)
        code, output = await asyncio.to_thread(
            _cli, "bundle", str(path), "--vkey", vkey, "--export", str(tmp_path / "export.ndjson")
        )
        assert code == 0 and "no entry of this subject below size" in output, output

        # A tampered copy: the block decision turned into an allow.
        forged = json.loads(path.read_text())
        served = forged["receipts"][0]
        receipt = json.loads(base64.b64decode(served["canonical"]))
        receipt["decision"] = served["decision"] = "allow"
        served["canonical"] = base64.b64encode(
            json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode()
        ).decode()
        (tmp_path / "forged.json").write_text(json.dumps(forged))
        code, output = await asyncio.to_thread(_cli, "bundle", str(tmp_path / "forged.json"), "--vkey", vkey)
        assert code == 1 and output.startswith("FAILED: receipt #0: the receipt is not in its chunk's tree")

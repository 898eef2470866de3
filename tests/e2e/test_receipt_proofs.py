"""A check's receipts, proven for real: gate HTTP check → chunk events on Kafka → audit-log entries and a
signed checkpoint → `vigie-verify receipt` fetches a receipt file over HTTP and verifies it offline.

Real PostgreSQL for both services, a real Kafka broker between them, and both APIs served by uvicorn on
127.0.0.1 so that the verifier's own HTTP client (urllib) fetches the receipt, the entry, its proof
and the checkpoint exactly as an auditor's would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
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
from campaign_gate import contracts as gate_contracts
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from fastapi import FastAPI
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running, token
from vigie_verify.cli import main as vigie_verify
from vigie_verify.errors import VerificationError
from vigie_verify.receipt import fetch_receipt_file, verify_receipt_file

from tests.bodies import email_campaign_body

pytestmark = pytest.mark.e2e

MARKETER, AUDITOR = auth("marketer"), auth("auditor")
RECIPIENTS = 12_001  # three chunks of a streamed check: 5,000 + 5,000 + 2,001


@pytest.fixture
async def stack(
    kafka_bootstrap: str, postgres_admin_url: str
) -> tuple[CampaignGateSettings, AuditLogSettings]:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    gate_url = await migrated_database(postgres_admin_url, "campaign-gate")
    audit_url = await migrated_database(postgres_admin_url, "audit-log")
    return (
        CampaignGateSettings(database_url=gate_url, consumer_group=f"gate-{suffix}", **common),
        AuditLogSettings(
            database_url=audit_url, consumer_group=f"audit-{suffix}", checkpoint_every_seconds=0.2, **common
        ),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[str]:
    """Serves an app whose lifespan already runs (`running`) over real HTTP; yields its base URL."""
    port = _free_port()
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


async def test_a_receipt_of_a_real_check_verifies_offline_against_the_signed_checkpoint(
    stack: tuple[CampaignGateSettings, AuditLogSettings], tmp_path: Path
) -> None:
    gate_settings, audit_settings = stack
    gate_app, audit_app = create_gate_app(gate_settings), create_audit_app(audit_settings)
    async with (
        running(audit_app) as audit,
        running(gate_app) as gate,
        _served(gate_app) as gate_url,
        _served(audit_app) as log_url,
    ):
        created = await gate.client.post(
            "/v1/campaigns", json=email_campaign_body(f"purpose-{uuid.uuid4().hex[:8]}"), headers=MARKETER
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        ids = [f"rp-{uuid.uuid4().hex[:12]}" for _ in range(RECIPIENTS)]
        body = "".join(json.dumps({"contact_id": cid}) + "\n" for cid in ids)
        response = await gate.client.post(
            f"/v1/campaigns/{campaign_id}/checks",
            content=body,
            headers={**MARKETER, "Content-Type": "application/x-ndjson"},
            timeout=120,
        )
        assert response.status_code == 200, response.text[:500]
        *receipts, header = [json.loads(line) for line in response.text.splitlines()]
        check_id = header["check_id"]
        assert [r["contact_id"] for r in receipts] == ids
        assert {(r["chunk"], r["chunk_index"]) for r in receipts[4999:5001]} == {(0, 4999), (1, 0)}

        # One audit entry per chunk, filed under the campaign: three, not 12,001.
        async def _chunk_entries() -> list[dict[str, Any]]:
            params = {"subject": campaign_id, "type": gate_contracts.RECEIPT_CHUNK_COMMITTED}
            items = (await audit.client.get("/v1/entries", params=params, headers=AUDITOR)).json()["items"]
            return items if len(items) == 3 else []

        entries = await eventually(_chunk_entries, timeout=60, interval=0.2)
        assert [(e["event"]["data"]["chunk"], e["event"]["data"]["count"]) for e in entries] == [
            (0, 5000),
            (1, 5000),
            (2, 2001),
        ]
        last = max(e["index"] for e in entries)
        listed = (await gate.client.get(f"/v1/checks/{check_id}/chunks", headers=AUDITOR)).json()
        assert listed["receipts"] == RECIPIENTS, "the chunks hold every receipt of the check"
        assert [c["event_id"] for c in listed["chunks"]] == [e["event_id"] for e in entries]

        async def _covering_checkpoint() -> bool:
            response = await audit.client.get("/v1/checkpoint", headers=AUDITOR)
            return response.status_code == 200 and int(response.text.split("\n")[1]) > last

        await eventually(_covering_checkpoint, timeout=30, interval=0.2)
        vkey = (await audit.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]

        # The verifier's own HTTP client assembles each file; the check is then offline.
        auditor = token("auditor")
        for position, (chunk, index) in {0: (0, 0), 5000: (1, 0), RECIPIENTS - 1: (2, 2000)}.items():
            bundle = await asyncio.to_thread(
                fetch_receipt_file,
                gate_url=gate_url,
                log_url=log_url,
                gate_token=auditor,
                log_token=auditor,
                check_id=check_id,
                contact_id=ids[position],
            )
            verified = verify_receipt_file(json.loads(json.dumps(bundle)), vkey=vkey)
            assert (verified.chunk, verified.index, verified.count) == (
                chunk,
                index,
                entries[chunk]["event"]["data"]["count"],
            )
            assert verified.entry_index == entries[chunk]["index"]
            assert verified.receipt["decision"] == receipts[position]["decision"]
            assert verified.receipt["reasons"] == receipts[position]["reasons"]

        # The command line, as the README tells an auditor: fetch a file, then verify it.
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            fetched = await asyncio.to_thread(
                vigie_verify,
                [
                    "receipt",
                    "--fetch",
                    "--gate",
                    gate_url,
                    "--url",
                    log_url,
                    "--token",
                    auditor,
                    check_id,
                    ids[7],
                ],
            )
        assert fetched == 0
        (tmp_path / "receipt.json").write_text(out.getvalue())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert vigie_verify(["receipt", str(tmp_path / "receipt.json"), "--vkey", vkey]) == 0
        assert out.getvalue().startswith(f"OK receipt of contact {ids[7]} in check {check_id}")

        # A decision changed in the file, or in the gate's database, no longer verifies.
        forged = copy.deepcopy(bundle)
        raw = json.loads(base64.b64decode(forged["receipt"]["canonical"]))
        raw["decision"] = "allow"
        forged["receipt"]["canonical"] = base64.b64encode(json.dumps(raw).encode()).decode()
        forged["receipt"]["decision"] = "allow"
        with pytest.raises(VerificationError):
            verify_receipt_file(forged, vkey=vkey)
        engine = gate_app.state.service.runtime.engine
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE check_receipts SET decision = 'allow' WHERE check_id = :c AND contact_id = :p"
                ),
                {"c": check_id, "p": ids[RECIPIENTS - 2]},
            )
        async with httpx.AsyncClient(base_url=gate_url) as http:
            tampered = await http.get(
                f"/v1/checks/{check_id}/receipts/{ids[RECIPIENTS - 1]}", headers=AUDITOR
            )
        assert tampered.status_code == 409, "the chunk no longer hashes to the root the audit log holds"
        assert tampered.headers["content-type"].startswith("application/problem+json")
        unknown = await gate.client.get(f"/v1/checks/{check_id}/receipts/nobody", headers=AUDITOR)
        assert unknown.status_code == 404

"""`make demo`'s dataset and story, end to end: the demo's own code drives the four services over real HTTP
(uvicorn on 127.0.0.1, real PostgreSQL, a real Kafka broker between them) and the decisions are the law's.

It asserts the dataset's shape (1,000 people imported in one streamed request: counts by kind, the
rejected and recognised rows, every reference mapped to its contact), that every recipient of the
three campaigns gets the decision its plan says (allow, block and needs-review receipts) and the cast
theirs by the right rule, that the marketer and the reviewer were two people, that the receipt fetched
with its proofs and the person's proof-of-consent bundle verify offline against the signed checkpoint
(and stop verifying once changed), and that a second run reuses the register and checks fresh people
in fresh campaigns.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from fastapi import FastAPI
from shared.testing.harness import common_settings, eventually, migrated_database, running, token
from vigie_verify.bundle import verify_bundle
from vigie_verify.errors import VerificationError
from vigie_verify.receipt import verify_receipt_file

from infra.demo import (
    CAMPAIGNS,
    CAST,
    PURPOSES,
    Dataset,
    Demo,
    DemoError,
    Endpoints,
    Story,
    Tokens,
    make_dataset,
)

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Runs the app (lifespan: relay, consumers) and serves it over real HTTP; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    async with running(app):
        task = asyncio.create_task(server.serve())
        try:
            await eventually(lambda: asyncio.sleep(0, result=server.started), timeout=10)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


def _reference(dataset: Dataset, ref: str) -> dict[str, str]:
    # A reference is unique per source: the lookup names both.
    source = next(row["source"] for row in dataset.rows if row["external_ref"] == ref)
    return {"source": source, "external_ref": ref}


def _tokens() -> Tokens:
    # Two different people submit and approve (four eyes); the harness signs with the test key.
    return Tokens(
        admin=token("admin", subject="demo-admin"),
        integrator=token("integrator", subject="demo-crm"),
        marketer=token("marketer", subject="marketer-alice"),
        reviewer=token("reviewer", subject="reviewer-bob"),
        auditor=token("auditor", subject="auditor-carol"),
    )


async def test_the_demo_story_decides_as_the_law_says_and_its_receipt_verifies(
    kafka_bootstrap: str, postgres_admin_url: str, tmp_path: Path
) -> None:
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    ports = [_free_port() for _ in range(4)]  # audit-log calls the gate for the bundle's receipts
    db = {
        name: await migrated_database(postgres_admin_url, name)
        for name in ("contacts", "consent", "campaign-gate", "audit-log")
    }
    apps = (
        create_contacts_app(
            ContactsSettings(
                database_url=db["contacts"],
                retention_sweep_interval_seconds=0,
                # Because the services share this process: prepared here, no pool of processes to start.
                import_workers=1,
                requests_consumer_group=f"contacts-requests-{suffix}",
                # The access request's export asks these peers, not a `make run` on the default ports.
                consent_url=f"http://127.0.0.1:{ports[1]}",
                campaign_gate_url=f"http://127.0.0.1:{ports[2]}",
                audit_log_url=f"http://127.0.0.1:{ports[3]}",
                **common,
            )
        ),
        create_consent_app(
            ConsentSettings(database_url=db["consent"], consumer_group=f"consent-{suffix}", **common)
        ),
        create_gate_app(
            CampaignGateSettings(database_url=db["campaign-gate"], consumer_group=f"gate-{suffix}", **common)
        ),
        create_audit_app(
            AuditLogSettings(
                database_url=db["audit-log"],
                consumer_group=f"audit-{suffix}",
                checkpoint_every_seconds=0.2,
                campaign_gate_url=f"http://127.0.0.1:{ports[2]}",
                **common,
            )
        ),
    )
    async with (
        _served(apps[0], ports[0]) as contacts,
        _served(apps[1], ports[1]) as consent,
        _served(apps[2], ports[2]) as gate,
        _served(apps[3], ports[3]) as audit,
    ):
        printed: list[str] = []
        endpoints = Endpoints(contacts, consent, gate, audit)
        demo = Demo(endpoints, _tokens(), out=printed.append, timeout=60)
        # The second run is smaller: it shows the demo runs again on the same services, in less time.
        smaller = Demo(endpoints, _tokens(), out=printed.append, timeout=60, size=100)
        try:
            began = time.monotonic()
            story = await asyncio.to_thread(demo.run, workdir=tmp_path)
            took = time.monotonic() - began
            again = await asyncio.to_thread(smaller.run, workdir=tmp_path)
        finally:
            demo.close()
            smaller.close()
        assert took < 60, f"the demo took {took:.0f} s: {story.timings}"
        print(f"demo steps, first run: {story.timings}; second run (100 people): {again.timings}")

        # The dataset: 1,000 people in one streamed import, by kind, each reference mapped to its contact.
        dataset = story.dataset
        assert dataset is not None
        assert Counter(dataset.kinds.values()) == {"prospect": 400, "customer": 350, "b2b": 250}
        summary = next(line for line in story.import_lines if line["type"] == "summary")
        assert (summary["rows"], summary["created"], summary["matched"], summary["rejected"]) == (
            1005,
            1000,
            3,
            2,
        )
        assert any(line["type"] == "progress" for line in story.import_lines)
        rejected = [line for line in story.import_lines if line["type"] == "row"]
        assert [line["external_ref"] for line in rejected] == dataset.bad
        assert all(line["errors"][0]["field"] == "email" for line in rejected)
        assert set(story.imported) == set(dataset.kinds) and len(set(story.imported.values())) == 1000
        async with httpx.AsyncClient(
            base_url=contacts, headers={"Authorization": f"Bearer {_tokens().integrator}"}
        ) as http:
            for kind, wanted in (
                ("prospect", "consumer"),
                ("customer", "consumer"),
                ("b2b", "professional_named"),
            ):
                ref = next(r for r, k in dataset.kinds.items() if k == kind)
                found = (await http.get("/v1/contacts", params=_reference(dataset, ref))).json()
                assert [(c["id"], c["kind"]) for c in found["items"]] == [(story.imported[ref], wanted)]
            for ref in dataset.bad:
                found = (await http.get("/v1/contacts", params=_reference(dataset, ref))).json()
                assert found["items"] == [], "a rejected row stores nothing"

        # Every recipient of each campaign: the decision the dataset's plan gives, all three kinds.
        decided: Counter[str] = Counter()
        for key in CAMPAIGNS:
            expected = {story.imported[ref]: d for ref, d in dataset.expected(key).items()}
            got = {
                r["contact_id"]: r["decision"] for r in story.all_receipts[key] if r["contact_id"] in expected
            }
            assert got == expected, key
            decided.update(got.values())
        assert set(decided) == {"allow", "block", "needs_review"}
        assert len(story.consented) > 100 and len(story.objections) > 10
        assert story.request["kind"] == "access" and story.request["due_at"]

        # Every person's decision and the rule that decides it.
        for person in CAST:
            receipt = story.receipts[person.key]
            rules = [r["rule"] for r in receipt["reasons"]]
            assert receipt["decision"] == person.expected, f"{person.key}: {receipt}"
            assert person.rule in rules, f"{person.key}: {rules}"
            assert "GATE_STALE" not in rules and "NO_LAWFUL_BASIS" not in rules
        assert {p.key for p in CAST if p.expected == "allow"} == {"prospect", "customer"}
        assert {p.expected for p in CAST} == {"allow", "block", "needs_review"}
        assert any(e.startswith("suppression:opposition-demo:") for e in story.receipts["listed"]["evidence"])
        assert story.receipts["prospect"]["evidence"] == [f"consent:{story.consents['prospect']}"]

        # The receipt fetched with its proofs verifies offline against the signed checkpoint.
        assert story.verified.receipt["contact_id"] == story.contacts["customer"]
        assert story.verified.receipt["decision"] == "allow"
        assert story.verify_output.startswith(f"OK receipt of contact {story.contacts['customer']}")
        bundle = json.loads(Path(story.receipt_file).read_text())
        forged = copy.deepcopy(bundle)
        raw = json.loads(base64.b64decode(forged["receipt"]["canonical"]))
        raw["decision"] = forged["receipt"]["decision"] = "block"
        forged["receipt"]["canonical"] = base64.b64encode(json.dumps(raw).encode()).decode()
        with pytest.raises(VerificationError):
            verify_receipt_file(forged, vkey=story.vkey)
        assert "\n".join(printed).count("OK receipt of contact") == 2

        # The person's proof-of-consent bundle verifies offline, and stops verifying once changed.
        proven = story.bundle_result
        assert proven.subject_id == story.contacts["prospect"] and proven.receipts >= 1
        assert {"vigie.consent.consent_granted.v1", "vigie.consent.notice_delivered.v1"} <= set(proven.types)
        assert story.bundle_output.startswith(f"OK proof bundle of subject {story.contacts['prospect']}")
        signed = json.loads(Path(story.bundle_file).read_text())
        forged = copy.deepcopy(signed)
        forged["receipts"][0]["decision"] = (
            "block" if forged["receipts"][0]["decision"] != "block" else "allow"
        )
        with pytest.raises(VerificationError):
            verify_bundle(forged, vkey=story.vkey)
        assert "http://127.0.0.1:8005/login" in "\n".join(printed), "where to look in the console"

        # A second run reuses the register and checks fresh people in fresh campaigns.
        assert again.purposes == story.purposes and again.processor_id == story.processor_id
        assert set(again.campaigns.values()).isdisjoint(story.campaigns.values())
        assert any("reusing purpose" in line for line in printed)
        assert [again.receipts[p.key]["decision"] for p in CAST] == [p.expected for p in CAST]
        assert again.dataset is not None and set(again.imported).isdisjoint(story.imported)
        assert set(again.imported.values()).isdisjoint(story.imported.values())
        for key in CAMPAIGNS:
            expected = {again.imported[ref]: d for ref, d in again.dataset.expected(key).items()}
            assert {
                r["contact_id"]: r["decision"] for r in again.all_receipts[key] if r["contact_id"] in expected
            } == expected

        # The four eyes held: the audit log records two different actors for submission and approval.
        async with httpx.AsyncClient(base_url=audit) as http:
            page = await http.get(
                "/v1/entries",
                params={"subject": story.campaigns["newsletter"]},
                headers={"Authorization": f"Bearer {_tokens().auditor}"},
            )
        async with httpx.AsyncClient(base_url=consent) as http:
            register = await http.get(
                "/v1/register",
                params={"format": "csv"},
                headers={"Authorization": f"Bearer {_tokens().auditor}"},
            )
        async with httpx.AsyncClient(base_url=gate) as http:
            waiting = await http.get(
                f"/v1/campaigns/{story.campaigns['catalogue']}",
                headers={"Authorization": f"Bearer {_tokens().reviewer}"},
            )
        assert waiting.json()["status"] == "submitted", "one campaign is left in the reviewer's queue"
        assert register.status_code == 200, register.text
        assert all(name in register.text for name, _basis in PURPOSES.values()), "the Art. 30 register"
        actors = {e["type"].rsplit(".", 2)[-2]: e["event"]["actor"] for e in page.json()["items"]}
        assert actors["campaign_submitted"] != actors["campaign_approved"], actors


async def test_the_demo_says_to_start_make_run_when_nothing_answers() -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    demo = Demo(Endpoints(closed, closed, closed, closed), _tokens(), out=lambda _line: None, timeout=1)
    try:
        with pytest.raises(DemoError, match="make run"):
            await asyncio.to_thread(demo.run)
    finally:
        demo.close()


def test_the_demo_checks_again_while_the_gate_fails_closed_as_stale() -> None:
    calls: list[str] = []

    def gate(request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.content)["contact_ids"]
        calls.append(request.url.path)
        stale = len(calls) == 1  # the first check meets a projection behind its topics
        reasons = (
            [{"rule": "GATE_STALE", "message": "stale"}] if stale else [{"rule": "ELEC-01", "message": "ok"}]
        )
        receipts = [
            {"contact_id": cid, "decision": "block" if stale else "allow", "reasons": reasons} for cid in ids
        ]
        return httpx.Response(
            200, json={"check_id": f"c{len(calls)}", "stale": stale, "recipients": receipts}
        )

    printed: list[str] = []
    demo = Demo(Endpoints(), _tokens(), out=printed.append, timeout=5, transport=httpx.MockTransport(gate))
    story = Story(tag="t", contacts={p.key: f"id-{p.key}" for p in CAST}, campaigns={k: k for k in CAMPAIGNS})
    try:
        demo.check(story)
    finally:
        demo.close()
    assert len(calls) == len(CAMPAIGNS) + 1, "the stale check was made again, the fresh ones once"
    assert any("GATE_STALE" in line for line in printed)
    assert {r["decision"] for r in story.receipts.values()} == {"allow"}
    assert story.checks["newsletter"]["check_id"] == "c2"


@pytest.mark.parametrize("size", [1000, 100])
def test_the_dataset_has_its_kinds_valid_unique_addresses_and_every_decision(size: int) -> None:
    from datetime import UTC, datetime

    import phonenumbers

    dataset = make_dataset("t0", size, datetime(2026, 12, 7, tzinfo=UTC))
    again = make_dataset("t1", size, datetime(2026, 12, 7, tzinfo=UTC))

    people = [row for row in dataset.rows if row["external_ref"] in dataset.kinds]
    assert Counter(dataset.kinds.values()) == {
        "prospect": size * 40 // 100, "customer": size * 35 // 100, "b2b": size - size * 75 // 100,
    }  # fmt: skip
    assert len(dataset.rows) == size + len(dataset.bad) + len(dataset.repeated)
    unique = {row["external_ref"]: row for row in people}
    assert len(unique) == size
    phones = [row["phone"] for row in unique.values() if "phone" in row]
    assert len(set(phones)) == len(phones), "a phone is one person's: a repeat would be recognised"
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert {row["email"] for row in unique.values()}.isdisjoint(row["email"] for row in again.rows)
    assert set(phones).isdisjoint(row.get("phone") for row in again.rows)
    decisions = Counter(d for key in CAMPAIGNS for d in dataset.expected(key).values())
    assert set(decisions) == {"allow", "block", "needs_review"}

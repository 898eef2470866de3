"""B1s: a 10^6-recipient NDJSON check through `POST /v1/campaigns/{id}/checks`, served, against a bare
endpoint that streams the same ids through and stores them with COPY.

The real campaign-gate app runs under uvicorn (uvloop, httptools, one worker) on PostgreSQL (fsync and
synchronous commit on: durable) with its Kafka broker up (freshness probe, outbox relay). Its
projection is pre-filled with COPY (not timed) with 10^6 contacts: consumers, named professionals and
generic addresses; half with an e-mail consent for the campaign's purpose, 70 % informed by an Art. 13
notice, some customers (soft opt-in), some from a broker, some without an e-mail address. The campaign
(e-mail, legitimate interest, commercial, B2C) is created, submitted and approved through the API.

The first check after the gate starts loads its in-memory view of the projection (contacts, consents,
notice deliveries: `adapters/contact_view.py`); the warm-up check does it, timed apart and not counted.
Timed, per run: from the request's first byte to the last line of the streamed response, which the gate
writes after the check's last transaction committed (receipts, Merkle chunk rows and their outbox
events); the stored receipts are then counted. The baseline (`bench/bare_check_app.py`, same uvicorn
flags and worker count, same PostgreSQL) reads the same NDJSON body, COPYs (check id, contact id,
decision) in one transaction and streams one line per id back. Also measured, to say what bounds the
gate: one COPY of the check's stored receipts into an empty copy of `check_receipts` (same columns and
indexes), the receipts' storage alone.

`python -m bench.b1s_served_check [--n 1000000] [--rounds 1] [--profile]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import machine
from bench.b6_http_write import _create_db, _start
from infra import local_kafka, local_postgres
from infra._proc import free_port, stop_pid, wait_for_port
from tests.bodies import STUDY, study_sign_offs

ROOT = Path(__file__).resolve().parent.parent
PURPOSE = "P-b1s"
SELLER = "Acme SAS"
NOTICE = "N-b1s"
SECRET = "bench-jwt-secret-0123456789abcdef0123456789"


def _contacts(n: int, rng: random.Random, now: datetime) -> tuple[list[str], dict[str, list[tuple]]]:
    """Returns the contact ids and the projection rows to COPY (contacts, consents, deliveries)."""
    from campaign_gate.adapters.projection import CHANNEL_BITS
    from campaign_gate.domain.facts import Channel

    email_bit = CHANNEL_BITS[Channel.EMAIL]
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
    contacts, consents, deliveries = [], [], []
    kinds = ("consumer",) * 7 + ("professional_named",) * 2 + ("legal_person_generic",)
    relationships = ("prospect", "prospect", "account_only", "customer_sale_done")
    for i, cid in enumerate(ids):
        kind = kinds[i % 10]
        relationship = relationships[(i // 10) % 4]
        from_person = i % 13 != 0
        obtained = now - timedelta(days=10 + (i % 1500))
        purchases = (
            json.dumps([{"seller": SELLER, "categories": ["shoes"]}])
            if relationship == "customer_sale_done"
            else "[]"
        )
        contacts.append(
            (
                cid,
                kind,
                relationship,
                "active",
                from_person,
                "sale" if relationship == "customer_sale_done" else ("web_form" if from_person else "broker"),
                None if from_person else "DataCo",
                obtained,
                None,
                None,
                None,
                None,
                None,
                "Europe/Paris",
                "acheteur" if kind == "professional_named" and i % 3 else None,
                email_bit if i % 50 else 0,
                None,
                None,
                purchases,
                "[]",
                "[]",
                None,
                None,
                False,
                1,
                now,
            )
        )
        if i % 2 == 0:
            consents.append(
                (
                    f"k-{cid}",
                    cid,
                    PURPOSE,
                    "email",
                    "granted",
                    obtained,
                    None,
                    NOTICE,
                    1,
                    "controller",
                    SELLER,
                    obtained,
                    i % 40 != 0,
                    True,
                    i % 30 != 0,
                    False,
                    '["data_subject"]',
                    False,
                    now,
                )
            )
        if i % 10 < 7:
            deliveries.append((f"d-{cid}", cid, NOTICE, 1, "email", obtained))
    return ids, {
        "gate_contacts": contacts,
        "gate_consents": consents,
        "gate_notice_deliveries": deliveries,
    }


_COLUMNS = {
    "gate_contacts": (
        "contact_id",
        "kind",
        "relationship",
        "status",
        "collected_from_person",
        "source",
        "broker_name",
        "obtained_at",
        "last_contact_from_person_at",
        "relationship_end_at",
        "retention_rule",
        "majority_on",
        "digital_consent_age_on",
        "timezone",
        "profession",
        "channel_mask",
        "email_index",
        "phone_index",
        "purchases",
        "contracts",
        "call_attempts",
        "last_call_refusal_at",
        "phone_collection",
        "stop_pub",
        "version",
        "updated_at",
    ),
    "gate_consents": (
        "consent_id",
        "contact_id",
        "purpose_id",
        "channel",
        "status",
        "granted_at",
        "withdrawn_at",
        "notice_id",
        "notice_version",
        "collector_kind",
        "collector_name",
        "requested_at",
        "proof_present",
        "positive_act",
        "withdrawal_info_given",
        "explicit",
        "given_by",
        "out_of_hours_calls",
        "updated_at",
    ),
    "gate_notice_deliveries": (
        "delivery_id",
        "contact_id",
        "notice_id",
        "notice_version",
        "channel",
        "delivered_at",
    ),
}


async def _fill(url: str, rows: dict[str, list[tuple]]) -> dict[str, float]:
    """COPYs the projection rows in (JSON columns as text) and returns the seconds each table took."""
    import asyncpg

    conn = await asyncpg.connect(url)
    took: dict[str, float] = {}
    try:
        await conn.execute(
            "INSERT INTO gate_purposes (purpose_id, version, name, lawful_basis, retired, "
            "art14_exemption_claimed) VALUES ($1, 1, 'Prospection', 'legitimate_interest', false, false)",
            PURPOSE,
        )
        await conn.execute(
            "INSERT INTO gate_notices (notice_id, version, article, purpose_ids) VALUES ($1, 1, '13', $2)",
            NOTICE,
            json.dumps([PURPOSE]),
        )
        for table, records in rows.items():
            started = time.perf_counter()
            types = {
                r["column_name"]: r["data_type"]
                for r in await conn.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1",
                    table,
                )
            }
            json_columns = [i for i, c in enumerate(_COLUMNS[table]) if types[c] in ("json", "jsonb")]
            if json_columns:
                # Because asyncpg's binary COPY has no codec for json: stage as text, then cast.
                stage = f"stage_{table}"
                await conn.execute(
                    f"CREATE TEMP TABLE {stage} AS SELECT * FROM {table} WITH NO DATA"  # noqa: S608
                )
                for i in json_columns:
                    await conn.execute(f"ALTER TABLE {stage} ALTER COLUMN {_COLUMNS[table][i]} TYPE text")
                await conn.copy_records_to_table(stage, records=records, columns=_COLUMNS[table])
                select = ", ".join(
                    f"{c}::{types[c]}" if i in json_columns else c for i, c in enumerate(_COLUMNS[table])
                )
                await conn.execute(
                    f"INSERT INTO {table} ({', '.join(_COLUMNS[table])}) SELECT {select} FROM {stage}"  # noqa: S608
                )
                await conn.execute(f"DROP TABLE {stage}")
            else:
                await conn.copy_records_to_table(table, records=records, columns=_COLUMNS[table])
            took[table] = round(time.perf_counter() - started, 2)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return took


def _token(subject: str, role: str) -> dict[str, str]:
    from shared.auth import issue_local_token

    token = issue_local_token(
        secret=SECRET, issuer="vigie-local", audience="vigie", roles=[role], subject=subject, ttl_seconds=7200
    )
    return {"Authorization": f"Bearer {token}"}


async def _approved_campaign(client: httpx.AsyncClient, now: datetime) -> str:
    body = {
        "purpose_id": PURPOSE,
        "channel": "email",
        "sender_entity": SELLER,
        "message": {
            "subject": "Nos nouvelles chaussures",
            "body": "Découvrez la collection de printemps.",
            "unsubscribe_mechanism": "https://acme.example/stop",
            "unsubscribe_free": True,
            "right_to_object_statement": True,
            "sender_identification": SELLER,
            "subject_related_to_offer": True,
            "objection_reminder": True,
        },
        "product_category": "shoes",
        "professional_target": ["acheteur"],
        "send_at": (now + timedelta(days=1)).isoformat(),
        "study": STUDY,
    }
    marketer, reviewer = _token("mia", "marketer"), _token("rob", "reviewer")
    created = await client.post("/v1/campaigns", json=body, headers=marketer)
    created.raise_for_status()
    campaign_id = created.json()["id"]
    submitted = await client.post(f"/v1/campaigns/{campaign_id}/submit", headers=marketer)
    submitted.raise_for_status()
    # The review asks only the sign-off of each answer of the study (issue 19).
    signed = {"sign_offs": study_sign_offs(submitted.json()["findings"])}
    assert len(signed["sign_offs"]) == len(submitted.json()["findings"]), submitted.text
    approved = await client.post(f"/v1/campaigns/{campaign_id}/approve", json=signed, headers=reviewer)
    approved.raise_for_status()
    return str(campaign_id)


async def _stream(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]
) -> dict[str, Any]:
    """Posts an NDJSON body and reads the streamed answer; returns seconds, lines and the last line."""
    started = time.perf_counter()
    first_line_at = None
    lines, last = 0, b""
    pending = b""
    async with client.stream(
        "POST", path, content=body, headers={**headers, "Content-Type": "application/x-ndjson"}
    ) as response:
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_bytes():
            if first_line_at is None:
                first_line_at = time.perf_counter() - started
            pending += chunk
            *complete, pending = pending.split(b"\n")
            lines += len(complete)
            if complete:
                last = complete[-1]
    seconds = time.perf_counter() - started
    if pending.strip():
        lines, last = lines + 1, pending
    return {
        "seconds": round(seconds, 3),
        "first_line_seconds": round(first_line_at or 0.0, 3),
        "lines": lines,
        "last": json.loads(last),
    }


async def _count(url: str, query: str, *args: Any) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def _receipts_copy(url: str, check_id: str) -> float:
    """Returns the seconds one COPY takes to store the check's receipts again, as the gate stores them
    (same columns, JSON as text, the same indexes) into an empty copy of `check_receipts`: what storing
    the receipts alone costs on this machine, the part of the check no projection read or rule changes."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        records = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT check_id, contact_id, decision, reasons::text, evidence::text, chunk, chunk_index "
                "FROM check_receipts WHERE check_id = $1",
                check_id,
            )
        ]
        table = f"b1s_receipts_{uuid.uuid4().hex[:6]}"
        await conn.execute(f"CREATE TABLE {table} (LIKE check_receipts INCLUDING INDEXES)")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(
                table,
                records=records,
                columns=("check_id", "contact_id", "decision", "reasons", "evidence", "chunk", "chunk_index"),
            )
        seconds = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {table}")
        return round(seconds, 3)
    finally:
        await conn.close()


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    from shared.migrations import upgrade

    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    gate_url = await _create_db(admin, f"b1s_gate_{uuid.uuid4().hex[:6]}")
    bare_url = await _create_db(admin, f"b1s_bare_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "campaign-gate", gate_url)
    now = datetime.now(UTC)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    ids, rows = _contacts(args.n, rng, now)
    fill = await _fill(gate_url, rows)
    fill["build_rows"] = round(time.perf_counter() - started - sum(fill.values()), 2)
    del rows
    body = b"".join(json.dumps(cid).encode() + b"\n" for cid in ids)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "VIGIE_JWT_SECRET": SECRET,
        "CAMPAIGN_GATE_DATABASE_URL": gate_url.replace("postgresql://", "postgresql+asyncpg://"),
        "BARE_DATABASE_URL": bare_url,
        "VIGIE_LOG_LEVEL": "WARNING",
    }
    gate_port, bare_port = free_port(), free_port()
    profile = run / "gate.prof" if args.profile else None
    pids = [
        _start(
            ["campaign_gate.main:app", "--factory", "--port", str(gate_port)],
            env,
            run,
            "gate",
            profile=profile,
        ),
        _start(["bench.bare_check_app:app", "--port", str(bare_port)], env, run, "bare"),
    ]
    rounds = []
    warm_seconds = 0.0
    try:
        wait_for_port(gate_port, timeout=90, log=run / "gate.log")
        wait_for_port(bare_port, timeout=60, log=run / "bare.log")
        timeout = httpx.Timeout(600.0)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{gate_port}", timeout=timeout) as gate,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{bare_port}", timeout=timeout) as bare,
        ):
            campaign_id = await _approved_campaign(gate, now)
            path = f"/v1/campaigns/{campaign_id}/checks"
            marketer = _token("mia", "marketer")
            # Warm-up (not timed): a small check, which must not fail closed and loads the gate's in-memory
            # view of the projection (as the first check after a start does), and a small bare run.
            warm = await _stream(
                gate, path, b"".join(json.dumps(c).encode() + b"\n" for c in ids[:2000]), marketer
            )
            assert warm["last"]["stale"] is False, warm
            warm_seconds = warm["seconds"]
            await _stream(bare, "/bare/checks", body[: 39 * 2000], {})
            for _ in range(args.rounds):
                load_before = Path("/proc/loadavg").read_text().split()[:3]
                ours = await _stream(gate, path, body, marketer)
                stored = await _count(
                    gate_url,
                    "SELECT count(*) FROM check_receipts WHERE check_id = $1",
                    ours["last"]["check_id"],
                )
                base = await _stream(bare, "/bare/checks", body, {})
                base_stored = await _count(
                    bare_url,
                    "SELECT count(*) FROM bare_receipts WHERE check_id = $1::uuid",
                    base["last"]["check_id"],
                )
                assert ours["lines"] == args.n + 1 and stored == args.n, (ours, stored)
                assert base["lines"] == args.n + 1 and base_stored == args.n, (base, base_stored)
                receipts_copy = await _receipts_copy(gate_url, ours["last"]["check_id"])
                rounds.append(
                    {
                        "ours_seconds": ours["seconds"],
                        "ours_first_line_seconds": ours["first_line_seconds"],
                        "ours_summary": ours["last"]["summary"],
                        "ours_stored_receipts": stored,
                        "bare_seconds": base["seconds"],
                        "bare_stored": base_stored,
                        "ratio": round(ours["seconds"] / base["seconds"], 2),
                        "receipts_copy_seconds": receipts_copy,
                        "loadavg_before": load_before,
                        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
                    }
                )
                print(json.dumps(rounds[-1]), flush=True)
    finally:
        for pid in pids:
            stop_pid(pid)
        if profile is not None and profile.exists():
            import pstats

            stats = pstats.Stats(str(profile))
            stats.sort_stats("tottime").print_stats(40)
            # The check's own path (the import of the app at start-up is in the profile too).
            stats.sort_stats("cumulative").print_stats("campaign_gate|shared/|asyncpg|starlette|receipts", 60)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    best = min(rounds, key=lambda r: r["ours_seconds"])
    return {
        "benchmark": "B1s served check: 10^6-recipient NDJSON POST /v1/campaigns/{id}/checks, request start "
        "to last receipt durably stored (PostgreSQL, fsync on), campaign-gate under uvicorn, one worker",
        "baseline": "bare endpoint (same uvicorn flags, one worker, same PostgreSQL): reads the same NDJSON "
        "ids, stores them with one asyncpg COPY, streams one line per id back",
        "recipients": args.n,
        "projection_fill_seconds_not_timed": fill,
        "warm_up_check_seconds_not_timed": warm_seconds,
        "rounds": rounds,
        "ours_seconds": best["ours_seconds"],
        "bare_seconds": best["bare_seconds"],
        "ratio": best["ratio"],
        "targets": {"ours_seconds": "<= 10", "ratio": "<= 3"},
        "met": {"seconds": best["ours_seconds"] <= 10, "ratio": best["ratio"] <= 3},
        "flags": {"profile": args.profile, "uvicorn": "--loop uvloop --http httptools, 1 worker"},
        "machine": machine(note="2 cores shared with other sessions' work: see loadavg per round"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b1s_served_check")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--profile", action="store_true", help="run the gate under cProfile, print the top")
    parser.add_argument(
        "--out", help="write the result here (default: bench/results/b1s_served_check.json for a 10^6 run)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigie-b1s-") as tmp:
        result = asyncio.run(_bench(args, Path(tmp)))
    out = args.out or (
        str(ROOT / "bench" / "results" / "b1s_served_check.json")
        if args.n == 1_000_000 and not args.profile
        else None
    )
    if out:
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("ours_seconds", "bare_seconds", "ratio", "met")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""B6: the contacts write endpoint (row + outbox in one transaction) vs a bare one-INSERT endpoint.

Both run under uvicorn (uvloop, httptools, one worker) on the same PostgreSQL, with Kafka up and
the contacts relay publishing, durability on. Runs alternate A/B/A/B so that drift cancels out;
the report gives requests/s, p50/p99 and the ratios, plus an open-loop p99 at a fixed rate.
`python -m bench.b6_http_write [--seconds 10] [--rounds 2] [--rate 1000]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench.loadgen import RunResult, build_request, closed_loop, open_loop
from infra import local_kafka, local_postgres
from infra._proc import free_port, stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def _start(args: list[str], env: dict[str, str], run: Path, name: str) -> Path:
    log = open(run / f"{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--loop", "uvloop",
                             "--http", "httptools", "--no-access-log", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid = run / f"{name}.pid"
    pid.write_text(str(proc.pid))
    return pid


async def _create_db(admin: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def _summary(result: RunResult) -> dict[str, float]:
    return {"rps": round(result.rps, 1), "p50_ms": round(result.percentile(0.5), 2),
            "p99_ms": round(result.percentile(0.99), 2), "errors": result.errors, "requests": result.requests}


async def _bench(args: argparse.Namespace, run: Path) -> dict:
    from shared.auth import issue_local_token
    from shared.migrations import upgrade

    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    contacts_url = await _create_db(admin, f"b6_contacts_{uuid.uuid4().hex[:6]}")
    bare_url = await _create_db(admin, f"b6_bare_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", contacts_url)
    secret = "bench-jwt-secret-0123456789abcdef0123456789"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "VIGIE_PROFILE": "test", "VIGIE_JWT_SECRET": secret,
           "CONTACTS_DATABASE_URL": contacts_url, "BARE_DATABASE_URL": bare_url, "VIGIE_LOG_LEVEL": "WARNING"}
    contacts_port, bare_port = free_port(), free_port()
    pids = [_start(["contacts.main:app", "--factory", "--port", str(contacts_port)], env, run, "contacts"),
            _start(["bench.bare_insert_app:app", "--port", str(bare_port)], env, run, "bare")]
    try:
        wait_for_port(contacts_port, timeout=60, log=run / "contacts.log")
        wait_for_port(bare_port, timeout=60, log=run / "bare.log")
        await asyncio.sleep(2)
        token = issue_local_token(secret=secret, issuer="vigie-local", audience="vigie", roles=["integrator"],
                                  subject="bench", ttl_seconds=3600)

        def contact_request() -> bytes:
            body = json.dumps({"kind": "consumer", "email": f"p{uuid.uuid4().hex}@example.org",
                               "collected_from_person": True, "source": "web_form",
                               "obtained_at": "2026-10-01T10:00:00+00:00"}).encode()
            return build_request(contacts_port, "/v1/contacts", body, {"Authorization": f"Bearer {token}"})

        def bare_request() -> bytes:
            body = json.dumps({"kind": "consumer", "email": f"p{uuid.uuid4().hex}@example.org",
                               "source": "web_form"}).encode()
            return build_request(bare_port, "/bare", body, {})

        # Warm-up both.
        await closed_loop(contacts_port, contact_request, connections=8, seconds=3)
        await closed_loop(bare_port, bare_request, connections=8, seconds=3)
        rounds = []
        for _ in range(args.rounds):
            ours = await closed_loop(contacts_port, contact_request, connections=args.connections, seconds=args.seconds)
            bare = await closed_loop(bare_port, bare_request, connections=args.connections, seconds=args.seconds)
            rounds.append({"ours": _summary(ours), "bare": _summary(bare)})
        ours_open = await open_loop(contacts_port, contact_request, rate=args.rate, seconds=args.seconds)
        bare_open = await open_loop(bare_port, bare_request, rate=args.rate, seconds=args.seconds)
    finally:
        for pid in pids:
            stop_pid(pid)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    ours_rps = sum(r["ours"]["rps"] for r in rounds) / len(rounds)
    bare_rps = sum(r["bare"]["rps"] for r in rounds) / len(rounds)
    ours_p99 = sum(r["ours"]["p99_ms"] for r in rounds) / len(rounds)
    bare_p99 = sum(r["bare"]["p99_ms"] for r in rounds) / len(rounds)
    return {
        "benchmark": "B6 HTTP write (contacts POST: validation, encryption, blind indexes, row + outbox, relay on)",
        "baseline": "bare FastAPI endpoint, one asyncpg INSERT, same uvicorn settings, same PostgreSQL",
        "closed_loop": {"connections": args.connections, "seconds_per_run": args.seconds, "rounds": rounds,
                        "ours_rps": round(ours_rps, 1), "bare_rps": round(bare_rps, 1),
                        "rps_ratio": round(ours_rps / bare_rps, 3), "ours_p99_ms": round(ours_p99, 2),
                        "bare_p99_ms": round(bare_p99, 2), "p99_ratio": round(ours_p99 / bare_p99, 3)},
        "open_loop": {"target_rate": args.rate, "ours": _summary(ours_open), "bare": _summary(bare_open),
                      "p99_ratio": round(ours_open.percentile(0.99) / bare_open.percentile(0.99), 3)},
        "targets": {"rps_ratio": ">= 0.8", "p99_ratio": "<= 1.5", "p99_at_1000_rps_ms": "<= 10"},
        "machine": {"python": platform.python_version(), "uname": " ".join(platform.uname()),
                    "cpus": os.cpu_count()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b6_http_write")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1000)
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="vigie-b6-"))
    report = asyncio.run(_bench(args, run))
    out = ROOT / "bench" / "results" / "b6_http_write.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

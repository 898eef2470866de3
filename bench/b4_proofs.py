"""B4: inclusion-proof API latency against a fetch-by-id endpoint of the same service, same load.

A PostgreSQL log of `--entries` entries is built through the service's append path and
checkpointed; the audit-log app runs under uvicorn (uvloop, httptools, one worker, Kafka up).
Closed-loop runs alternate A/B: `GET /v1/proofs/inclusion?index=<random>&tree_size=<n>` (ours) and
`GET /v1/entries/<random>` (baseline: one row by primary key, its subject key joined, decrypted).
A sample of the served proofs is verified with vigie_verify against the signed checkpoint.
`python -m bench.b4_proofs [--entries 100000] [--seconds 8] [--rounds 2] [--connections 8]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench import local_token, machine
from bench.b5_verify import build_log
from bench.loadgen import RunResult, closed_loop
from infra import local_kafka, local_postgres
from infra._proc import free_port, stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-jwt-secret-0123456789abcdef0123456789"


def _get(port: int, path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def _summary(result: RunResult) -> dict[str, float]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.percentile(0.5), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "errors": result.errors,
        "requests": result.requests,
    }


def _check_proofs(port: int, token: str, size: int, samples: int) -> int:
    """Verifies sampled served proofs against the served, signed checkpoint; returns how many."""
    from vigie_verify.checkpoint import open_checkpoint
    from vigie_verify.merkle import verify_inclusion

    def fetch(path: str) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request) as response:
            return response.read()

    vkey = json.loads(fetch("/v1/public-key"))["vkey"]
    checkpoint = open_checkpoint(fetch("/v1/checkpoint").decode(), vkey=vkey)
    assert checkpoint.size == size, (checkpoint.size, size)
    for index in random.sample(range(size), samples):
        proof = json.loads(fetch(f"/v1/proofs/inclusion?index={index}&tree_size={size}"))
        verify_inclusion(
            leaf_hash=bytes.fromhex(proof["leaf_hash"]),
            index=index,
            tree_size=size,
            proof=[bytes.fromhex(h) for h in proof["audit_path"]],
            root=checkpoint.root_hash,
        )
    return samples


async def _bench(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    url = await build_log(admin, args.entries)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "VIGIE_JWT_SECRET": SECRET,
        "AUDIT_LOG_DATABASE_URL": url,
        "AUDIT_LOG_RUN_CONSUMERS": "false",
        "VIGIE_LOG_LEVEL": "WARNING",
        "AUDIT_LOG_CHECKPOINT_EVERY_SECONDS": "60",
    }
    port = free_port()
    log = open(run / "audit.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "audit_log.main:app",
            "--factory",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid = run / "audit.pid"
    pid.write_text(str(proc.pid))
    size = args.entries
    try:
        wait_for_port(port, timeout=60, log=run / "audit.log")
        token = local_token(SECRET, "auditor")
        verified = await asyncio.to_thread(_check_proofs, port, token, size, args.verify_samples)

        def proof() -> bytes:
            return _get(port, f"/v1/proofs/inclusion?index={random.randrange(size)}&tree_size={size}", token)

        def by_id() -> bytes:
            return _get(port, f"/v1/entries/{random.randrange(size)}", token)

        await closed_loop(port, proof, connections=args.connections, seconds=2)
        await closed_loop(port, by_id, connections=args.connections, seconds=2)
        rounds = []
        for _ in range(args.rounds):
            ours = await closed_loop(port, proof, connections=args.connections, seconds=args.seconds)
            bare = await closed_loop(port, by_id, connections=args.connections, seconds=args.seconds)
            rounds.append({"proof": _summary(ours), "fetch_by_id": _summary(bare)})
    finally:
        stop_pid(pid)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")

    def mean(side: str, key: str) -> float:
        return sum(r[side][key] for r in rounds) / len(rounds)

    return {
        "benchmark": "B4 inclusion-proof API latency "
        "(GET /v1/proofs/inclusion, random index, full tree size)",
        "baseline": "GET /v1/entries/{index} on the same service: one row by primary key, decrypted",
        "entries": size,
        "connections": args.connections,
        "seconds_per_run": args.seconds,
        "rounds": rounds,
        "proofs_verified_against_checkpoint": verified,
        "proof_p99_ms": round(mean("proof", "p99_ms"), 2),
        "fetch_p99_ms": round(mean("fetch_by_id", "p99_ms"), 2),
        "p99_ratio": round(mean("proof", "p99_ms") / mean("fetch_by_id", "p99_ms"), 3),
        "proof_rps": round(mean("proof", "rps"), 1),
        "fetch_rps": round(mean("fetch_by_id", "rps"), 1),
        "targets": {"p99_ratio": "<= 1.5"},
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b4_proofs")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--verify-samples", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b4_proofs.json"))
    args = parser.parse_args()
    report = asyncio.run(_bench(args, Path(tempfile.mkdtemp(prefix="vigie-b4-"))))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

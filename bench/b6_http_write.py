"""B6: the contacts write endpoint (row + outbox in one transaction) vs a bare one-INSERT endpoint.

Both run under uvicorn (uvloop, httptools) with the same number of workers (default: one per core)
on the same PostgreSQL, with Kafka up and the contacts relay publishing in its own process
(`contacts.relay`, as deployed; `--relay in-process --workers 1` is the former layout), durability
on. Runs alternate A/B/A/B so that drift cancels out; the report gives requests/s, p50/p99, server
CPU per request (every process of each side) and the ratios, plus an open-loop p99 at a fixed rate.
`python -m bench.b6_http_write [--seconds 10] [--rounds 2] [--rate 1000] [--workers N] [--relay …]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench import local_token, machine
from bench.loadgen import RunResult, build_request, closed_loop, open_loop
from infra import local_kafka, local_postgres
from infra._proc import free_port, stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def _start(
    args: list[str], env: dict[str, str], run: Path, name: str, *, profile: Path | None = None
) -> Path:
    log = open(run / f"{name}.log", "ab")  # noqa: SIM115
    if profile is not None:
        # uvicorn re-raises SIGTERM after a graceful shutdown, which would kill the process before
        # cProfile writes its file; this runs the server in-process with a harmless handler instead.
        return _start_profiled(args, env, run, name, profile, log)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
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
    pid = run / f"{name}.pid"
    pid.write_text(str(proc.pid))
    return pid


_PROFILED_SERVER = """
import cProfile, signal, sys, uvicorn
signal.signal(signal.SIGTERM, lambda *_: None)
app_ref, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = uvicorn.Config(app_ref, factory=True, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                        access_log=False, log_level="warning")
server = uvicorn.Server(config)
signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
profiler = cProfile.Profile()
profiler.enable()
try:
    server.run()
finally:
    profiler.disable()
    profiler.dump_stats(out)
"""


def _start_profiled(
    args: list[str], env: dict[str, str], run: Path, name: str, profile: Path, log: object
) -> Path:
    port = args[args.index("--port") + 1]
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROFILED_SERVER, args[0], port, str(profile)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid = run / f"{name}.pid"
    pid.write_text(str(proc.pid))
    return pid


async def _create_db(admin: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def _cpu_seconds(pid: int) -> float:
    """Returns the user + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pids: list[int]) -> float:
    """Returns the CPU seconds used so far by processes and all their descendants (uvicorn workers)."""
    total = 0.0
    todo = list(pids)
    while todo:
        pid = todo.pop()
        try:
            total += _cpu_seconds(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _relay_passes(port: int | None) -> dict[str, float]:
    """Returns the relay process's pass counters (its /metrics), or nothing when it runs in-process."""
    if port is None:
        return {}
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    wanted = {
        'outbox_relay_passes_total{outcome="with_rows"}': "passes_with_rows",
        'outbox_relay_passes_total{outcome="empty"}': "passes_empty",
        "outbox_published_total": "published",
    }
    found = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in wanted:
            found[wanted[name]] = float(value)
    return found


def _cpu(seconds: float, result: RunResult) -> dict[str, float]:
    return {
        "server_cpu_percent": round(100 * seconds / result.seconds, 1),
        "server_cpu_ms_per_request": round(1000 * seconds / max(result.requests, 1), 2),
    }


def _summary(result: RunResult) -> dict[str, float]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.percentile(0.5), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "errors": result.errors,
        "requests": result.requests,
    }


async def _bench(args: argparse.Namespace, run: Path) -> dict:
    from shared.migrations import upgrade

    admin = os.environ.get("VIGIE_TEST_DATABASE_URL") or local_postgres.start(run / "pg")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start(run / "kafka")
    contacts_url = await _create_db(admin, f"b6_contacts_{uuid.uuid4().hex[:6]}")
    bare_url = await _create_db(admin, f"b6_bare_{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", contacts_url)
    secret = "bench-jwt-secret-0123456789abcdef0123456789"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": "test",
        "VIGIE_JWT_SECRET": secret,
        "CONTACTS_DATABASE_URL": contacts_url,
        "BARE_DATABASE_URL": bare_url,
        "VIGIE_LOG_LEVEL": "WARNING",
        "CONTACTS_RUN_RELAY": "true" if args.relay == "in-process" and not args.no_relay else "false",
        "CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
        # As deployed (deploy/base/contacts): the API processes run no consumer, its own Deployment does.
        "CONTACTS_RUN_CONSUMERS": "false" if args.relay == "separate" else "true",
    }
    contacts_port, bare_port, relay_port = free_port(), free_port(), free_port()
    profile = run / "contacts.prof" if args.profile == "api" else None
    relay_profile = run / "relay.prof" if args.profile == "relay" else None
    # Because a profiled server runs in-process, it is one worker; both sides keep the same count.
    workers = 1 if profile is not None else args.workers
    if args.relay == "in-process" and workers > 1:
        raise SystemExit("--relay in-process runs one relay per worker: use --workers 1")
    per_side = ["--workers", str(workers)] if workers > 1 else []
    pids = [
        _start(
            ["contacts.main:app", "--factory", "--port", str(contacts_port), *per_side],
            env,
            run,
            "contacts",
            profile=profile,
        ),
        _start(["bench.bare_insert_app:app", "--port", str(bare_port), *per_side], env, run, "bare"),
    ]
    if args.relay == "separate" and not args.no_relay:
        pids.append(
            _start(
                ["contacts.relay:app", "--factory", "--port", str(relay_port)],
                env,
                run,
                "relay",
                profile=relay_profile,
            )
        )
    try:
        wait_for_port(contacts_port, timeout=60, log=run / "contacts.log")
        wait_for_port(bare_port, timeout=60, log=run / "bare.log")
        if len(pids) > 2:
            wait_for_port(relay_port, timeout=60, log=run / "relay.log")
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        await asyncio.sleep(2)
        token = local_token(secret, "integrator")

        def contact_request() -> bytes:
            body = json.dumps(
                {
                    "kind": "consumer",
                    "email": f"p{uuid.uuid4().hex}@example.org",
                    "collected_from_person": True,
                    "source": "web_form",
                    "obtained_at": "2026-10-01T10:00:00+00:00",
                }
            ).encode()
            return build_request(contacts_port, "/v1/contacts", body, {"Authorization": f"Bearer {token}"})

        def bare_request() -> bytes:
            body = json.dumps(
                {"kind": "consumer", "email": f"p{uuid.uuid4().hex}@example.org", "source": "web_form"}
            ).encode()
            return build_request(bare_port, "/bare", body, {})

        # Warm-up both.
        await closed_loop(contacts_port, contact_request, connections=8, seconds=3)
        await closed_loop(bare_port, bare_request, connections=8, seconds=3)
        rounds = []
        # Ours counts its API workers and its relay process; the bare side its workers.
        cpu_pids = {
            "ours": [int(p.read_text()) for p in pids[:1] + pids[2:]],
            "bare": [int(pids[1].read_text())],
        }
        relay_pids = [int(p.read_text()) for p in pids[2:]]
        passes_port = relay_port if relay_pids else None
        for _ in range(args.rounds):
            passes_before = _relay_passes(passes_port)
            before = _tree_cpu_seconds(cpu_pids["ours"])
            relay_before = _tree_cpu_seconds(relay_pids)
            ours = await closed_loop(
                contacts_port, contact_request, connections=args.connections, seconds=args.seconds
            )
            ours_cpu = _tree_cpu_seconds(cpu_pids["ours"]) - before
            relay_cpu = _tree_cpu_seconds(relay_pids) - relay_before
            passes = {k: v - passes_before.get(k, 0.0) for k, v in _relay_passes(passes_port).items()}
            before = _tree_cpu_seconds(cpu_pids["bare"])
            bare = await closed_loop(
                bare_port, bare_request, connections=args.connections, seconds=args.seconds
            )
            bare_cpu = _tree_cpu_seconds(cpu_pids["bare"]) - before
            rounds.append(
                {
                    "ours": {
                        **_summary(ours),
                        **_cpu(ours_cpu, ours),
                        # Of which the relay process (publishing each event to Kafka), when separate.
                        "relay_cpu_ms_per_request": round(1000 * relay_cpu / max(ours.requests, 1), 2),
                        # The relay's passes meanwhile (since issue 15's third round): rows per pass
                        # and the passes that found nothing (woken for rows a pass had taken already).
                        "relay_passes": passes,
                    },
                    "bare": {**_summary(bare), **_cpu(bare_cpu, bare)},
                }
            )
        ours_open = await open_loop(contacts_port, contact_request, rate=args.rate, seconds=args.seconds)
        bare_open = await open_loop(bare_port, bare_request, rate=args.rate, seconds=args.seconds)
    finally:
        for pid in pids:
            stop_pid(pid)
        for profiled in (profile, relay_profile):
            if profiled is not None and profiled.exists():
                import pstats

                stats = pstats.Stats(str(profiled))
                stats.sort_stats("tottime").print_stats(35)
                stats.sort_stats("cumulative").print_stats(45)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            local_kafka.stop(run / "kafka")
        if "VIGIE_TEST_DATABASE_URL" not in os.environ:
            local_postgres.stop(run / "pg")
    ours_rps = sum(r["ours"]["rps"] for r in rounds) / len(rounds)
    bare_rps = sum(r["bare"]["rps"] for r in rounds) / len(rounds)
    ours_p99 = sum(r["ours"]["p99_ms"] for r in rounds) / len(rounds)
    bare_p99 = sum(r["bare"]["p99_ms"] for r in rounds) / len(rounds)
    return {
        "benchmark": "B6 HTTP write "
        "(contacts POST: validation, encryption, blind indexes, row + outbox, relay on)",
        "baseline": "bare FastAPI endpoint, one asyncpg INSERT, same uvicorn settings and worker count, "
        "same PostgreSQL",
        "closed_loop": {
            "connections": args.connections,
            "seconds_per_run": args.seconds,
            "rounds": rounds,
            "ours_rps": round(ours_rps, 1),
            "bare_rps": round(bare_rps, 1),
            "rps_ratio": round(ours_rps / bare_rps, 3),
            "ours_p99_ms": round(ours_p99, 2),
            "bare_p99_ms": round(bare_p99, 2),
            "p99_ratio": round(ours_p99 / bare_p99, 3),
        },
        "open_loop": {
            "target_rate": args.rate,
            "ours": _summary(ours_open),
            "bare": _summary(bare_open),
            "p99_ratio": round(ours_open.percentile(0.99) / bare_open.percentile(0.99), 3),
        },
        "relay": "off" if args.no_relay else args.relay,
        "workers_per_side": workers,
        "flags": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connections": args.connections,
            "rate": args.rate,
            "workers": workers,
            "relay": args.relay,
        },
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "targets": {"rps_ratio": ">= 0.8", "p99_ratio": "<= 1.5", "p99_at_1000_rps_ms": "<= 10"},
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b6_http_write")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn workers on each side (default: one per core)",
    )
    parser.add_argument(
        "--relay",
        choices=["separate", "in-process"],
        default="separate",
        help="contacts' relay in its own process (contacts.relay, as deployed) or inside the one API worker",
    )
    parser.add_argument(
        "--no-relay",
        action="store_true",
        help="diagnosis only: no relay in the contacts process (events stay in the outbox)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="api",
        choices=["api", "relay"],
        help="run contacts' API (one worker; the default) or its relay process under cProfile and print "
        "the hottest functions (figures not comparable)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "b6_http_write.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="vigie-b6-"))
    report = asyncio.run(_bench(args, run))
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make run` / `make stop` / `make token`: Vigie on one machine, four services on SQLite and a local Kafka.

`start` fetches and starts Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), migrates each service's
database, starts the four services with uvicorn in the background (PIDs under .run/pids) and
prints their URLs. Contacts runs as deployed: one API worker per core, its outbox relay in its own
process, its consumer and retention sweep in another. The campaign-gate's projection consumer runs in
its own process too, so an import's events are applied without taking the API's event loop from the
checks. `stop` stops everything `start` started, by
PID. `token ROLE` prints a token.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra import local_kafka
from infra._proc import stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
SERVICES = [  # (folder, package, port)
    ("contacts", "contacts", 8001),
    ("consent", "consent", 8002),
    ("campaign-gate", "campaign_gate", 8003),
    ("audit-log", "audit_log", 8004),
]


#: The console (server-rendered pages over the four APIs, with the signed-in person's token).
CONSOLE_PORT = 8005

#: Where contacts' relay and its background work (consumer, retention sweep) answer /readyz.
CONTACTS_RELAY_PORT = 8011
CONTACTS_BACKGROUND_PORT = 8012
#: Where the campaign-gate's projection consumer answers /readyz.
GATE_CONSUMER_PORT = 8013


def _processes() -> list[tuple[str, str, int, dict[str, str], list[str]]]:
    """Returns (name, app factory, port, environment, uvicorn arguments) of every process to start.

    Contacts runs as in its Deployments: as many API workers as cores, which only write the outbox;
    the relay in its own process (`contacts.relay`); the consumer and the retention sweep in one more.
    The campaign-gate's API keeps its relay and leaves the projection's consumer to a process of its
    own, as its consumer Deployment does: checks read the consumed offsets from the database, so they
    answer the same wherever the consumer runs.
    """
    workers = os.cpu_count() or 1
    processes: list[tuple[str, str, int, dict[str, str], list[str]]] = []
    for folder, package, port in SERVICES:
        if folder == "campaign-gate":
            processes += [
                (folder, f"{package}.main:app", port, {"CAMPAIGN_GATE_RUN_CONSUMERS": "false"}, []),
                (
                    "campaign-gate-consumer",
                    f"{package}.main:app",
                    GATE_CONSUMER_PORT,
                    {"CAMPAIGN_GATE_RUN_RELAY": "false"},
                    [],
                ),
            ]
            continue
        if folder != "contacts":
            processes.append((folder, f"{package}.main:app", port, {}, []))
            continue
        api_only = {
            "CONTACTS_RUN_RELAY": "false",
            "CONTACTS_RUN_CONSUMERS": "false",
            "CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS": "0",
        }
        processes += [
            (
                "contacts",
                "contacts.main:app",
                port,
                api_only,
                ["--workers", str(workers)] if workers > 1 else [],
            ),
            (
                "contacts-relay",
                "contacts.relay:app",
                CONTACTS_RELAY_PORT,
                {"CONTACTS_RUN_CONSUMERS": "false"},
                [],
            ),
            (
                "contacts-background",
                "contacts.main:app",
                CONTACTS_BACKGROUND_PORT,
                {"CONTACTS_RUN_RELAY": "false", "CONTACTS_REQUESTS_WATCH_INTERVAL_SECONDS": "0"},
                [],
            ),
        ]
    processes.append(("console", "console.main:app", CONSOLE_PORT, {}, []))
    return processes


def _env(kafka: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "VIGIE_PROFILE": os.environ.get("VIGIE_PROFILE", "local"),
    }
    for folder, _package, _port in SERVICES:
        prefix = folder.upper().replace("-", "_")
        env.setdefault(f"{prefix}_DATABASE_URL", f"sqlite+aiosqlite:///{RUN / (folder + '.db')}")
    return env


def start() -> int:
    """Starts Kafka, migrates, starts the services and prints where they answer."""
    RUN.mkdir(exist_ok=True)
    (RUN / "logs").mkdir(exist_ok=True)
    (RUN / "pids").mkdir(exist_ok=True)
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not kafka:
        print("starting Kafka (KRaft, single node) ...", flush=True)
        kafka = local_kafka.start(RUN / "kafka")
    env = _env(kafka)
    from shared.migrations import upgrade

    for folder, _package, _port in SERVICES:
        prefix = folder.upper().replace("-", "_")
        upgrade(ROOT / "services" / folder, env[f"{prefix}_DATABASE_URL"])
    for name, app, port, extra_env, extra_args in _processes():
        log = open(RUN / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child.
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                *extra_args,
            ],
            cwd=ROOT,
            env={**env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (RUN / "pids" / f"{name}.pid").write_text(str(proc.pid))
    for name, _app, port, _extra_env, _extra_args in _processes():
        wait_for_port(port, timeout=60, log=RUN / "logs" / f"{name}.log")
        _wait_ready(port)
    print(f"\nVigie is running (Kafka at {kafka}):")
    for folder, _package, port in SERVICES:
        print(f"  {folder:<14} http://127.0.0.1:{port}   docs: http://127.0.0.1:{port}/docs")
    print(f"  {'console':<14} http://127.0.0.1:{CONSOLE_PORT}   sign in with a token from `make token`")
    print(
        f"  (contacts: {os.cpu_count() or 1} API workers; its relay answers /readyz on "
        f":{CONTACTS_RELAY_PORT}, its consumer and retention sweep on :{CONTACTS_BACKGROUND_PORT};\n"
        f"   the campaign-gate's projection consumer on :{GATE_CONSUMER_PORT})"
    )
    print("\nGet a token:  make token ROLE=integrator   (roles: integrator marketer reviewer auditor admin)")
    print('The DPO\'s console pages need two roles:  make token ROLE="admin auditor"')
    print("Logs: .run/logs/   Stop: make stop")
    return 0


def _wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the service on port {port} is not ready after {timeout}s; see .run/logs/")


def stop() -> int:
    """Stops the services and Kafka that `start` started."""
    for name, _app, _port, _extra_env, _extra_args in _processes():
        stop_pid(RUN / "pids" / f"{name}.pid")
    local_kafka.stop(RUN / "kafka")
    print("Vigie stopped.")
    return 0


def token(role: str) -> int:
    """Prints a bearer token for the role (or roles, separated by spaces or commas), signed with the
    configured local key."""
    from shared.auth import issue_local_token
    from shared.settings import ServiceSettings

    settings = ServiceSettings()
    print(
        issue_local_token(
            secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles=role.replace(",", " ").split(),
            subject=f"local-{'-'.join(role.replace(',', ' ').split())}",
            client="make-token",
            ttl_seconds=8 * 3600,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.run")
    parser.add_argument("action", choices=["start", "stop", "token"])
    # Several roles make one token: `make token ROLE="admin auditor"` (the DPO's console pages).
    parser.add_argument("role", nargs="*", default=["integrator"])
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop}.get(args.action, lambda: token(" ".join(args.role)))()


if __name__ == "__main__":
    raise SystemExit(main())

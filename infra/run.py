"""`make run` / `make stop` / `make token`: Vigie on one machine, four services on SQLite and a local Kafka.

`start` fetches and starts Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), migrates each service's
database, starts the four services with uvicorn in the background (PIDs under .run/pids) and
prints their URLs. `stop` stops everything `start` started, by PID. `token ROLE` prints a token.
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
    for folder, package, port in SERVICES:
        log = open(RUN / "logs" / f"{folder}.log", "ab")  # noqa: SIM115 - owned by the child.
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"{package}.main:app",
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
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (RUN / "pids" / f"{folder}.pid").write_text(str(proc.pid))
    for folder, _package, port in SERVICES:
        wait_for_port(port, timeout=60, log=RUN / "logs" / f"{folder}.log")
        _wait_ready(port)
    print(f"\nVigie is running (Kafka at {kafka}):")
    for folder, _package, port in SERVICES:
        print(f"  {folder:<14} http://127.0.0.1:{port}   docs: http://127.0.0.1:{port}/docs")
    print("\nGet a token:  make token ROLE=integrator   (roles: integrator marketer reviewer auditor admin)")
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
    for folder, _package, _port in SERVICES:
        stop_pid(RUN / "pids" / f"{folder}.pid")
    local_kafka.stop(RUN / "kafka")
    print("Vigie stopped.")
    return 0


def token(role: str) -> int:
    """Prints a bearer token for the role, signed with the configured local key."""
    from shared.auth import issue_local_token
    from shared.settings import ServiceSettings

    settings = ServiceSettings()
    print(
        issue_local_token(
            secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles=[role],
            subject=f"local-{role}",
            client="make-token",
            ttl_seconds=8 * 3600,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.run")
    parser.add_argument("action", choices=["start", "stop", "token"])
    parser.add_argument("role", nargs="?", default="integrator")
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop}.get(args.action, lambda: token(args.role))()


if __name__ == "__main__":
    raise SystemExit(main())

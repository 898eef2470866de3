"""Runs a single-node KRaft Apache Kafka broker on 127.0.0.1 from Maven Central jars.

`python -m infra.local_kafka fetch` resolves the broker's classpath with Maven into `.kafka/libs`.
`python -m infra.local_kafka start --dir D` formats fresh storage, starts the broker on free ports,
waits for it and writes `D/bootstrap` and `D/kafka.pid`. `stop --dir D` stops it by that PID.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from infra._proc import free_port, stop_pid, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "kafka"
LIBS = ROOT / ".kafka" / "libs"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
    f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
]

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
"""


def fetch() -> None:
    """Resolves the broker's runtime jars from Maven Central into .kafka/libs (idempotent)."""
    if LIBS.exists() and any(LIBS.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("mvn") is None:
        sys.exit("mvn is not installed: install Maven (apt-get install -y maven) and Java 17+")
    LIBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(HERE / "pom.xml"),
            DEPENDENCY_PLUGIN,
            "-DincludeScope=runtime",
            f"-DoutputDirectory={LIBS}",
        ],
        check=True,
    )


def _java(*args: str, log: Path | None = None, background: bool = False) -> subprocess.Popen | None:
    cmd = ["java", *JVM_OPTS, "-cp", str(LIBS / "*"), *args]
    if background:
        out = open(log, "ab")  # noqa: SIM115 - the child process owns it from here on.
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return None


def start(run_dir: Path, *, timeout: float = 90.0) -> str:
    """Starts a fresh broker under run_dir and returns its bootstrap address."""
    fetch()
    if (run_dir / "kafka.pid").exists():
        stop(run_dir)
    shutil.rmtree(run_dir / "data", ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    broker_port, controller_port = free_port(), free_port()
    props = run_dir / "server.properties"
    props.write_text(
        SERVER_PROPERTIES.format(
            broker_port=broker_port, controller_port=controller_port, data_dir=run_dir / "data"
        )
    )
    # Because the tool reads an id starting with "-" as an option (one run in 64 failed so).
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    _java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted")
    log = run_dir / "kafka.out"
    proc = _java("kafka.Kafka", str(props), log=log, background=True)
    assert proc is not None
    (run_dir / "kafka.pid").write_text(str(proc.pid))
    try:
        wait_for_port(broker_port, timeout=timeout, log=log)
    except TimeoutError:
        stop(run_dir)
        raise
    bootstrap = f"127.0.0.1:{broker_port}"
    (run_dir / "bootstrap").write_text(bootstrap)
    return bootstrap


def stop(run_dir: Path) -> bool:
    """Stops the broker started under run_dir, if any."""
    return stop_pid(run_dir / "kafka.pid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local_kafka")
    parser.add_argument("action", choices=["fetch", "start", "stop"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".run" / "kafka")
    args = parser.parse_args(argv)
    if args.action == "fetch":
        fetch()
    elif args.action == "start":
        print(start(args.dir))
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())

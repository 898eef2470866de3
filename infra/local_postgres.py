"""Provides PostgreSQL without Docker: Debian's server, a private cluster on a free port on 127.0.0.1.

`python -m infra.local_postgres start --dir D` installs the `postgresql` package when its server is
absent, initialises a fresh cluster owned by the `postgres` user, starts it and writes the admin URL
to `D/url`. `stop --dir D` stops it. The caller may skip all this by exporting `DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from infra._proc import free_port

ROOT = Path(__file__).resolve().parent.parent


def _bindir() -> Path | None:
    base = Path("/usr/lib/postgresql")
    versions = (
        sorted(
            (p for p in base.glob("*/bin") if (p / "postgres").exists()),
            key=lambda p: int(p.parent.name),
            reverse=True,
        )
        if base.exists()
        else []
    )
    return versions[0] if versions else None


def install() -> Path:
    """Returns the server's bin directory, installing Debian's postgresql package if needed."""
    bindir = _bindir()
    if bindir is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
        bindir = _bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found after installing the postgresql package")
    return bindir


def _as_postgres(cmd: list[str]) -> list[str]:
    # Because initdb and postgres refuse to run as root, which CI is.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start(run_dir: Path) -> str:
    """Starts a fresh private cluster and returns its admin URL."""
    bindir = install()
    if (run_dir / "pgdata").exists():
        stop(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Because every directory above the data directory must be traversable by `postgres`.
    parent = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    parent.chmod(0o755)
    data = parent / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB"
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(data / "server.log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    (run_dir / "pgdata").write_text(str(data))
    (run_dir / "url").write_text(url)
    return url


def stop(run_dir: Path) -> bool:
    """Stops the cluster started under run_dir and removes its data; True if one was running."""
    marker = run_dir / "pgdata"
    if not marker.exists():
        return False
    data = Path(marker.read_text().strip())
    marker.unlink()
    bindir = _bindir()
    if bindir and data.exists():
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(data.parent, ignore_errors=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local_postgres")
    parser.add_argument("action", choices=["install", "start", "stop"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".run" / "postgres")
    args = parser.parse_args(argv)
    if args.action == "install":
        install()
    elif args.action == "start":
        print(start(args.dir))
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

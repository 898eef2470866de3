"""Process helpers shared by the local Kafka and PostgreSQL launchers."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float, log: Path | None = None) -> None:
    """Waits until 127.0.0.1:port accepts connections or raises TimeoutError with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s\n{tail}")


def pid_alive(pid: int) -> bool:
    """Tells whether a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid_file: Path, *, grace: float = 15.0) -> bool:
    """Stops the process recorded in pid_file (SIGTERM, then SIGKILL after grace); True if one was running."""
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip())
    pid_file.unlink()
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    # Because a broker stuck in controlled shutdown must not outlive the run that started it.
    os.kill(pid, signal.SIGKILL)
    return True

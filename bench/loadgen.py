"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams (closed loop or open loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class RunResult:
    """What one load run measured."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


def build_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Returns the raw bytes of a POST."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *[f"{k}: {v}" for k, v in headers.items()],
        "",
        "",
    ]
    return "\r\n".join(head).encode() + body


async def closed_loop(
    port: int, make_request: Callable[[], bytes], *, connections: int, seconds: float
) -> RunResult:
    """Runs `connections` clients back to back for `seconds`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def _client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await _request(reader, writer, make_request())
            latencies.append((time.perf_counter() - started) * 1000)
            if status >= 300:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*[_client() for _ in range(connections)])
    return RunResult(len(latencies), errors, time.perf_counter() - started, latencies)


async def open_loop(
    port: int, make_request: Callable[[], bytes], *, rate: float, seconds: float, connections: int = 32
) -> RunResult:
    """Sends at a constant rate whatever the responses do; latency counts from the scheduled time."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter()

    async def _one(scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status = await _request(*conn, make_request())
        finally:
            pool.put_nowait(conn)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if status >= 300:
            errors += 1

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait()[1].close()
    return RunResult(len(latencies), errors, elapsed, latencies)

"""How far the projection is behind its topics: end offsets from Kafka against the offsets it recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class Freshness:
    """The projection's state at one moment: stale or not, why, and the records behind per partition."""

    stale: bool
    reason: str
    lag: dict[str, int] = field(default_factory=dict)


class KafkaFreshness:
    """Says whether the projection is stale: Kafka unreachable, or records unconsumed for over
    `bound_seconds`.

    The consumed offsets come from the database (written in the same transaction as each event), so
    this works whether the consumers run in the API's process or in their own.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Iterable[str],
        bound_seconds: float,
        consumed: Callable[[], Awaitable[dict[tuple[str, int], int]]],
        options: dict[str, str] | None = None,
        timeout_seconds: float = 1.0,
        catch_up_seconds: float = 0.5,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = list(topics)
        self._bound = bound_seconds
        self._consumed = consumed
        self._options = options or {}
        self._timeout = timeout_seconds
        self._catch_up = catch_up_seconds
        self._client: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()
        # (topic, partition) → (consumed offset when first seen behind, monotonic time then).
        self._behind_since: dict[tuple[str, int], tuple[int, float]] = {}

    async def _end_offsets(self) -> dict[tuple[str, int], int]:
        async with self._starting:
            await self._connect()
        client = self._client
        assert client is not None
        return await self._ends_of(client)

    async def _connect(self) -> None:
        if self._client is None:
            client = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                enable_auto_commit=False,
                request_timeout_ms=int(self._timeout * 1000) + 1000,
                **self._options,
            )
            try:
                await asyncio.wait_for(client.start(), self._timeout * 5)
            except BaseException:
                await client.stop()
                raise
            self._client = client

    async def _ends_of(self, client: AIOKafkaConsumer) -> dict[tuple[str, int], int]:
        partitions = []
        for topic in self._topics:
            ids = client.partitions_for_topic(topic)
            if not ids:
                await asyncio.wait_for(client._client.force_metadata_update(), self._timeout)  # noqa: SLF001
                ids = client.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in ids]
        ends = await asyncio.wait_for(client.end_offsets(partitions), self._timeout)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def check(self) -> Freshness:
        """Returns whether checks must fail closed now."""
        try:
            ends = await self._end_offsets()
        except Exception as exc:  # noqa: BLE001 - any failure to reach Kafka means we cannot vouch for freshness.
            return Freshness(True, f"Kafka unreachable ({type(exc).__name__})")
        if not ends:
            return Freshness(True, "no partition of the consumed topics is known")
        consumed = await self._caught_up_or_latest(ends)
        now = time.monotonic()
        lag: dict[str, int] = {}
        oldest = 0.0
        for key, end in ends.items():
            position = consumed.get(key, 0)
            behind = max(0, end - position)
            lag[f"{key[0]}:{key[1]}"] = behind
            if behind == 0:
                self._behind_since.pop(key, None)
                continue
            since = self._behind_since.get(key)
            if since is None or since[0] != position:
                # Because the consumer moved (or was never seen behind), the lag starts counting now.
                since = (position, now)
                self._behind_since[key] = since
            oldest = max(oldest, now - since[1])
        if oldest > self._bound:
            return Freshness(
                True, f"projection behind its topics for {oldest:.1f}s (bound {self._bound}s)", lag
            )
        return Freshness(False, "fresh", lag)

    async def _caught_up_or_latest(self, ends: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Waits, briefly, until the projection has applied everything published before this check began.

        Because an event already on the topic when a check starts (a withdrawal, an objection) must
        weigh on that check: deciding before it is applied would be a late "allow".
        """
        deadline = time.monotonic() + self._catch_up
        while True:
            consumed = await self._consumed()
            if all(consumed.get(key, 0) >= end for key, end in ends.items()) or time.monotonic() >= deadline:
                return consumed
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        """Disconnects from Kafka."""
        if self._client is not None:
            await self._client.stop()
            self._client = None

"""Test doubles of the platform's ports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PublishedRecord:
    """One record an InMemoryPublisher received."""

    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class InMemoryPublisher:
    """Records what would have been published; can be told to fail after N records."""

    records: list[PublishedRecord] = field(default_factory=list)
    fail_after: int | None = None

    async def publish(self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Records the record, or raises ConnectionError once `fail_after` records were taken."""
        if self.fail_after is not None and len(self.records) >= self.fail_after:
            raise ConnectionError("simulated broker failure")
        self.records.append(PublishedRecord(topic, key, value, headers))

    async def send(self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> object:
        """Publishes at once and returns an already-resolved acknowledgement."""
        await self.publish(topic=topic, key=key, value=value, headers=headers)
        return _resolved()


async def _resolved() -> None:
    return None

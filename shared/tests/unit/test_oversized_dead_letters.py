"""A record near the broker's limit is still dead-lettered (cut to fit), and a record refused for its size
does not break the producer session."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from shared.kafka import MAX_DEAD_LETTER_BYTES, KafkaPublisher, fit_dead_letter


def test_a_record_that_fits_is_dead_lettered_whole() -> None:
    value, headers = fit_dead_letter(b"x" * 1000, b"key", [("dlq-group", b"g")])
    assert value == b"x" * 1000 and headers == [("dlq-group", b"g")]


def test_a_record_too_large_with_its_headers_keeps_its_start_its_size_and_its_hash() -> None:
    original = b"y" * 1_048_400
    value, headers = fit_dead_letter(original, b"k" * 36, [("dlq-error", b"e" * 1000)])
    marks = dict(headers)
    size = len(value) + 36 + sum(len(k) + len(v) for k, v in headers)
    assert size <= MAX_DEAD_LETTER_BYTES
    assert original.startswith(value) and len(value) > 990_000
    assert marks["dlq-value-truncated"] == b"1048400"
    assert marks["dlq-value-sha256"] == hashlib.sha256(original).hexdigest().encode()
    # Cut again (the cluster's limit is lower): the marks are not repeated, the value is gone.
    again, headers = fit_dead_letter(original, b"k", headers, limit=0)
    assert again == b"" and [k for k, _ in headers].count("dlq-value-truncated") == 1


class _RefusingProducer:
    """Refuses every record as too large, as aiokafka's `send` does past `max_request_size`."""

    def __init__(self, **_config: Any) -> None:
        self.client = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, *_args: Any, **_kwargs: Any) -> asyncio.Future[object]:
        raise MessageSizeTooLargeError("too large")


async def test_records_refused_for_their_size_never_mark_the_session_broken() -> None:
    publisher = KafkaPublisher(
        "fake:9092",
        client_id="test",
        producer_factory=_RefusingProducer,  # type: ignore[arg-type]
        ack_timeout=0.05,
    )
    await publisher.start()
    for _ in range(5):
        try:
            await publisher.send(topic="t", key="k", value=b"v", headers=[])
        except MessageSizeTooLargeError:
            pass
        await asyncio.sleep(0.02)
    assert not publisher.reconnecting and publisher.health.failed == 5

"""The dead-letter headers (which group, why, from where) and the outbox's refusal of an oversized event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord
from shared.events import EventEnvelope
from shared.kafka import MAX_DEAD_LETTER_MESSAGE, PoisonMessageError, dead_letter_headers
from shared.outbox import MAX_EVENT_BYTES, EventTooLargeError, add, add_many, outbox_table, row_for
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine


def _record(headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="contacts.events",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"c-1",
        value=b"{not json",
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=9,
        headers=headers or [("traceparent", b"00-abc-def-01")],
    )


def test_a_dead_lettered_record_names_the_group_the_error_and_where_it_came_from() -> None:
    headers = dict(
        dead_letter_headers(_record(), PoisonMessageError("undecodable event: X"), group_id="campaign-gate")
    )
    assert headers["dlq-group"] == b"campaign-gate"
    assert headers["dlq-error-class"] == b"PoisonMessageError"
    assert headers["dlq-error-message"] == b"undecodable event: X"
    assert (headers["dlq-topic"], headers["dlq-partition"], headers["dlq-offset"]) == (
        b"contacts.events",
        b"2",
        b"41",
    )
    assert headers["dlq-source"] == b"contacts.events:2:41"
    assert headers["traceparent"] == b"00-abc-def-01"


def test_the_error_message_is_bounded_and_stays_utf8() -> None:
    headers = dict(dead_letter_headers(_record(), ValueError("é" * 5000), group_id="g"))
    assert len(headers["dlq-error-message"]) <= MAX_DEAD_LETTER_MESSAGE
    assert len(headers["dlq-error"]) <= MAX_DEAD_LETTER_MESSAGE
    headers["dlq-error-message"].decode()
    headers["dlq-error"].decode()


def test_a_replayed_record_dead_lettered_again_carries_only_the_latest_reasons() -> None:
    earlier = [("dlq-group", b"consent"), ("dlq-error-class", b"OldError"), ("correlationid", b"cid")]
    headers = dead_letter_headers(_record(earlier), None, group_id="audit-log")
    keys = [key for key, _ in headers]
    assert keys.count("dlq-group") == 1
    assert dict(headers)["dlq-group"] == b"audit-log"
    assert dict(headers)["dlq-error-class"] == b"unknown"
    assert dict(headers)["correlationid"] == b"cid"


def _event(size: int) -> EventEnvelope:
    return EventEnvelope(source="t", type="t.happened", subject="s-1", actor="a", data={"blob": "x" * size})


def test_an_event_larger_than_a_kafka_record_is_refused_before_the_outbox() -> None:
    assert row_for(_event(10_000), topic="t")["value"]
    with pytest.raises(EventTooLargeError, match=r"t\.happened event would be \d+ bytes"):
        row_for(_event(MAX_EVENT_BYTES), topic="t")


async def test_the_outbox_writes_nothing_of_a_transaction_with_an_oversized_event() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    table = outbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    async with AsyncSession(engine) as session:
        with pytest.raises(EventTooLargeError):
            await add(session, table, _event(MAX_EVENT_BYTES), topic="t")
        with pytest.raises(EventTooLargeError):
            await add_many(session, table, [("t", _event(10)), ("t", _event(MAX_EVENT_BYTES))])
        assert (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0
    await engine.dispose()

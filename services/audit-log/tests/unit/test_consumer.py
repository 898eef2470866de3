"""The consumer entry point: a polled batch of the producers' events is one group commit; undecodable
records are handed back for the dead-letter topic while the rest of the batch is appended."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import ConsumerRecord
from audit_log.bootstrap import AuditLog
from audit_log.entrypoints.consumer import batch_handler, decode_record, integrate_records
from audit_log.service_layer.commands import ConsumedEvent
from audit_log_fakes import FakeUnitOfWork
from shared.kafka import PoisonMessageError, decode_or_poison

from tests.producers import Upstream

BLIND_INDEX_KEY = "audit-log-unit-tests-blind-index-key-0123"


def _record(topic: str, value: bytes | None, offset: int) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value or b""),
        headers=(),
    )


@pytest.fixture
async def published() -> list[tuple[str, bytes]]:
    """A contact created, a consent objection and a gate confirmation, as their producers publish them."""
    async with Upstream(None, blind_index_key=BLIND_INDEX_KEY) as upstream:
        await upstream.contact(contact_id="c-1")
        await upstream.objection(contact_id="c-1")
        await upstream.gate_contact_forgotten("c-1")
        return [(topic, value) for topic, _key, value, _headers in upstream.publisher.records]


async def test_undecodable_records_are_refused_and_the_rest_of_the_batch_is_appended(
    published: list[tuple[str, bytes]],
) -> None:
    good = [_record(topic, value, n) for n, (topic, value) in enumerate(published)]
    garbage = [
        _record("contacts.events", b"{not json", 10),
        _record("consent.events", None, 11),
        _record("campaigns.events", b'{"specversion": "1.0"}', 12),
    ]
    uow = FakeUnitOfWork()

    batch = [good[0], garbage[0], good[1], garbage[1], good[2], garbage[2]]

    entries, refused = await integrate_records(batch, uow)

    assert [r for r, _ in refused] == garbage
    assert all(isinstance(exc, PoisonMessageError) for _, exc in refused)
    assert [e.source for e in entries] == ["/vigie/contacts", "/vigie/consent", "/vigie/campaign-gate"]
    assert [e.index for e in entries] == [0, 1, 2] and uow.commits == 1
    # The fake seals nothing: each entry holds the exact bytes the producer's relay published.
    assert [e.sealed_event for e in entries] == [value for _, value in published]


async def test_a_batch_of_nothing_but_poison_commits_nothing() -> None:
    uow = FakeUnitOfWork()

    entries, refused = await integrate_records([_record("contacts.events", b"\xff", 0)], uow)

    assert entries == [] and len(refused) == 1 and uow.commits == 0


async def test_the_service_handler_appends_a_batch_in_one_transaction_and_hands_back_the_poison(
    published: list[tuple[str, bytes]],
) -> None:
    uow, counted = FakeUnitOfWork(), []
    service = SimpleNamespace(uow=lambda: uow, count_appended=counted.append)
    handler = batch_handler(cast(AuditLog, service))
    records = [_record(topic, value, n) for n, (topic, value) in enumerate(published)]
    records.insert(1, _record("contacts.events", b'{"id": 1}', 9))

    refused = await handler(records)

    assert [r for r, _ in refused] == [records[1]]
    assert isinstance(refused[0][1], PoisonMessageError)
    assert uow.commits == 1 and [e.index for e in counted[0]] == [0, 1, 2]
    assert [e.sealed_event for e in counted[0]] == [value for _, value in published]
    # Delivered again: nothing is appended twice.
    assert [r for r, _ in await handler(records)] == [records[1]]
    assert uow.commits == 2 and len(counted[1]) == 0
    assert gc.isenabled()  # The collector's pause ends with the batch.


async def test_a_record_decodes_to_the_envelope_or_the_error_decode_or_poison_gives(
    published: list[tuple[str, bytes]],
) -> None:
    good = [value for _, value in published]
    bad: list[bytes | None] = [
        None,
        b"",
        b"\xff",
        b"{not json",
        b"[]",
        b'{"specversion": "1.0"}',
        good[0].replace(b'"actor":', b'"actor":1,"was":', 1),  # a field the envelope forbids
        good[0].replace(b'"time":"', b'"time":"yesterday', 1),
        good[0][:-1] + b',"data":[]}',
    ]
    for value in good:
        event = decode_record(_record("contacts.events", value, 0))
        assert isinstance(event, ConsumedEvent)
        assert event.envelope == decode_or_poison(value) and event.raw is value
    for value in bad:
        refused = decode_record(_record("contacts.events", value, 0))
        assert isinstance(refused, PoisonMessageError), value
        with pytest.raises(PoisonMessageError) as expected:
            decode_or_poison(value)
        assert str(refused) == str(expected.value)

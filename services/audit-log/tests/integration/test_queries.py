"""Auditors' queries: filters, cursor pagination, timezone-aware times,
exports carrying what verifies them."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from shared.events import EventEnvelope
from shared.testing.harness import auth
from vigie_verify.merkle import leaf_hash

from .conftest import Log

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


#: The gate's confirmation that it forgot an erased contact, keyed by the contact id (its outgoing type).
FORGOTTEN = "vigie.campaigns.contact_forgotten.v1"


def _at(envelope: EventEnvelope, minutes: int) -> EventEnvelope:
    # The producer's event, stamped as published in Paris time: the log must compare and report it in UTC.
    return envelope.model_copy(
        update={"time": (T0 + timedelta(minutes=minutes)).astimezone(timezone(timedelta(hours=2)))}
    )


async def _items(log: Log, **params: object) -> list[dict]:
    response = await log.client.get("/v1/entries", params=params, headers=AUDITOR)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
async def queried(log: Log) -> Log:
    receipt = await log.upstream.gate_contact_forgotten("c-1")
    assert receipt.type == FORGOTTEN
    await log.feed(
        _at(await log.touch("c-1"), 0),
        _at(await log.touch("c-2", actor="crm/bob"), 10),
        _at(receipt, 20),
        _at(await log.touch("c-3"), 30),
        _at(await log.touch("c-1", actor="crm/bob"), 40),
    )
    return log


async def test_times_are_timezone_aware_utc_and_the_time_range_compares_instants(queried: Log) -> None:
    items = await _items(queried)
    assert [datetime.fromisoformat(i["event_time"]) for i in items] == [
        T0 + timedelta(minutes=m) for m in (0, 10, 20, 30, 40)
    ]
    assert all(datetime.fromisoformat(i["integrated_at"]).utcoffset() == timedelta(0) for i in items)
    assert all(i["event_time"].endswith("+00:00") for i in items)

    ranged = await _items(queried, since="2026-10-01T12:10:00+02:00", until="2026-10-01T10:30:00Z")
    assert [i["index"] for i in ranged] == [1, 2]


async def test_subject_type_and_actor_filters_combine(queried: Log) -> None:
    assert [i["index"] for i in await _items(queried, subject="c-1")] == [0, 2, 4]
    assert [i["index"] for i in await _items(queried, subject="c-1", actor="crm/bob")] == [4]
    assert [i["index"] for i in await _items(queried, type=FORGOTTEN)] == [2]
    assert await _items(queried, subject="nobody") == []
    assert all(i["subject"] != "c-1" for i in await _items(queried)), "subjects are filed under a pseudonym"


async def test_an_entry_is_found_by_its_event_id(queried: Log) -> None:
    """How a campaign-gate receipt finds the entry of its chunk: by the chunk event's id."""
    target = (await _items(queried))[2]["event_id"]
    assert [i["index"] for i in await _items(queried, event_id=target)] == [2]
    assert await _items(queried, event_id="no-such-event") == []


async def test_the_cursor_walks_every_entry_once_in_order(queried: Log) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await queried.client.get("/v1/entries", params=params, headers=AUDITOR)).json()
        seen += [i["index"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [0, 1, 2, 3, 4]


async def test_exports_carry_canonical_bytes_that_hash_to_each_leaf_in_both_formats(queried: Log) -> None:
    ndjson = (await queried.client.get("/v1/export", params={"subject": "c-1"}, headers=AUDITOR)).text
    lines = [json.loads(line) for line in ndjson.splitlines()]
    assert [line["index"] for line in lines] == [0, 2, 4]
    text = (await queried.client.get("/v1/export", params={"format": "csv"}, headers=AUDITOR)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["index"]) for r in rows] == [0, 1, 2, 3, 4]
    for record in lines + rows:
        assert leaf_hash(base64.b64decode(record["canonical"])).hex() == record["leaf_hash"]
        assert datetime.fromisoformat(record["event_time"]).utcoffset() == timedelta(0)


async def test_an_unknown_export_format_is_a_problem_naming_the_field(queried: Log) -> None:
    response = await queried.client.get("/v1/export", params={"format": "xml"}, headers=AUDITOR)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "format" in response.text

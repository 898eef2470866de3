"""The streamed import report over real HTTP (uvicorn), real PostgreSQL and Kafka (issue 18): each
batch's lines reach the client while later batches are still to be written, the ids map back, a row
in error is reported and not stored, and a client that goes away stops the import at the batch in
flight, whose contacts and events stay committed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from contacts.adapters import orm
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.service_layer import handlers
from contacts.settings import ContactsSettings
from fastapi import FastAPI
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.integration

BATCH = 4
HEADERS = {**auth("integrator"), "content-type": "application/x-ndjson", "accept": "application/x-ndjson"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    async with running(app):
        task = asyncio.create_task(server.serve())
        try:
            await eventually(lambda: asyncio.sleep(0, result=server.started), timeout=10)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


@pytest.fixture
async def served(postgres_admin_url: str, kafka_bootstrap: str) -> AsyncIterator[tuple[str, FastAPI]]:
    url = await migrated_database(postgres_admin_url, "contacts")
    settings = ContactsSettings(
        database_url=url,
        retention_sweep_interval_seconds=0,
        import_workers=1,
        import_batch_rows=BATCH,
        **common_settings(kafka_bootstrap),
    )
    app = create_app(service=bootstrap(settings))
    async with _served(app) as base:
        yield base, app


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], asyncio.Event]:
    """Holds the import's write of batch `n` (counted from 1) until the returned event is set."""

    def hold(n: int) -> asyncio.Event:
        release = asyncio.Event()
        original = handlers.import_prepared
        calls = 0

        async def import_prepared(cmd: Any, uow: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == n:
                await release.wait()
            return await original(cmd, uow)

        monkeypatch.setattr(handlers, "import_prepared", import_prepared)
        return release

    return hold


def _row(tag: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "consumer",
        "relationship": "prospect",
        "given_name": f"Zoé{tag}",
        "email": f"zoe.{tag}.{n}@example.org",
        "collected_from_person": True,
        "source": "crm-stream",
        "obtained_at": "2026-01-01T10:00:00+00:00",
        "external_ref": f"S-{tag}-{n}",
        **extra,
    }


async def _stored(app: FastAPI, tag: str) -> tuple[int, int]:
    """The contacts of this test in the database, and their ContactCreated outbox rows."""
    engine = app.state.service.runtime.engine
    async with engine.connect() as conn:
        ids = [r[0] for r in await conn.execute(sa.select(orm.contacts.c.id))]
        events = await conn.scalar(
            sa.select(sa.func.count()).select_from(orm.outbox).where(orm.outbox.c.key.in_(ids))
        )
    return len(ids), int(events or 0)


async def _lines_until(lines: AsyncIterator[str], stop: Callable[[dict[str, Any]], bool]) -> list[dict]:
    got: list[dict[str, Any]] = []
    async for raw in lines:
        got.append(orjson.loads(raw))
        if stop(got[-1]):
            return got
    return got


async def test_lines_arrive_as_batches_commit_ids_map_back_and_a_bad_row_is_not_stored(
    served: tuple[str, FastAPI], held: Callable[[int], asyncio.Event]
) -> None:
    base, app = served
    tag = uuid.uuid4().hex[:6]
    rows = [_row(tag, n) for n in range(1, 11)]
    rows[2] = _row(tag, 3, email="not-an-e-mail")  # row 3: reported with its problem, never stored
    rows[8] = _row(tag, 9, external_ref=f"S-{tag}-1", email=f"again.{tag}@example.org")  # row 9: row 1
    body = b"\n".join(orjson.dumps(r) for r in rows)
    release = held(2)

    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("POST", "/v1/contacts:import", content=body, headers=HEADERS) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = response.aiter_lines()
        first = await _lines_until(lines, lambda line: line["type"] == "progress")
        # The first batch is reported, and stored, while the second one is held back: before the end.
        stored_then = await _stored(app, tag)
        release.set()
        rest = await _lines_until(lines, lambda line: line["type"] == "summary")

    assert [line["row"] for line in first if line["type"] == "row"] == [1, 2, 3, 4]
    assert first[-1] == {**first[-1], "rows_done": 4, "rows_total": 10, "created": 3, "rejected": 1}
    assert stored_then == (3, 3), "batch 1's three contacts and their events, nothing of batch 2"
    everything = first + rest
    results = {line["row"]: line for line in everything if line["type"] == "row"}
    assert sorted(results) == list(range(1, 11))
    assert results[3]["status"] == "error" and results[3]["contact_id"] is None
    assert (
        results[3]["errors"][0]["field"] == "email"
        and "not-an-e-mail" not in orjson.dumps(results[3]).decode()
    )
    assert results[9]["status"] == "existing" and results[9]["contact_id"] == results[1]["contact_id"]
    assert everything[-1]["type"] == "summary"
    assert {k: everything[-1][k] for k in ("rows", "created", "matched", "rejected")} == {
        "rows": 10, "created": 8, "matched": 1, "rejected": 1,
    }  # fmt: skip
    assert await _stored(app, tag) == (8, 8)

    # Every id maps back: the caller's reference finds the contact the report named.
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=auth("integrator")) as http:
        for n in (1, 2, 10):
            found = await http.get(
                "/v1/contacts", params={"source": "crm-stream", "external_ref": f"S-{tag}-{n}"}
            )
            assert [c["id"] for c in found.json()["items"]] == [results[n]["contact_id"]]
        missing = await http.get("/v1/contacts", params={"email": f"zoe.{tag}.3@example.org"})
        bad = await http.get("/v1/contacts", params={"source": "crm-stream", "external_ref": f"S-{tag}-3"})
        assert missing.json()["items"] == [] and bad.json()["items"] == []


async def test_a_client_gone_mid_stream_stops_the_import_after_the_batch_in_flight(
    served: tuple[str, FastAPI], held: Callable[[int], asyncio.Event]
) -> None:
    base, app = served
    tag = uuid.uuid4().hex[:6]
    body = b"\n".join(orjson.dumps(_row(tag, n)) for n in range(1, 25))  # six batches of four
    release = held(3)

    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("POST", "/v1/contacts:import", content=body, headers=HEADERS) as response,
    ):
        lines = response.aiter_lines()
        seen = await _lines_until(lines, lambda line: line["type"] == "progress" and line["rows_done"] == 8)
    # The client has gone (connection closed) while batch 3 was being written.
    release.set()
    await eventually(lambda: _stored_is(app, tag, (12, 12)), timeout=10)
    await asyncio.sleep(0.5)  # had the import gone on, batch 4 would be written by now

    assert [line["row"] for line in seen if line["type"] == "row"] == list(range(1, 9))
    assert await _stored(app, tag) == (12, 12), "batches 1-3 committed with their events; nothing after"
    # What committed reaches Kafka: the relay publishes every event of the three batches.
    await eventually(lambda: _all_published(app), timeout=20)


def _stored_is(app: FastAPI, tag: str, expected: tuple[int, int]) -> Awaitable[bool]:
    async def probe() -> bool:
        return await _stored(app, tag) == expected

    return probe()


async def _all_published(app: FastAPI) -> bool:
    async with app.state.service.runtime.engine.connect() as conn:
        pending = await conn.scalar(
            sa.select(sa.func.count()).select_from(orm.outbox).where(orm.outbox.c.published_at.is_(None))
        )
    return pending == 0

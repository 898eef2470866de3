"""The bulk import hands back ids (issue 18) and writes with COPY from a pool of worker processes
(issue 15), deciding duplicates and writing events as the one-by-one path does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from contacts import contracts
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.settings import ContactsSettings
from shared.testing.harness import RunningApp, auth, common_settings, migrated_database, running

pytestmark = pytest.mark.integration

WRITER = auth("integrator")
NDJSON = {**WRITER, "content-type": "application/x-ndjson"}


def _row(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "consumer",
        "relationship": "prospect",
        "given_name": f"Yann{tag}",
        "email": f"yann.{tag}@example.org",
        "collected_from_person": True,
        "source": "crm-a",
        "obtained_at": "2026-01-01T10:00:00+00:00",
        **extra,
    }


@pytest.fixture(params=["in-process", "worker-pool"])
async def api(
    request: pytest.FixtureRequest, postgres_admin_url: str, kafka_bootstrap: str
) -> AsyncIterator[RunningApp]:
    url = await migrated_database(postgres_admin_url, "contacts")
    pooled = request.param == "worker-pool"
    settings = ContactsSettings(
        database_url=url,
        retention_sweep_interval_seconds=0,
        import_workers=2 if pooled else 1,
        import_parallel_min_rows=1,
        import_batch_rows=4,
        **common_settings(kafka_bootstrap),
    )
    async with running(create_app(service=bootstrap(settings))) as app:
        yield app


async def _import(api: RunningApp, rows: list[Any]) -> dict[str, Any]:
    body = b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in rows)
    response = await api.client.post("/v1/contacts:import", content=body, headers=NDJSON)
    assert response.status_code == 200, response.text
    return response.json()


async def _outbox(api: RunningApp) -> list[dict[str, Any]]:
    import sqlalchemy as sa
    from contacts.adapters import orm

    async with api.app.state.service.runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(orm.outbox).order_by(orm.outbox.c.id))).mappings().all()
    return [{**r, "value": orjson.loads(r["value"])} for r in rows]


async def test_the_report_gives_every_row_its_status_contact_id_and_external_ref(api: RunningApp) -> None:
    tag = uuid.uuid4().hex[:8]
    known = await api.client.post(
        "/v1/contacts", json=_row(f"{tag}k", external_ref=f"K-{tag}"), headers=WRITER
    )
    assert known.status_code == 201
    rows: list[Any] = [
        _row(f"{tag}1", external_ref=f"A-{tag}"),  # 1 created
        _row(f"{tag}2", external_ref=f"K-{tag}"),  # 2 existing: same source and reference as `known`
        _row(f"{tag}3", external_ref=f"K-{tag}", source="crm-b"),  # 3 created: same reference, other source
        _row(f"{tag}4", email="broken", external_ref=f"E-{tag}"),  # 4 error, its reference handed back
        b"not json",  # 5 error
        _row(f"{tag}6", email=f"yann.{tag}1@example.org"),  # 6 existing: row 1's e-mail
        _row(f"{tag}7", external_ref=f"A-{tag}"),  # 7 existing: row 1's reference
        _row(f"{tag}8", external_ref=" padded "),  # 8 error: spaces around a reference
        _row(f"{tag}9"),  # 9 created, no reference
    ]

    report = await _import(api, rows)

    results = {r["row"]: r for r in report["results"]}
    assert [r["row"] for r in report["results"]] == list(range(1, 10))
    assert {n: r["status"] for n, r in results.items()} == {
        1: "created",
        2: "existing",
        3: "created",
        4: "error",
        5: "error",
        6: "existing",
        7: "existing",
        8: "error",
        9: "created",
    }
    assert results[2]["contact_id"] == known.json()["id"] and results[2]["matched_on"] == "external_ref"
    assert results[6]["contact_id"] == results[7]["contact_id"] == results[1]["contact_id"]
    assert (results[6]["matched_on"], results[7]["matched_on"]) == ("email", "external_ref")
    assert results[4]["external_ref"] == f"E-{tag}" and results[4]["contact_id"] is None
    assert results[1]["external_ref"] == f"A-{tag}" and results[9]["external_ref"] is None
    assert report["created"] == 3 and {e["row"] for e in report["errors"]} == {4, 5, 8}
    assert next(e for e in report["errors"] if e["row"] == 8)["errors"][0]["field"] == "external_ref"

    for number in (1, 3, 9):
        got = await api.client.get(f"/v1/contacts/{results[number]['contact_id']}", headers=WRITER)
        assert got.status_code == 200 and got.json()["given_name"] == f"Yann{tag}{number}"
    found = await api.client.get(
        "/v1/contacts", params={"source": "crm-b", "external_ref": f"K-{tag}"}, headers=WRITER
    )
    assert [c["id"] for c in found.json()["items"]] == [results[3]["contact_id"]]
    assert found.json()["items"][0]["external_ref"] == f"K-{tag}"

    events = [e for e in await _outbox(api) if e["key"] != known.json()["id"]]
    assert [e["key"] for e in events] == [results[n]["contact_id"] for n in (1, 3, 9)]
    assert {e["value"]["type"] for e in events} == {contracts.CONTACT_CREATED}
    raw = b"".join(orjson.dumps(e["value"]) + orjson.dumps(e["headers"]) for e in events)
    assert tag.encode() not in raw, "no name, e-mail or external reference in an event"


async def test_an_external_ref_is_unique_per_source_on_create_and_needs_a_source_to_be_looked_up(
    api: RunningApp,
) -> None:
    tag = uuid.uuid4().hex[:8]
    first = await api.client.post(
        "/v1/contacts", json=_row(f"{tag}a", external_ref=f"R-{tag}"), headers=WRITER
    )
    again = await api.client.post(
        "/v1/contacts", json=_row(f"{tag}b", external_ref=f"R-{tag}"), headers=WRITER
    )
    unsourced = await api.client.get("/v1/contacts", params={"external_ref": f"R-{tag}"}, headers=WRITER)

    assert first.status_code == 201 and again.status_code == 409
    assert again.json()["existing_contact_id"] == first.json()["id"]
    assert unsourced.status_code == 422 and unsourced.json()["errors"][0]["field"] == "query.source"

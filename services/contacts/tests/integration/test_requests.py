"""Data-subject requests in contacts for real, on SQLite and PostgreSQL, with fake peer services."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from contacts import contracts
from contacts.adapters import orm
from contacts.bootstrap import bootstrap
from contacts.main import create_app
from contacts.settings import ContactsSettings
from contacts_fakes import FakePeers
from shared.events import EventEnvelope
from shared.migrations import upgrade
from shared.testing.harness import (
    ROOT,
    ManualClock,
    RunningApp,
    auth,
    common_settings,
    eventually,
    migrated_database,
    running,
)

from tests.producers import Upstream

pytestmark = pytest.mark.integration

DPO = auth("integrator")


@pytest.fixture(params=["sqlite", "postgresql"])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str, postgres_admin_url: str
) -> Any:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'contacts.db'}"
        await asyncio.to_thread(upgrade, ROOT / "services" / "contacts", url)
    else:
        url = await migrated_database(postgres_admin_url, "contacts")
    # The relay runs: contacts' own contact_erased reaches its consumer through Kafka, as in production.
    settings = ContactsSettings(
        database_url=url,
        retention_sweep_interval_seconds=0,
        requests_consumer_group=f"requests-{uuid.uuid4().hex[:8]}",
        requests_watch_interval_seconds=0,
        **common_settings(kafka_bootstrap),
    )
    clock, peers = ManualClock(), FakePeers()
    async with running(create_app(service=bootstrap(settings, clock=clock, peers=peers))) as app:
        yield app, clock, peers


async def _contact(app: RunningApp, **overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    response = await app.client.post(
        "/v1/contacts",
        headers=DPO,
        json={
            "kind": "consumer",
            "given_name": f"Maëlys{tag}",
            "email": f"maelys.{tag}@example.org",
            "phone": "+33 6 12 34 56 78" if overrides.pop("with_phone", False) else None,
            "collected_from_person": True,
            "source": "web_form",
            "obtained_at": "2026-10-01T10:00:00+00:00",
            **overrides,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _request(app: RunningApp, body: dict[str, Any]) -> dict[str, Any]:
    response = await app.client.post("/v1/requests", json=body, headers=DPO)
    assert response.status_code == 201, response.text
    return response.json()


async def _awaiting(app: RunningApp, request_id: str) -> list[str]:
    response = await app.client.get(f"/v1/requests/{request_id}", headers=DPO)
    return response.json()["awaiting_confirmation_from"]


async def _consumer_caught_up(app: RunningApp) -> None:
    [loop] = app.app.state.service.runtime.consumers

    async def _idle() -> bool:
        lag = await loop.lag()
        return bool(lag) and all(v == 0 for v in lag.values())

    await eventually(_idle, timeout=30)


async def test_an_access_request_by_phone_exports_the_decrypted_contact_with_the_peers_data(api: Any) -> None:
    app, _clock, peers = api
    contact = await _contact(app, with_phone=True, profession="Notaire")
    sale = await app.client.post(
        f"/v1/contacts/{contact['id']}/interactions",
        headers=DPO,
        json={
            "kind": "sale",
            "seller": "Chaussures SA",
            "product_categories": ["shoes"],
            "occurred_at": "2026-10-02T10:00:00+00:00",
        },
    )
    assert sale.status_code == 201, sale.text
    peers.consents[contact["id"]] = [
        {"consent_id": "c-1", "purpose_id": "newsletter", "proof": {"source": "form"}}
    ]
    request = await _request(app, {"kind": "portability", "phone": "06 12 34 56 78"})
    assert request["status"] == "completed" and request["contact_id"] == contact["id"]
    export = (await app.client.get(f"/v1/requests/{request['id']}/export", headers=DPO)).json()
    assert export["contacts"]["contact"]["email"] == contact["email"]
    assert export["contacts"]["contact"]["profession"] == "notaire"
    assert export["contacts"]["contact"]["purchases"][0]["seller"] == "Chaussures SA"
    assert export["contacts"]["interactions"][0]["seller"] == "Chaussures SA"
    assert export["consent"]["consents"][0]["consent_id"] == "c-1"
    flat = (
        await app.client.get(
            f"/v1/requests/{request['id']}/export", params={"format": "portability"}, headers=DPO
        )
    ).json()
    assert flat["data"]["contact.given_name"] == contact["given_name"]
    assert flat["data"]["consents[0].purpose_id"] == "newsletter"


async def test_a_request_whose_peer_is_down_stays_open_and_the_watcher_honours_it_later(api: Any) -> None:
    app, clock, peers = api
    contact = await _contact(app)
    peers.down = True
    request = await _request(app, {"kind": "objection", "contact_id": contact["id"]})
    assert request["status"] == "in_progress" and peers.objections == []
    assert (await app.client.get(f"/v1/requests/{request['id']}/export", headers=DPO)).status_code == 409
    peers.down = False
    clock.now += timedelta(minutes=2)
    report = await app.app.state.service.desk.watch_once()
    assert request["id"] in report.retried
    assert (await app.client.get(f"/v1/requests/{request['id']}", headers=DPO)).json()[
        "status"
    ] == "completed"
    assert (
        peers.objections[0]["contact_id"] == contact["id"] and len(peers.objections[0]["blind_indexes"]) == 1
    )


async def test_an_objection_about_an_unknown_email_is_no_data_found_and_still_suppresses_the_address(
    api: Any,
) -> None:
    app, _clock, peers = api
    request = await _request(
        app, {"kind": "objection", "email": f"stranger.{uuid.uuid4().hex[:6]}@example.org"}
    )
    assert request["status"] == "no_data_found" and request["contact_id"] is None
    assert peers.objections[0]["contact_id"] is None and len(peers.objections[0]["blind_indexes"]) == 1


async def test_an_objection_about_an_unknown_person_made_while_consent_is_down_is_forwarded_when_it_is_back(
    api: Any,
) -> None:
    app, clock, peers = api
    desk = app.app.state.service.desk
    peers.down = True
    request = await _request(
        app, {"kind": "objection", "email": f"stranger.{uuid.uuid4().hex[:6]}@example.org"}
    )
    still_down = await desk.watch_once()
    peers.down = False
    clock.now += timedelta(minutes=2)
    back = await desk.watch_once()
    again = await desk.watch_once()

    assert request["status"] == "no_data_found"
    assert request["id"] not in still_down.forwarded
    assert back.forwarded == [request["id"]] and again.forwarded == []
    assert len(peers.objections) == 1, "forwarded once, not again after consent accepted it"
    assert peers.objections[0]["contact_id"] is None and len(peers.objections[0]["blind_indexes"]) == 1


async def test_a_rectification_to_an_email_taken_by_someone_else_fails_and_changes_nothing(api: Any) -> None:
    app, _clock, _peers = api
    first, second = await _contact(app), await _contact(app)
    request = await _request(
        app, {"kind": "rectification", "contact_id": second["id"], "changes": {"email": first["email"]}}
    )
    assert request["status"] == "failed" and "DuplicateContactError" in request["history"][-1]["note"]
    unchanged = (await app.client.get(f"/v1/contacts/{second['id']}", headers=DPO)).json()
    assert unchanged["email"] == second["email"]
    missing = await app.client.post(
        "/v1/requests", json={"kind": "rectification", "contact_id": second["id"]}, headers=DPO
    )
    assert missing.status_code == 422


async def test_an_erasure_completes_with_the_fourth_confirmation_and_repeated_events_change_nothing(
    api: Any, kafka_bootstrap: str
) -> None:
    app, _clock, peers = api
    service = app.app.state.service
    contact = await _contact(app)
    request = await _request(app, {"kind": "erasure", "email": contact["email"]})
    assert request["status"] == "in_progress" and request["awaiting_confirmation_from"] == [
        "contacts",
        "consent",
        "campaign-gate",
        "audit-log",
    ]
    erased = (await app.client.get(f"/v1/contacts/{contact['id']}", headers=DPO)).json()
    assert erased["status"] == "erased" and erased["email"] is None

    # contacts' own contact_erased comes back through the relay and Kafka; consent's and the gate's
    # confirmations are made by their own code (erasure plan, ContactForgotten, outgoing mappings).
    await eventually(lambda: _confirmed_by_contacts(app, request["id"]), timeout=30)
    key = service.settings.blind_index_key.get_secret_value()
    async with Upstream(kafka_bootstrap, blind_index_key=key) as producers:
        consent_confirmation = await producers.consent_data_erased(contact["id"])
        await producers.redeliver(consent_confirmation)
        await producers.gate_contact_forgotten(contact["id"])
        await producers.redeliver(await producers.gate_contact_forgotten(contact["id"]))
    assert {e.type for e in producers.published} == {
        contracts.CONSENT_DATA_ERASED,
        contracts.GATE_CONTACT_FORGOTTEN,
    }
    await _consumer_caught_up(app)
    waiting = (await app.client.get(f"/v1/requests/{request['id']}", headers=DPO)).json()
    assert waiting["status"] == "in_progress" and waiting["awaiting_confirmation_from"] == ["audit-log"]
    assert [h["action"] for h in waiting["history"]].count("confirmed") == 3, "repeats change nothing"

    peers.audit[contact["id"]] = [{"index": 7, "type": contracts.CONTACT_ERASED}]
    await service.desk.watch_once()
    done = (await app.client.get(f"/v1/requests/{request['id']}", headers=DPO)).json()
    assert done["status"] == "completed" and done["awaiting_confirmation_from"] == []
    assert [h["action"] for h in done["history"]].count("confirmed") == 4
    async with service.runtime.engine.connect() as conn:
        outbox = [
            EventEnvelope.decode(value)
            for value in (
                await conn.execute(
                    sa.select(orm.outbox.c.value)
                    .where(orm.outbox.c.key == contact["id"])
                    .order_by(orm.outbox.c.id)
                )
            ).scalars()
        ]
        stored = (
            (
                await conn.execute(
                    sa.select(orm.data_subject_requests).where(
                        orm.data_subject_requests.c.id == request["id"]
                    )
                )
            )
            .mappings()
            .one()
        )
    assert stored["status"] == "completed" and contact["email"] not in str(dict(stored))
    types = [e.type for e in outbox]
    assert types.count(contracts.REQUEST_RECEIVED) == 1 and types[-1] == contracts.REQUEST_COMPLETED
    assert outbox[-1].data["confirmations"].keys() == {"contacts", "consent", "campaign-gate", "audit-log"}
    assert all(contact["email"] not in str(e.data) for e in outbox)


async def _confirmed_by_contacts(app: RunningApp, request_id: str) -> bool:
    return "contacts" not in await _awaiting(app, request_id)


async def test_an_extension_moves_the_due_date_and_a_request_past_it_is_listed_as_overdue(api: Any) -> None:
    app, clock, _peers = api
    contact = await _contact(app)
    request = await _request(app, {"kind": "erasure", "contact_id": contact["id"]})
    extended = await app.client.post(
        f"/v1/requests/{request['id']}/extension",
        headers=DPO,
        json={"months": 1, "reason": "erasure across archived backups"},
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["extended_months"] == 1 and extended.json()["due_at"] > request["due_at"]
    assert extended.json()["history"][-1] == {
        **extended.json()["history"][-1],
        "action": "extended",
        "note": "erasure across archived backups",
    }
    clock.now += timedelta(days=40)
    listed = (await app.client.get("/v1/requests", params={"overdue": "true"}, headers=DPO)).json()["items"]
    assert request["id"] not in [r["id"] for r in listed], "extended: not due yet"
    clock.now += timedelta(days=30)
    listed = (await app.client.get("/v1/requests", params={"overdue": "true"}, headers=DPO)).json()["items"]
    assert [r["overdue"] for r in listed if r["id"] == request["id"]] == [True]
    report = await app.app.state.service.desk.watch_once()
    again = await app.app.state.service.desk.watch_once()
    assert request["id"] in report.overdue and request["id"] not in again.overdue, "reported once"

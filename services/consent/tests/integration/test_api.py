"""The consent service for real: HTTP → PostgreSQL + outbox → Kafka, and contacts' erasures back in."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from consent import contracts
from consent.adapters import orm
from consent.domain.notices import ART13_REQUIRED, ART14_REQUIRED, add_calendar_month
from consent.domain.register import REGISTER_COLUMNS
from consent.main import create_app
from consent.settings import ConsentSettings
from shared.blind_index import BlindIndexer
from shared.testing.harness import auth, common_settings, eventually, migrated_database, read_events, running

from tests.producers import Upstream

pytestmark = pytest.mark.integration

ADMIN, INTEGRATOR = auth("admin"), auth("integrator")


def _purpose(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"Prospection par SMS {uuid.uuid4().hex[:6]}",
        "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris; privacy@acme.example"},
        "dpo": {"name": "DPO Acme", "contact": "dpo@acme.example"},
        "description": "Envoyer des offres commerciales aux prospects",
        "lawful_basis": "consent",
        "data_categories": {"identity": ["nom", "téléphone"]},
        "data_subjects": ["prospects"],
        "retention": {"prospects": "3 ans après le dernier contact"},
        "security_measures": {"access_control": "comptes nominatifs", "encryption": "AES-256 au repos"},
        **overrides,
    }


def _consent(contact_id: str, purpose_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "purpose_id": purpose_id,
        "channel": "sms_mms",
        "collection_method": "web_form",
        "wording": "J'accepte de recevoir les offres d'Acme par SMS.",
        "proof": {
            "captured_at": "2026-10-01T10:00:00+00:00",
            "source": "https://acme.example/form#v3",
            "ip": "203.0.113.77",
            "user_agent": "Mozilla/5.0",
        },
        **overrides,
    }


def _notice(purpose_id: str, *, without: str | None = None) -> dict[str, Any]:
    content = {item: f"Texte pour {item}." for item in ART13_REQUIRED if item != without}
    return {"language": "fr", "article": "13", "purpose_ids": [purpose_id], "content": content}


def _contact_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> ConsentSettings:
    url = await migrated_database(postgres_admin_url, "consent")
    return ConsentSettings(
        database_url=url, consumer_group=f"consent-{uuid.uuid4().hex[:8]}", **common_settings(kafka_bootstrap)
    )


async def _created(client: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _wait_for_consumer_idle(app: Any) -> None:
    loop = app.app.state.service.runtime.consumers[0]

    async def _caught_up() -> bool:
        lag = await loop.lag()
        return bool(lag) and all(v == 0 for v in lag.values())

    await eventually(_caught_up, timeout=30)


async def test_a_consent_for_an_unregistered_purpose_or_another_lawful_basis_is_refused(
    settings: ConsentSettings,
) -> None:
    async with running(create_app(settings)) as consent:
        contract_purpose = await _created(
            consent.client, "/v1/purposes", _purpose(lawful_basis="contract"), ADMIN
        )
        contact_id = _contact_id()

        unknown = await consent.client.post(
            "/v1/consents", json=_consent(contact_id, "no-such-purpose"), headers=INTEGRATOR
        )
        assert unknown.status_code == 422, unknown.text
        assert unknown.headers["content-type"].startswith("application/problem+json")
        assert "not registered" in unknown.json()["detail"]

        wrong_basis = await consent.client.post(
            "/v1/consents", json=_consent(contact_id, contract_purpose["purpose_id"]), headers=INTEGRATOR
        )
        assert wrong_basis.status_code == 422, wrong_basis.text
        assert "lawful basis 'contract', not consent" in wrong_basis.json()["detail"]

        assert (
            await consent.client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)
        ).status_code == 404


async def test_a_withdrawal_keeps_the_history_and_a_new_grant_is_a_new_record(
    settings: ConsentSettings,
) -> None:
    async with running(create_app(settings)) as consent:
        purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
        contact_id = _contact_id()
        body = _consent(contact_id, purpose["purpose_id"])

        first = await _created(consent.client, "/v1/consents", body, INTEGRATOR)
        assert first["status"] == "granted" and first["proof"]["ip"] == "203.0.113.0"
        again = await consent.client.post("/v1/consents", json=body, headers=INTEGRATOR)
        assert again.status_code == 409, "a second active consent for the same purpose and channel"

        withdrawn = await consent.client.post(
            f"/v1/consents/{first['consent_id']}/withdrawal",
            json={"source": "reply STOP"},
            headers=INTEGRATOR,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
        assert withdrawn.json()["granted_at"] and withdrawn.json()["withdrawn_at"]
        twice = await consent.client.post(
            f"/v1/consents/{first['consent_id']}/withdrawal", headers=INTEGRATOR
        )
        assert twice.status_code == 409

        second = await _created(consent.client, "/v1/consents", body, INTEGRATOR)
        assert second["consent_id"] != first["consent_id"]

        listed = await consent.client.get(f"/v1/contacts/{contact_id}/consents", headers=auth("marketer"))
        assert listed.status_code == 200, listed.text
        records = {c["consent_id"]: c for c in listed.json()["consents"]}
        assert records[first["consent_id"]]["status"] == "withdrawn"
        assert records[first["consent_id"]]["withdrawal_source"] == "reply STOP"
        assert records[second["consent_id"]]["status"] == "granted"

        missing = await consent.client.post(f"/v1/consents/{uuid.uuid4().hex}/withdrawal", headers=INTEGRATOR)
        assert missing.status_code == 404


async def test_roles_and_bad_input(settings: ConsentSettings) -> None:
    async with running(create_app(settings)) as consent:
        purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
        body = _consent(_contact_id(), purpose["purpose_id"])
        assert (
            await consent.client.post("/v1/consents", json=body, headers=auth("marketer"))
        ).status_code == 403
        assert (
            await consent.client.post("/v1/purposes", json=_purpose(), headers=INTEGRATOR)
        ).status_code == 403
        assert (await consent.client.post("/v1/consents", json=body)).status_code == 401
        extra = await consent.client.post("/v1/consents", json={**body, "surprise": 1}, headers=INTEGRATOR)
        assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "body.surprise"
        bad_channel = await consent.client.post(
            "/v1/consents", json={**body, "channel": "pigeon"}, headers=INTEGRATOR
        )
        assert bad_channel.status_code == 422
        again = await consent.client.post(
            "/v1/purposes", json=_purpose(purpose_id=purpose["purpose_id"]), headers=ADMIN
        )
        assert again.status_code == 409 and purpose["purpose_id"] in again.json()["detail"]
        listed = await consent.client.get("/v1/purposes", headers=auth("reviewer"))
        assert listed.status_code == 200
        assert purpose["purpose_id"] in {p["purpose_id"] for p in listed.json()["items"]}


async def test_the_register_exports_in_the_cnil_template_columns(settings: ConsentSettings) -> None:
    async with running(create_app(settings)) as consent:
        processor = await _created(
            consent.client, "/v1/processors", {"legal_name": "Routeur SMS SAS", "role": "processor"}, ADMIN
        )
        purpose = await _created(
            consent.client, "/v1/purposes", _purpose(processor_ids=[processor["processor_id"]]), ADMIN
        )

        response = await consent.client.get(
            "/v1/register", params={"format": "csv"}, headers=auth("reviewer")
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert tuple(rows[0]) == REGISTER_COLUMNS
        ours = [
            dict(zip(rows[0], row, strict=True))
            for row in rows[1:]
            if row[0] == purpose["versions"][0]["name"]
        ]
        assert len(ours) == 1
        assert ours[0]["Sous-traitants"] == "Routeur SMS SAS"
        assert "consentement" in ours[0]["Objectifs poursuivis"]

        as_json = await consent.client.get("/v1/register", params={"format": "json"}, headers=ADMIN)
        assert as_json.status_code == 200 and as_json.json()["columns"] == list(REGISTER_COLUMNS)
        bad = await consent.client.get("/v1/register", params={"format": "xml"}, headers=ADMIN)
        assert bad.status_code == 422


async def test_a_notice_missing_a_mandatory_item_is_refused_naming_it(settings: ConsentSettings) -> None:
    async with running(create_app(settings)) as consent:
        purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
        incomplete = await consent.client.post(
            "/v1/notices",
            json=_notice(purpose["purpose_id"], without="right_to_complain_to_cnil"),
            headers=ADMIN,
        )
        assert incomplete.status_code == 422, incomplete.text
        assert "right_to_complain_to_cnil" in incomplete.json()["detail"]

        notice = await _created(consent.client, "/v1/notices", _notice(purpose["purpose_id"]), ADMIN)
        assert notice["version"] == 1 and len(notice["content_hash"]) == 64
        contact_id = _contact_id()
        delivery = await _created(
            consent.client,
            f"/v1/notices/{notice['notice_id']}/deliveries",
            {"contact_id": contact_id, "channel": "email"},
            INTEGRATOR,
        )
        assert delivery["content_hash"] == notice["content_hash"]
        unknown = await consent.client.post(
            f"/v1/notices/{uuid.uuid4().hex}/deliveries",
            json={"contact_id": contact_id, "channel": "email"},
            headers=INTEGRATOR,
        )
        assert unknown.status_code == 404


async def test_every_change_is_published_on_consent_events(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    email = f"camille.{uuid.uuid4().hex[:6]}@example.org"
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        notice = await _created(client, "/v1/notices", _notice(purpose["purpose_id"]), ADMIN)
        contact_id = _contact_id()
        await _created(
            client,
            f"/v1/notices/{notice['notice_id']}/deliveries",
            {"contact_id": contact_id, "channel": "email"},
            INTEGRATOR,
        )
        # The notice cited at collection states the right to withdraw: consent derives the information from
        # it.
        terms = {
            "positive_act": True,
            "withdrawal_info_given": True,
            "explicit": False,
            "given_by": ["data_subject", "parental_authority_holder"],
        }
        pending = await _created(
            client,
            "/v1/consents",
            _consent(
                contact_id,
                purpose["purpose_id"],
                channel="email",
                notice_id=notice["notice_id"],
                notice_version=notice["version"],
                terms={**terms, "act": "ticked_box"},
            ),
            INTEGRATOR,
        )
        assert pending["status"] == "pending", "e-mail consents wait for the double opt-in"
        assert pending["terms"] == {**terms, "act": "ticked_box", "withdrawal_statement": None}
        confirmed = await client.post(
            f"/v1/consents/{pending['consent_id']}/confirmation", headers=INTEGRATOR
        )
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "granted"
        withdrawn = await client.post(f"/v1/consents/{pending['consent_id']}/withdrawal", headers=INTEGRATOR)
        assert withdrawn.status_code == 200
        await _created(client, "/v1/objections", {"contact_id": contact_id, "email": email}, INTEGRATOR)
        processor = await _created(
            client, "/v1/processors", {"legal_name": "Routeur SAS", "role": "processor"}, ADMIN
        )
        assert processor["gaps"] and not processor["usable"]
        patched = await client.patch(
            f"/v1/processors/{processor['processor_id']}",
            json={"status": "suspended", "locations": [{"country": "fr"}]},
            headers=ADMIN,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["status"] == "suspended" and patched.json()["locations"][0]["country"] == "FR"

        subjects = {contact_id, purpose["purpose_id"], notice["notice_id"], processor["processor_id"]}
        expected = {
            contracts.PURPOSE_REGISTERED,
            contracts.NOTICE_PUBLISHED,
            contracts.NOTICE_DELIVERED,
            contracts.CONSENT_REQUESTED,
            contracts.CONSENT_GRANTED,
            contracts.CONSENT_WITHDRAWN,
            contracts.OBJECTION_RECORDED,
            contracts.PROCESSOR_REGISTERED,
            contracts.PROCESSOR_UPDATED,
        }
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: expected <= {e.type for e in seen},
            subjects,
        )
    assert all(e.actor == "e2e/tester" and e.source == contracts.SOURCE for e in events)
    assert all(email not in e.encode().decode() for e in events), "no direct identifier in events"
    granted = next(e for e in events if e.type == contracts.CONSENT_GRANTED)
    assert {k: granted.data[k] for k in terms} == terms and granted.data["proof_present"] is True
    person_facts = [e for e in events if "contact_id" in e.data]
    assert person_facts and all(e.subject == contact_id for e in person_facts)


async def test_a_contact_erasure_deletes_consents_and_keeps_the_objection_blind_index(
    settings: ConsentSettings, kafka_bootstrap: str, upstream: Upstream
) -> None:
    email = f"dominique.{uuid.uuid4().hex[:6]}@example.org"
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        notice = await _created(client, "/v1/notices", _notice(purpose["purpose_id"]), ADMIN)
        contact_id = _contact_id()
        # The person is a contact of contacts' (its events are made by contacts' own code).
        contact = await upstream.contact(contact_id=contact_id, email=email)
        await _created(client, "/v1/consents", _consent(contact_id, purpose["purpose_id"]), INTEGRATOR)
        await _created(
            client,
            f"/v1/notices/{notice['notice_id']}/deliveries",
            {"contact_id": contact_id, "channel": "email"},
            INTEGRATOR,
        )
        objection = await _created(
            client,
            "/v1/objections",
            {"contact_id": contact_id, "email": email, "scope": "all_direct_marketing"},
            INTEGRATOR,
        )
        assert (
            await client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)
        ).status_code == 200
        consent_ids = [
            c["consent_id"]
            for c in (await client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)).json()[
                "consents"
            ]
        ]
        assert (await client.get(f"/v1/consents/{consent_ids[0]}", headers=INTEGRATOR)).status_code == 200

        # Erased by contacts' retention sweep, whose actor consent's erasure event names.
        erased = await upstream.erase(contact, reason="retention RET-01", actor="contacts/retention-sweeper")
        await upstream.redeliver(erased)  # At-least-once delivery: the same event twice is applied once.

        async def _gone() -> bool:
            response = await client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)
            return response.status_code == 404

        await eventually(_gone, timeout=30)
        index = BlindIndexer(settings.blind_index_key.get_secret_value().encode()).email(email)
        engine = consent.app.state.service.runtime.engine

        async def _inbox_has_it() -> bool:
            async with engine.connect() as conn:
                return bool(
                    (
                        await conn.execute(
                            sa.select(sa.func.count())
                            .select_from(orm.inbox)
                            .where(orm.inbox.c.event_id == erased.id)
                        )
                    ).scalar()
                )

        await eventually(_inbox_has_it)
        await _wait_for_consumer_idle(consent)
        async with engine.connect() as conn:
            kept = (
                (
                    await conn.execute(
                        sa.select(orm.objections).where(
                            orm.objections.c.objection_id == objection["objection_id"]
                        )
                    )
                )
                .mappings()
                .one()
            )
            left = [
                (
                    await conn.execute(
                        sa.select(sa.func.count()).select_from(table).where(table.c.contact_id == contact_id)
                    )
                ).scalar()
                for table in (orm.consents, orm.notice_deliveries)
            ]
        assert kept["contact_id"] is None and kept["blind_indexes"] == [index]
        assert left == [0, 0]
        assert (await client.get(f"/v1/consents/{consent_ids[0]}", headers=INTEGRATOR)).status_code == 404
        # A re-import of the same person (the e-mail typed differently) still meets the objection (UNI-02).
        rematch = await client.get("/v1/objections", params={"email": email.upper()}, headers=INTEGRATOR)
        assert rematch.status_code == 200, rematch.text
        assert rematch.json()["matched_blind_indexes"] == [index]
        assert [o["objection_id"] for o in rematch.json()["items"]] == [objection["objection_id"]]
        assert rematch.json()["items"][0]["contact_id"] is None

        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: any(e.type == contracts.CONSENT_DATA_ERASED for e in seen),
            {contact_id},
        )
    erasures = [e for e in events if e.type == contracts.CONSENT_DATA_ERASED]
    assert len(erasures) == 1, "the duplicate delivery was skipped through the inbox"
    assert erasures[0].data["kept_objection_ids"] == [objection["objection_id"]]
    assert erasures[0].actor == "contacts/retention-sweeper"


async def test_a_purpose_is_revised_into_a_new_version_and_retired_keeping_its_history(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        pid = purpose["purpose_id"]
        revised = await client.patch(
            f"/v1/purposes/{pid}",
            json={"retention": {"prospects": "2 ans"}, "recipients_external": ["Partenaire A"]},
            headers=ADMIN,
        )
        assert revised.status_code == 200, revised.text
        versions = revised.json()["versions"]
        assert revised.json()["current_version"] == 2 and len(versions) == 2
        assert versions[0]["valid_to"] == versions[1]["valid_from"]
        assert versions[0]["retention"] == {"prospects": "3 ans après le dernier contact"}
        assert versions[1]["retention"] == {"prospects": "2 ans"}
        assert (
            await client.patch(f"/v1/purposes/{pid}", json={"name": None}, headers=ADMIN)
        ).status_code == 422
        assert (
            await client.patch(f"/v1/purposes/{pid}", json={"retention": {}}, headers=INTEGRATOR)
        ).status_code == 403

        contact_id = _contact_id()
        granted = await _created(client, "/v1/consents", _consent(contact_id, pid), INTEGRATOR)
        assert granted["purpose_version"] == 2

        retired = await client.post(f"/v1/purposes/{pid}/retirement", headers=ADMIN)
        assert retired.status_code == 200 and retired.json()["current_version"] is None
        assert (await client.post(f"/v1/purposes/{pid}/retirement", headers=ADMIN)).status_code == 422
        refused = await client.post("/v1/consents", json=_consent(_contact_id(), pid), headers=INTEGRATOR)
        assert refused.status_code == 422 and "no version in force" in refused.json()["detail"]
        fetched = await client.get(f"/v1/purposes/{pid}", headers=auth("auditor"))
        assert fetched.status_code == 200 and len(fetched.json()["versions"]) == 2
        assert (await client.get(f"/v1/purposes/{uuid.uuid4().hex}", headers=ADMIN)).status_code == 404
        rows = list(
            csv.reader(
                io.StringIO((await client.get("/v1/register", params={"format": "csv"}, headers=ADMIN)).text)
            )
        )
        assert not [r for r in rows[1:] if r[0] == purpose["versions"][0]["name"]], (
            "a retired purpose is not in force"
        )

        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: {contracts.PURPOSE_REVISED, contracts.PURPOSE_RETIRED} <= {e.type for e in seen},
            {pid},
        )
    revised_event = next(e for e in events if e.type == contracts.PURPOSE_REVISED)
    assert revised_event.data["changed_fields"] == ["recipients_external", "retention"]
    assert revised_event.data["version"] == 2 and revised_event.data["previous_version"] == 1


async def test_single_records_are_readable_and_lists_page_with_an_opaque_cursor(
    settings: ConsentSettings,
) -> None:
    async with running(create_app(settings)) as consent:
        client = consent.client
        made = [(await _created(client, "/v1/purposes", _purpose(), ADMIN))["purpose_id"] for _ in range(3)]
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.get("/v1/purposes", params=params, headers=ADMIN)
            assert page.status_code == 200, page.text
            assert len(page.json()["items"]) <= 2
            seen += [p["purpose_id"] for p in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(made) <= set(seen), "every purpose once, none twice"
        bad = await client.get("/v1/purposes", params={"cursor": "not-a-cursor"}, headers=ADMIN)
        assert bad.status_code == 422
        wrong_list = await client.get("/v1/processors", params={"cursor": cursor or "eyJ4Il0"}, headers=ADMIN)
        assert wrong_list.status_code == 422

        notice = await _created(client, "/v1/notices", _notice(made[0]), ADMIN)
        second = await _created(
            client, "/v1/notices", {**_notice(made[0]), "notice_id": notice["notice_id"]}, ADMIN
        )
        assert second["version"] == 2
        latest = await client.get(f"/v1/notices/{notice['notice_id']}", headers=INTEGRATOR)
        assert latest.status_code == 200 and latest.json()["version"] == 2
        first = await client.get(
            f"/v1/notices/{notice['notice_id']}", params={"version": 1}, headers=INTEGRATOR
        )
        assert first.json()["content_hash"] == notice["content_hash"]
        assert (
            await client.get(f"/v1/notices/{notice['notice_id']}", params={"version": 9}, headers=INTEGRATOR)
        ).status_code == 404

        granted = await _created(client, "/v1/consents", _consent(_contact_id(), made[0]), INTEGRATOR)
        fetched = await client.get(f"/v1/consents/{granted['consent_id']}", headers=auth("reviewer"))
        assert fetched.status_code == 200 and fetched.json() == granted


async def test_two_simultaneous_grants_leave_one_active_consent(settings: ConsentSettings) -> None:
    async with running(create_app(settings)) as consent:
        purpose = await _created(consent.client, "/v1/purposes", _purpose(), ADMIN)
        contact_id = _contact_id()
        for _ in range(3):
            body = _consent(contact_id, purpose["purpose_id"])
            responses = await asyncio.gather(
                *[consent.client.post("/v1/consents", json=body, headers=INTEGRATOR) for _ in range(4)]
            )
            assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [
                r.text for r in responses
            ]
            listed = (
                await consent.client.get(f"/v1/contacts/{contact_id}/consents", headers=INTEGRATOR)
            ).json()
            active = [c for c in listed["consents"] if c["status"] != "withdrawn"]
            assert len(active) == 1
            await consent.client.post(
                f"/v1/consents/{active[0]['consent_id']}/withdrawal", headers=INTEGRATOR
            )
        engine = consent.app.state.service.runtime.engine
        async with engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(orm.consents.c.status).where(orm.consents.c.contact_id == contact_id)
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(rows) == ["withdrawn"] * 3, "one grant per round, each withdrawn"


async def test_objections_are_matched_by_email_phone_or_blind_index_for_a_reimport(
    settings: ConsentSettings,
) -> None:
    phone = f"+33 6 12 {uuid.uuid4().int % 100:02d} {uuid.uuid4().int % 100:02d} 78"
    async with running(create_app(settings)) as consent:
        client = consent.client
        indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
        objection = await _created(
            client, "/v1/objections", {"phone": phone, "scope": "phone_human"}, INTEGRATOR
        )
        index = indexer.phone(phone)
        assert objection["blind_indexes"] == [index]
        by_phone = await client.get("/v1/objections", params={"phone": phone}, headers=auth("marketer"))
        assert by_phone.status_code == 200
        assert {k: by_phone.json()["items"][0][k] for k in ("scope", "channel", "purpose_id")} == {
            "scope": "channel",
            "channel": "phone_human",
            "purpose_id": None,
        }
        by_index = await client.get("/v1/objections", params={"blind_index": index}, headers=INTEGRATOR)
        assert [o["objection_id"] for o in by_index.json()["items"]] == [objection["objection_id"]]
        other = indexer.email(f"nobody.{uuid.uuid4().hex[:6]}@example.org")
        bulk = await client.post(
            "/v1/objections/matches", json={"blind_indexes": [other, index]}, headers=INTEGRATOR
        )
        assert bulk.status_code == 200 and bulk.json()["matched_blind_indexes"] == [index]
        none = await client.get("/v1/objections", params={"blind_index": other}, headers=INTEGRATOR)
        assert none.json() == {"matched_blind_indexes": [], "items": [], "next_cursor": None}
        assert (await client.get("/v1/objections", headers=INTEGRATOR)).status_code == 422
        assert (
            await client.get("/v1/objections", params={"blind_index": "zz"}, headers=INTEGRATOR)
        ).status_code == 422


async def test_the_art14_deadline_of_a_contact_is_exposed_with_its_notice_delivery(
    settings: ConsentSettings,
) -> None:
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        content = {item: f"Texte pour {item}." for item in ART14_REQUIRED}
        notice = await _created(
            client,
            "/v1/notices",
            {"language": "fr", "article": "14", "purpose_ids": [purpose["purpose_id"]], "content": content},
            ADMIN,
        )
        on_time, late, never = _contact_id(), _contact_id(), _contact_id()
        now = datetime.now(UTC)
        # A delivery lies between the notice's publication (just now) and now: the obtaining times move
        # instead.
        obtained = {
            on_time: now - timedelta(days=10),
            late: now - timedelta(days=40),
            never: now - timedelta(days=1),
        }
        for contact_id in (on_time, late):
            await _created(
                client,
                f"/v1/notices/{notice['notice_id']}/deliveries",
                {"contact_id": contact_id, "channel": "letter"},
                INTEGRATOR,
            )

        async def status(contact_id: str, **params: str) -> dict[str, Any]:
            response = await client.get(
                f"/v1/contacts/{contact_id}/art14-deadline",
                params={"obtained_at": obtained[contact_id].isoformat(), **params},
                headers=INTEGRATOR,
            )
            assert response.status_code == 200, response.text
            return response.json()

        first = await status(on_time)
        assert datetime.fromisoformat(first["deadline"]) == add_calendar_month(obtained[on_time])
        assert first["met"] and not first["overdue"] and first["delivered_at"]
        assert (await status(late))["met"] is False and (await status(late))["overdue"] is True
        communicated = now - timedelta(days=2)
        earlier = await status(on_time, first_communication_at=communicated.isoformat())
        assert datetime.fromisoformat(earlier["deadline"]) == communicated and not earlier["met"]
        unsent = await status(never)
        assert unsent["delivered_at"] is None and not unsent["met"] and not unsent["overdue"]
        naive = await client.get(
            f"/v1/contacts/{never}/art14-deadline",
            params={"obtained_at": "2026-01-31T10:00:00"},
            headers=INTEGRATOR,
        )
        assert naive.status_code == 422


@pytest.fixture
async def upstream(settings: ConsentSettings, kafka_bootstrap: str) -> AsyncIterator[Upstream]:
    """Contacts' events made by contacts' own code (domain, outgoing mapping, outbox relay)."""
    key = settings.blind_index_key.get_secret_value()  # Deployed services share the blind-index key.
    async with Upstream(kafka_bootstrap, blind_index_key=key) as producers:
        yield producers


async def test_an_objection_given_by_contact_id_alone_keeps_the_persons_indexes_past_erasure(
    settings: ConsentSettings, kafka_bootstrap: str, upstream: Upstream
) -> None:
    indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
    email, phone = f"claude.{uuid.uuid4().hex[:6]}@example.org", f"+33612{uuid.uuid4().int % 100:02d}2233"
    email_index, phone_index = indexer.email(email), indexer.phone(phone)
    contact_id = _contact_id()
    async with running(create_app(settings)) as consent:
        client = consent.client
        contact = await upstream.contact(contact_id=contact_id, email=email)
        await _wait_for_consumer_idle(consent)
        objection = await _created(client, "/v1/objections", {"contact_id": contact_id}, INTEGRATOR)
        assert objection["blind_indexes"] == [email_index], "taken from the contact's facts"

        await upstream.update_contact(contact, phone=phone)

        async def _phone_matches() -> bool:
            found = await client.get(
                "/v1/objections", params={"blind_index": phone_index}, headers=INTEGRATOR
            )
            return [o["objection_id"] for o in found.json()["items"]] == [objection["objection_id"]]

        await eventually(_phone_matches, timeout=30)
        await upstream.erase(contact, reason="request")

        async def _anonymous() -> bool:
            found = await client.get(
                "/v1/objections", params={"blind_index": phone_index}, headers=INTEGRATOR
            )
            items = found.json()["items"]
            return bool(items) and items[0]["contact_id"] is None

        await eventually(_anonymous, timeout=30)
        matched = await client.post(
            "/v1/objections/matches", json={"blind_indexes": [email_index, phone_index]}, headers=INTEGRATOR
        )
        assert matched.json()["matched_blind_indexes"] == sorted([email_index, phone_index])
        engine = consent.app.state.service.runtime.engine
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(orm.contact_indexes)
                    .where(orm.contact_indexes.c.contact_id == contact_id)
                )
            ).scalar()
        assert left == 0, "the projection forgets the erased contact"
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: any(e.type == contracts.OBJECTION_INDEXES_ADDED for e in seen),
            {contact_id},
        )
    added = next(e for e in events if e.type == contracts.OBJECTION_INDEXES_ADDED)
    assert (
        added.data["blind_indexes"] == [phone_index]
        and added.data["objection_id"] == objection["objection_id"]
    )


# --- Consent's facts for the gate, from the HTTP input to the bytes on consent.events (issue 13): the gate
# reads consent's record of what the caller entered, never an assumption.


async def test_a_pre_ticked_consent_is_published_as_stored_without_positive_act_or_withdrawal_info(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        pre_ticked, told = _contact_id(), _contact_id()
        stored = await _created(
            client,
            "/v1/consents",
            _consent(pre_ticked, purpose["purpose_id"], terms={"act": "pre_ticked_box"}),
            INTEGRATOR,
        )
        assert stored["terms"]["positive_act"] is False and stored["terms"]["withdrawal_info_given"] is False
        ticked = await _created(
            client,
            "/v1/consents",
            _consent(
                told,
                purpose["purpose_id"],
                channel="phone_human",
                out_of_hours_calls=True,
                wording=(
                    "J'accepte d'être appelé par Acme, y compris le soir. "
                    "Je peux retirer mon accord à tout moment."
                ),
                terms={"act": "said_yes"},
            ),
            INTEGRATOR,
        )
        assert ticked["terms"]["positive_act"] is True and ticked["terms"]["withdrawal_info_given"] is True
        assert ticked["out_of_hours_calls"] is True

        refused = [
            await client.post(
                "/v1/consents",
                json=_consent(_contact_id(), purpose["purpose_id"], out_of_hours_calls=True),
                headers=INTEGRATOR,
            ),
            await client.post(
                "/v1/consents",
                json=_consent(
                    _contact_id(),
                    purpose["purpose_id"],
                    terms={"act": "bundled_with_terms", "positive_act": True},
                ),
                headers=INTEGRATOR,
            ),
            await client.post(
                "/v1/consents",
                json=_consent(
                    _contact_id(),
                    purpose["purpose_id"],
                    terms={"act": "ticked_box", "withdrawal_info_given": True},
                ),
                headers=INTEGRATOR,
            ),
        ]
        assert [r.status_code for r in refused] == [422, 422, 422], [r.text for r in refused]
        assert "out_of_hours_calls" in refused[0].text and "positive_act" in refused[1].text
        assert "withdrawal_info_given" in refused[2].text
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: len([e for e in seen if e.type == contracts.CONSENT_GRANTED]) == 2,
            {pre_ticked, told},
        )
    granted = {e.subject: e.data for e in events if e.type == contracts.CONSENT_GRANTED}
    for contact_id, record in ((pre_ticked, stored), (told, ticked)):
        published = granted[contact_id]
        assert {
            k: published[k] for k in ("positive_act", "withdrawal_info_given", "explicit", "given_by")
        } == {
            k: record["terms"][k] for k in ("positive_act", "withdrawal_info_given", "explicit", "given_by")
        }
        assert published["out_of_hours_calls"] is record["out_of_hours_calls"]
        assert published["proof_present"] is True
    assert granted[pre_ticked]["positive_act"] is False and granted[told]["out_of_hours_calls"] is True


async def test_an_art14_exemption_claimed_in_the_register_is_published_and_exported(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    ground = "Fichier d'archives de 1950 : les personnes ne peuvent plus être retrouvées"
    async with running(create_app(settings)) as consent:
        client = consent.client
        missing = await client.post(
            "/v1/purposes", json=_purpose(art14_exemption_claimed=True), headers=ADMIN
        )
        assert missing.status_code == 422 and "art14_exemption_ground" in missing.text
        purpose = await _created(
            client,
            "/v1/purposes",
            _purpose(
                lawful_basis="legitimate_interests",
                legitimate_interest="Prospection de clients professionnels",
                art14_exemption_claimed=True,
                art14_exemption_ground=ground,
            ),
            ADMIN,
        )
        assert purpose["versions"][0]["art14_exemption_ground"] == ground
        exported = await client.get("/v1/register", params={"format": "csv"}, headers=ADMIN)
        assert exported.status_code == 200, exported.text
        rows = [
            r
            for r in csv.DictReader(io.StringIO(exported.text))
            if r["Fiche de registre de l'activité"] == purpose["versions"][0]["name"]
        ]
        assert ground in rows[0]["Objectifs poursuivis"]
        revised = await client.patch(
            f"/v1/purposes/{purpose['purpose_id']}", json={"art14_exemption_claimed": False}, headers=ADMIN
        )
        assert revised.status_code == 200, revised.text
        reclaimed = await client.patch(
            f"/v1/purposes/{purpose['purpose_id']}", json={"art14_exemption_claimed": True}, headers=ADMIN
        )
        assert reclaimed.status_code == 422 and "art14_exemption_ground" in reclaimed.text
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: {contracts.PURPOSE_REGISTERED, contracts.PURPOSE_REVISED} <= {e.type for e in seen},
            {purpose["purpose_id"]},
        )
    by_type = {e.type: e.data for e in events}
    assert by_type[contracts.PURPOSE_REGISTERED]["art14_exemption_claimed"] is True
    assert by_type[contracts.PURPOSE_REGISTERED]["art14_exemption_ground"] == ground
    assert by_type[contracts.PURPOSE_REVISED]["art14_exemption_claimed"] is False
    assert by_type[contracts.PURPOSE_REVISED]["art14_exemption_ground"] is None


async def test_an_erasure_without_an_objection_keeps_the_erased_indexes_as_an_erasure_objection(
    settings: ConsentSettings, kafka_bootstrap: str, upstream: Upstream
) -> None:
    """contact_erased is made by contacts' own code: Contact.erase, its outgoing mapping, the outbox relay."""
    email, phone = f"sacha.{uuid.uuid4().hex[:6]}@example.org", "+33612345678"
    indexer = BlindIndexer(settings.blind_index_key.get_secret_value().encode())
    indexes = [indexer.email(email), indexer.phone(phone)]
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await _created(client, "/v1/purposes", _purpose(), ADMIN)
        contact_id = _contact_id()
        contact = await upstream.contact(contact_id=contact_id, email=email, phone=phone)
        await _created(client, "/v1/consents", _consent(contact_id, purpose["purpose_id"]), INTEGRATOR)
        erased = await upstream.erase(contact, reason="request")
        assert erased.type == contracts.CONTACT_ERASED and sorted(erased.data["blind_indexes"]) == sorted(
            indexes
        )

        async def _matched() -> dict[str, Any] | None:
            response = await client.get("/v1/objections", params={"email": email.upper()}, headers=INTEGRATOR)
            items = response.json()["items"] if response.status_code == 200 else []
            return items[0] if items else None

        kept = await eventually(_matched, timeout=30)
        assert kept["scope"] == "all_direct_marketing" and kept["reason"] == "erasure"
        assert kept["contact_id"] is None and sorted(kept["blind_indexes"]) == sorted(indexes)
        phone_match = await client.get("/v1/objections", params={"phone": phone}, headers=INTEGRATOR)
        assert [o["objection_id"] for o in phone_match.json()["items"]] == [kept["objection_id"]]
        await _wait_for_consumer_idle(consent)
        engine = consent.app.state.service.runtime.engine
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(orm.consents)
                    .where(orm.consents.c.contact_id == contact_id)
                )
            ).scalar()
        assert left == 0
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: any(e.type == contracts.OBJECTION_RECORDED for e in seen),
            {kept["objection_id"]},
        )
    recorded = next(e for e in events if e.type == contracts.OBJECTION_RECORDED)
    assert recorded.data["reason"] == "erasure" and recorded.data["scope"] == "all_direct_marketing"
    assert sorted(recorded.data["blind_indexes"]) == sorted(indexes) and recorded.data["contact_id"] is None
    assert email not in recorded.encode().decode()

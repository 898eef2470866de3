"""Parties and contracts for real: HTTP → PostgreSQL + outbox → consent.events, with a controllable clock."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from consent import contracts
from consent.bootstrap import bootstrap
from consent.domain import parties
from consent.domain.register import PARTIES_COLUMNS, REGISTER_COLUMNS
from consent.main import create_app
from consent.settings import ConsentSettings
from shared.testing.harness import (
    ManualClock,
    auth,
    common_settings,
    migrated_database,
    read_events,
    running,
)

pytestmark = pytest.mark.integration

ADMIN, AUDITOR = auth("admin"), auth("auditor")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> ConsentSettings:
    url = await migrated_database(postgres_admin_url, "consent")
    return ConsentSettings(
        database_url=url,
        consumer_group=f"consent-{uuid.uuid4().hex[:8]}",
        contract_watch_interval_seconds=0,
        contract_expiry_window_days=30,
        **common_settings(kafka_bootstrap),
    )


def _app(settings: ConsentSettings, clock: ManualClock) -> Any:
    return create_app(service=bootstrap(settings, clock=clock))


async def _created(
    client: Any, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _all_clauses(*roles: str) -> list[str]:
    return list(parties.required_clauses(roles))


async def test_every_party_and_contract_change_reaches_consent_events(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    clock = ManualClock(T0)
    contact = f"achats.{uuid.uuid4().hex[:6]}@broker.example"
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        broker = await _created(
            client,
            "/v1/parties",
            {
                "legal_name": "Fichiers & Co SAS",
                "registration_id": "RCS Paris 123 456 789",
                "contact": contact,
                "roles": ["data_broker"],
                "data_categories": ["identité", "coordonnées"],
                "systems": ["import CSV"],
                "broker_last_verified_at": (T0 - 30 * DAY).isoformat(),
            },
        )
        assert [f["code"] for f in broker["findings"]] == ["no_contract"] and not broker["usable"]
        party_id = broker["party_id"]

        signed = await _created(
            client,
            f"/v1/parties/{party_id}/contracts",
            {
                "reference": "CTR-BROKER-1",
                "signed_at": (T0 - DAY).isoformat(),
                "expires_at": (T0 + 40 * DAY).isoformat(),
                "breach_notification_hours": 48,
                "clauses": [
                    c for c in _all_clauses("data_broker") if c != "consent_forms_name_us_or_our_category"
                ],
            },
        )
        assert signed["version"] == 1 and signed["in_force"]
        assert signed["missing_clauses"] == {"data_broker": ["consent_forms_name_us_or_our_category"]}

        verified_at = T0 - DAY
        patched = await client.patch(
            f"/v1/parties/{party_id}",
            json={"broker_last_verified_at": verified_at.isoformat(), "roles": ["data_broker", "processor"]},
            headers=ADMIN,
        )
        assert patched.status_code == 200, patched.text
        assert set(patched.json()["current_contract"]["missing_clauses"]) == {"data_broker", "processor"}

        full = await _created(
            client,
            f"/v1/parties/{party_id}/contracts",
            {
                "reference": "CTR-BROKER-2",
                "signed_at": T0.isoformat(),
                "expires_at": (T0 + 40 * DAY).isoformat(),
                "clauses": _all_clauses("data_broker", "processor"),
            },
        )
        assert full["version"] == 2 and full["missing_clauses"] == {}
        party = (await client.get(f"/v1/parties/{party_id}", headers=AUDITOR)).json()
        assert party["usable"] and party["current_contract"]["contract_id"] == full["contract_id"]

        clock.now = T0 + 15 * DAY  # 25 days left: inside the 30-day window.
        watched = await client.post("/v1/contracts:watch", headers=ADMIN)
        assert watched.status_code == 200 and watched.json()["expiring"] == [full["contract_id"]]
        again = await client.post("/v1/contracts:watch", headers=ADMIN)
        assert again.json() == {"within_days": 30, "expiring": [], "expired": []}, "raised once per contract"
        clock.now = T0 + 40 * DAY
        expired = await client.post("/v1/contracts:watch", headers=ADMIN)
        assert expired.json()["expired"] == [full["contract_id"]]
        now_party = (await client.get(f"/v1/parties/{party_id}", headers=AUDITOR)).json()
        assert "contract_expired" in [f["code"] for f in now_party["findings"]]

        expected = [
            contracts.PARTY_REGISTERED,
            contracts.CONTRACT_SIGNED,
            contracts.PARTY_UPDATED,
            contracts.CONTRACT_SIGNED,
            contracts.CONTRACT_EXPIRING,
            contracts.CONTRACT_EXPIRED,
        ]
        events = await read_events(
            kafka_bootstrap, contracts.CONSENT_EVENTS, lambda seen: len(seen) >= len(expected), {party_id}
        )
    assert [e.type for e in events] == expected, "in order, keyed by the party id"
    assert all(contact not in e.encode().decode() for e in events), "no contact detail in events"
    registered, first, updated, second, expiring, gone = (e.data for e in events)
    assert registered["roles"] == ["data_broker"]
    assert registered["broker_last_verified_at"] == (T0 - 30 * DAY).isoformat()
    assert first["missing_clauses"] == {"data_broker": ["consent_forms_name_us_or_our_category"]}
    assert first["signed_at"] == (T0 - DAY).isoformat() and first["expires_at"] == (T0 + 40 * DAY).isoformat()
    assert first["contract_id"] == signed["contract_id"] and first["party_id"] == party_id
    assert updated["broker_last_verified_at"] == verified_at.isoformat()
    assert updated["changed_fields"] == ["roles", "broker_last_verified_at"]
    assert set(updated["missing_clauses"]) == {"data_broker", "processor"}
    assert second["missing_clauses"] == {} and second["roles"] == ["data_broker", "processor"]
    assert second["broker_last_verified_at"] == verified_at.isoformat()
    assert (
        expiring["window_days"] == 30
        and expiring["in_force"]
        and expiring["contract_id"] == full["contract_id"]
    )
    assert not gone["in_force"] and gone["broker_last_verified_at"] == verified_at.isoformat()
    assert all(e.actor == "e2e/tester" for e in events)


async def test_the_expiring_list_follows_the_clock_and_the_window(settings: ConsentSettings) -> None:
    clock = ManualClock(T0)
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        ids = {}
        for name, days in (("Bientôt SAS", 10), ("Plus tard SAS", 40), ("Sans fin SAS", None)):
            party = await _created(client, "/v1/parties", {"legal_name": name, "roles": ["consultant"]})
            ids[name] = party["party_id"]
            expires = (T0 + days * DAY).isoformat() if days else None
            await _created(
                client,
                f"/v1/parties/{party['party_id']}/contracts",
                {
                    "reference": f"CTR-{name}",
                    "signed_at": T0.isoformat(),
                    "expires_at": expires,
                    "clauses": _all_clauses("consultant"),
                },
            )
        # A renewal supersedes the short contract: the old version no longer counts.
        renewed = await _created(
            client, "/v1/parties", {"legal_name": "Renouvelé SAS", "roles": ["integrator"]}
        )
        for version, days in ((1, 5), (2, 400)):
            await _created(
                client,
                f"/v1/parties/{renewed['party_id']}/contracts",
                {
                    "reference": f"CTR-R{version}",
                    "signed_at": T0.isoformat(),
                    "expires_at": (T0 + days * DAY).isoformat(),
                    "clauses": _all_clauses("integrator"),
                },
            )

        async def listed(within: int | None = None) -> list[str]:
            params = {"within_days": within} if within else {}
            response = await client.get("/v1/contracts:expiring", params=params, headers=AUDITOR)
            assert response.status_code == 200, response.text
            return [
                item["party_id"]
                for item in response.json()["items"]
                if item["party_id"] in {*ids.values(), renewed["party_id"]}
            ]

        assert await listed() == [ids["Bientôt SAS"]], "the configured 30-day window"
        assert await listed(60) == [ids["Bientôt SAS"], ids["Plus tard SAS"]], "soonest first"
        clock.now = T0 + 15 * DAY
        assert await listed() == [ids["Plus tard SAS"]], "an expired contract is no longer 'expiring'"
        bad = await client.get("/v1/contracts:expiring", params={"within_days": 0}, headers=AUDITOR)
        assert bad.status_code == 422


async def test_the_watch_in_the_lifespan_raises_contract_expiring_by_itself(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    periodic = settings.model_copy(update={"contract_watch_interval_seconds": 0.2})
    async with running(_app(periodic, ManualClock(T0))) as consent:
        party = await _created(
            consent.client, "/v1/parties", {"legal_name": "Routeur SMS", "roles": ["processor"]}
        )
        contract = await _created(
            consent.client,
            f"/v1/parties/{party['party_id']}/contracts",
            {
                "reference": "DPA",
                "signed_at": T0.isoformat(),
                "expires_at": (T0 + 3 * DAY).isoformat(),
                "scc_2021_915": True,
            },
        )
        assert contract["missing_clauses"]["processor"][0] == "subject_matter_and_duration"
        events = await read_events(
            kafka_bootstrap,
            contracts.CONSENT_EVENTS,
            lambda seen: any(e.type == contracts.CONTRACT_EXPIRING for e in seen),
            {party["party_id"]},
        )
    expiring = next(e for e in events if e.type == contracts.CONTRACT_EXPIRING)
    assert (
        expiring.actor == "consent/contract-watch" and expiring.data["contract_id"] == contract["contract_id"]
    )


async def test_parties_appear_in_the_register_export_and_the_auditors_csv(settings: ConsentSettings) -> None:
    clock = ManualClock(T0)
    async with running(_app(settings, clock)) as consent:
        client = consent.client
        processor = await _created(
            client, "/v1/processors", {"legal_name": "Hébergeur Legacy SAS", "role": "processor"}
        )
        purpose = await _created(
            client,
            "/v1/purposes",
            {
                "name": f"Prospection {uuid.uuid4().hex[:6]}",
                "controller": {"name": "Acme", "contact": "dpo@acme.example"},
                "description": "Offres",
                "lawful_basis": "consent",
                "processor_ids": [processor["processor_id"]],
                "recipients_external": ["Partenaires"],
            },
        )
        pid = purpose["purpose_id"]
        hosted = await _created(
            client,
            "/v1/parties",
            {
                "legal_name": "Hébergeur Legacy SAS",
                "roles": ["processor"],
                "purpose_ids": [pid],
                "processor_id": processor["processor_id"],
            },
        )
        await _created(
            client,
            f"/v1/parties/{hosted['party_id']}/contracts",
            {
                "reference": "DPA-7",
                "signed_at": (T0 - DAY).isoformat(),
                "expires_at": (T0 + 300 * DAY).isoformat(),
                "clauses": _all_clauses("processor"),
            },
        )
        integrator = await _created(
            client,
            "/v1/parties",
            {"legal_name": "Intégra SARL", "roles": ["integrator"], "purpose_ids": [pid]},
        )
        broker = await _created(
            client,
            "/v1/parties",
            {"legal_name": "Courtier SA", "roles": ["data_broker"], "purpose_ids": [pid]},
        )
        unknown = await client.post(
            "/v1/parties",
            json={"legal_name": "X", "roles": ["processor"], "processor_id": "nope"},
            headers=ADMIN,
        )
        assert unknown.status_code == 404

        response = await client.get("/v1/register", params={"format": "csv"}, headers=AUDITOR)
        assert response.status_code == 200, response.text
        rows = list(csv.reader(io.StringIO(response.text)))
        assert tuple(rows[0]) == REGISTER_COLUMNS
        row = next(
            dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[0] == purpose["versions"][0]["name"]
        )
        assert row["Sous-traitants"] == (
            "Hébergeur Legacy SAS (sous-traitant ; contrat DPA-7 v1 signé le "
            f"{(T0 - DAY).date()}, expire le {(T0 + 300 * DAY).date()})"
        )
        assert (
            row["Organismes externes"] == "Partenaires; Intégra SARL (intégrateur ; aucun contrat en vigueur)"
        )

        exported = await client.get("/v1/parties/export.csv", headers=AUDITOR)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert tuple(table[0]) == PARTIES_COLUMNS
        by_party = {r["party_id"]: r for r in table}
        assert by_party[hosted["party_id"]]["in_force"] == "true"
        assert by_party[hosted["party_id"]]["missing_clauses"] == ""
        assert by_party[integrator["party_id"]]["contract_id"] == ""
        assert "no_contract" in by_party[integrator["party_id"]]["findings"]
        assert "broker_not_verified" in by_party[broker["party_id"]]["findings"]
        assert (await client.get("/v1/processors", headers=AUDITOR)).status_code == 403, (
            "processors: staff only"
        )


async def test_party_input_is_checked_and_writes_are_for_admins(settings: ConsentSettings) -> None:
    async with running(_app(settings, ManualClock(T0))) as consent:
        client = consent.client
        body = {"legal_name": "Conseil SAS", "roles": ["consultant"]}
        assert (await client.post("/v1/parties", json=body, headers=auth("marketer"))).status_code == 403
        no_role = await client.post("/v1/parties", json={**body, "roles": []}, headers=ADMIN)
        assert no_role.status_code == 422 and no_role.json()["errors"][0]["field"] == "body.roles"
        bad_role = await client.post("/v1/parties", json={**body, "roles": ["astrologer"]}, headers=ADMIN)
        assert bad_role.status_code == 422
        party = await _created(client, "/v1/parties", body)
        unknown_clause = await client.post(
            f"/v1/parties/{party['party_id']}/contracts",
            json={"reference": "C", "clauses": ["free_lunch"]},
            headers=ADMIN,
        )
        assert unknown_clause.status_code == 422 and "free_lunch" in unknown_clause.json()["detail"]
        backwards = await client.post(
            f"/v1/parties/{party['party_id']}/contracts",
            json={"reference": "C", "signed_at": T0.isoformat(), "expires_at": (T0 - DAY).isoformat()},
            headers=ADMIN,
        )
        assert backwards.status_code == 422
        listed = await client.get(f"/v1/parties/{party['party_id']}/contracts", headers=AUDITOR)
        assert listed.status_code == 200 and listed.json()["items"] == [], "nothing stored"
        null_name = await client.patch(
            f"/v1/parties/{party['party_id']}", json={"legal_name": None}, headers=ADMIN
        )
        assert null_name.status_code == 422
        ended = await client.patch(
            f"/v1/parties/{party['party_id']}", json={"status": "ended"}, headers=ADMIN
        )
        assert ended.status_code == 200
        assert (
            await client.patch(f"/v1/parties/{party['party_id']}", json={"systems": ["CRM"]}, headers=ADMIN)
        ).status_code == 409
        assert (await client.get(f"/v1/parties/{uuid.uuid4().hex}", headers=AUDITOR)).status_code == 404
        assert (
            await client.post(
                f"/v1/parties/{uuid.uuid4().hex}/contracts", json={"reference": "C"}, headers=ADMIN
            )
        ).status_code == 404
        page = await client.get("/v1/parties", params={"limit": 1}, headers=AUDITOR)
        assert page.status_code == 200 and len(page.json()["items"]) == 1

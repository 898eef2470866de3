"""POST /v1/objections says its scope: all direct marketing (the default), one channel or one purpose;
a scope that does not match its fields is a 422 problem naming each field, and nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from consent.main import create_app
from consent.settings import ConsentSettings
from shared.testing.harness import auth, common_settings, migrated_database, running

pytestmark = pytest.mark.integration

ADMIN, INTEGRATOR = auth("admin"), auth("integrator")


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> ConsentSettings:
    url = await migrated_database(postgres_admin_url, "consent")
    return ConsentSettings(
        database_url=url, consumer_group=f"consent-{uuid.uuid4().hex[:8]}", **common_settings(kafka_bootstrap)
    )


_PURPOSE: dict[str, Any] = {
    "name": "Newsletter",
    "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris; privacy@acme.example"},
    "dpo": {"name": "DPO Acme", "contact": "dpo@acme.example"},
    "description": "Send the monthly newsletter",
    "lawful_basis": "consent",
    "data_categories": {"identity": ["e-mail"]},
    "data_subjects": ["subscribers"],
    "retention": {"subscribers": "until they unsubscribe"},
    "security_measures": {"access_control": "named accounts"},
}


async def test_each_scope_is_recorded_with_its_channel_or_purpose_and_mismatches_name_their_fields(
    settings: ConsentSettings,
) -> None:
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = await client.post(
            "/v1/purposes", json={**_PURPOSE, "name": f"News {uuid.uuid4().hex[:6]}"}, headers=ADMIN
        )
        assert purpose.status_code == 201, purpose.text
        purpose_id = purpose.json()["purpose_id"]

        async def post(body: dict[str, Any]) -> Any:
            return await client.post("/v1/objections", json=body, headers=INTEGRATOR)

        contact = str(uuid.uuid4())
        plain = await post({"contact_id": contact})
        assert plain.status_code == 201, plain.text
        assert (plain.json()["scope"], plain.json()["channel"], plain.json()["purpose_id"]) == (
            "all_direct_marketing",
            None,
            None,
        )
        by_channel = await post({"contact_id": contact, "scope": "channel", "channel": "sms_mms"})
        assert (by_channel.json()["scope"], by_channel.json()["channel"]) == ("channel", "sms_mms")
        by_purpose = await post({"contact_id": contact, "scope": "purpose", "purpose_id": purpose_id})
        assert (by_purpose.json()["scope"], by_purpose.json()["purpose_id"]) == ("purpose", purpose_id)
        alias = await post({"contact_id": contact, "scope": "all"})
        assert alias.json()["scope"] == "all_direct_marketing"

        for body, fields in (
            ({"scope": "channel"}, {"channel"}),
            ({"scope": "purpose"}, {"purpose_id"}),
            ({"scope": "purpose", "purpose_id": "not-registered"}, {"purpose_id"}),
            ({"scope": "all", "channel": "email", "purpose_id": purpose_id}, {"channel", "purpose_id"}),
            ({"scope": "pigeons"}, {"scope"}),
            ({"scope": "channel", "channel": "pigeon"}, {"channel"}),
        ):
            refused = await post({"contact_id": contact, **body})
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            named = {e["field"].removeprefix("body.") for e in refused.json()["errors"]}
            assert fields <= named, (body, refused.json())

        listed = await client.get(f"/v1/contacts/{contact}/consents", headers=INTEGRATOR)
        assert sorted(o["scope"] for o in listed.json()["objections"]) == [
            "all_direct_marketing",
            "all_direct_marketing",
            "channel",
            "purpose",
        ]

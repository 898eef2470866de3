"""Consents name their partners and e-mail tracking over HTTP (issue 19): entered on POST /v1/consents, kept,
read back and published in consent_granted; a tracking consent on another channel is a 422 naming the field
with nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from consent import contracts
from consent.adapters import orm
from consent.main import create_app
from consent.settings import ConsentSettings
from shared.events import EventEnvelope
from shared.testing.harness import auth, common_settings, eventually, migrated_database, running

pytestmark = pytest.mark.integration

ADMIN, INTEGRATOR = auth("admin"), auth("integrator")


@pytest.fixture
async def settings(kafka_bootstrap: str, postgres_admin_url: str) -> ConsentSettings:
    url = await migrated_database(postgres_admin_url, "consent")
    return ConsentSettings(
        database_url=url, consumer_group=f"consent-{uuid.uuid4().hex[:8]}", **common_settings(kafka_bootstrap)
    )


def _purpose() -> dict[str, Any]:
    return {
        "name": f"Offres des partenaires {uuid.uuid4().hex[:6]}",
        "controller": {"name": "Acme SAS", "contact": "1 rue de la Paix, 75002 Paris; privacy@acme.example"},
        "dpo": {"name": "DPO Acme", "contact": "dpo@acme.example"},
        "description": "Transmettre les coordonnées aux partenaires choisis par la personne",
        "lawful_basis": "consent",
        "data_categories": {"identity": ["nom", "e-mail"]},
        "data_subjects": ["prospects"],
        "retention": {"prospects": "3 ans après le dernier contact"},
        "security_measures": {"access_control": "comptes nominatifs", "encryption": "AES-256 au repos"},
    }


def _consent(purpose_id: str, contact_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "purpose_id": purpose_id,
        "channel": "email",
        "collection_method": "web_form",
        "wording": "J'accepte que mes coordonnées soient transmises à Assur Plus SA et Voyages Soleil.",
        "proof": {"captured_at": "2026-10-01T10:00:00+00:00", "source": "https://acme.example/form#v3"},
        "double_opt_in": False,
        "terms": {"act": "ticked_box"},
        **overrides,
    }


async def test_a_consent_names_its_partners_and_tracking_and_publishes_them(
    settings: ConsentSettings, kafka_bootstrap: str
) -> None:
    contact_id = str(uuid.uuid4())
    async with running(create_app(settings)) as consent:
        client = consent.client
        purpose = (await client.post("/v1/purposes", json=_purpose(), headers=ADMIN)).json()
        refused = await client.post(
            "/v1/consents",
            json=_consent(purpose["purpose_id"], contact_id, channel="sms_mms", email_tracking=True),
            headers=INTEGRATOR,
        )
        assert refused.status_code == 422 and "email_tracking" in refused.text, refused.text
        blank = await client.post(
            "/v1/consents",
            json=_consent(purpose["purpose_id"], contact_id, partners=[" "]),
            headers=INTEGRATOR,
        )
        assert blank.status_code == 422 and "partners" in blank.text, blank.text
        async with consent.app.state.service.runtime.engine.connect() as conn:
            stored = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(orm.consents)
                .where(orm.consents.c.contact_id == contact_id)
            )
        assert stored == 0, "nothing is stored for a refused consent"

        created = await client.post(
            "/v1/consents",
            json=_consent(
                purpose["purpose_id"],
                contact_id,
                partners=["Assur Plus SA", "Voyages Soleil"],
                partner_categories=["insurance"],
                email_tracking=True,
            ),
            headers=INTEGRATOR,
        )
        assert created.status_code == 201, created.text
        read = (await client.get(f"/v1/consents/{created.json()['consent_id']}", headers=INTEGRATOR)).json()
        assert read["partners"] == ["Assur Plus SA", "Voyages Soleil"]
        assert (read["partner_categories"], read["email_tracking"]) == (["insurance"], True)
        reader = AIOKafkaConsumer(
            contracts.CONSENT_EVENTS,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=f"reader-{uuid.uuid4().hex[:8]}",
        )
        await reader.start()
        try:

            async def _granted() -> dict[str, Any] | None:
                for records in (await reader.getmany(timeout_ms=500)).values():
                    for record in records:
                        envelope = EventEnvelope.decode(record.value)
                        if envelope.subject == contact_id and envelope.type == contracts.CONSENT_GRANTED:
                            return envelope.data
                return None

            data = await eventually(_granted, timeout=90)
        finally:
            await reader.stop()

    assert data["partners"] == ["Assur Plus SA", "Voyages Soleil"]
    assert (data["partner_categories"], data["email_tracking"]) == (["insurance"], True)

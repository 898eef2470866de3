"""Rotating the key-encryption key: every contact still reads, and the old key can then be removed."""

from __future__ import annotations

import base64
import os

import sqlalchemy as sa
from contacts.adapters import orm
from contacts.adapters.key_rotation import rewrap_data_keys
from contacts.main import create_app
from contacts.settings import ContactsSettings
from shared.envelope_crypto import KeyRing
from shared.testing.harness import auth, common_settings, migrated_database, running


def _kek(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


async def test_after_rotating_the_key_encryption_key_all_contacts_still_read(
    kafka_bootstrap: str, postgres_admin_url: str
) -> None:
    url = await migrated_database(postgres_admin_url, "contacts")
    old, new = _kek("2026a"), _kek("2026b")
    common = {**common_settings(kafka_bootstrap), "run_relay": False}
    ids = []
    async with running(create_app(ContactsSettings(database_url=url, keks=old, **common))) as before:
        for n in range(5):
            created = await before.client.post(
                "/v1/contacts",
                headers=auth("integrator"),
                json={
                    "kind": "consumer",
                    "given_name": f"Rotation{n}",
                    "email": f"rotation{n}.{os.urandom(3).hex()}@example.org",
                    "collected_from_person": True,
                    "source": "web_form",
                    "obtained_at": "2026-10-01T10:00:00+00:00",
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

    rotated = ContactsSettings(database_url=url, keks=f"{new},{old}", **common)
    async with running(create_app(rotated)) as during:
        report = await rewrap_data_keys(
            during.app.state.service.runtime.engine, during.app.state.service.vault.key_ring
        )
        assert (report.rewrapped, report.already_current) == (5, 0)
        again = await rewrap_data_keys(
            during.app.state.service.runtime.engine, during.app.state.service.vault.key_ring
        )
        assert (again.rewrapped, again.already_current) == (0, 5)
        async with during.app.state.service.runtime.engine.connect() as conn:
            wrapped = (await conn.execute(sa.select(orm.contacts.c.wrapped_key))).scalars().all()
        assert {KeyRing.kek_id_of(bytes(w)) for w in wrapped} == {"2026b"}

    only_new = ContactsSettings(database_url=url, keks=new, **common)
    async with running(create_app(only_new)) as after:
        for n, contact_id in enumerate(ids):
            response = await after.client.get(f"/v1/contacts/{contact_id}", headers=auth("integrator"))
            assert response.status_code == 200 and response.json()["given_name"] == f"Rotation{n}"

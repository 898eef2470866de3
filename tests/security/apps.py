"""Every service's app on a migrated SQLite file, without its lifespan (no Kafka needed to serve requests)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from shared.auth import ROLES, issue_local_token
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]
SECRET = "security-tests-jwt-secret-0123456789abcdef"
ISSUER, AUDIENCE = "vigie-security-tests", "vigie"
COMMON = {
    "VIGIE_PROFILE": "test",
    "VIGIE_JWT_SECRET": SECRET,
    "VIGIE_JWT_ISSUER": ISSUER,
    "VIGIE_JWT_AUDIENCE": AUDIENCE,
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "VIGIE_RATE_LIMIT_PER_SECOND": 0,
}


def _sqlite(folder: str) -> str:
    path = Path(tempfile.mkdtemp(prefix=f"vigie-sec-{folder}-")) / f"{folder}.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(ROOT / "services" / folder, url)
    return url


def build_apps() -> dict[str, FastAPI]:
    """Returns the four apps, each on a fresh migrated database."""
    from audit_log.main import create_app as audit_app
    from audit_log.settings import AuditLogSettings
    from campaign_gate.main import create_app as gate_app
    from campaign_gate.settings import CampaignGateSettings
    from consent.main import create_app as consent_app
    from consent.settings import ConsentSettings
    from contacts.main import create_app as contacts_app
    from contacts.settings import ContactsSettings

    apps = {
        "contacts": contacts_app(ContactsSettings(database_url=_sqlite("contacts"), **COMMON)),
        "consent": consent_app(ConsentSettings(database_url=_sqlite("consent"), **COMMON)),
        "campaign-gate": gate_app(CampaignGateSettings(database_url=_sqlite("campaign-gate"), **COMMON)),
        "audit-log": audit_app(AuditLogSettings(database_url=_sqlite("audit-log"), **COMMON)),
    }
    for app in apps.values():
        # Because requests are served from the database alone; the relay and consumers are not under test.
        app.router.lifespan_context = _no_background_work
    return apps


@contextlib.asynccontextmanager
async def _no_background_work(_app: FastAPI) -> AsyncIterator[None]:
    yield


def bearer(
    *roles: str, issuer: str = ISSUER, audience: str = AUDIENCE, ttl: int = 600, secret: str = SECRET
) -> dict[str, str]:
    """Returns an Authorization header for the roles."""
    token = issue_local_token(
        secret=secret,
        issuer=issuer,
        audience=audience,
        roles=roles,
        subject="sec",
        client="security-tests",
        ttl_seconds=ttl,
    )
    return {"Authorization": f"Bearer {token}"}


ALL_ROLES = bearer(*ROLES)

"""Property-based hostile input against every service's OpenAPI document: no 5xx,
responses match their schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from tests.security.apps import ALL_ROLES, build_apps

APPS = build_apps()


def _schema(name: str):
    return schemathesis.openapi.from_asgi("/openapi.json", APPS[name])


contacts = _schema("contacts")
consent = _schema("consent")
gate = _schema("campaign-gate")
audit = _schema("audit-log")
_SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _check(case) -> None:
    response = case.call(headers=ALL_ROLES)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} answered {response.status_code}"
    # Documented responses must match their schema; undocumented 4xx problem documents are allowed.
    case.validate_response(
        response,
        checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance],
    )


@contacts.parametrize()
@_SETTINGS
def test_contacts_survives_hostile_input(case) -> None:
    _check(case)


@consent.parametrize()
@_SETTINGS
def test_consent_survives_hostile_input(case) -> None:
    _check(case)


@gate.parametrize()
@_SETTINGS
def test_campaign_gate_survives_hostile_input(case) -> None:
    _check(case)


@audit.parametrize()
@_SETTINGS
def test_audit_log_survives_hostile_input(case) -> None:
    _check(case)

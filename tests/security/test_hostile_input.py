"""Property-based hostile input against every service's OpenAPI document: no 5xx,
responses match their schema."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
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


# Hostile inputs found by hand (issue 17): each is a 4xx problem document naming the field, and
# nothing is stored.

_CLIENTS = {name: TestClient(app, raise_server_exceptions=False) for name, app in APPS.items()}
_BEYOND_INT64 = 10**29
_CSV = {**ALL_ROLES, "content-type": "text/csv"}
_NDJSON = {**ALL_ROLES, "content-type": "application/x-ndjson"}
_CSV_HEADER = "kind,collected_from_person,source,obtained_at,email"


def _contact(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "consumer",
        "collected_from_person": True,
        "source": "web",
        "obtained_at": "2024-01-01T00:00:00Z",
        **fields,
    }


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def _fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem.get("errors", [])]


def _known(email: str) -> list[Any]:
    found = _CLIENTS["contacts"].get("/v1/contacts", params={"email": email}, headers=ALL_ROLES)
    assert found.status_code == 200, found.text
    items: list[Any] = found.json()["items"]
    return items


@pytest.mark.parametrize(
    ("service", "path", "field"),
    [
        ("audit-log", f"/v1/entries/{_BEYOND_INT64}", "path.index"),
        ("audit-log", f"/v1/entries?cursor={_BEYOND_INT64}", "query.cursor"),
        ("audit-log", f"/v1/proofs/consistency?first=1&second={_BEYOND_INT64}", "query.second"),
        ("audit-log", f"/v1/proofs/inclusion?index=0&tree_size={_BEYOND_INT64}", "query.tree_size"),
        ("consent", f"/v1/notices/n-1?version={_BEYOND_INT64}", "query.version"),
    ],
)
def test_an_integer_beyond_the_database_range_is_a_422_naming_the_parameter(
    service: str, path: str, field: str
) -> None:
    problem = _problem(_CLIENTS[service].get(path, headers=ALL_ROLES), 422)
    assert field in _fields(problem)


def test_a_notice_version_beyond_the_database_range_in_a_body_is_a_422() -> None:
    response = _CLIENTS["consent"].post(
        "/v1/notices/n-1/deliveries",
        json={"contact_id": "c-1", "channel": "email", "notice_version": _BEYOND_INT64},
        headers=ALL_ROLES,
    )
    assert "body.notice_version" in _fields(_problem(response, 422))


def test_a_csv_cell_over_the_reader_limit_is_a_422_and_no_row_is_imported() -> None:
    good = "consumer,true,web,2024-01-01T00:00:00Z,csv-cell-limit@example.org"
    body = f"{_CSV_HEADER}\n{good}\nconsumer,true,{'x' * 140_000},2024-01-01T00:00:00Z,\n"
    problem = _problem(_CLIENTS["contacts"].post("/v1/contacts:import", content=body, headers=_CSV), 422)
    assert _fields(problem) == ["line 3"]
    assert _known("csv-cell-limit@example.org") == []


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("kind,kind", "kind"),
        ("attributes.segment,attributes.segment", "attributes.segment"),
        ("postal_address,postal_address.city", "postal_address"),
        ("purchase.seller,purchase", "purchase"),
    ],
)
def test_a_duplicated_csv_header_is_a_422_naming_the_column(header: str, field: str) -> None:
    row = f"x,y,true,web,2024-01-01T00:00:00Z,dup-{field}@example.org"
    body = f"{header},{_CSV_HEADER.replace('kind,', '')}\n{row}\n"
    problem = _problem(_CLIENTS["contacts"].post("/v1/contacts:import", content=body, headers=_CSV), 422)
    assert _fields(problem) == [field]
    assert _known(f"dup-{field}@example.org") == []


def test_a_chunked_body_over_the_limit_is_a_413() -> None:
    def chunks() -> Any:
        for _ in range(40):  # 2.5 MiB, without a Content-Length.
            yield b" " * 65_536

    response = _CLIENTS["contacts"].post(
        "/v1/contacts", content=chunks(), headers={**ALL_ROLES, "content-type": "application/json"}
    )
    _problem(response, 413)


def test_bad_ndjson_rows_give_a_report_bounded_whatever_their_number() -> None:
    rows = 20_000
    response = _CLIENTS["contacts"].post("/v1/contacts:import", content=b"{}\n" * rows, headers=_NDJSON)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rows"] == rows
    assert len(report["errors"]) == 1000
    assert report["errors_omitted"] == rows - 1000
    assert len(response.content) < 400_000


def test_an_ndjson_row_longer_than_a_create_body_is_that_rows_error() -> None:
    huge = orjson.dumps(_contact(given_name="x" * 1_100_000))
    response = _CLIENTS["contacts"].post("/v1/contacts:import", content=huge + b"\n", headers=_NDJSON)
    assert response.status_code == 200, response.text
    assert response.json()["errors"][0]["errors"][0]["type"] == "row_invalid"


@pytest.mark.parametrize(
    "attributes",
    [
        {"notes": "x" * 20_000},  # Over the serialized size.
        {"a": {"b": {"c": {"d": {"e": 1}}}}},  # Over the depth.
        {"k" * 101: 1},  # A key too long.
        {str(n): n for n in range(101)},  # Too many keys.
    ],
    ids=["size", "depth", "key", "keys"],
)
def test_free_form_attributes_are_bounded_on_create_patch_and_import(attributes: dict[str, Any]) -> None:
    contacts = _CLIENTS["contacts"]
    email = f"attributes-{len(orjson.dumps(attributes))}@example.org"
    created = contacts.post(
        "/v1/contacts", json=_contact(email=email, attributes=attributes), headers=ALL_ROLES
    )
    assert "body.attributes" in _fields(_problem(created, 422))
    assert _known(email) == []
    kept = contacts.post(
        "/v1/contacts", json=_contact(attributes={"a": {"b": {"c": {"d": 1}}}}), headers=ALL_ROLES
    )
    assert kept.status_code == 201, kept.text
    patched = contacts.patch(
        f"/v1/contacts/{kept.json()['id']}", json={"attributes": attributes}, headers=ALL_ROLES
    )
    assert "body.attributes" in _fields(_problem(patched, 422))
    line = orjson.dumps(_contact(email=email, attributes=attributes))
    imported = contacts.post("/v1/contacts:import", content=line, headers=_NDJSON)
    assert imported.json()["created"] == 0
    assert "attributes" in [e["field"] for e in imported.json()["errors"][0]["errors"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": {"body": "x" * 100_001}}, "body.message.body"),
        ({"message": {"subject": "x" * 1001}}, "body.message.subject"),
        ({"dpia_reference": "x" * 1001}, "body.dpia_reference"),
        ({"analogous_categories": ["x" * 201]}, "body.analogous_categories.0"),
        (
            {"targeting": [{"attribute": "a", "operator": "eq", "value": ["x"] * 1001}]},
            "body.targeting.0.value",
        ),
    ],
)
def test_a_campaigns_free_text_is_bounded(change: dict[str, Any], field: str) -> None:
    campaign = {
        "purpose_id": "p-1",
        "channel": "email",
        "sender_entity": "ACME",
        "send_at": "2030-01-01T00:00:00Z",
    }
    response = _CLIENTS["campaign-gate"].post("/v1/campaigns", json={**campaign, **change}, headers=ALL_ROLES)
    assert any(f.startswith(field) for f in _fields(_problem(response, 422)))

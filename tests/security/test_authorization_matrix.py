"""Every role, and every kind of bad token, on every route of every service: allowed or refused as declared.

The roles a route admits are read from its `require_roles` dependency; the test then proves the app
enforces them, and pins the policies the product promises (SPEC §8) in EXPECTED.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from shared.auth import ROLES

from tests.security.apps import SECRET, bearer, build_apps

APPS = build_apps()

#: Policies the product promises, by (service, method, path); the rest is read from the code.
EXPECTED: dict[tuple[str, str, str], frozenset[str]] = {
    ("contacts", "POST", "/v1/contacts"): frozenset({"integrator", "admin"}),
    ("contacts", "PATCH", "/v1/contacts/{contact_id}"): frozenset({"integrator", "admin"}),
    ("consent", "POST", "/v1/purposes"): frozenset({"admin"}),
    ("consent", "POST", "/v1/processors"): frozenset({"admin"}),
    ("audit-log", "GET", "/v1/entries"): frozenset({"auditor"}),
    ("audit-log", "GET", "/v1/export"): frozenset({"auditor"}),
    # A person's whole trail: the auditor, and the admin who answers the person's access request.
    ("audit-log", "GET", "/v1/subjects/{subject_id}/proof-bundle"): frozenset({"auditor", "admin"}),
    # Art. 22(3): a human reviewer, not the calling CRM, takes up and decides a contested decision.
    ("contacts", "GET", "/v1/contestations"): frozenset({"reviewer", "admin"}),
    ("contacts", "POST", "/v1/requests/{request_id}/human-review"): frozenset({"reviewer", "admin"}),
    ("contacts", "POST", "/v1/requests/{request_id}/outcome"): frozenset({"reviewer", "admin"}),
}
REVIEWER_ONLY = ("/approve", "/reject")


def _declared_roles(route: APIRoute) -> frozenset[str] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        roles = getattr(dependency.call, "vigie_roles", None)
        if roles is not None:
            return roles
        stack.extend(dependency.dependencies)
    return None


def _flatten(routes: list[Any]) -> list[Any]:
    # Because FastAPI keeps included routers as lazy wrappers; their routes carry the full path.
    flat = []
    for route in routes:
        original = getattr(route, "original_router", None)
        flat.extend(_flatten(original.routes) if original is not None else [route])
    return flat


def _routes() -> list[tuple[str, str, str, frozenset[str] | None]]:
    found = []
    for service, app in APPS.items():
        for route in _flatten(app.routes):
            if isinstance(route, APIRoute) and route.path.startswith("/v1"):
                for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                    found.append((service, method, route.path, _declared_roles(route)))
    return found


ROUTES = _routes()
IDS = [f"{s} {m} {p}" for s, m, p, _ in ROUTES]


def _url(path: str) -> str:
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        filled = filled[:start] + str(uuid.uuid4()) + filled[end + 1 :]
    return filled


async def _call(service: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=APPS[service])
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        kwargs: dict[str, Any] = {"headers": headers}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {}
        return await client.request(method, _url(path), **kwargs)


def test_every_v1_route_declares_the_roles_it_admits() -> None:
    undeclared = [f"{s} {m} {p}" for s, m, p, roles in ROUTES if not roles]
    assert ROUTES and not undeclared


def test_the_promised_policies_hold() -> None:
    declared = {(s, m, p): roles for s, m, p, roles in ROUTES}
    for key, roles in EXPECTED.items():
        assert declared.get(key) == roles, key
    for (service, _method, path), roles in declared.items():
        if path.endswith(REVIEWER_ONLY):
            assert roles == {"reviewer"}, f"{service} {path} must be reviewer-only"


def test_the_audit_log_is_read_only_for_everyone() -> None:
    assert {m for s, m, _p, _r in ROUTES if s == "audit-log"} == {"GET"}


@pytest.mark.parametrize(("service", "method", "path", "roles"), ROUTES, ids=IDS)
async def test_each_role_is_admitted_or_refused_as_declared(
    service: str, method: str, path: str, roles: frozenset[str]
) -> None:
    for role in ROLES:
        response = await _call(service, method, path, bearer(role))
        if role in roles:
            assert response.status_code not in (401, 403), f"{role} refused on {method} {path}"
            assert response.status_code < 500, f"{role} got {response.status_code} on {method} {path}"
        else:
            assert response.status_code == 403, f"{role} got {response.status_code} on {method} {path}"


BAD_TOKENS = {
    "none": {},
    "expired": bearer(*ROLES, ttl=-120),
    "other issuer": bearer(*ROLES, issuer="someone-else"),
    "wrong audience": bearer(*ROLES, audience="another-api"),
    "wrong key": bearer(*ROLES, secret=SECRET[::-1]),
    "not a jwt": {"Authorization": "Bearer not-a-token"},
    "basic auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
}


@pytest.mark.parametrize(("service", "method", "path", "roles"), ROUTES, ids=IDS)
async def test_bad_tokens_are_refused_with_401_on_every_route(
    service: str, method: str, path: str, roles: frozenset[str]
) -> None:
    for name, headers in BAD_TOKENS.items():
        response = await _call(service, method, path, headers)
        assert response.status_code == 401, f"{name}: {response.status_code} on {method} {path}"
        assert response.headers["content-type"].startswith("application/problem+json")

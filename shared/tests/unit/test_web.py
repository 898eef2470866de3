"""The platform app: problem documents, body limits, rate limits, health, the JWKS route."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from shared.auth import LocalTokenVerifier, Principal, issue_local_token, require_roles
from shared.settings import ServiceSettings
from shared.web import create_app

SECRET = "s" * 40
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class Item(BaseModel):
    name: str
    count: int


def _app(**settings: Any) -> FastAPI:
    router = APIRouter()

    @router.post("/v1/items", status_code=201)
    async def create(item: Item, _p: Admin) -> dict[str, str]:
        return {"name": item.name}

    @router.post("/v1/things:import")
    async def bulk(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    config = ServiceSettings(VIGIE_PROFILE="test", **settings)
    return create_app(
        title="t",
        routers=[router],
        lifespan=None,
        settings=config,
        token_verifier=LocalTokenVerifier(secret=SECRET, issuer="i", audience="a"),
    )


def _token(*roles: str) -> dict[str, str]:
    return {
        "Authorization": "Bearer "
        + issue_local_token(secret=SECRET, issuer="i", audience="a", roles=roles, subject="t")
    }


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_validation_errors_are_problem_documents_naming_fields_without_echoing_input() -> None:
    async with await _client(_app()) as client:
        response = await client.post(
            "/v1/items", json={"name": "secret@example.org", "count": "x"}, headers=_token("admin")
        )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["body.count"]
    assert "secret@example.org" not in response.text
    assert response.headers["x-correlation-id"]


async def test_no_token_is_401_and_a_missing_role_is_403() -> None:
    async with await _client(_app()) as client:
        assert (await client.post("/v1/items", json={"name": "a", "count": 1})).status_code == 401
        assert (
            await client.post("/v1/items", json={"name": "a", "count": 1}, headers=_token("auditor"))
        ).status_code == 403
        assert (
            await client.post("/v1/items", json={"name": "a", "count": 1}, headers=_token("admin"))
        ).status_code == 201


async def test_a_body_over_the_limit_is_refused_with_413_but_bulk_routes_take_more() -> None:
    app = _app(VIGIE_MAX_BODY_BYTES=100, VIGIE_MAX_BULK_BODY_BYTES=10_000)
    big = {"name": "x" * 200, "count": 1}
    async with await _client(app) as client:
        assert (await client.post("/v1/items", json=big, headers=_token("admin"))).status_code == 413
        assert (await client.post("/v1/things:import", json={"k": "x" * 500})).status_code == 200
        assert (await client.post("/v1/things:import", json={"k": "x" * 20_000})).status_code == 413


async def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_are_not_affected() -> None:
    app = _app(VIGIE_RATE_LIMIT_PER_SECOND=1, VIGIE_RATE_LIMIT_BURST=3)
    noisy, quiet = _token("admin"), _token("admin", "auditor")
    async with await _client(app) as client:
        statuses = [(await client.get("/healthz", headers=noisy)).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
        limited = await client.get("/healthz", headers=noisy)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert (await client.get("/healthz", headers=quiet)).status_code == 200


async def test_the_jwks_route_is_empty_without_local_signing_keys() -> None:
    async with await _client(_app()) as client:
        assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}

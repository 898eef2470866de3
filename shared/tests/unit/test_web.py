"""The platform app: problem documents, body limits, rate limits, health, the JWKS route."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from shared.auth import LocalTokenVerifier, Principal, issue_local_token, require_roles
from shared.outbox import EventTooLargeError
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


async def test_a_chunked_body_over_the_limit_is_a_413_even_when_the_framework_reads_it() -> None:
    async def chunks() -> Any:
        for _ in range(40):  # 2.5 MiB without a Content-Length: FastAPI itself reads it for the handler.
            yield b" " * 65_536

    async with await _client(_app()) as client:
        response = await client.post(
            "/v1/items", content=chunks(), headers={**_token("admin"), "content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def _failing_app(error: Exception) -> FastAPI:
    router = APIRouter()

    @router.get("/v1/fail")
    async def fail() -> None:
        raise error

    return create_app(
        title="t",
        routers=[router],
        lifespan=None,
        settings=ServiceSettings(VIGIE_PROFILE="test"),
        token_verifier=LocalTokenVerifier(secret=SECRET, issuer="i", audience="a"),
    )


async def test_an_event_too_large_for_kafka_is_a_413_problem_document() -> None:
    async with await _client(_failing_app(EventTooLargeError("contact.created", 2_000_000))) as client:
        response = await client.get("/v1/fail")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "contact.created" in response.json()["detail"]


async def test_an_unexpected_error_is_a_500_problem_document_that_does_not_echo_the_error() -> None:
    transport = httpx.ASGITransport(
        app=_failing_app(RuntimeError("secret@example.org")), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/fail")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


async def test_each_request_is_counted_by_method_route_and_status_and_timed() -> None:
    async with await _client(_app()) as client:
        for _ in range(3):
            assert (
                await client.post("/v1/items", json={"name": "a", "count": 1}, headers=_token("admin"))
            ).status_code == 201
        assert (await client.post("/v1/items", json={"name": "a", "count": 1})).status_code == 401
        text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/v1/items",status="201"} 3.0' in text
    assert 'http_requests_total{method="POST",route="/v1/items",status="401"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/v1/items"} 4.0' in text

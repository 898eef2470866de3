"""Only auditors read the log: no token is a 401, any other role a 403."""

from __future__ import annotations

import pytest
from shared.testing.harness import auth

from .conftest import Log

pytestmark = pytest.mark.integration

ENDPOINTS = [
    "/v1/entries",
    "/v1/entries/0",
    "/v1/export",
    "/v1/checkpoint",
    "/v1/public-key",
    "/v1/proofs/inclusion?index=0&tree_size=1",
    "/v1/proofs/consistency?first=1&second=1",
    "/v1/verify",
]


@pytest.fixture
async def signed_log(log: Log) -> Log:
    await log.ingest("c-1")
    await log.checkpoint()
    return log


async def test_only_the_auditor_role_reads_the_log(signed_log: Log) -> None:
    client = signed_log.client

    for path in ENDPOINTS:
        assert (await client.get(path)).status_code == 401, path
        for role in ("integrator", "marketer", "reviewer", "admin"):
            response = await client.get(path, headers=auth(role))
            assert response.status_code == 403, (path, role, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(path, headers=auth("auditor"))).status_code == 200, path

"""/readyz checks what each process does: an API-only process its database, the relay and consumers
what they need of Kafka and the outbox."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from shared.outbox import outbox_table
from shared.runtime import Runtime
from shared.settings import ServiceSettings


@pytest.mark.parametrize(
    ("run_relay", "run_consumers", "checks"),
    [
        (False, False, {"database"}),
        (True, False, {"database", "kafka", "outbox"}),
        (False, True, {"database", "kafka", "consumers"}),
        (True, True, {"database", "kafka", "outbox", "consumers"}),
    ],
    ids=["api", "relay", "consumer", "all-in-one"],
)
async def test_each_role_reports_what_it_does(run_relay: bool, run_consumers: bool, checks: set[str]) -> None:
    settings = ServiceSettings(
        VIGIE_PROFILE="test",
        database_url="sqlite+aiosqlite:///:memory:",
        run_relay=run_relay,
        run_consumers=run_consumers,
    )
    runtime = Runtime(settings=settings, outbox_table=outbox_table(sa.MetaData()), topics=["t"])
    try:
        assert set(runtime.readiness_checks()) == checks
    finally:
        await runtime.engine.dispose()


async def test_a_service_without_an_outbox_has_no_outbox_check() -> None:
    settings = ServiceSettings(VIGIE_PROFILE="test", database_url="sqlite+aiosqlite:///:memory:")
    runtime = Runtime(settings=settings, outbox_table=None, topics=["t"])
    try:
        assert set(runtime.readiness_checks()) == {"database", "kafka", "consumers"}
    finally:
        await runtime.engine.dispose()

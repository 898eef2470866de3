"""The pool size and the relay's coalescing window come from a service's settings (its env prefix)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from shared.outbox import outbox_table
from shared.runtime import Runtime
from shared.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", frozen=True, populate_by_name=True)
    service_name: ClassVar[str] = "demo"


async def test_pool_size_and_coalescing_are_read_from_the_service_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/demo")
    monkeypatch.setenv("DEMO_DATABASE_POOL_SIZE", "5")
    monkeypatch.setenv("DEMO_OUTBOX_COALESCE_SECONDS", "0.01")
    runtime = Runtime(settings=DemoSettings(), outbox_table=outbox_table(sa.MetaData()), topics=[])
    assert runtime.engine.sync_engine.pool.size() == 5  # type: ignore[attr-defined]
    assert runtime.relay is not None and runtime.relay._coalesce_seconds == 0.01  # noqa: SLF001
    await runtime.engine.dispose()


def test_the_defaults_keep_a_pool_of_20_and_a_4_ms_window() -> None:
    settings = DemoSettings()
    assert (settings.database_pool_size, settings.outbox_coalesce_seconds) == (20, 0.004)

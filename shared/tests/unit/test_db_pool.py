"""The PostgreSQL engine's pool: fixed size (no overflow to churn), no TLS probe on loopback."""

from __future__ import annotations

import pytest
from shared.db import _connect_args, make_engine
from sqlalchemy.pool import QueuePool


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@127.0.0.1:5432/d", {"ssl": False}),
        ("postgresql+asyncpg://u:p@localhost/d", {"ssl": False}),
        ("postgresql+asyncpg://u:p@[::1]:5432/d", {"ssl": False}),
        ("postgresql+asyncpg://u@/d?host=/var/run/postgresql", {"ssl": False}),
        # Elsewhere asyncpg's default (prefer) stays; what the URL says always wins.
        ("postgresql+asyncpg://u:p@contacts-db-rw.vigie.svc:5432/d", {}),
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/d?ssl=require", {}),
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/d?sslmode=verify-full", {}),
    ],
)
def test_only_loopback_urls_that_say_nothing_skip_the_tls_negotiation(url: str, expected: dict) -> None:
    assert _connect_args(url) == expected


def test_pgsslmode_decides_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "require")
    assert _connect_args("postgresql+asyncpg://u:p@127.0.0.1/d") == {}


async def test_the_pool_has_a_fixed_size_and_no_overflow() -> None:
    engine = make_engine("postgresql://u:p@127.0.0.1:1/d", pool_size=7)
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.size() == 7
    assert pool._max_overflow == 0  # noqa: SLF001 - no public accessor; the point of the change.
    await engine.dispose()

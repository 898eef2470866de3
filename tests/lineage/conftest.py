"""Fixtures of the lineage tests: migrated databases once per session, a fresh world per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.lineage.world import World, migrated_templates, open_world


@pytest.fixture(scope="session")
async def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Migrates contacts', consent's and the gate's SQLite databases once."""
    return await migrated_templates(tmp_path_factory.mktemp("lineage-templates"))


@pytest.fixture
async def world(templates: dict[str, Path], tmp_path: Path) -> AsyncIterator[World]:
    """The producers' apps and the gate's projection on copies of the migrated databases."""
    async with open_world(templates, tmp_path) as opened:
        yield opened

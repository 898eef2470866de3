"""Fixtures of the contract tests: the producers' real apps and the gate's projection (see tests/lineage)."""

from tests.lineage.world import templates, world  # noqa: F401 - pytest fixtures

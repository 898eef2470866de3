"""Fixtures of the lineage tests: migrated databases once per session, a fresh world per test."""

from tests.lineage.world import templates, world  # noqa: F401 - pytest fixtures

"""Alembic environment of campaign-gate: its own metadata, run through the platform's async runner."""

from campaign_gate.adapters.orm import metadata
from shared.migrations import run_env

run_env(metadata)

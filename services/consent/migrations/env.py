"""Alembic environment of consent: its own metadata, run through the platform's async runner."""

from consent.adapters.orm import metadata
from shared.migrations import run_env

run_env(metadata)

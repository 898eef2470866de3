"""Alembic environment of contacts: its own metadata, run through the platform's async runner."""

from contacts.adapters.orm import metadata
from shared.migrations import run_env

run_env(metadata)

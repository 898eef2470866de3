"""Alembic environment of audit-log: its own metadata, run through the platform's async runner."""

from audit_log.adapters.orm import metadata
from shared.migrations import run_env

run_env(metadata)

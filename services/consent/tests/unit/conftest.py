"""Fixtures for consent's unit tests; makes `fakes.py` importable as `consent_fakes`."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from consent.domain import model

# Because pytest's importlib mode puts no test folder on sys.path, and a bare `fakes` module could
# collide with another service's.
_spec = importlib.util.spec_from_file_location("consent_fakes", Path(__file__).with_name("fakes.py"))
assert _spec is not None and _spec.loader is not None
consent_fakes = importlib.util.module_from_spec(_spec)
sys.modules["consent_fakes"] = consent_fakes
_spec.loader.exec_module(consent_fakes)

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

CONTROLLER = model.Party(name="Acme SAS", contact="1 rue de la Paix, 75002 Paris; privacy@acme.example")
DPO = model.Party(name="Jeanne Martin", contact="dpo@acme.example")


@pytest.fixture
def t0() -> datetime:
    """Returns a fixed, timezone-aware start time."""
    return T0


@pytest.fixture
def make_purpose() -> Callable[..., model.Purpose]:
    """Returns a factory of registered purposes with sensible register content."""

    def factory(**overrides: Any) -> model.Purpose:
        fields: dict[str, Any] = {
            "at": T0,
            "name": "Prospection par e-mail",
            "controller": CONTROLLER,
            "dpo": DPO,
            "description": "Envoyer des offres commerciales par e-mail aux prospects",
            "lawful_basis": model.LawfulBasis.CONSENT,
            "data_categories": {
                model.DataCategory.IDENTITY: ("nom", "prénom", "e-mail"),
                model.DataCategory.INTERNET: ("clics",),
            },
            "data_subjects": ("prospects", "clients"),
            "recipients_internal": ("service marketing",),
            "processor_ids": ("proc-router",),
            "retention": {"prospects": "3 ans après le dernier contact"},
            "security_measures": model.SecurityMeasures(
                access_control="comptes nominatifs", encryption="AES-256 au repos"
            ),
        }
        fields.update(overrides)
        return model.Purpose.register(**fields)

    return factory


@pytest.fixture
def proof() -> model.ConsentProof:
    """Returns complete proof metadata for a web-form consent."""
    return model.ConsentProof(
        captured_at=T0,
        source="https://acme.example/newsletter#form-v3",
        ip="203.0.113.0",
        user_agent="Mozilla/5.0",
    )

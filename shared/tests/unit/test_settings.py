"""Settings: one door to the environment, mounted secret files, placeholders refused in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from shared.settings import ServiceSettings


def test_the_local_profile_accepts_the_placeholder_secrets() -> None:
    assert ServiceSettings(VIGIE_PROFILE="local").jwt_secret.get_secret_value()


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_PROFILE", "production")
    with pytest.raises(ValidationError, match="jwt_secret holds a placeholder or short secret"):
        ServiceSettings()


def test_production_refuses_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_PROFILE", "production")
    monkeypatch.setenv("VIGIE_JWT_SECRET", "too-short")
    with pytest.raises(ValidationError, match="placeholder or short secret"):
        ServiceSettings()


def test_a_secret_can_come_from_a_mounted_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "jwt"
    secret.write_text("a-real-secret-from-a-mounted-file-0123456789\n")
    monkeypatch.setenv("VIGIE_PROFILE", "production")
    monkeypatch.setenv("VIGIE_JWT_SECRET_FILE", str(secret))
    settings = ServiceSettings()
    assert settings.jwt_secret.get_secret_value() == "a-real-secret-from-a-mounted-file-0123456789"


def test_the_environment_wins_over_a_mounted_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "jwt"
    secret.write_text("from-the-file-0123456789012345678901234567")
    monkeypatch.setenv("VIGIE_JWT_SECRET_FILE", str(secret))
    monkeypatch.setenv("VIGIE_JWT_SECRET", "from-the-environment-012345678901234567")
    assert ServiceSettings().jwt_secret.get_secret_value() == "from-the-environment-012345678901234567"

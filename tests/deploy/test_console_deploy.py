"""The console's manifests, image and compose entry: like the services' APIs, without database or Kafka."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import CONSOLE, DEPLOY, OVERLAYS, ROOT, by_kind, container, setting_names
from tests.deploy.test_images import final_stage, hadolint, instructions

DOCKERFILE = ROOT / "services" / "console" / "Dockerfile"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def test_the_console_image_is_hadolint_clean_multi_stage_non_root_and_serves_the_console() -> None:
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = instructions(DOCKERFILE)
    assert [args.split()[0] for keyword, args in steps if keyword == "FROM"][-1].endswith("-slim-bookworm")
    final = final_stage(DOCKERFILE)
    assert [args for keyword, args in final if keyword == "USER"] == ["10001:10001"]
    syncs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    assert syncs and all("--frozen --no-dev" in a and "--package vigie-console" in a for a in syncs)
    (command,) = [json.loads(args) for keyword, args in final if keyword == "CMD"]
    assert command == container(by_kind("production", "Deployment")["console-api"])["command"]
    copied = {
        args.split()[0] for keyword, args in steps if keyword == "COPY" and args.split()[0].endswith("/src")
    }
    assert copied == {"shared/src", "services/console/src"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_reaches_the_four_apis_and_they_let_it_in(overlay: str) -> None:
    configmap = by_kind(overlay, "ConfigMap")["console-config"]["data"]
    services = by_kind(overlay, "Service")
    for variable, peer in CONSOLE["calls"].items():
        assert configmap[variable] == f"http://{peer}" and peer in services
    policies = by_kind(overlay, "NetworkPolicy")
    egress = policies["console-egress"]["spec"]["egress"]
    assert [p["port"] for rule in egress for p in rule["ports"]] == [8080]
    (peer,) = egress[0]["to"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    allowed = policies["console-to-apis"]["spec"]
    assert allowed["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert allowed["ingress"][0]["from"] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "console", "app.kubernetes.io/part-of": "vigie"}
            }
        }
    ]
    assert "KAFKA_BOOTSTRAP_SERVERS" not in configmap and "database" not in str(
        by_kind(overlay, "Deployment")["console-api"]
    )


def test_the_consoles_pod_environment_with_its_secrets_mounted_yields_valid_production_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from console.settings import ConsoleSettings

    environment = dict(by_kind("production", "ConfigMap")["console-config"]["data"])
    for entry in container(by_kind("production", "Deployment")["console-api"])["env"]:
        mounted = tmp_path / Path(entry["value"]).name
        mounted.write_text(f"test-stand-in-{mounted.name.lower()}-0123456789abcdef\n")
        environment[entry["name"]] = str(mounted)
    for name in [n for n in os.environ if n.startswith(("VIGIE_", "KAFKA_", "CONSOLE_"))]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = ConsoleSettings()
    assert settings.profile == "production" and settings.secure_cookie()
    assert settings.csrf_secret.get_secret_value().startswith("test-stand-in-console_csrf_secret")
    assert settings.jwks_url and settings.jwks_url.startswith("https://")
    assert set(environment) - setting_names("console") == set()


def test_compose_runs_the_console_like_its_pod_on_loopback_8005() -> None:
    entry = _compose()["console-api"]
    assert entry["command"] == container(by_kind("production", "Deployment")["console-api"])["command"]
    assert entry["build"]["dockerfile"] == "services/console/Dockerfile"
    assert entry["ports"] == ["127.0.0.1:8005:8080"]
    assert entry["read_only"] is True and entry["cap_drop"] == ["ALL"] and entry["user"] == "10001:10001"
    for variable, peer in CONSOLE["calls"].items():
        assert entry["environment"][variable] == f"http://{peer}-api:8080"
    assert set(entry["environment"]) <= setting_names("console")


def test_the_consoles_out_of_band_secret_is_documented() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text() + (ROOT / "docs" / "console.md").read_text()
    assert "console-secrets" in operations
    for key in CONSOLE["secrets"]:
        assert key in operations

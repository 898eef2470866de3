"""deploy/compose.yaml, for laptops with Docker, stays consistent with the Kubernetes manifests.

No Docker engine runs here, so the file is parsed and compared, not started.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, ROOT, SERVICES, by_kind, container, setting_names

#: The local ports of SPEC §1.
PORTS = {"contacts": 8001, "consent": 8002, "campaign-gate": 8003, "audit-log": 8004}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def test_compose_runs_kafka_postgres_and_exactly_the_roles_the_manifests_run() -> None:
    expected = {f"{svc}-{role}" for svc, spec in SERVICES.items() for role in spec["roles"] | {"migrate"}}
    assert set(compose()) == expected | {"kafka", "postgres", "console-api"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_compose_container_runs_the_manifests_command_image_and_role_switches(service: str) -> None:
    spec = SERVICES[service]
    migrate = compose()[f"{service}-migrate"]
    assert migrate["command"] == container(by_kind("production", "Job")[f"{service}-migrate"])["command"]
    for role in spec["roles"]:
        entry = compose()[f"{service}-{role}"]
        deployment = container(by_kind("production", "Deployment")[f"{service}-{role}"])
        assert entry["command"] == deployment["command"]
        assert entry["image"] == f"vigie/{service}:local"
        assert (ROOT / "deploy" / entry["build"]["context"]).resolve() == ROOT
        assert entry["build"]["dockerfile"] == f"services/{service}/Dockerfile"
        manifest_env = {e["name"]: e["value"] for e in deployment["env"] if not e["name"].endswith("_FILE")}
        assert {k: v for k, v in entry["environment"].items() if k in manifest_env} == manifest_env
        assert entry["depends_on"][f"{service}-migrate"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_compose_container_is_locked_down_like_its_pod(service: str) -> None:
    pod = by_kind("production", "Deployment")[f"{service}-api"]["spec"]["template"]["spec"]
    for name, entry in compose().items():
        if not name.startswith(f"{service}-"):
            continue
        assert entry["read_only"] is True
        security = pod["securityContext"]
        assert entry["user"] == f"{security['runAsUser']}:{security['runAsGroup']}"
        assert entry["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in entry["security_opt"]
        assert entry["tmpfs"] == ["/tmp"]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_settings_the_service_reads_and_exposes_the_api_on_loopback(service: str) -> None:
    names = setting_names(service)
    for name, entry in compose().items():
        if name.startswith(f"{service}-"):
            assert set(entry["environment"]) <= names, name
            published = [f"127.0.0.1:{PORTS[service]}:8080"] if name.endswith("-api") else []
            assert entry.get("ports", []) == published


def test_compose_databases_match_the_cloudnativepg_databases_and_owners() -> None:
    initdb_sql = (DEPLOY / "compose" / "initdb.sql").read_text()
    created = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", initdb_sql))
    for service in SERVICES:
        initdb = by_kind("production", "Cluster")[f"{service}-db"]["spec"]["bootstrap"]["initdb"]
        assert created[initdb["database"]] == initdb["owner"]
        variable = f"{SERVICES[service]['prefix']}_DATABASE_URL"
        migrate = compose()[f"{service}-migrate"]["environment"][variable]
        assert re.fullmatch(
            rf"postgresql://{initdb['owner']}:[^@]+@postgres:5432/{initdb['database']}", migrate
        )
        # Because the audit log's append-only guards hold only against a role that does not own its tables.
        user = "audit_log_service" if service == "audit-log" else initdb["owner"]
        for role in SERVICES[service]["roles"]:
            url = compose()[f"{service}-{role}"]["environment"][variable]
            assert re.fullmatch(rf"postgresql://{user}:[^@]+@postgres:5432/{initdb['database']}", url), role
    assert re.search(r"CREATE ROLE audit_log_service LOGIN [^;]* IN ROLE vigie_audit_log_app;", initdb_sql)
    image = compose()["postgres"]["image"]
    clusters = by_kind("production", "Cluster").values()
    assert {c["spec"]["imageName"].rsplit(":", 1)[1] for c in clusters} == {image.rsplit(":", 1)[1]}


def test_the_compose_file_says_how_to_start_it() -> None:
    header = (DEPLOY / "compose.yaml").read_text().splitlines()[0]
    assert "docker compose -f deploy/compose.yaml up --build" in header


@pytest.mark.parametrize("service", [name for name, spec in SERVICES.items() if spec.get("calls")])
def test_compose_points_each_service_at_the_apis_it_calls(service: str) -> None:
    spec = SERVICES[service]
    for role in spec.get("calling_roles", spec["roles"]):
        environment = compose()[f"{service}-{role}"]["environment"]
        for variable, peer in spec["calls"].items():
            assert environment[variable] == f"http://{peer}-api:8080"


def test_compose_runs_the_contacts_retention_sweep_in_its_consumer_only() -> None:
    from contacts.settings import ContactsSettings

    default = ContactsSettings.model_fields["retention_sweep_interval_seconds"].default
    for role, expected in (("api", 0.0), ("consumer", default)):
        environment = compose()[f"contacts-{role}"]["environment"]
        assert float(environment.get("CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS", default)) == expected, role
        assert "contacts.main:app" in compose()[f"contacts-{role}"]["command"], role
    assert "contacts.relay:app" in compose()["contacts-relay"]["command"]

"""deploy/ renders, validates offline and keeps its promises: locked-down pods, topics, ACLs, networks."""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from tests.deploy.manifests import (
    BIN,
    DEPLOY,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    ROOT,
    SERVICES,
    TARGETS,
    WORKLOADS,
    by_kind,
    container,
    docs,
    pod_specs,
    problems_in,
    setting_names,
    settings_class,
)

#: Well-formed stand-ins for the out-of-band secrets (never real values).
SECRET_STAND_INS = {
    "VIGIE_JWT_SECRET": "test-stand-in-jwt-secret-0123456789abcdefghij",
    "VIGIE_BLIND_INDEX_KEY": "test-stand-in-blind-index-key-0123456789abcdef",
    "CONTACTS_KEKS": "k1:" + base64.b64encode(b"test-stand-in-kek-32-bytes-long!").decode(),
    "AUDIT_LOG_SIGNING_KEY_SEED": base64.b64encode(b"test-stand-in-ed25519-seed-32byt").decode(),
    "AUDIT_LOG_SUBJECT_KEK": "k1:" + base64.b64encode(b"test-stand-in-kek-32-bytes-long!").decode(),
    "AUDIT_LOG_PSEUDONYM_KEY": "test-stand-in-pseudonym-key-0123456789abcdef",
}
MOUNTED_STAND_INS = {
    "/var/run/secrets/vigie/database/uri": "postgresql://svc:test-stand-in-password@svc-db-rw.vigie:5432/svc",
    "/var/run/secrets/vigie/kafka/password": "test-stand-in-scram-password-0123456789",
}


def test_every_kustomization_renders_and_passes_strict_schema_and_workload_checks(tmp_path: Path) -> None:
    assert problems_in(DEPLOY, TARGETS, tmp_path) == []


def test_the_kubernetes_versions_checked_are_bundled_with_kubernetes_validate() -> None:
    from kubernetes_validate.utils import all_versions

    assert set(KUBERNETES_VERSIONS) <= set(all_versions())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_holds_each_kind_vigie_ships(overlay: str) -> None:
    kinds = {doc["kind"] for doc in docs(overlay)}
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
    }
    namespaced = [doc for doc in docs(overlay) if doc["kind"] != "Namespace"]
    assert all(doc["metadata"].get("namespace") == "vigie" for doc in namespaced)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_roles_a_service_an_hpa_a_pdb_a_migration_job_and_no_token(overlay: str) -> None:
    deployments = by_kind(overlay, "Deployment")
    expected = {f"{svc}-{role}" for svc, spec in WORKLOADS.items() for role in spec["roles"]}
    assert set(deployments) == expected
    assert set(by_kind(overlay, "Service")) == set(WORKLOADS)
    assert set(by_kind(overlay, "Job")) == {
        f"{svc}-migrate" for svc in SERVICES
    }  # the console has no database
    autoscalers = by_kind(overlay, "HorizontalPodAutoscaler").values()
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers}
    assert scaled == {f"{svc}-api" for svc in WORKLOADS}
    assert {f"{svc}-api" for svc in WORKLOADS} <= set(by_kind(overlay, "PodDisruptionBudget"))
    for account in by_kind(overlay, "ServiceAccount").values():
        assert account["automountServiceAccountToken"] is False
    for name, spec in pod_specs(docs(overlay)):
        assert spec["serviceAccountName"] in WORKLOADS, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_relays_and_the_audit_log_writer_run_one_replica_with_the_recreate_strategy(overlay: str) -> None:
    relays = [f"{svc}-relay" for svc, spec in SERVICES.items() if "relay" in spec["roles"]]
    singles = [*relays, "audit-log-consumer"]
    for name in singles:
        deployment = by_kind(overlay, "Deployment")[name]
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}, name
        assert not any(
            name == hpa["spec"]["scaleTargetRef"]["name"]
            for hpa in by_kind(overlay, "HorizontalPodAutoscaler").values()
        )


def test_production_autoscales_apis_from_two_replicas_and_runs_three_database_instances() -> None:
    for svc in SERVICES:
        assert "replicas" not in by_kind("production", "Deployment")[f"{svc}-api"]["spec"]  # the HPA's to set
        assert by_kind("production", "HorizontalPodAutoscaler")[f"{svc}-api"]["spec"]["minReplicas"] >= 2
        assert by_kind("production", "PodDisruptionBudget")[f"{svc}-api"]["spec"]["minAvailable"] == 1
        assert by_kind("production", "Cluster")[f"{svc}-db"]["spec"]["instances"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_role_switches_on_only_its_own_background_work(overlay: str) -> None:
    switches = {"api": ("false", "false"), "relay": ("true", "false"), "consumer": ("false", "true")}
    for svc, spec in SERVICES.items():
        for role in spec["roles"]:
            deployment = by_kind(overlay, "Deployment")[f"{svc}-{role}"]
            env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
            prefix = spec["prefix"]
            assert (env[f"{prefix}_RUN_RELAY"], env[f"{prefix}_RUN_CONSUMERS"]) == switches[role]


def test_no_secret_value_is_committed_and_secrets_are_mounted_read_only() -> None:
    for overlay in OVERLAYS:
        assert "Secret" not in {doc["kind"] for doc in docs(overlay)}
        for name, spec in pod_specs(docs(overlay)):
            (only,) = spec["containers"]
            for entry in only.get("env", []):
                assert "valueFrom" not in entry, f"{name}: {entry['name']} puts a secret in the environment"
                if "secret" in entry["name"].lower() or "password" in entry["name"].lower():
                    assert entry["name"].endswith("_FILE"), f"{name}: {entry['name']}"
            for mount in only["volumeMounts"]:
                if mount["mountPath"].startswith("/var/run/secrets"):
                    assert mount["readOnly"] is True
    kustomizations = list(DEPLOY.rglob("kustomization.yaml"))
    assert kustomizations and not any("secretGenerator" in k.read_text() for k in kustomizations)


@pytest.mark.parametrize("service", SERVICES)
def test_the_pods_environment_with_its_secrets_mounted_yields_valid_production_settings(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = SERVICES[service]
    configmap = by_kind("production", "ConfigMap")[f"{service}-config"]["data"]
    for role in spec["roles"]:
        deployment = by_kind("production", "Deployment")[f"{service}-{role}"]
        environment = dict(configmap)
        for entry in container(deployment)["env"]:
            value = entry["value"]
            if entry["name"].endswith("_FILE"):
                stand_in = MOUNTED_STAND_INS.get(value) or SECRET_STAND_INS[Path(value).name]
                mounted = tmp_path / role / Path(value).name
                mounted.parent.mkdir(exist_ok=True)
                mounted.write_text(stand_in + "\n")
                value = str(mounted)
            environment[entry["name"]] = value
        for name in [n for n in os.environ if n.startswith(("VIGIE_", "KAFKA_", spec["prefix"]))]:
            monkeypatch.delenv(name)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)

        settings = settings_class(service)()

        assert settings.profile == "production"
        assert settings.database_url == MOUNTED_STAND_INS["/var/run/secrets/vigie/database/uri"]
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_username == service
        assert (
            settings.kafka_sasl_password.get_secret_value()
            == MOUNTED_STAND_INS["/var/run/secrets/vigie/kafka/password"]
        )
        assert (settings.run_relay, settings.run_consumers) == {
            "api": (False, False),
            "relay": (True, False),
            "consumer": (False, True),
        }[role]
        assert settings.kafka_ssl_cafile == "/var/run/secrets/vigie/kafka-ca/ca.crt"
        assert settings.jwks_url.startswith("https://")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_file_the_settings_read_is_mounted_from_the_right_secret_key(overlay: str) -> None:
    for name, spec in pod_specs(docs(overlay)):
        (only,) = spec["containers"]
        configmap = by_kind(overlay, "ConfigMap")[f"{spec['serviceAccountName']}-config"]["data"]
        paths = [e["value"] for e in only["env"] if e["name"].endswith("_FILE")]
        paths += (
            [configmap["KAFKA_SSL_CAFILE"]]
            if "KAFKA_SSL_CAFILE" in configmap and not name.startswith("Job/")
            else []
        )
        mounts = {m["mountPath"]: m["name"] for m in only["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for path in paths:
            directory, filename = path.rsplit("/", 1)
            assert directory in mounts, f"{name}: {path} is not mounted"
            secret = volumes[mounts[directory]]["secret"]
            if "items" in secret:
                assert filename in [item["path"] for item in secret["items"]], f"{name}: {path}"
            else:
                assert secret["secretName"] == f"{spec['serviceAccountName']}-secrets"
                assert filename in WORKLOADS[spec["serviceAccountName"]]["secrets"], f"{name}: {path}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_the_manifests_set_is_a_setting_the_service_reads(service: str) -> None:
    names = setting_names(service)
    configmap = by_kind("production", "ConfigMap")[f"{service}-config"]["data"]
    set_here = set(configmap)
    for doc in docs("production"):
        if doc["kind"] in ("Deployment", "Job") and doc["metadata"]["name"].startswith(f"{service}-"):
            set_here |= {entry["name"] for entry in container(doc)["env"]}
    set_here |= {f"{key}_FILE" for key in SERVICES[service]["secrets"]}
    assert set_here - names == set()


@pytest.mark.parametrize("service", SERVICES)
def test_the_out_of_band_secret_keys_are_documented(service: str) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert f"{service}-secrets" in operations
    for key in SERVICES[service]["secrets"]:
        assert key in operations


@pytest.mark.parametrize("service", SERVICES)
def test_each_deployment_command_names_an_app_factory_that_exists(service: str) -> None:
    for role in SERVICES[service]["roles"]:
        command = container(by_kind("production", "Deployment")[f"{service}-{role}"])["command"]
        assert command[0] == "uvicorn" and "--factory" in command
        module, attr = command[1].split(":")
        assert callable(getattr(importlib.import_module(module), attr))


@pytest.mark.parametrize("service", SERVICES)
def test_the_migration_job_command_migrates_a_fresh_database(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = container(by_kind("production", "Job")[f"{service}-migrate"])["command"]
    assert command[:2] == ["python", "-c"]
    database = tmp_path / f"{service}.db"
    url_file = tmp_path / "uri"
    url_file.write_text(f"sqlite+aiosqlite:///{database}\n")
    prefix = SERVICES[service]["prefix"]
    monkeypatch.delenv(f"{prefix}_DATABASE_URL", raising=False)
    monkeypatch.setenv(f"{prefix}_DATABASE_URL_FILE", str(url_file))
    monkeypatch.chdir(ROOT)  # the image's working directory holds services/<folder>/ as the repository does

    exec(compile(command[2], f"{service}-migrate", "exec"), {})  # noqa: S102 - the Job's own command text

    with sqlite3.connect(database) as connection:
        revisions = connection.execute("select version_num from alembic_version").fetchall()
    assert len(revisions) == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_are_replicated_and_kept_long_enough_to_rebuild_projections(overlay: str) -> None:
    topics = by_kind(overlay, "KafkaTopic")
    events = {spec["publishes"] for spec in SERVICES.values() if spec["publishes"]}
    assert set(topics) == events | {f"{t}.dlq" for t in events}
    replicas, min_isr = (3, "2") if overlay == "production" else (1, "1")
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "vigie-kafka"
        assert topic["spec"]["replicas"] == replicas, name
        assert topic["spec"]["config"]["min.insync.replicas"] == min_isr, name
        if name in events:
            assert topic["spec"]["config"]["retention.ms"] == "-1", name
            assert topic["spec"]["partitions"] >= max(
                by_kind(overlay, "Deployment")[f"{s}-consumer"]["spec"]["replicas"]
                for s, spec in SERVICES.items()
                if "consumer" in spec["roles"]
            )


@pytest.mark.parametrize("service", SERVICES)
def test_each_kafka_user_may_write_what_the_service_publishes_and_read_what_it_consumes(service: str) -> None:
    spec = SERVICES[service]
    contracts = importlib.import_module(f"{spec['package']}.contracts")
    consumed = set(getattr(contracts, "CONSUMED_TOPICS", []))
    assert consumed == set(spec["consumes"])
    user = by_kind("production", "KafkaUser")[service]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    grants: dict[str, set[str]] = {}
    for rule in user["spec"]["authorization"]["acls"]:
        resource = rule["resource"]
        grants.setdefault(f"{resource['type']}:{resource.get('name', '')}", set()).update(rule["operations"])
    topics = {key.split(":", 1)[1]: ops for key, ops in grants.items() if key.startswith("topic:")}
    reads = {topic for topic, ops in topics.items() if "Read" in ops}
    writes = {topic for topic, ops in topics.items() if "Write" in ops}
    assert reads == consumed
    assert writes == ({spec["publishes"]} if spec["publishes"] else set()) | {f"{t}.dlq" for t in consumed}
    assert not any(ops & {"All", "Create", "Delete", "Alter"} for ops in grants.values())
    if consumed:
        classes = [settings_class(service)] + [
            getattr(importlib.import_module(spec_.split(":")[0]), spec_.split(":")[1])
            for spec_ in spec.get("more_settings", [])
        ]
        group = next(
            cls.model_fields[field].default
            for cls in classes
            for field in ("consumer_group", "requests_consumer_group")
            if field in cls.model_fields
        )
        acls = user["spec"]["authorization"]["acls"]
        groups = [r["resource"] for r in acls if r["resource"]["type"] == "group"]
        assert [(r["name"], r["patternType"]) for r in groups] == [(group, "prefix")]


async def test_the_kafka_client_options_the_pods_build_are_accepted_by_aiokafka(tmp_path: Path) -> None:
    import ssl

    from shared.settings import ServiceSettings

    configmap = by_kind("production", "ConfigMap")["contacts-config"]["data"]
    settings = ServiceSettings.model_validate(
        {
            "VIGIE_PROFILE": "local",
            "KAFKA_BOOTSTRAP_SERVERS": configmap["KAFKA_BOOTSTRAP_SERVERS"],
            "KAFKA_SECURITY_PROTOCOL": configmap["KAFKA_SECURITY_PROTOCOL"],
            "KAFKA_SASL_MECHANISM": configmap["KAFKA_SASL_MECHANISM"],
            "KAFKA_SASL_USERNAME": configmap["KAFKA_SASL_USERNAME"],
            "KAFKA_SASL_PASSWORD": "stand-in",
        }
    )
    original = ssl.create_default_context
    options = None
    try:
        # Because the CA file only exists in the pod, the default trust store stands in for it here.
        ssl.create_default_context = lambda cafile=None, **kw: original(**kw)
        options = settings.kafka_options()
    finally:
        ssl.create_default_context = original
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, **options)
    assert producer.client._security_protocol == "SASL_SSL"  # noqa: SLF001


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_its_cloudnativepg_secret_and_reaches_only_its_own_database(service: str) -> None:
    cluster = by_kind("production", "Cluster")[f"{service}-db"]
    assert cluster["spec"]["bootstrap"]["initdb"]["database"] == service.replace("-", "_")
    for name, spec in pod_specs(docs("production")):
        if spec["serviceAccountName"] != service:
            continue
        volume = next(v for v in spec["volumes"] if v["name"] == "database")
        # Because the audit log's append-only guards hold only against a role that does not own its tables:
        # its pods connect as the service role, and only the migrate Job as the owner.
        secret = (
            f"{service}-db-service"
            if service == "audit-log" and "migrate" not in name
            else f"{service}-db-app"
        )
        assert volume["secret"]["secretName"] == secret, name
        assert volume["secret"]["items"] == [{"key": "uri", "path": "uri"}]
    egress = by_kind("production", "NetworkPolicy")[f"{service}-egress"]["spec"]["egress"]
    peers = [peer for rule in egress for peer in rule["to"]]
    databases = [
        p["podSelector"]["matchLabels"]["cnpg.io/cluster"]
        for p in peers
        if "cnpg.io/cluster" in p.get("podSelector", {}).get("matchLabels", {})
    ]
    assert databases == [f"{service}-db"]
    kafka = [p for p in peers if "namespaceSelector" in p]
    assert [p["namespaceSelector"]["matchLabels"] for p in kafka] == [
        {"kubernetes.io/metadata.name": "kafka"}
    ]
    assert all(port["port"] in (9093, 5432) for rule in egress for port in rule["ports"])


def test_the_namespace_denies_all_traffic_by_default_and_enforces_restricted_pod_security() -> None:
    policies = by_kind("production", "NetworkPolicy")
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for svc in SERVICES:
        ingress = policies[f"{svc}-api-ingress"]["spec"]
        assert ingress["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
        assert {p["port"] for rule in ingress["ingress"] for p in rule["ports"]} == {8080}
    idp = policies["api-idp-egress"]["spec"]
    assert idp["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert [p["port"] for rule in idp["egress"] for p in rule["ports"]] == [443]
    closed = set(idp["egress"][0]["to"][0]["ipBlock"]["except"])
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= closed
    namespace = by_kind("production", "Namespace")["vigie"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_yaml_under_deploy_passes_yamllint() -> None:
    done = subprocess.run(
        [str(BIN / "yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), str(DEPLOY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _break(tree: Path, relative: str, old: str, new: str) -> None:
    path = tree / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


def test_validation_fails_on_deliberately_broken_manifests(tmp_path: Path) -> None:
    tree = tmp_path / "deploy"
    shutil.copytree(DEPLOY, tree)
    _break(tree, "base/contacts/relay.yaml", "  replicas: 1\n", '  replicas: "one"\n')
    _break(tree, "base/consent/relay.yaml", "          readinessProbe:\n", "          notAProbe:\n")
    _break(
        tree,
        "base/audit-log/consumer.yaml",
        "            readOnlyRootFilesystem: true\n",
        "            readOnlyRootFilesystem: false\n",
    )
    _break(tree, "base/campaign-gate/kafka.yaml", "  replicas: 3\n", '  replicas: "three"\n')
    _break(tree, "base/consent/database.yaml", "  instances: 3\n", "  instance: 3\n")
    (tree / "base" / "common" / "monitor.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": "vigie"},
                "spec": {"selector": {}},
            }
        )
    )
    _break(
        tree,
        "base/common/kustomization.yaml",
        "  - networkpolicy.yaml\n",
        "  - networkpolicy.yaml\n  - monitor.yaml\n",
    )

    problems = "\n".join(
        problems_in(tree, ("overlays/production",), tmp_path, versions=KUBERNETES_VERSIONS[-1:])
    )

    assert re.search(r"ERROR .*contacts-relay.*'one' is not of type 'integer'", problems), problems
    assert re.search(r"consent-relay.*Additional properties are not allowed \('notAProbe'", problems)
    assert "Deployment/consent-relay container relay: readinessProbe does not GET /readyz" in problems
    assert "Deployment/audit-log-consumer container consumer: readOnlyRootFilesystem is not true" in problems
    assert "KafkaTopic/campaigns.events: spec.replicas: 'three' is not of type 'integer'" in problems
    assert re.search(r"Cluster/consent-db: spec: .*'instance' was unexpected", problems), problems
    assert "'instances' is a required property" in problems
    assert "kind PodMonitor has neither a built-in nor a repo-local schema" in problems
    assert "PodMonitor/vigie: no repo-local schema for monitoring.coreos.com/v1 PodMonitor" in problems


def test_validation_fails_when_an_overlay_does_not_render(tmp_path: Path) -> None:
    tree = tmp_path / "deploy"
    shutil.copytree(DEPLOY, tree)
    _break(tree, "base/contacts/kustomization.yaml", "  - relay.yaml\n", "  - relay.yaml\n  - missing.yaml\n")
    problems = problems_in(tree, ("overlays/local",), tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("kustomize overlays/local: ") and "missing.yaml" in problems[0]


@pytest.mark.parametrize("service", SERVICES)
def test_each_kafka_user_may_do_what_the_runtime_does_at_start_and_in_its_consumers(service: str) -> None:
    bootstrap = importlib.import_module(f"{SERVICES[service]['package']}.bootstrap").bootstrap
    built = bootstrap()
    acls = by_kind("production", "KafkaUser")[service]["spec"]["authorization"]["acls"]
    topics = [r for r in acls if r["resource"]["type"] == "topic"]
    described = {r["resource"]["name"] for r in topics if "Describe" in r["operations"]}
    read = {r["resource"]["name"] for r in topics if "Read" in r["operations"]}
    groups = [r["resource"]["name"] for r in acls if r["resource"]["type"] == "group"]
    # Because every process lists its topics and their dead-letter topics at start (ensure_topics).
    assert {name for topic in built.runtime.topics for name in (topic, f"{topic}.dlq")} <= described
    # Because every service builds its consumers in the same entry point (entrypoints/consumer.py).
    consumers = importlib.import_module(f"{SERVICES[service]['package']}.entrypoints.consumer").consumers(
        built
    )
    assert {topic for spec in consumers for topic in spec.topics} == read
    assert all(any(spec.group_id.startswith(group) for group in groups) for spec in consumers)
    assert bool(consumers) == ("consumer" in SERVICES[service]["roles"])


@pytest.mark.parametrize("service", [name for name, spec in SERVICES.items() if spec.get("calls")])
def test_each_service_reaches_the_apis_it_calls_and_they_let_it_in(service: str) -> None:
    """contacts calls its peers for data-subject requests; audit-log's API calls the gate for bundles."""
    spec = SERVICES[service]
    configmap = by_kind("production", "ConfigMap")[f"{service}-config"]["data"]
    services = by_kind("production", "Service")
    policies = by_kind("production", "NetworkPolicy")
    egress_policy = policies[f"{service}-peers-egress"]["spec"]
    callers = egress_policy["podSelector"]["matchLabels"]
    assert callers["app.kubernetes.io/name"] == service
    if set(spec.get("calling_roles", spec["roles"])) == {"api"}:
        assert callers["app.kubernetes.io/component"] == "api"
    for variable, peer in spec["calls"].items():
        assert configmap[variable] == f"http://{peer}"
        assert [port["port"] for port in services[peer]["spec"]["ports"]] == [80]
        ingress = policies[f"{peer}-api-ingress"]["spec"]["ingress"]
        peers = [p.get("podSelector", {}).get("matchLabels", {}) for rule in ingress for p in rule["from"]]
        assert any(labels.items() <= callers.items() for labels in peers if labels), (service, peer)
    egress = egress_policy["egress"]
    selected = [p["podSelector"]["matchLabels"] for rule in egress for p in rule["to"]]
    assert {labels["app.kubernetes.io/name"] for labels in selected} == set(spec["calls"].values())
    assert all(labels["app.kubernetes.io/component"] == "api" for labels in selected)
    assert [port["port"] for rule in egress for port in rule["ports"]] == [8080]


def test_the_contacts_retention_sweep_runs_in_the_single_consumer_and_not_in_the_scaled_apis() -> None:
    from contacts.settings import ContactsSettings

    default = ContactsSettings.model_fields["retention_sweep_interval_seconds"].default
    assert default > 0
    deployments = by_kind("production", "Deployment")
    for role, expected in (("api", 0.0), ("consumer", default)):
        env = {e["name"]: e["value"] for e in container(deployments[f"contacts-{role}"])["env"]}
        assert float(env.get("CONTACTS_RETENTION_SWEEP_INTERVAL_SECONDS", default)) == expected, role
        # Because the sweeper runs in the app `contacts.main` builds, as its lifespan's background work.
        assert "contacts.main:app" in container(deployments[f"contacts-{role}"])["command"], role
    assert deployments["contacts-consumer"]["spec"]["replicas"] == 1
    # The relay's own entrypoint runs the relay alone, whatever its settings say.
    assert "contacts.relay:app" in container(deployments["contacts-relay"])["command"]

"""Offline validation of deploy/: render with kustomize, validate built-in kinds with kubernetes-validate,
custom kinds with the repo-local JSON Schemas, and check the workload policy (probes, limits, security).

The same `problems_in` runs on the real tree and, in the tests, on a deliberately broken copy of it.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = ROOT / ".venv" / "bin"
OVERLAYS = ("local", "production")
#: Every kustomization that is applied on its own, relative to deploy/.
TARGETS = ("overlays/local", "overlays/production", "monitoring")
#: The oldest Kubernetes minor we claim to support, and the newest one kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

#: (apiVersion group, kind) → repo-local schema file under deploy/schemas/.
CUSTOM_SCHEMAS = {
    ("kafka.strimzi.io", "KafkaTopic"): "kafkatopic.json",
    ("kafka.strimzi.io", "KafkaUser"): "kafkauser.json",
    ("postgresql.cnpg.io", "Cluster"): "cnpg-cluster.json",
    ("monitoring.coreos.com", "PrometheusRule"): "prometheusrule.json",
}
WORKLOAD_KINDS = ("Deployment", "Job")

#: Per service: its folder and package, settings class, env prefix, topics, and the keys of `<svc>-secrets`.
SERVICES: dict[str, dict[str, Any]] = {
    "contacts": dict(
        package="contacts",
        settings="contacts.settings:ContactsSettings",
        prefix="CONTACTS",
        calls={
            "CONTACTS_CONSENT_URL": "consent",
            "CONTACTS_CAMPAIGN_GATE_URL": "campaign-gate",
            "CONTACTS_AUDIT_LOG_URL": "audit-log",
        },
        publishes="contacts.events",
        consumes=["contacts.events", "consent.events", "campaigns.events"],
        roles={"api", "relay", "consumer"},
        secrets=["VIGIE_JWT_SECRET", "VIGIE_BLIND_INDEX_KEY", "CONTACTS_KEKS"],
    ),
    "consent": dict(
        package="consent",
        settings="consent.settings:ConsentSettings",
        prefix="CONSENT",
        publishes="consent.events",
        consumes=["contacts.events"],
        roles={"api", "relay", "consumer"},
        secrets=["VIGIE_JWT_SECRET", "VIGIE_BLIND_INDEX_KEY"],
    ),
    "campaign-gate": dict(
        package="campaign_gate",
        settings="campaign_gate.settings:CampaignGateSettings",
        prefix="CAMPAIGN_GATE",
        publishes="campaigns.events",
        consumes=["contacts.events", "consent.events"],
        roles={"api", "relay", "consumer"},
        secrets=["VIGIE_JWT_SECRET", "VIGIE_BLIND_INDEX_KEY"],
    ),
    "audit-log": dict(
        package="audit_log",
        settings="audit_log.settings:AuditLogSettings",
        prefix="AUDIT_LOG",
        # Proof bundles: only the API role calls, so only it may reach the gate.
        calls={"AUDIT_LOG_CAMPAIGN_GATE_URL": "campaign-gate"},
        calling_roles={"api"},
        publishes=None,
        consumes=["contacts.events", "consent.events", "campaigns.events"],
        roles={"api", "consumer"},
        secrets=[
            "VIGIE_JWT_SECRET",
            "AUDIT_LOG_SIGNING_KEY_SEED",
            "AUDIT_LOG_SUBJECT_KEK",
            "AUDIT_LOG_PSEUDONYM_KEY",
        ],
    ),
}

#: The console: one stateless role (api), no database, no Kafka; it calls the four APIs.
CONSOLE: dict[str, Any] = dict(
    package="console",
    settings="console.settings:ConsoleSettings",
    prefix="CONSOLE",
    calls={
        "CONSOLE_CONTACTS_URL": "contacts",
        "CONSOLE_CONSENT_URL": "consent",
        "CONSOLE_GATE_URL": "campaign-gate",
        "CONSOLE_AUDIT_URL": "audit-log",
    },
    roles={"api"},
    secrets=["VIGIE_JWT_SECRET", "CONSOLE_CSRF_SECRET"],
)
#: Every workload's spec by its service account: the four services and the console.
WORKLOADS: dict[str, dict[str, Any]] = {**SERVICES, "console": CONSOLE}


class RenderError(RuntimeError):
    """kustomize could not render an overlay."""


def render(overlay_dir: Path) -> str:
    """Renders an overlay with `kubectl kustomize`; raises RenderError with kustomize's message."""
    done = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


@functools.cache
def rendered(overlay: str) -> str:
    """Renders one of the repository's overlays once per test session."""
    return render(DEPLOY / "overlays" / overlay)


def documents(text: str) -> list[dict[str, Any]]:
    """Parses a multi-document YAML stream, dropping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kubernetes_validate(paths: list[Path], versions: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """Runs `kubernetes-validate --strict` on rendered files once per version, side by side.

    Returns each version's exit code and output.
    """
    runs = {
        version: subprocess.Popen(
            [str(BIN / "kubernetes-validate"), "--strict", "-k", version, *map(str, paths)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version in versions
    }
    results = {}
    for version, run in runs.items():
        output, _ = run.communicate(timeout=120)
        results[version] = (run.returncode, output)
    return results


def kinds_without_builtin_schema(output: str) -> set[str]:
    """Returns the kinds kubernetes-validate only warned about (no schema bundled: custom resources)."""
    return set(re.findall(r"Couldn't find schema for kind (\S+) with api version", output))


@functools.cache
def custom_schema(filename: str) -> dict[str, Any]:
    """Loads one repo-local JSON Schema, checked against its metaschema."""
    schema = json.loads((DEPLOY / "schemas" / filename).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def custom_schema_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Validates custom resources against their repo-local schemas; a custom kind without one is a problem."""
    problems = []
    for doc in docs:
        api_version = doc.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        # Because Kubernetes' own groups are either dotless (apps, batch, policy) or end in .k8s.io.
        if "." not in group or group.endswith(".k8s.io"):
            continue
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        filename = CUSTOM_SCHEMAS.get((group, doc.get("kind")))
        if filename is None:
            problems.append(f"{name}: no repo-local schema for {doc.get('apiVersion')} {doc.get('kind')}")
            continue
        validator = jsonschema.Draft202012Validator(custom_schema(filename))
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"{name}: {path}: {error.message}")
    return problems


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (kind/name, pod spec) for every workload."""
    for doc in docs:
        if doc.get("kind") in WORKLOAD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def workload_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Checks every workload: probes (long-running ones), requests and limits, a locked-down context."""
    problems = []
    for name, spec in pod_specs(docs):
        pod_security = spec.get("securityContext", {})
        if pod_security.get("runAsNonRoot") is not True:
            problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken is not false")
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            where = f"{name} container {container.get('name')}"
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if security.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if security.get("capabilities", {}).get("add"):
                problems.append(f"{where}: adds capabilities")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{where}: no {resource} {bound[:-1]}")
            if name.startswith("Deployment/"):
                for probe, path in (
                    ("startupProbe", "/healthz"),
                    ("readinessProbe", "/readyz"),
                    ("livenessProbe", "/healthz"),
                ):
                    got = container.get(probe, {}).get("httpGet", {}).get("path")
                    if got != path:
                        problems.append(f"{where}: {probe} does not GET {path} (got {got!r})")
    return problems


def problems_in(
    deploy_dir: Path,
    targets: tuple[str, ...],
    work_dir: Path,
    versions: tuple[str, ...] = KUBERNETES_VERSIONS,
) -> list[str]:
    """Renders kustomizations of a deploy/ tree (paths relative to it) and returns every problem found."""
    problems = []
    files = []
    all_docs = []
    for target in targets:
        try:
            text = render(deploy_dir / target)
        except RenderError as exc:
            problems.append(f"kustomize {target}: {exc}")
            continue
        out = work_dir / f"{target.replace('/', '-')}.yaml"
        out.write_text(text)
        files.append(out)
        all_docs += documents(text)
    if not files:
        return problems
    for version, (code, output) in kubernetes_validate(files, versions).items():
        if code != 0:
            problems += [
                f"kubernetes-validate {version}: {line}"
                for line in output.splitlines()
                if line.startswith("ERROR")
            ] or [f"kubernetes-validate {version}: exit {code}"]
        unknown = kinds_without_builtin_schema(output) - {kind for _, kind in CUSTOM_SCHEMAS}
        problems += [
            f"kind {kind} has neither a built-in nor a repo-local schema" for kind in sorted(unknown)
        ]
    problems += custom_schema_problems(all_docs)
    problems += workload_problems(all_docs)
    return problems


@functools.cache
def docs(overlay: str) -> list[dict[str, Any]]:
    """Returns the documents of one of the repository's overlays."""
    return documents(rendered(overlay))


def by_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    """Returns an overlay's resources of one kind by name."""
    return {doc["metadata"]["name"]: doc for doc in docs(overlay) if doc["kind"] == kind}


def container(doc: dict[str, Any]) -> dict[str, Any]:
    """Returns the single container of a workload."""
    (only,) = doc["spec"]["template"]["spec"]["containers"]
    return only


def settings_class(service: str) -> type:
    """Returns a service's settings class."""
    module, name = SERVICES[service]["settings"].split(":")
    return getattr(importlib.import_module(module), name)


def setting_names(service: str) -> set[str]:
    """Returns the environment names a service's settings read, `<NAME>_FILE` forms included."""
    names = set()
    for spec in [WORKLOADS[service]["settings"], *WORKLOADS[service].get("more_settings", [])]:
        module, name = spec.split(":")
        cls = getattr(importlib.import_module(module), name)
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            env = alias if isinstance(alias, str) else f"{prefix}{field_name}"
            names |= {env.upper(), f"{env.upper()}_FILE"}
    return names

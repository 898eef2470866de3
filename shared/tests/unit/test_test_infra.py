"""The tests' choice of servers: containers where a Docker engine answers, else local; overridable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from shared.testing.infra import (
    INFRA_VARIABLE,
    Infra,
    InfraChoiceError,
    choose,
    docker_engine_reachable,
)


class FakeEngineProbe:
    """Answers as told and counts how often it was asked."""

    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answers


@pytest.mark.parametrize("value", [None, "", "auto", " AUTO "])
def test_auto_takes_containers_when_an_engine_answers_and_local_when_none_does(value: str | None) -> None:
    environ = {} if value is None else {INFRA_VARIABLE: value}
    assert choose(environ, engine_reachable=lambda: True) is Infra.CONTAINERS
    assert choose(environ, engine_reachable=lambda: False) is Infra.LOCAL


def test_local_never_asks_the_engine() -> None:
    probe = FakeEngineProbe(True)
    assert choose({INFRA_VARIABLE: "local"}, engine_reachable=probe) is Infra.LOCAL
    assert probe.calls == 0


def test_containers_with_an_engine_are_containers() -> None:
    assert choose({INFRA_VARIABLE: "containers"}, engine_reachable=lambda: True) is Infra.CONTAINERS


def test_containers_without_an_engine_fail_saying_where_it_looked_and_what_else_to_do() -> None:
    environ = {INFRA_VARIABLE: "containers", "DOCKER_HOST": "tcp://10.0.0.9:2375"}
    with pytest.raises(InfraChoiceError) as raised:
        choose(environ, engine_reachable=lambda: False)
    message = str(raised.value)
    assert "no Docker engine answers at tcp://10.0.0.9:2375" in message
    assert f"{INFRA_VARIABLE}=local" in message


def test_an_unknown_value_is_refused_by_name_without_asking_the_engine() -> None:
    probe = FakeEngineProbe(True)
    with pytest.raises(InfraChoiceError, match="'docker' is not one of auto, containers, local"):
        choose({INFRA_VARIABLE: "docker"}, engine_reachable=probe)
    assert probe.calls == 0


def test_no_host_and_no_socket_is_no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if Path("/var/run/docker.sock").exists():
        pytest.skip("this machine has a Docker socket")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert docker_engine_reachable() is False


def test_a_docker_host_where_nothing_listens_is_no_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    assert docker_engine_reachable(timeout=2.0) is False

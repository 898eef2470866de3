"""The vigie-verify command line against export files and a fake audit-log HTTP service."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from vigie_verify.cli import main


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def flip_canonical_byte(export: str, *, index: int) -> str:
    lines = export.splitlines(keepends=True)
    entry = json.loads(lines[index])
    canonical = bytearray(base64.b64decode(entry["canonical"]))
    canonical[3] ^= 0x01
    entry["canonical"] = base64.b64encode(bytes(canonical)).decode()
    lines[index] = json.dumps(entry) + "\n"
    return "".join(lines)


def test_checkpoint_from_the_service_is_verified_and_printed(
    log_url: str, fake_log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checkpoint", "--url", log_url, "--vkey", fake_log.vkey]) == 0
    assert "size 10" in capsys.readouterr().out


def test_checkpoint_file_signed_by_another_key_fails_with_exit_1(
    tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from vigie_verify.checkpoint import verifier_key

    note = write(tmp_path / "checkpoint", new_log(3).checkpoint_note())
    stranger = verifier_key(
        Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key(), "audit.vigie.example/log/test-v1"
    )
    assert main(["checkpoint", "--file", note, "--vkey", stranger]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_checkpoint_with_both_url_and_file_is_a_usage_error(tmp_path: Path, fake_log) -> None:
    assert main(["checkpoint", "--url", "http://127.0.0.1:9", "--file", "x", "--vkey", fake_log.vkey]) == 2


def test_log_accepts_a_good_export(tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str]) -> None:
    log = new_log(37)
    export = write(tmp_path / "entries.ndjson", log.export_ndjson())
    note = write(tmp_path / "checkpoint", log.checkpoint_note())
    assert main(["log", "--export", export, "--checkpoint", note, "--vkey", log.vkey]) == 0
    assert "OK 37 entries" in capsys.readouterr().out


def test_log_rejects_an_export_with_a_flipped_byte_and_names_the_entry(
    tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    log = new_log(37)
    export = write(tmp_path / "entries.ndjson", flip_canonical_byte(log.export_ndjson(), index=23))
    note = write(tmp_path / "checkpoint", log.checkpoint_note())
    assert main(["log", "--export", export, "--checkpoint", note, "--vkey", log.vkey]) == 1
    assert "entry 23" in capsys.readouterr().err


def test_log_rejects_an_entry_altered_with_its_leaf_hash_by_the_root(
    tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    log = new_log(12)
    lines = log.export_ndjson().splitlines(keepends=True)
    forged = b'{"forged": true}'
    lines[5] = (
        json.dumps(
            {
                "index": 5,
                "leaf_hash": __import__("hashlib").sha256(b"\x00" + forged).hexdigest(),
                "canonical": base64.b64encode(forged).decode(),
            }
        )
        + "\n"
    )
    export = write(tmp_path / "entries.ndjson", "".join(lines))
    note = write(tmp_path / "checkpoint", log.checkpoint_note())
    assert main(["log", "--export", export, "--checkpoint", note, "--vkey", log.vkey]) == 1
    assert "checkpoint says" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[:4] + lines[5:], "entry 4 is missing"),
        (lambda lines: lines[:5] + [lines[4]] + lines[5:], "entry 5: found index 4 again"),
        (lambda lines: lines[:4] + [lines[5], lines[4]] + lines[6:], "entry 4 is missing"),
        (lambda lines: lines[:8], "export ends after 8 entries"),
    ],
    ids=["gap", "duplicate", "swap", "truncated"],
)
def test_log_rejects_gaps_duplicates_reorders_and_truncation(
    tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str], edit, message: str
) -> None:
    log = new_log(12)
    lines = log.export_ndjson().splitlines(keepends=True)
    export = write(tmp_path / "entries.ndjson", "".join(edit(lines)))
    note = write(tmp_path / "checkpoint", log.checkpoint_note())
    assert main(["log", "--export", export, "--checkpoint", note, "--vkey", log.vkey]) == 1
    assert message in capsys.readouterr().err


def test_log_verifies_the_prefix_when_the_export_is_longer_than_the_checkpoint(
    tmp_path: Path, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    log = new_log(20, publish=False)
    note = write(tmp_path / "checkpoint", log.publish(size=15))
    export = write(tmp_path / "entries.ndjson", log.export_ndjson())
    assert main(["log", "--export", export, "--checkpoint", note, "--vkey", log.vkey]) == 0
    assert "5 later entries" in capsys.readouterr().out


def test_inclusion_of_an_entry_is_verified_against_the_signed_checkpoint(
    log_server, log_url: str, fake_log, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_TOKEN", "secret-token")
    for index in (0, 7, 9):
        assert main(["inclusion", "--url", log_url, "--vkey", fake_log.vkey, "--index", str(index)]) == 0
    assert ("/v1/checkpoint", "Bearer secret-token") in log_server.requests


def test_inclusion_fails_when_the_service_serves_altered_entry_bytes(
    log_url: str, fake_log, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_log.entries[4] = b'{"altered": true}'
    assert main(["inclusion", "--url", log_url, "--vkey", fake_log.vkey, "--index", "4"]) == 1
    assert "entry 4" in capsys.readouterr().err


def test_inclusion_of_a_missing_entry_is_a_network_error(log_url: str, fake_log) -> None:
    assert main(["inclusion", "--url", log_url, "--vkey", fake_log.vkey, "--index", "99"]) == 2


def test_consistency_from_an_earlier_checkpoint_is_verified(
    tmp_path: Path, log_server, log_url: str, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    log = new_log(25, publish=False)
    old = write(tmp_path / "old", log.publish(size=11))
    log.publish()
    log_server.log = log
    assert main(["consistency", "--url", log_url, "--vkey", log.vkey, "--old-checkpoint", old]) == 0
    assert main(["consistency", "--url", log_url, "--vkey", log.vkey, "--first", "3"]) == 0


def test_consistency_against_a_forked_log_fails(
    tmp_path: Path, log_server, log_url: str, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = new_log(11)
    old = write(tmp_path / "old", honest.checkpoint_note())
    forked = new_log(8)
    forked.append([b"rewritten"] * 10)
    forked.publish()
    log_server.log = forked
    assert main(["consistency", "--url", log_url, "--vkey", honest.vkey, "--old-checkpoint", old]) == 1
    assert "fork" in capsys.readouterr().err


def test_monitor_trusts_first_then_follows_an_honest_log(
    tmp_path: Path, log_server, log_url: str, fake_log, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    arguments = ["monitor", "--url", log_url, "--vkey", fake_log.vkey, "--state", str(state)]
    assert main(arguments) == 0
    assert json.loads(state.read_text())["size"] == 10
    assert main(arguments) == 0
    fake_log.append([b"more"] * 7)
    fake_log.publish()
    assert main([*arguments, "--count", "2", "--interval", "0"]) == 0
    assert json.loads(state.read_text())["size"] == 17
    assert "advanced from size 10" in capsys.readouterr().out


def test_monitor_refuses_a_rollback_and_keeps_its_state(
    tmp_path: Path, log_url: str, fake_log, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    arguments = ["monitor", "--url", log_url, "--vkey", fake_log.vkey, "--state", str(state)]
    assert main(arguments) == 0
    before = state.read_text()
    fake_log.publish(size=6)
    assert main(arguments) == 1
    assert "rollback" in capsys.readouterr().err
    assert state.read_text() == before


def test_monitor_refuses_a_fork_at_the_same_size(
    tmp_path: Path, log_server, log_url: str, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    log_server.log = new_log(10)
    arguments = ["monitor", "--url", log_url, "--vkey", log_server.log.vkey, "--state", str(state)]
    assert main(arguments) == 0
    log_server.log = new_log(10, tag="b")
    assert main(arguments) == 1
    assert "fork at size 10" in capsys.readouterr().err


def test_monitor_refuses_a_fork_whose_consistency_proof_fails(
    tmp_path: Path, log_server, log_url: str, new_log, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    log_server.log = new_log(10)
    arguments = ["monitor", "--url", log_url, "--vkey", log_server.log.vkey, "--state", str(state)]
    assert main(arguments) == 0
    before = state.read_text()
    forked = new_log(9)
    forked.append([b"rewritten tail"] * 5)
    forked.publish()
    log_server.log = forked
    assert main(arguments) == 1
    assert "fork: size 14 is not an extension of trusted size 10" in capsys.readouterr().err
    assert state.read_text() == before


def test_monitor_refuses_a_state_file_it_cannot_trust(tmp_path: Path, log_url: str, fake_log) -> None:
    state = write(tmp_path / "state.json", json.dumps({"checkpoint": "forged"}))
    assert main(["monitor", "--url", log_url, "--vkey", fake_log.vkey, "--state", state]) == 2


def test_an_unreachable_service_is_exit_code_2(
    tmp_path: Path, fake_log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checkpoint", "--url", "http://127.0.0.1:9", "--vkey", fake_log.vkey, "--timeout", "2"]) == 2
    assert "error" in capsys.readouterr().err


def test_a_missing_subcommand_is_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2

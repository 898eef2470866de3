"""An entry altered behind the triggers' back is found by /v1/verify and by vigie-verify, by index."""

from __future__ import annotations

import asyncio
import base64

import pytest
from shared.testing.harness import auth, token
from vigie_verify.cli import main as vigie_verify
from vigie_verify.merkle import leaf_hash

from .conftest import Log, served_over_http, tamper

pytestmark = pytest.mark.integration

AUDITOR = auth("auditor")
TAMPERED = 5


async def _log_of_eight_signed(log: Log) -> str:
    await log.ingest(*(f"c-{n}" for n in range(4)), actor="crm/alice")
    await log.checkpoint()
    await log.ingest(*(f"c-{n}" for n in range(4, 8)), actor="crm/alice")
    await log.checkpoint()
    return (await log.client.get("/v1/public-key", headers=AUDITOR)).json()["vkey"]


async def _forged_canonical(log: Log, index: int) -> bytes:
    entry = (await log.client.get(f"/v1/entries/{index}", headers=AUDITOR)).json()
    canonical = base64.b64decode(entry["canonical"])
    forged = canonical.replace(b'"actor":"crm/alice"', b'"actor":"crm/mallory"')
    assert forged != canonical
    return forged


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(vigie_verify, list(argv))


async def test_an_entry_whose_bytes_were_altered_is_named_by_verify_and_by_the_cli(
    log: Log, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    vkey = await _log_of_eight_signed(log)
    assert (await log.client.get("/v1/verify", headers=AUDITOR)).json()["ok"]

    await tamper(
        log.url,
        "UPDATE entries SET canonical = ?, actor = 'crm/mallory' WHERE idx = ?",
        await _forged_canonical(log, TAMPERED),
        TAMPERED,
    )

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"] and verdict["first_bad_index"] == TAMPERED
    assert verdict["problems"][0]["index"] == TAMPERED

    export = tmp_path / "entries.ndjson"
    export.write_bytes(
        (await log.client.get("/v1/export", params={"format": "ndjson"}, headers=AUDITOR)).content
    )
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text)
    capsys.readouterr()
    assert await _cli("log", "--vkey", vkey, "--export", str(export), "--checkpoint", str(checkpoint)) == 1
    assert f"entry {TAMPERED}:" in capsys.readouterr().err

    async with served_over_http(log.app) as url:
        common = ["--vkey", vkey, "--url", url, "--token", token("auditor")]
        assert await _cli("inclusion", *common, "--index", str(TAMPERED - 1)) == 0
        assert await _cli("inclusion", *common, "--index", str(TAMPERED)) == 1
    assert f"entry {TAMPERED}:" in capsys.readouterr().err


async def test_an_entry_altered_with_its_leaf_hash_is_still_named_by_verify_and_by_the_cli(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    vkey = await _log_of_eight_signed(log)
    forged = await _forged_canonical(log, TAMPERED)

    await tamper(
        log.url,
        "UPDATE entries SET canonical = ?, leaf_hash = ? WHERE idx = ?",
        forged,
        leaf_hash(forged),
        TAMPERED,
    )

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"] and verdict["first_bad_index"] == TAMPERED
    async with served_over_http(log.app) as url:
        capsys.readouterr()
        code = await _cli(
            "inclusion", "--vkey", vkey, "--url", url, "--token", token("auditor"), "--index", str(TAMPERED)
        )
    assert code == 1
    assert f"entry {TAMPERED}:" in capsys.readouterr().err


async def test_a_removed_entry_is_reported_as_a_gap_at_its_index(log: Log) -> None:
    await _log_of_eight_signed(log)

    await tamper(log.url, "DELETE FROM entries WHERE idx = ?", 3)

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"] and verdict["first_bad_index"] == 3
    assert "gap" in verdict["problems"][0]["problem"]


async def test_an_untouched_log_passes_every_cli_check_against_the_live_api(log: Log, tmp_path) -> None:
    vkey = await _log_of_eight_signed(log)
    old = tmp_path / "old-checkpoint.txt"
    old.write_text((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text)
    await log.ingest("c-late")
    await log.checkpoint()
    export = tmp_path / "entries.ndjson"
    export.write_bytes((await log.client.get("/v1/export", headers=AUDITOR)).content)
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text)

    assert await _cli("log", "--vkey", vkey, "--export", str(export), "--checkpoint", str(checkpoint)) == 0
    async with served_over_http(log.app) as url:
        common = ["--vkey", vkey, "--url", url, "--token", token("auditor")]
        for index in range(9):
            assert await _cli("inclusion", *common, "--index", str(index)) == 0
        assert await _cli("consistency", *common, "--old-checkpoint", str(old)) == 0
        assert await _cli("monitor", *common, "--state", str(tmp_path / "state.json")) == 0


async def test_verification_in_small_chunks_finds_the_same_root_and_the_same_bad_indices(log: Log) -> None:
    from audit_log.service_layer.handlers import verify_log

    await _log_of_eight_signed(log)
    await log.ingest(*(f"c-late-{n}" for n in range(3)))
    whole = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    for chunk in (1, 3, 4, 100):
        report = await verify_log(log.service.uow(), chunk=chunk)
        assert (report.problems, report.tree_size, report.root_hash.hex()) == ([], 11, whole["root_hash"])

    await tamper(log.url, "DELETE FROM entries WHERE idx = ?", 2)
    await tamper(log.url, "UPDATE entries SET canonical = ? WHERE idx = ?", b"{}", 9)
    for chunk in (1, 3, 4, 100):
        report = await verify_log(log.service.uow(), chunk=chunk)
        # The missing entry's leaf is the tree's own, so the gap is named once and nothing after it.
        assert [p.index for p in report.problems] == [2, 9], (chunk, report.problems)

    await tamper(
        log.url, "UPDATE entries SET canonical = ?, leaf_hash = ? WHERE idx = ?", b"{}", leaf_hash(b"{}"), 9
    )
    await tamper(log.url, "UPDATE tree_nodes SET hash = ? WHERE level = 0 AND idx = ?", leaf_hash(b"{}"), 9)
    for chunk in (1, 4, 100):
        report = await verify_log(log.service.uow(), chunk=chunk)
        # Entry, leaf and level-0 node altered together: the node above is where the tree disagrees,
        # and the entry's bytes no longer say what its columns say.
        assert [p.index for p in report.problems] == [2, 8, 9], (chunk, report.problems)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "crm/mallory"),
        ("event_type", "vigie.contacts.contact_forged.v1"),
        ("subject", "sub-forged"),
    ],
)
async def test_an_entry_whose_column_alone_was_changed_is_never_served_and_is_named(
    log: Log, tmp_path, capsys: pytest.CaptureFixture[str], column: str, value: str
) -> None:
    vkey = await _log_of_eight_signed(log)
    honest = (await log.client.get(f"/v1/entries/{TAMPERED}", headers=AUDITOR)).json()

    await tamper(log.url, f"UPDATE entries SET {column} = ? WHERE idx = ?", value, TAMPERED)

    single = await log.client.get(f"/v1/entries/{TAMPERED}", headers=AUDITOR)
    assert single.status_code == 409 and f"entry {TAMPERED}" in single.text
    assert (await log.client.get(f"/v1/entries/{TAMPERED - 1}", headers=AUDITOR)).status_code == 200
    assert (await log.client.get("/v1/entries", headers=AUDITOR)).status_code == 409
    lines = (await log.client.get("/v1/export", headers=AUDITOR)).text.splitlines()
    assert len(lines) == TAMPERED + 1 and f"entry {TAMPERED}" in lines[-1] and '"error"' in lines[-1]
    assert honest["actor"] == "crm/alice"

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"] and verdict["first_bad_index"] == TAMPERED
    served_name = {"event_type": "type"}.get(column, column)
    assert served_name in verdict["problems"][0]["problem"]

    export = tmp_path / "entries.ndjson"
    export.write_text("\n".join(lines) + "\n")
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text)
    capsys.readouterr()
    assert await _cli("log", "--vkey", vkey, "--export", str(export), "--checkpoint", str(checkpoint)) == 1
    assert f"entry {TAMPERED}:" in capsys.readouterr().err
    async with served_over_http(log.app) as url:
        common = ["--vkey", vkey, "--url", url, "--token", token("auditor")]
        assert await _cli("inclusion", *common, "--index", str(TAMPERED - 1)) == 0
        assert await _cli("inclusion", *common, "--index", str(TAMPERED)) == 1
    assert "tampered" in capsys.readouterr().err


async def test_an_export_line_whose_served_field_disagrees_with_its_canonical_bytes_fails_the_cli(
    log: Log, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    vkey = await _log_of_eight_signed(log)
    lines = (await log.client.get("/v1/export", headers=AUDITOR)).text.splitlines()
    lines[TAMPERED] = lines[TAMPERED].replace('"actor":"crm/alice"', '"actor":"crm/mallory"')
    export = tmp_path / "entries.ndjson"
    export.write_text("\n".join(lines) + "\n")
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text((await log.client.get("/v1/checkpoint", headers=AUDITOR)).text)
    capsys.readouterr()
    assert await _cli("log", "--vkey", vkey, "--export", str(export), "--checkpoint", str(checkpoint)) == 1
    assert f"entry {TAMPERED} (line {TAMPERED + 1}): served actor differs" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "index"), [(1, 2), (2, 0), (3, 0), (0, 6)])
async def test_a_changed_stored_tree_node_fails_verify_at_that_node(log: Log, level: int, index: int) -> None:
    await _log_of_eight_signed(log)

    await tamper(
        log.url, "UPDATE tree_nodes SET hash = ? WHERE level = ? AND idx = ?", b"\x07" * 32, level, index
    )

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"]
    named = [p for p in verdict["problems"] if f"(level {level}, index {index})" in p["problem"]]
    assert len(named) == 1 and named[0]["index"] == index << level, verdict["problems"]


async def test_a_removed_internal_node_fails_verify(log: Log) -> None:
    await _log_of_eight_signed(log)

    await tamper(log.url, "DELETE FROM tree_nodes WHERE level = 2 AND idx = 1")

    verdict = (await log.client.get("/v1/verify", headers=AUDITOR)).json()
    assert not verdict["ok"]
    assert any("(level 2, index 1) is missing" in p["problem"] for p in verdict["problems"])

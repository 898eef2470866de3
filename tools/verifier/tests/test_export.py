"""Full verification of NDJSON exports: a file checked in blocks by worker processes says exactly
what a line-by-line check says, with and without orjson and pybase64."""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from vigie_verify import export
from vigie_verify.checkpoint import Checkpoint
from vigie_verify.entries import FAST_JSON, canonical_document, served_mismatches
from vigie_verify.errors import LogError
from vigie_verify.export import verify_export, verify_export_file
from vigie_verify.merkle import leaf_hash, root_from_leaf_hashes

Edit = Callable[[list[bytes]], list[bytes]]


def writer_canonical(index: int, /, **fields: object) -> bytes:
    """An entry's canonical bytes as the log writes them: sorted keys, no spaces, ASCII."""
    document = {
        "actor": "integrator/crm-sync",
        "event_id": f"0e6f-{index:06d}",
        "event_time": f"2026-12-07T13:19:{index % 60:02d}.821729+00:00",
        "event_type": "vigie.contacts.contact_updated.v1",
        "index": index,
        "integrated_at": "2026-12-07T13:19:21.661857+00:00",
        "sealed_event": base64.b64encode(bytes([index % 251]) * (40 + index % 7)).decode(),
        "source": "/contacts",
        "subject": f"{index * 7919:040x}",
    }
    document.update(fields)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def export_line(canonical: bytes, **served: object) -> bytes:
    """An export line as the API serves it: the served fields, the leaf hash, the canonical bytes."""
    document = canonical_document(canonical)
    line = {
        "index": document["index"],
        "event_id": document["event_id"],
        "type": document["event_type"],
        "subject": document["subject"],
        "actor": document["actor"],
        "event_time": document["event_time"],
        "leaf_hash": leaf_hash(canonical).hex(),
        "canonical": base64.b64encode(canonical).decode(),
    }
    line.update(served)
    return json.dumps(line, separators=(",", ":")).encode()


def build_export(count: int) -> tuple[list[bytes], Checkpoint]:
    canonicals = [writer_canonical(index) for index in range(count)]
    root = root_from_leaf_hashes([leaf_hash(c) for c in canonicals])
    checkpoint = Checkpoint(origin="audit.vigie.example/log/test-v1", size=count, root_hash=root)
    return [export_line(c) for c in canonicals], checkpoint


def outcome(run: Callable[[], object]) -> str:
    try:
        return f"OK {run()}"
    except LogError as exc:
        return f"LogError {exc} (index {exc.index})"


def flip_canonical(line: bytes) -> bytes:
    entry = json.loads(line)
    canonical = bytearray(base64.b64decode(entry["canonical"]))
    canonical[canonical.index(b'"sealed_event":"') + 20] ^= 0x20  # Still base64: a letter's case.
    entry["canonical"] = base64.b64encode(bytes(canonical)).decode()
    return json.dumps(entry, separators=(",", ":")).encode()


def reserve(line: bytes, **served: object) -> bytes:
    return json.dumps({**json.loads(line), **served}, separators=(",", ":")).encode()


#: Edits of a 60-entry export (one line per entry, numbered from 1) and what each must be named.
EDITS: dict[str, tuple[Edit, str]] = {
    "good": (lambda lines: lines, "OK"),
    "crlf, blank lines, no last newline": (
        lambda lines: [line + b"\r" for line in lines[:30]] + [b"", b"  "] + lines[30:] + [b"<no-newline>"],
        "OK",
    ),
    "gap in a later block": (lambda lines: lines[:41] + lines[42:], "entry 41 is missing before line 42"),
    "duplicate": (
        lambda lines: lines[:45] + [lines[44]] + lines[45:],
        "entry 45: found index 44 again at line 46",
    ),
    "flipped canonical byte": (
        lambda lines: [*lines[:52], flip_canonical(lines[52]), *lines[53:]],
        "entry 52: canonical bytes hash to",
    ),
    "served actor": (
        lambda lines: [*lines[:37], reserve(lines[37], actor="mallory"), *lines[38:]],
        "entry 37 (line 38): served actor differs from its canonical bytes",
    ),
    "served time, same instant in another spelling": (
        lambda lines: [
            *lines[:20],
            reserve(lines[20], event_time="2026-12-07T14:19:20.821729+01:00"),
            *lines[21:],
        ],
        "OK",
    ),
    "served time that does not parse": (
        lambda lines: [*lines[:20], reserve(lines[20], event_time="yesterday"), *lines[21:]],
        "entry 20 (line 21): served event_time differs",
    ),
    "not base64": (
        lambda lines: [*lines[:33], reserve(lines[33], canonical="e30=\n"), *lines[34:]],
        "entry 33 (line 34): 'canonical' is not base64",
    ),
    "not JSON": (lambda lines: [*lines[:58], b"{", *lines[59:]], "line 59 (entry 58) is not JSON"),
    "error line": (
        lambda lines: [*lines[:50], b'{"index":50,"error":"entry 50 fails its checks"}'],
        "entry 50: the log stopped its export: entry 50 fails its checks",
    ),
    "truncated": (lambda lines: lines[:47], "export ends after 47 entries"),
    "a line longer than a block": (
        lambda lines: [*lines[:25], reserve(lines[25], padding="x" * 5000), *lines[26:]],
        "OK",
    ),
}


def write_edited(tmp_path: Path, edit: Edit) -> tuple[Path, Checkpoint]:
    lines, checkpoint = build_export(60)
    lines = edit(lines)
    if lines and lines[-1] == b"<no-newline>":
        data = b"\n".join(lines[:-1])
    else:
        data = b"".join(line + b"\n" for line in lines)
    path = tmp_path / "export.ndjson"
    path.write_bytes(data)
    return path, checkpoint


@pytest.mark.parametrize("name", list(EDITS))
@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_checked_in_blocks_says_what_the_line_by_line_check_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, workers: int
) -> None:
    edit, expected = EDITS[name]
    path, checkpoint = write_edited(tmp_path, edit)
    # Blocks of ~3 lines: every edit lands in a later block than the first, some lines straddle two.
    monkeypatch.setattr(export, "_BLOCK_BYTES", 1500)
    with path.open("rb") as lines:
        by_line = outcome(lambda: verify_export(lines, checkpoint=checkpoint, workers=0))
    by_block = outcome(lambda: verify_export_file(path, checkpoint=checkpoint, workers=workers))
    assert by_block == by_line
    assert expected in by_block


@pytest.mark.parametrize("name", ["good", "gap in a later block", "flipped canonical byte", "truncated"])
def test_lines_checked_by_worker_processes_say_what_one_process_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    edit, _expected = EDITS[name]
    path, checkpoint = write_edited(tmp_path, edit)
    monkeypatch.setattr(export, "_BATCH", 7)  # batches of 7 lines: many more than 2 workers' window
    with path.open("rb") as lines:
        alone = outcome(lambda: verify_export(lines, checkpoint=checkpoint, workers=0))
    with path.open("rb") as lines:
        pooled = outcome(lambda: verify_export(lines, checkpoint=checkpoint, workers=2))
    assert pooled == alone


def test_entries_past_the_checkpoint_are_checked_and_counted(tmp_path: Path, monkeypatch) -> None:
    lines, _ = build_export(60)
    root = root_from_leaf_hashes([leaf_hash(writer_canonical(index)) for index in range(23)])
    checkpoint = Checkpoint(origin="o", size=23, root_hash=root)
    path = tmp_path / "export.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    monkeypatch.setattr(export, "_BLOCK_BYTES", 1500)
    assert verify_export_file(path, checkpoint=checkpoint, workers=2).beyond_checkpoint == 37
    lines[50] = reserve(lines[50], actor="mallory")
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    with pytest.raises(LogError, match="entry 50 .* served actor differs"):
        verify_export_file(path, checkpoint=checkpoint, workers=2)


# Canonical bytes that must never pass the fast checks unless the full comparison agrees.
SERVED = json.loads(export_line(writer_canonical(7)))
CANONICALS = {
    "the writer's": writer_canonical(7),
    "actor repeated inside the sealed event": writer_canonical(7).replace(
        b'"sealed_event":"', b'"sealed_event":"x","actor":"mallory","sealed_event":"'
    ),
    "actor repeated before the subject": writer_canonical(7).replace(
        b',"subject":', b',"actor":"mallory","subject":'
    ),
    "quote in the source": writer_canonical(7, source='/con"tacts'),
    "escape in the source": writer_canonical(7, source="/con\\tacts"),
    "non-ASCII in the source": writer_canonical(7, source="/contacté").replace(b"\\u00e9", "é".encode()),
    "space after a colon": writer_canonical(7).replace(b'"source":', b'"source": '),
    "extra member": writer_canonical(7, zzz=1),
    "truncated": writer_canonical(7)[:-40] + writer_canonical(7)[-25:],
    "integrated_at spans the sealed key": writer_canonical(7).replace(
        b'"integrated_at":"', b'"integrated_at":"a"b'
    ),
    "index as text": writer_canonical(7, index="7"),
    "another actor": writer_canonical(7, actor="mallory"),
    "time without a zone": writer_canonical(7, event_time="2026-12-07T13:19:07"),
    "not JSON": b"{" + writer_canonical(7),
}


@pytest.mark.parametrize("name", list(CANONICALS))
@pytest.mark.parametrize("check", ["_in_writer_layout", "_agrees_parsed"])
def test_a_fast_check_passes_only_what_the_full_comparison_passes(name: str, check: str) -> None:
    canonical = CANONICALS[name]
    served = dict(SERVED)
    if name == "time without a zone":
        served["event_time"] = "2026-12-07T13:19:07"
    try:
        full = served_mismatches(canonical_document(canonical), served) == []
    except ValueError:
        full = False
    fast = getattr(export, check)(canonical, served)
    assert not fast or full
    if name == "the writer's":
        assert fast


#: Run in a child process whose `orjson` and `pybase64` cannot be imported (nor by its workers: they
#: inherit the path).
STDLIB_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from vigie_verify import export
from vigie_verify.checkpoint import Checkpoint
from vigie_verify.entries import FAST_JSON
from vigie_verify.errors import LogError
assert not FAST_JSON and not export.FAST_BASE64
checkpoint = Checkpoint(origin="o", size=int(sys.argv[3]), root_hash=bytes.fromhex(sys.argv[4]))
export._BLOCK_BYTES = 1500
try:
    print("OK", export.verify_export_file(Path(sys.argv[2]), checkpoint=checkpoint, workers=2))
except LogError as exc:
    print(f"LogError {exc} (index {exc.index})")
"""


@pytest.mark.parametrize(
    "name", ["good", "gap in a later block", "served actor", "served time that does not parse", "not base64"]
)
def test_without_orjson_the_standard_library_path_says_the_same(tmp_path: Path, name: str) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    for blocked in ("orjson", "pybase64"):
        (shim / f"{blocked}.py").write_text(f'raise ImportError("{blocked} is blocked for this test")\n')
    edit, expected = EDITS[name]
    path, checkpoint = write_edited(tmp_path, edit)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(STDLIB_RUN),
            str(shim),
            str(path),
            str(checkpoint.size),
            checkpoint.root_hash.hex(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    with path.open("rb") as lines:
        here = outcome(lambda: verify_export(lines, checkpoint=checkpoint, workers=0))
    assert result.stdout.strip() == here
    assert expected in here


def test_this_run_has_orjson_and_pybase64_so_both_paths_are_covered() -> None:
    # Because the test above covers the standard library's path only if this process has the other.
    assert FAST_JSON
    assert export.FAST_BASE64


def _binascii_strict(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:
        return None


def test_the_fast_base64_decoder_accepts_and_decodes_exactly_what_the_strict_standard_one_does() -> None:
    rng = random.Random(15)
    alphabet = "ABCDQRSZaz09+/=-_ \n\r\t"
    texts = ["", "QQ==", "QQ=", "QQ===", "=QQ=", "QQ==QQ==", "QUJD=", "QUJD\n", "QU JD", "QUI=", "QUK="]
    texts += [base64.b64encode(rng.randbytes(rng.randint(0, 90))).decode() for _ in range(2000)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(20000)]
    for text in texts:
        try:
            fast: bytes | None = export.strict_b64decode(text)
        except ValueError:
            fast = None
        assert fast == _binascii_strict(text), repr(text)

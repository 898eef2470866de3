"""C2SP signed notes and tlog-checkpoints: exact format, round trips and tampering."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vigie_verify.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from vigie_verify.errors import CheckpointError, MalformedNoteError, SignatureError, VerifierKeyError
from vigie_verify.note import key_id, open_note, sign_note

ORIGIN = "audit.vigie.example/log/test-v1"
ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
# Ed25519 is deterministic (RFC 8032), so a fixed key gives a fixed note, byte for byte.
GOLDEN_NOTE = (
    "audit.vigie.example/log/test-v1\n"
    "8\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    "\n"
    "\u2014 audit.vigie.example/log/test-v1 "
    "XK0XT9GiKiJRIS/l8GXL4Pc4SrULxorIx5RuRMHZ4ZvzZlZCcfGHpKfO5siE188BMnp8yyrb2LvEY/VqMQBQTMTiYgw=\n"
)
GOLDEN_VKEY = "audit.vigie.example/log/test-v1+5cad174f+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

# The example of golang.org/x/mod/sumdb/note: an independent implementation's keys and signature.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def vkey(key: Ed25519PrivateKey) -> str:
    return verifier_key(key.public_key(), ORIGIN)


@pytest.fixture
def note(key: Ed25519PrivateKey) -> str:
    return sign_checkpoint(
        Checkpoint(origin=ORIGIN, size=8, root_hash=ROOT_8), private_key=key, key_name=ORIGIN
    )


def go_private_key() -> Ed25519PrivateKey:
    material = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])
    assert material[0] == 1
    return Ed25519PrivateKey.from_private_bytes(material[1:])


def test_signed_checkpoint_is_exactly_the_golden_note(note: str, vkey: str) -> None:
    assert note == GOLDEN_NOTE
    assert vkey == GOLDEN_VKEY


def test_note_signing_reproduces_the_go_sumdb_note_example_byte_for_byte() -> None:
    private_key = go_private_key()
    assert verifier_key(private_key.public_key(), "PeterNeumann") == GO_VKEY
    assert key_id("PeterNeumann", private_key.public_key()).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, private_key=private_key, key_name="PeterNeumann") == GO_NOTE
    assert open_note(GO_NOTE, vkey=GO_VKEY) == GO_TEXT


def test_a_signed_checkpoint_opens_to_the_same_checkpoint(note: str, vkey: str) -> None:
    assert open_checkpoint(note, vkey=vkey, origin=ORIGIN) == Checkpoint(
        origin=ORIGIN, size=8, root_hash=ROOT_8
    )


def test_verifier_key_parses_back_to_name_id_and_public_key(key: Ed25519PrivateKey, vkey: str) -> None:
    name, declared_id, public_key = parse_verifier_key(vkey)
    assert name == ORIGIN
    assert declared_id == bytes.fromhex("5cad174f")
    assert verifier_key(public_key, name) == vkey


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n8\n", "\n9\n"),
        ("test-v1\n8", "test-v2\n8"),
        ("XcnaeacG", "XcnaeacH"),
        ("XK0XT9Gi", "XK0XT9Gj"),
    ],
    ids=["size", "origin", "root", "signature"],
)
def test_tampered_checkpoints_are_rejected(note: str, vkey: str, old: str, new: str) -> None:
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(CheckpointError):
        open_checkpoint(tampered, vkey=vkey)


def test_a_signature_under_another_key_name_is_not_accepted(key: Ed25519PrivateKey, vkey: str) -> None:
    other = sign_checkpoint(
        Checkpoint(origin=ORIGIN, size=8, root_hash=ROOT_8), private_key=key, key_name="someone.else/log"
    )
    with pytest.raises(SignatureError, match="no signature"):
        open_checkpoint(other, vkey=vkey)


def test_a_renamed_signature_line_is_ignored_as_an_unknown_key(note: str, vkey: str) -> None:
    renamed = note.replace(f"\u2014 {ORIGIN} ", "\u2014 audit.vigie.example/log/test-v2 ")
    with pytest.raises(SignatureError, match="no signature"):
        open_checkpoint(renamed, vkey=vkey)


def test_a_signature_from_another_key_is_rejected(note: str) -> None:
    stranger = Ed25519PrivateKey.from_private_bytes(bytes(32))
    with pytest.raises(SignatureError):
        open_checkpoint(note, vkey=verifier_key(stranger.public_key(), ORIGIN))


def test_unknown_signatures_are_ignored_but_a_valid_trusted_one_is_required(
    key: Ed25519PrivateKey, note: str, vkey: str
) -> None:
    witness = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    witness_line = sign_note(note.split("\n\n")[0] + "\n", private_key=witness, key_name="witness.example")
    cosigned = note + witness_line.split("\n\n")[1]
    assert open_checkpoint(cosigned, vkey=vkey).size == 8
    only_witness = note.split("\n\n")[0] + "\n\n" + witness_line.split("\n\n")[1]
    with pytest.raises(SignatureError):
        open_checkpoint(only_witness, vkey=vkey)


def test_a_bad_signature_from_the_trusted_key_rejects_the_note_even_beside_a_good_one(
    note: str, vkey: str
) -> None:
    signature_line = note.split("\n\n")[1]
    blob = bytearray(base64.b64decode(signature_line.rsplit(" ", 1)[1]))
    blob[10] ^= 1
    bad_line = f"\u2014 {ORIGIN} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        open_checkpoint(note + bad_line, vkey=vkey)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n + "\n",
        lambda n: n[:-1],
        lambda n: n.replace("\u2014 ", "- "),
        lambda n: n.replace("\n8\n", "\n08\n"),
        lambda n: n.replace("\n8\n", "\n+8\n"),
        lambda n: n.replace("\n8\n", "\n\n8\n"),
        lambda n: n.replace("=\n\n", "\n\n"),
        lambda n: n.replace("8\n", "8\r\n", 1),
        lambda n: n.replace("XcnaeacG", "Xcna*acG"),
        lambda n: n.split("\n\n")[0] + "\n\n",
    ],
    ids=[
        "no blank line",
        "trailing blank line",
        "no final newline",
        "ascii dash",
        "leading zero",
        "plus sign",
        "empty body line",
        "unpadded root",
        "carriage return",
        "bad base64",
        "no signatures",
    ],
)
def test_malformed_notes_are_rejected(note: str, vkey: str, mangle) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(mangle(note), vkey=vkey)


def test_a_checkpoint_body_with_fewer_than_three_lines_is_malformed(
    key: Ed25519PrivateKey, vkey: str
) -> None:
    two_lines = sign_note(f"{ORIGIN}\n8\n", private_key=key, key_name=ORIGIN)
    with pytest.raises(MalformedNoteError, match="origin, a size and a root"):
        open_checkpoint(two_lines, vkey=vkey)


def test_a_checkpoint_from_another_origin_is_refused_when_an_origin_is_expected(note: str, vkey: str) -> None:
    with pytest.raises(CheckpointError, match="expected"):
        open_checkpoint(note, vkey=vkey, origin="audit.vigie.example/log/prod-v1")


def test_extension_lines_are_kept_and_signed(key: Ed25519PrivateKey, vkey: str) -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=3, root_hash=ROOT_8, extensions=("ext one",))
    signed = sign_checkpoint(checkpoint, private_key=key, key_name=ORIGIN)
    assert signed.startswith(f"{ORIGIN}\n3\n{base64.b64encode(ROOT_8).decode()}\next one\n\n")
    assert open_checkpoint(signed, vkey=vkey) == checkpoint


@pytest.mark.parametrize(
    "bad",
    [
        GOLDEN_VKEY.replace("+5cad174f+", "+5cad1740+"),
        GOLDEN_VKEY.replace("+5cad174f+", "+5CAD174F+"),
        GOLDEN_VKEY.replace("test-v1+", "test-v2+"),
        GOLDEN_VKEY.replace("+AQOh", "+AgOh"),
        GOLDEN_VKEY[:-4],
        "no-plus-signs",
        "a b+5cad174f+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    ],
)
def test_malformed_verifier_keys_are_refused(bad: str) -> None:
    with pytest.raises(VerifierKeyError):
        parse_verifier_key(bad)

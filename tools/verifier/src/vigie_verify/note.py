"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys (signature type 0x01)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vigie_verify.errors import MalformedNoteError, SignatureError, VerifierKeyError

__all__ = [
    "ED25519_TYPE",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "key_id",
    "open_note",
    "parse_verifier_key",
    "sign_note",
    "verifier_key",
]

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
# The spec asks verifiers to accept at least 16 signatures and to bound the work; Go's note uses 100.
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 1 << 20


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """Returns the 32-byte RFC 8032 encoding of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _is_valid_key_name(name: str) -> bool:
    """Tells whether a key name is non-empty and free of Unicode spaces and plus signs."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _check_key_name(name: str) -> None:
    """Raises VerifierKeyError unless the key name is valid for a signed note."""
    if not _is_valid_key_name(name):
        raise VerifierKeyError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _strict_b64decode(text: str) -> bytes:
    """Decodes standard base64, refusing stray characters and non-canonical encodings."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64 {text!r}") from exc
    # Because validate=True still accepts non-zero padding bits, which would make encodings malleable.
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"non-canonical base64 {text!r}")
    return raw


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """Returns the 4-byte key ID SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    material = key_name.encode("utf-8") + b"\n" + ED25519_TYPE + _raw_public_key(public_key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(public_key: Ed25519PublicKey, key_name: str) -> str:
    """Returns the verifier key string ``<name>+<hex key id>+<base64(0x01 || key)>``."""
    _check_key_name(key_name)
    encoded = base64.b64encode(ED25519_TYPE + _raw_public_key(public_key)).decode("ascii")
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Returns (key name, 4-byte key id, public key) from an Ed25519 verifier key string."""
    # Split only twice because the base64 key material may itself contain '+'.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise VerifierKeyError("verifier key must look like <name>+<8 hex digits>+<base64 key>")
    name, id_hex, key_b64 = parts
    _check_key_name(name)
    if len(id_hex) != 8 or any(ch not in "0123456789abcdef" for ch in id_hex):
        raise VerifierKeyError(f"verifier key id {id_hex!r} is not 8 lowercase hex digits")
    try:
        material = _strict_b64decode(key_b64)
    except ValueError as exc:
        raise VerifierKeyError(f"verifier key material: {exc}") from None
    if len(material) != 33 or material[:1] != ED25519_TYPE:
        raise VerifierKeyError("verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
    public_key = Ed25519PublicKey.from_public_bytes(material[1:])
    declared = bytes.fromhex(id_hex)
    if key_id(name, public_key) != declared:
        raise VerifierKeyError(f"verifier key id {id_hex} does not match its name and public key")
    return name, declared, public_key


def sign_note(text: str, *, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Returns the signed note made of ``text``, a blank line and one Ed25519 signature line."""
    _check_key_name(key_name)
    _check_text(text)
    signature = private_key.sign(text.encode("utf-8"))
    blob = base64.b64encode(key_id(key_name, private_key.public_key()) + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_PREFIX}{key_name} {blob}\n"


def _check_text(text: str) -> None:
    """Raises MalformedNoteError unless the note text is non-empty, newline-terminated, clean UTF-8."""
    if not text or not text.endswith("\n"):
        raise MalformedNoteError("note text must be non-empty and end with a newline")
    _check_characters(text)


def _check_characters(text: str) -> None:
    """Raises MalformedNoteError on invalid UTF-8 or on control characters other than newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    for position, ch in enumerate(text):
        if ch < " " and ch != "\n":
            raise MalformedNoteError(f"note contains control character {ch!r} at offset {position}")


def open_note(note: str, *, vkey: str) -> str:
    """Returns the text of ``note`` once a signature from ``vkey`` has verified over it.

    Signatures from other keys are ignored (same name with another ID, or another name, is another
    key). A failing signature from the trusted key rejects the whole note.
    """
    name, trusted_id, public_key = parse_verifier_key(vkey)
    if len(note) > MAX_NOTE_SIZE:
        raise MalformedNoteError(f"note is larger than {MAX_NOTE_SIZE} characters")
    _check_characters(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block or not signature_block.endswith("\n"):
        raise MalformedNoteError("note must end with at least one newline-terminated signature line")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")

    message = text.encode("utf-8")
    verified = 0
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNoteError(f"signature line {number} does not start with an em dash and a space")
        fields = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(fields) != 2 or not _is_valid_key_name(fields[0]):
            raise MalformedNoteError(f"signature line {number} is not '\u2014 <key name> <base64>'")
        signer, blob_b64 = fields
        try:
            blob = _strict_b64decode(blob_b64)
        except ValueError:
            raise MalformedNoteError(f"signature line {number} has invalid base64") from None
        if len(blob) < 5:
            raise MalformedNoteError(f"signature line {number} is too short")
        if signer != name or blob[:4] != trusted_id:
            continue
        if len(blob) != 4 + 64:
            raise SignatureError(f"signature by {name} (line {number}) is not a 64-byte Ed25519 signature")
        try:
            public_key.verify(blob[4:], message)
        except InvalidSignature:
            raise SignatureError(f"signature by {name} (line {number}) does not verify") from None
        verified += 1
    if not verified:
        raise SignatureError(f"note carries no signature from {name}+{trusted_id.hex()}")
    return text

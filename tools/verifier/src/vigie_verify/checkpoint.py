"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) signed with Ed25519 in a signed note."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigie_verify.errors import CheckpointError, MalformedNoteError
from vigie_verify.merkle import HASH_SIZE
from vigie_verify.note import open_note, parse_verifier_key, sign_note, verifier_key

__all__ = [
    "Checkpoint",
    "format_checkpoint_body",
    "open_checkpoint",
    "parse_checkpoint_body",
    "parse_verifier_key",
    "sign_checkpoint",
    "verifier_key",
]


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its tree size and root hash.

    ``extensions`` holds optional extension lines; Vigie's log writes none, but the format allows them.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedNoteError("checkpoint origin must be a non-empty single line")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise MalformedNoteError(f"checkpoint size {self.size!r} is not a non-negative integer")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedNoteError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            if not line or "\n" in line:
                raise MalformedNoteError("checkpoint extension lines must be non-empty single lines")


def format_checkpoint_body(checkpoint: Checkpoint) -> str:
    """Returns the checkpoint's note text: origin, size, base64 root and extensions, one per line."""
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    lines = [checkpoint.origin, str(checkpoint.size), root, *checkpoint.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Returns the checkpoint spelled by a note text, refusing anything not exactly in C2SP form."""
    if not text.endswith("\n"):
        raise MalformedNoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedNoteError("checkpoint text needs an origin, a size and a root hash line")
    if any(not line for line in lines):
        raise MalformedNoteError("checkpoint text contains an empty line")
    origin, size_text, root_text, *extensions = lines
    # Because int() would also accept '+5', ' 5', '٥' or '05', none of which is a canonical size.
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise MalformedNoteError(f"checkpoint size {size_text!r} is not a canonical decimal")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise MalformedNoteError(f"checkpoint root hash {root_text!r} is not base64") from None
    if base64.b64encode(root).decode("ascii") != root_text:
        raise MalformedNoteError(f"checkpoint root hash {root_text!r} is not canonical base64")
    if len(root) != HASH_SIZE:
        raise MalformedNoteError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root, extensions=tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Returns the checkpoint as a signed note carrying one Ed25519 signature by ``key_name``."""
    return sign_note(format_checkpoint_body(checkpoint), private_key=private_key, key_name=key_name)


def open_checkpoint(note_text: str, *, vkey: str, origin: str | None = None) -> Checkpoint:
    """Returns the checkpoint in a signed note after verifying its signature by ``vkey``.

    Raises CheckpointError on any malformation, a bad or missing signature, or (when ``origin`` is
    given) a checkpoint from another log. A malformed ``vkey`` raises VerifierKeyError.
    """
    text = open_note(note_text, vkey=vkey)
    checkpoint = parse_checkpoint_body(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint

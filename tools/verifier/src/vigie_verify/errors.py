"""Errors raised by the verifier, one class per way a check can fail."""

from __future__ import annotations


class VerificationError(Exception):
    """Signals that some evidence (a proof, a checkpoint, a log) failed verification."""


class ProofError(VerificationError):
    """Signals that an inclusion or consistency proof does not verify."""


class CheckpointError(VerificationError):
    """Signals that a signed checkpoint note is malformed or not validly signed."""


class MalformedNoteError(CheckpointError):
    """Signals that a signed note or its checkpoint body breaks the C2SP format."""


class SignatureError(CheckpointError):
    """Signals that a note carries no valid signature from the trusted key, or a bad one."""


class LogError(VerificationError):
    """Signals that a log export does not match a checkpoint, naming the first bad index."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class VerifierKeyError(ValueError):
    """Signals that a verifier key string is not a valid Ed25519 note verifier key."""


class TreeRangeError(ValueError):
    """Signals that a tree size, leaf index or proof range is out of bounds."""


class MissingNodeError(LookupError):
    """Signals that a node store lacks a complete-subtree hash that was asked for."""

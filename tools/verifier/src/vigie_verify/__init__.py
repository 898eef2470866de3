"""Vigie's audit-log verifier: RFC 9162 Merkle proofs and C2SP signed checkpoints, offline."""

# The checkpoint names are imported on first use, so that a process that needs no signature (a worker
# checking an export) does not load cryptography (~70 ms); errors and merkle are light.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vigie_verify.errors import (
    CheckpointError,
    LogError,
    MalformedNoteError,
    MissingNodeError,
    ProofError,
    SignatureError,
    TreeRangeError,
    VerificationError,
    VerifierKeyError,
)
from vigie_verify.merkle import (
    EMPTY_ROOT,
    InMemoryNodeStore,
    RootAccumulator,
    complete_nodes_for_append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

if TYPE_CHECKING:
    from vigie_verify.checkpoint import (
        Checkpoint,
        open_checkpoint,
        parse_verifier_key,
        sign_checkpoint,
        verifier_key,
    )

_CHECKPOINT_NAMES = frozenset(
    {"Checkpoint", "open_checkpoint", "parse_verifier_key", "sign_checkpoint", "verifier_key"}
)


def __getattr__(name: str) -> Any:
    if name not in _CHECKPOINT_NAMES:
        raise AttributeError(f"module 'vigie_verify' has no attribute {name!r}")
    return getattr(importlib.import_module("vigie_verify.checkpoint"), name)


__all__ = [
    "EMPTY_ROOT",
    "Checkpoint",
    "CheckpointError",
    "InMemoryNodeStore",
    "LogError",
    "MalformedNoteError",
    "MissingNodeError",
    "ProofError",
    "RootAccumulator",
    "SignatureError",
    "TreeRangeError",
    "VerificationError",
    "VerifierKeyError",
    "complete_nodes_for_append",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "parse_verifier_key",
    "root_from_leaf_hashes",
    "root_hash",
    "sign_checkpoint",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
]

"""Vigie's audit-log verifier: RFC 9162 Merkle proofs and C2SP signed checkpoints, offline."""

# Names are imported on first use, so that a process that needs one module (a worker checking an
# export, which never touches a signature) does not load the others (cryptography takes ~70 ms).
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigie_verify.checkpoint import (
        Checkpoint,
        open_checkpoint,
        parse_verifier_key,
        sign_checkpoint,
        verifier_key,
    )
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

_MODULES = {
    "vigie_verify.checkpoint": (
        "Checkpoint",
        "open_checkpoint",
        "parse_verifier_key",
        "sign_checkpoint",
        "verifier_key",
    ),
    "vigie_verify.errors": (
        "CheckpointError",
        "LogError",
        "MalformedNoteError",
        "MissingNodeError",
        "ProofError",
        "SignatureError",
        "TreeRangeError",
        "VerificationError",
        "VerifierKeyError",
    ),
    "vigie_verify.merkle": (
        "EMPTY_ROOT",
        "InMemoryNodeStore",
        "RootAccumulator",
        "complete_nodes_for_append",
        "consistency_proof",
        "inclusion_proof",
        "leaf_hash",
        "node_hash",
        "root_from_leaf_hashes",
        "root_hash",
        "verify_consistency",
        "verify_inclusion",
    ),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'vigie_verify' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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

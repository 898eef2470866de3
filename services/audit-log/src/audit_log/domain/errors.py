"""Errors of the audit log, raised by its use cases and mapped to problems by the API."""

from __future__ import annotations


class AuditLogError(Exception):
    """Base class of the audit log's errors."""


class EntryNotFoundError(AuditLogError):
    """No entry is stored at the index asked for."""

    def __init__(self, index: int) -> None:
        super().__init__(f"no entry at index {index}")
        self.index = index


class NoCheckpointError(AuditLogError):
    """No checkpoint has been signed yet: the log is empty."""

    def __init__(self) -> None:
        super().__init__("no checkpoint yet: the log is empty")


class ProofOutOfRangeError(AuditLogError):
    """A proof was asked about indices or tree sizes it cannot cover (the message names the field)."""


class TamperedEntryError(AuditLogError):
    """A stored entry disagrees with its own canonical bytes or its leaf in the tree: it is not served."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"entry {index} fails verification: {problem}")
        self.index = index
        self.problem = problem

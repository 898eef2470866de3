"""Errors of the consent use cases that are not domain rules."""

from __future__ import annotations


class NotFoundError(Exception):
    """The record named in the request does not exist (or no longer does, after an erasure)."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id!r} not found")
        self.kind = kind
        self.record_id = record_id


class AlreadyExistsError(Exception):
    """A record with the id (or version) given in the request already exists."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id!r} already exists")
        self.kind = kind
        self.record_id = record_id

"""The audit log's use cases, one frozen dataclass each; the queries auditors run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from shared.events import EventEnvelope

from audit_log.domain.model import EntrySelection


class ConsumedEvent(NamedTuple):
    """One event as consumed: its decoded envelope and the exact bytes that were published (a pair, as
    the log store takes it: one object per event)."""

    envelope: EventEnvelope
    raw: bytes


@dataclass(frozen=True)
class IntegrateEvents:
    """Append a polled batch of events to the log in one transaction (group commit)."""

    events: tuple[ConsumedEvent, ...]


@dataclass(frozen=True)
class SignCheckpoint:
    """Sign a checkpoint of the tree if it grew since the last one."""


@dataclass(frozen=True)
class ListEntries:
    """Read a page of selected entries, oldest first, from index `cursor` on."""

    selection: EntrySelection
    limit: int
    cursor: int | None = None


@dataclass(frozen=True)
class ProveInclusion:
    """Read the audit path of the entry at `index` in the tree of `tree_size` entries."""

    index: int
    tree_size: int


@dataclass(frozen=True)
class ProveConsistency:
    """Read the consistency path between the trees of `first` and `second` entries."""

    first: int
    second: int

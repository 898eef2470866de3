"""How far the projection is behind its topics: end offsets from Kafka against the offsets it recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from campaign_gate.contracts import CAMPAIGN_FACT_TYPES, PERSON_FACT_TYPES


@dataclass(frozen=True)
class Freshness:
    """The projection's state at one moment: stale or not, why, and the records behind per partition."""

    stale: bool
    reason: str
    lag: dict[str, int] = field(default_factory=dict)
    #: Whom unapplied records concern (`check_for`): contact ids, and blind indexes (objections), whose
    #: recipients alone are decided stale while the rest of the check is decided.
    stale_contacts: frozenset[str] = frozenset()
    stale_indexes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordScope:
    """Whose decisions an unapplied record may change: everyone's (`campaign`), some people's, or no
    one's (a type the gate applies nothing for)."""

    campaign: bool
    contacts: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()


def record_scope(key: bytes | None, value: bytes | None) -> RecordScope:
    """Returns the scope of a consumed record from its key and envelope. A record that cannot be read
    weighs on everyone: the projection would refuse it, but until it does nobody can say whom it is about."""
    try:
        envelope: Any = orjson.loads(value or b"")
        kind, data = envelope["type"], envelope.get("data") or {}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return RecordScope(campaign=True)
    if kind in CAMPAIGN_FACT_TYPES:
        return RecordScope(campaign=True)
    if kind not in PERSON_FACT_TYPES:
        return RecordScope(campaign=False)
    if not isinstance(data, dict):
        return RecordScope(campaign=True)
    contacts = {str(envelope.get("subject") or ""), str(data.get("contact_id") or "")}
    if key:
        contacts.add(key.decode(errors="replace"))
    indexes = data.get("blind_indexes")
    if indexes is None:
        indexes = []
    if not isinstance(indexes, list):
        return RecordScope(campaign=True)
    return RecordScope(False, tuple(sorted(c for c in contacts if c)), tuple(str(i) for i in indexes))


class KafkaFreshness:
    """Says whether the projection is stale: Kafka unreachable, or a record that was on the topics when
    the check began still unapplied after a short wait (`catch_up_seconds`). `bound_seconds` only words
    the reason: past it, the projection is stuck rather than catching up.

    The consumed offsets come from the database (written in the same transaction as each event), so
    this works whether the consumers run in the API's process or in their own. A record's age is read
    from its timestamp in Kafka, so every process gives the same answer from its first check on: no
    clock starts when a process first notices the lag.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Iterable[str],
        bound_seconds: float,
        consumed: Callable[[], Awaitable[dict[tuple[str, int], int]]],
        options: dict[str, str] | None = None,
        timeout_seconds: float = 1.0,
        catch_up_seconds: float = 0.5,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = list(topics)
        self._bound = bound_seconds
        self._consumed = consumed
        self._options = options or {}
        self._timeout = timeout_seconds
        self._catch_up = catch_up_seconds
        self._client: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()
        # Reads the first unapplied record of a partition; one reader at a time, since reads seek it.
        self._reader: AIOKafkaConsumer | None = None
        self._reading = asyncio.Lock()
        # (topic, partition, offset) → (offset, timestamp in ms) of the first record at or after that
        # offset. It never changes, so it is kept; entries behind the applied offset are dropped.
        self._firsts: dict[tuple[str, int, int], tuple[int, int]] = {}
        # (topic, partition) → the scopes of the unapplied records read so far (`_Tail`).
        self._tails: dict[tuple[str, int], _Tail] = {}

    async def _end_offsets(self) -> dict[tuple[str, int], int]:
        async with self._starting:
            if self._client is None:
                self._client = await self._started()
            client = self._client
        return await self._ends_of(client)

    async def _started(self, **extra: Any) -> AIOKafkaConsumer:
        """Returns a started group-less consumer with the configured options (stopped if it fails)."""
        client = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=int(self._timeout * 1000) + 1000,
            **extra,
            **self._options,
        )
        try:
            await asyncio.wait_for(client.start(), self._timeout * 5)
        except BaseException:
            await client.stop()
            raise
        return client

    async def _ends_of(self, client: AIOKafkaConsumer) -> dict[tuple[str, int], int]:
        partitions = []
        for topic in self._topics:
            ids = client.partitions_for_topic(topic)
            if not ids:
                await asyncio.wait_for(client._client.force_metadata_update(), self._timeout)  # noqa: SLF001
                ids = client.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in ids]
        ends = await asyncio.wait_for(client.end_offsets(partitions), self._timeout)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def check(self, *, catch_up_seconds: float | None = None) -> Freshness:
        """Returns whether checks must fail closed now, after waiting up to `catch_up_seconds` (the
        configured catch-up unless given) for the projection to apply what is already published."""
        try:
            ends = await self._end_offsets()
        except Exception as exc:  # noqa: BLE001 - any failure to reach Kafka means we cannot vouch for freshness.
            return Freshness(True, f"Kafka unreachable ({type(exc).__name__})")
        if not ends:
            return Freshness(True, "no partition of the consumed topics is known")
        waited = self._catch_up if catch_up_seconds is None else catch_up_seconds
        consumed = await self._caught_up_or_latest(ends, waited)
        lag: dict[str, int] = {}
        behind: dict[tuple[str, int], int] = {}
        for key, end in ends.items():
            position = consumed.get(key, 0)
            lag[f"{key[0]}:{key[1]}"] = max(0, end - position)
            if end > position:
                behind[key] = position
        if not behind:
            return Freshness(False, "fresh", lag)
        try:
            firsts = await self._first_unapplied(behind)
        except Exception as exc:  # noqa: BLE001 - a record we cannot date may be older than the bound.
            return Freshness(True, f"unapplied records undatable ({type(exc).__name__})", lag)
        if len(firsts) < len(behind):
            return Freshness(True, "unapplied records undatable (none read in time)", lag)
        # A first record at or past the end offset means only transaction markers are unapplied.
        unapplied = [stamp for key, (offset, stamp) in firsts.items() if offset < ends[key]]
        if not unapplied:
            return Freshness(False, "fresh", lag)
        oldest = time.time() - min(unapplied) / 1000
        if oldest > self._bound:
            return Freshness(
                True, f"oldest unapplied record is {oldest:.1f}s old (bound {self._bound}s)", lag
            )
        # Because these records were on the topics when the check began (the end offsets were read
        # first) and one may be a withdrawal or an objection: deciding without them could allow a send
        # the person already refused (a late allow, measured by B2 under an import). Fail closed.
        return Freshness(
            True,
            f"records published before this check are not applied yet (oldest {oldest:.1f}s old; "
            f"waited {waited}s)",
            lag,
        )

    async def check_for(
        self, recipients: Collection[str], *, catch_up_seconds: float | None = None
    ) -> Freshness:
        """Returns, for a check of `recipients` (or, with none, a submission's review), whether it must
        fail closed as a whole, and else which of its recipients the records still unapplied concern.

        The records on the topics when it began are read (once per process: the tail is kept, indexed
        by contact) and scoped by type: one about a purpose, a notice, a processor or a party weighs on
        every decision; one about a person on that person's alone. It waits up to `catch_up_seconds`
        for those that weigh on this check (campaign facts, or facts of these recipients or of any blind
        index), then answers: stale as a whole while a campaign fact is unapplied, Kafka is out of reach
        or the unapplied records cannot be read in time; else fresh, naming the recipients and blind
        indexes of the person records still unapplied, which the check decides stale (GATE_STALE). So a
        bulk import no longer stops every campaign while the projection applies it: only its people wait.
        """
        try:
            ends = await self._end_offsets()
        except Exception as exc:  # noqa: BLE001 - any failure to reach Kafka means we cannot vouch for freshness.
            return Freshness(True, f"Kafka unreachable ({type(exc).__name__})")
        if not ends:
            return Freshness(True, "no partition of the consumed topics is known")
        consumed = await self._consumed()
        behind = {key: consumed.get(key, 0) for key, end in ends.items() if end > consumed.get(key, 0)}
        if not behind:
            return Freshness(False, "fresh", _lag(ends, consumed))
        try:
            tails = await self._unapplied(behind, ends)
        except Exception as exc:  # noqa: BLE001 - records we cannot read may concern anyone.
            tails, unreadable = None, f"unapplied records unreadable ({type(exc).__name__})"
        else:
            unreadable = "unapplied records unreadable (not all read in time)"
        if tails is None:
            return Freshness(True, unreadable, _lag(ends, consumed))
        wanted = recipients if isinstance(recipients, (set, frozenset)) else set(recipients)
        # Per partition, the last record (before its end offset) this check must see applied.
        needed: dict[tuple[str, int], int] = {}
        for key, tail in tails.items():
            last = tail.last_weighing(wanted, below=ends[key])
            if last >= behind[key]:
                needed[key] = last
        waited = self._catch_up if catch_up_seconds is None else catch_up_seconds
        deadline = time.monotonic() + waited
        while any(consumed.get(key, 0) <= offset for key, offset in needed.items()):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.002)
            consumed = await self._consumed()
        lag = _lag(ends, consumed)
        campaign = sum(tail.campaign_between(consumed.get(key, 0), ends[key]) for key, tail in tails.items())
        if campaign:
            return Freshness(
                True,
                f"{campaign} record(s) about purposes, notices, processors or parties published before "
                f"this check are not applied yet (waited {waited}s)",
                lag,
            )
        contacts: set[str] = set()
        indexes: set[str] = set()
        for key, tail in tails.items():
            contacts |= tail.contacts_between(wanted, consumed.get(key, 0))
            indexes |= tail.indexes_between(consumed.get(key, 0), ends[key])
        if contacts or indexes:
            return Freshness(
                False,
                f"records about {len(contacts)} recipient(s) and {len(indexes)} blind index(es) are not "
                f"applied yet (waited {waited}s): those recipients are decided stale",
                lag,
                frozenset(contacts),
                frozenset(indexes),
            )
        return Freshness(False, "fresh", lag)

    async def _unapplied(
        self, behind: dict[tuple[str, int], int], ends: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], _Tail] | None:
        """Returns the scopes of the records from the applied offset to (at least) the end offset, per
        partition behind, or None when they cannot all be read within the timeout.

        Each record is read once per process: what was read is kept per partition (what falls behind the
        applied offset forgotten) and only the records after it are fetched.
        """
        async with self._reading:
            for key, applied in behind.items():
                tail = self._tails.get(key)
                if tail is None or applied < tail.applied:
                    # Because applied offsets only grow, unless the projection was rebuilt: start over.
                    self._tails[key] = _Tail(applied)
                else:
                    tail.forget_before(applied)
            for key in [k for k in self._tails if k not in behind]:
                del self._tails[key]
            wanted = {key: self._tails[key].next for key in behind if self._tails[key].next < ends[key]}
            if wanted:
                reader = await self._tail_reader()
                partitions = {key: TopicPartition(*key) for key in wanted}
                reader.assign(list(partitions.values()))
                for key, at in wanted.items():
                    reader.seek(partitions[key], at)
                deadline = time.monotonic() + self._timeout
                while wanted and (left := deadline - time.monotonic()) > 0:
                    batches = await reader.getmany(
                        *(partitions[k] for k in wanted), timeout_ms=int(left * 1000), max_records=10_000
                    )
                    for tp, fetched in batches.items():
                        key = (tp.topic, tp.partition)
                        if key not in wanted:
                            continue
                        tail = self._tails[key]
                        for r in fetched:
                            tail.add(r.offset, record_scope(r.key, r.value))
                        # Because transaction markers take offsets no record is returned for.
                        tail.next = max(tail.next, await reader.position(tp))
                        if tail.next >= ends[key]:
                            del wanted[key]
                if wanted:
                    return None
            return {key: self._tails[key] for key in behind}

    async def _tail_reader(self) -> AIOKafkaConsumer:
        """Returns the group-less reader of unapplied records (started once; call under `_reading`)."""
        if self._reader is None:
            self._reader = await self._started(
                auto_offset_reset="earliest",  # records deleted by retention: the oldest left
                isolation_level="read_committed",
                # Because a fetch that finds no new record would otherwise park 500 ms (aiokafka's
                # default) while the check waits for the records behind it.
                fetch_max_wait_ms=5,
            )
        return self._reader

    async def _first_unapplied(
        self, behind: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """Returns the offset and timestamp (ms) of the first record at or after the applied offset, per
        partition.

        Read once per (partition, offset) with a reader of its own (no group: it commits nothing), read
        committed like the projection. A partition with no record read within the timeout is left out,
        and the caller fails closed.
        """
        for cached in [k for k in self._firsts if behind.get(k[:2]) != k[2]]:
            del self._firsts[cached]  # the projection has moved past it (applied offsets only grow)
        firsts = {key: self._firsts[(*key, at)] for key, at in behind.items() if (*key, at) in self._firsts}
        wanted = {key: at for key, at in behind.items() if key not in firsts}
        if not wanted:
            return firsts
        async with self._reading:
            reader = await self._tail_reader()
            partitions = {key: TopicPartition(*key) for key in wanted}
            reader.assign(list(partitions.values()))
            for key, at in wanted.items():
                reader.seek(partitions[key], at)
            deadline = time.monotonic() + self._timeout
            while wanted and (left := deadline - time.monotonic()) > 0:
                batches = await reader.getmany(*(partitions[k] for k in wanted), timeout_ms=int(left * 1000))
                for tp, records in batches.items():
                    key = (tp.topic, tp.partition)
                    applied = wanted.get(key)
                    stamp = records[0].timestamp if records else None
                    if applied is None or stamp is None:
                        continue
                    firsts[key] = self._firsts[(*key, applied)] = (records[0].offset, stamp)
                    del wanted[key]
        return firsts

    async def _caught_up_or_latest(
        self, ends: dict[tuple[str, int], int], catch_up_seconds: float
    ) -> dict[tuple[str, int], int]:
        """Waits, at most `catch_up_seconds`, until the projection has applied everything published
        before this check began.

        Because an event already on the topic when a check starts (a withdrawal, an objection) must
        weigh on that check: deciding before it is applied would be a late "allow".
        """
        deadline = time.monotonic() + catch_up_seconds
        while True:
            consumed = await self._consumed()
            if all(consumed.get(key, 0) >= end for key, end in ends.items()) or time.monotonic() >= deadline:
                return consumed
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        """Disconnects from Kafka."""
        if self._client is not None:
            await self._client.stop()
            self._client = None
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None


class _Tail:
    """The unapplied records of one partition read so far, indexed for checks: the last offset about each
    contact, the offsets of campaign facts, and the blind indexes of objections with their offsets."""

    def __init__(self, applied: int) -> None:
        self.applied = applied
        self.next = applied
        self.by_contact: dict[str, int] = {}
        self.campaign: list[int] = []
        self.indexed: list[tuple[int, tuple[str, ...]]] = []

    def add(self, offset: int, scope: RecordScope) -> None:
        """Keeps a record's scope (records come in offset order)."""
        if scope.campaign:
            self.campaign.append(offset)
        for contact in scope.contacts:
            self.by_contact[contact] = offset
        if scope.indexes:
            self.indexed.append((offset, scope.indexes))

    def forget_before(self, applied: int) -> None:
        """Drops what the projection has applied (everything before `applied`)."""
        self.applied, self.next = applied, max(self.next, applied)
        self.campaign = [o for o in self.campaign if o >= applied]
        self.indexed = [(o, i) for o, i in self.indexed if o >= applied]
        # Because a dict of every contact of a long backlog is rebuilt only once it is mostly dead.
        if len(self.by_contact) > 2 * max(0, self.next - applied) + 1024:
            self.by_contact = {c: o for c, o in self.by_contact.items() if o >= applied}

    def last_weighing(self, recipients: Collection[str], *, below: int) -> int:
        """Returns the last offset below `below` of a record that weighs on a check of `recipients` (a
        campaign fact, one about a recipient, or, for a check, an objection by blind index); -1 if none."""
        last = max((o for o in self.campaign if o < below), default=-1)
        if recipients:
            last = max(last, max((o for o, _ in self.indexed if o < below), default=-1))
            # A contact's last record past `below` may hide one before it: wait for all before `below`.
            last = max(last, max((min(o, below - 1) for _c, o in self._about(recipients)), default=-1))
        return last

    def campaign_between(self, start: int, end: int) -> int:
        """Returns how many campaign facts lie in [start, end)."""
        return sum(1 for o in self.campaign if start <= o < end)

    def contacts_between(self, recipients: Collection[str], start: int) -> set[str]:
        """Returns the recipients with a record at or after `start` (unapplied). Only a contact's last
        offset is kept: one published after the check began may hide one before it, so any counts,
        which errs on the side of failing closed."""
        return {c for c, o in self._about(recipients) if o >= start}

    def indexes_between(self, start: int, end: int) -> set[str]:
        """Returns the blind indexes of the objections in [start, end)."""
        return {i for o, indexes in self.indexed if start <= o < end for i in indexes}

    def _about(self, recipients: Collection[str]) -> list[tuple[str, int]]:
        if len(recipients) <= len(self.by_contact):
            return [(c, self.by_contact[c]) for c in recipients if c in self.by_contact]
        return [(c, o) for c, o in self.by_contact.items() if c in recipients]


def _lag(ends: dict[tuple[str, int], int], consumed: dict[tuple[str, int], int]) -> dict[str, int]:
    return {f"{t}:{p}": max(0, end - consumed.get((t, p), 0)) for (t, p), end in ends.items()}

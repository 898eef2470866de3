"""In-memory fakes of the campaign-gate ports, for unit tests of the handlers (fakes, not mocks).

A `FakeStore` is the "database": each `FakeUnitOfWork` works on a copy of it and writes the copy
back on commit, so a unit of work left without a commit changes nothing, as a rolled-back
transaction would. Published events land in `FakeStore.published` on commit, in order.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from campaign_gate.adapters.projection import AbstractProjectionRepository
from campaign_gate.adapters.repository import (
    AbstractCampaignRepository,
    AbstractCheckRepository,
    AbstractSuppressionRepository,
)
from campaign_gate.domain import events
from campaign_gate.domain.facts import Channel, RecipientFacts
from campaign_gate.domain.model import Campaign, Status
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
E = TypeVar("E")


@dataclass
class FakeState:
    """The rows of the gate's tables, as plain values keyed like their primary keys."""

    campaigns: dict[str, Campaign] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (list name, blind index) → import id.
    entries: dict[tuple[str, str], str] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    #: (check id, chunk number) → the chunk's row.
    chunks: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    objections: dict[str, dict[str, Any]] = field(default_factory=dict)
    notices: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    purposes: dict[str, dict[str, Any]] = field(default_factory=dict)
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    processors: dict[str, dict[str, Any]] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    #: (topic, event id) of every consumed event.
    inbox: set[tuple[str, str]] = field(default_factory=set)
    #: What `recipients()` answers: the facts a test arranges per contact (the SQL read is the adapter's).
    recipient_facts: dict[str, RecipientFacts] = field(default_factory=dict)


@dataclass
class FakeStore:
    """What the fake "database" holds between units of work, and what was published."""

    state: FakeState = field(default_factory=FakeState)
    published: list[events.Event] = field(default_factory=list)
    commits: int = 0

    def of_type(self, kind: type[E]) -> list[E]:
        """Returns the published events of one type, in order."""
        return [e for e in self.published if isinstance(e, kind)]


class FakeCampaignRepository(AbstractCampaignRepository):
    def __init__(self, state: FakeState) -> None:
        super().__init__()
        self._state = state

    def add(self, campaign: Campaign) -> None:
        self.seen.append(campaign)
        self._state.campaigns[campaign.id] = campaign

    async def get(self, campaign_id: str) -> Campaign | None:
        campaign = self._state.campaigns.get(campaign_id)
        if campaign is not None:
            self.seen.append(campaign)
        return campaign

    async def listed(self, status: Status | None, *, limit: int) -> list[Campaign]:
        found = [c for c in self._state.campaigns.values() if status is None or c.status is status]
        return sorted(found, key=lambda c: c.updated_at, reverse=True)[:limit]


class FakeSuppressionRepository(AbstractSuppressionRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def ensure_list(
        self, *, name: str, kind: str, channel: str | None, at: datetime
    ) -> Mapping[str, Any]:
        return self._state.lists.setdefault(
            name, {"name": name, "kind": kind, "channel": channel, "created_at": at}
        )

    async def add_import(
        self, *, import_id: str, list_name: str, indexes: Sequence[str], actor: str, at: datetime
    ) -> None:
        self._state.imports[import_id] = {
            "import_id": import_id,
            "list_name": list_name,
            "imported_at": at,
            "entries": len(indexes),
            "actor": actor,
        }
        for index in indexes:
            self._state.entries[(list_name, index)] = import_id

    async def lists(self) -> list[dict[str, Any]]:
        out = []
        for name, row in sorted(self._state.lists.items()):
            imported = [i["imported_at"] for i in self._state.imports.values() if i["list_name"] == name]
            out.append(
                {
                    **row,
                    "last_imported_at": max(imported, default=None),
                    "entries": sum(1 for (listed, _) in self._state.entries if listed == name),
                }
            )
        return out


class FakeCheckRepository(AbstractCheckRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def add_check(self, values: Mapping[str, Any]) -> None:
        self._state.checks[values["id"]] = dict(values)

    async def finish_check(self, check_id: str, *, recipients: int, summary: Mapping[str, int]) -> None:
        self._state.checks[check_id].update(recipients=recipients, summary=dict(summary))

    async def add_receipts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._state.receipts.extend(dict(r) for r in rows)

    async def count_receipts(self, contact_id: str) -> int:
        return sum(1 for r in self._state.receipts if r["contact_id"] == contact_id)

    async def get_check(self, check_id: str) -> dict[str, Any] | None:
        if check_id not in self._state.checks:
            return None
        decided: dict[str, int] = {}
        for r in self._state.receipts:
            if r["check_id"] == check_id:
                decided[r["decision"]] = decided.get(r["decision"], 0) + 1
        return {**self._state.checks[check_id], "stored": sum(decided.values()), "decided": decided}

    async def lock_check(self, check_id: str) -> tuple[int, int]:
        chunks = [row for (check, _), row in self._state.chunks.items() if check == check_id]
        return len(chunks), sum(row["count"] for row in chunks)

    async def decided_among(self, check_id: str, contact_ids: Sequence[str]) -> set[str]:
        wanted = set(contact_ids)
        return {r["contact_id"] for r in self._state.receipts if r["check_id"] == check_id} & wanted

    async def mark_stale(self, check_id: str, *, stale: bool) -> None:
        self._state.checks[check_id]["stale"] = stale

    async def receipts_page(self, check_id: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        found = sorted(
            (
                r
                for r in self._state.receipts
                if r["check_id"] == check_id and (after is None or r["contact_id"] > after)
            ),
            key=lambda r: r["contact_id"],
        )
        return [{k: r[k] for k in ("contact_id", "decision", "reasons", "evidence")} for r in found[:limit]]

    def stage_chunk(self, values: Mapping[str, Any]) -> None:
        self._state.chunks[(values["check_id"], values["chunk"])] = dict(values)

    async def flush_chunks(self) -> None:
        pass  # Staged chunks are in the unit of work's copy of the state, written back on commit.

    def _with_check(self, r: dict[str, Any]) -> dict[str, Any]:
        check = self._state.checks[r["check_id"]]
        return {
            **r,
            "campaign_id": check["campaign_id"],
            "campaign_version": check["campaign_version"],
            "ruleset_version": check["ruleset_version"],
            "checked_at": check["checked_at"],
        }

    async def get_receipt(self, check_id: str, contact_id: str) -> dict[str, Any] | None:
        for r in self._state.receipts:
            if (r["check_id"], r["contact_id"]) == (check_id, contact_id):
                return self._with_check(r)
        return None

    async def get_chunk(self, check_id: str, chunk: int) -> dict[str, Any] | None:
        return self._state.chunks.get((check_id, chunk))

    async def chunk_receipts(self, check_id: str, chunk: int) -> list[dict[str, Any]]:
        found = [r for r in self._state.receipts if r["check_id"] == check_id and r.get("chunk") == chunk]
        return sorted(found, key=lambda r: r["chunk_index"])

    async def chunks_of(self, check_id: str) -> list[dict[str, Any]]:
        return [row for (check, _), row in sorted(self._state.chunks.items()) if check == check_id]

    async def receipts_of(self, contact_id: str, *, limit: int) -> list[dict[str, Any]]:
        found = [self._with_check(r) for r in self._state.receipts if r["contact_id"] == contact_id]
        return sorted(found, key=lambda r: r["checked_at"], reverse=True)[:limit]


class FakeProjectionRepository(AbstractProjectionRepository):
    """Keeps what the events say, row by row; `recipients()` answers the facts the test arranged."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def put_contact(self, values: Mapping[str, Any]) -> None:
        stored = self._state.contacts.get(values["contact_id"])
        if stored is None or stored["version"] <= values["version"]:
            self._state.contacts[values["contact_id"]] = {**(stored or {}), **values}

    async def set_contact_status(
        self, contact_id: str, status: str, *, at: datetime, retention_rule: str | None = None
    ) -> None:
        if contact_id in self._state.contacts:
            self._state.contacts[contact_id].update(
                status=status, retention_rule=retention_rule, updated_at=at
            )

    async def erase_contact(self, contact_id: str, *, at: datetime) -> None:
        if contact_id in self._state.contacts:
            version = self._state.contacts[contact_id]["version"]
            self._state.contacts[contact_id] = {"status": "erased", "version": version, "updated_at": at}

    async def put_consent(self, values: Mapping[str, Any]) -> None:
        self._state.consents[values["consent_id"]] = dict(values)

    async def withdraw_consent(
        self,
        *,
        consent_id: str,
        contact_id: str,
        purpose_id: str,
        channel: str,
        granted_at: datetime | None,
        withdrawn_at: datetime,
        at: datetime,
    ) -> None:
        if consent_id in self._state.consents:
            self._state.consents[consent_id].update(
                status="withdrawn", withdrawn_at=withdrawn_at, updated_at=at
            )
        else:
            await self.put_consent(
                {
                    "consent_id": consent_id,
                    "contact_id": contact_id,
                    "purpose_id": purpose_id,
                    "channel": channel,
                    "status": "withdrawn",
                    "granted_at": granted_at,
                    "withdrawn_at": withdrawn_at,
                    "updated_at": at,
                }
            )

    async def erase_consent_data(
        self, contact_id: str, consent_ids: Iterable[str], delivery_ids: Iterable[str]
    ) -> None:
        consent_ids, delivery_ids = set(consent_ids), set(delivery_ids)
        self._state.consents = {
            k: v
            for k, v in self._state.consents.items()
            if v["contact_id"] != contact_id and k not in consent_ids
        }
        self._state.deliveries = {
            k: v
            for k, v in self._state.deliveries.items()
            if v["contact_id"] != contact_id and k not in delivery_ids
        }

    async def put_objection(
        self,
        *,
        objection_id: str,
        contact_id: str | None,
        scope: str,
        at: datetime,
        blind_indexes: Iterable[str],
        channel: str | None = None,
        purpose_id: str | None = None,
    ) -> None:
        self._state.objections[objection_id] = {
            "objection_id": objection_id,
            "contact_id": contact_id,
            "scope": scope,
            "channel": channel,
            "purpose_id": purpose_id,
            "at": at,
            "blind_indexes": sorted(set(blind_indexes)),
        }

    async def put_notice(
        self, *, notice_id: str, version: int, article: str, purpose_ids: Iterable[str]
    ) -> None:
        self._state.notices[(notice_id, version)] = {
            "article": article,
            "purpose_ids": sorted(set(purpose_ids)),
        }

    async def put_delivery(self, values: Mapping[str, Any]) -> None:
        self._state.deliveries[values["delivery_id"]] = dict(values)

    async def put_purpose(
        self,
        *,
        purpose_id: str,
        version: int,
        lawful_basis: str | None,
        name: str | None,
        retired: bool,
        art14_exemption_claimed: bool | None = None,
        entry: Mapping[str, Any] | None = None,
    ) -> None:
        row = self._state.purposes.setdefault(
            purpose_id,
            {
                "purpose_id": purpose_id,
                "lawful_basis": "unknown",
                "name": None,
                "art14_exemption_claimed": False,
            },
        )
        row.update(version=version, retired=retired)
        for key, value in (
            ("lawful_basis", lawful_basis),
            ("name", name),
            ("art14_exemption_claimed", art14_exemption_claimed),
            ("entry", dict(entry) if entry is not None else None),
        ):
            if value is not None:
                row[key] = value

    async def put_party(self, *, party_id: str, values: Mapping[str, Any]) -> None:
        row = self._state.parties.setdefault(
            party_id, {"party_id": party_id, "legal_name": party_id, "roles": [], "status": "active"}
        )
        row.update(values)

    async def put_processor(
        self,
        *,
        processor_id: str,
        legal_name: str | None,
        role: str | None,
        status: str,
        contract: Mapping[str, Any] | None,
    ) -> None:
        row = self._state.processors.setdefault(
            processor_id,
            {"processor_id": processor_id, "legal_name": processor_id, "role": None, "contract": None},
        )
        row["status"] = status
        for key, value in (("legal_name", legal_name), ("role", role), ("contract", contract)):
            if value is not None:
                row[key] = dict(value) if isinstance(value, Mapping) else value

    async def record_offset(
        self, *, topic: str, partition: int, offset: int, event_time: datetime | None
    ) -> None:
        key = (topic, partition)
        self._state.offsets[key] = max(self._state.offsets.get(key, 0), offset + 1)

    async def offsets(self) -> dict[tuple[str, int], int]:
        return dict(self._state.offsets)

    async def reset(self, topics: Iterable[str]) -> None:
        topics = set(topics)
        for name in (
            "contacts",
            "consents",
            "objections",
            "notices",
            "deliveries",
            "purposes",
            "parties",
            "processors",
            "offsets",
        ):
            getattr(self._state, name).clear()
        self._state.inbox = {(t, e) for t, e in self._state.inbox if t not in topics}

    async def purpose(self, purpose_id: str) -> Mapping[str, Any] | None:
        return self._state.purposes.get(purpose_id)

    async def parties(self, party_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        return {i: self._state.parties[i] for i in party_ids if i in self._state.parties}

    async def processor(self, processor_id: str) -> Mapping[str, Any] | None:
        row = self._state.processors.get(processor_id)
        if row is None:
            return None
        parties = [p for _, p in sorted(self._state.parties.items()) if p.get("processor_id") == processor_id]
        return {**row, "parties": parties}

    async def contacts_holding(self, blind_indexes: Iterable[str]) -> set[str]:
        wanted = set(blind_indexes)
        return {
            cid
            for cid, row in self._state.contacts.items()
            if {row.get("email_index"), row.get("phone_index")} & wanted
        }

    async def recipients(
        self, contact_ids: Sequence[str], *, purpose_id: str, channel: Channel, today: date
    ) -> dict[str, RecipientFacts]:
        return {
            cid: self._state.recipient_facts[cid] for cid in contact_ids if cid in self._state.recipient_facts
        }


class FakeUnitOfWork(AbstractGateUnitOfWork):
    """Works on a copy of the store's state; `commit` writes it back and publishes the pending events."""

    def __init__(self, store: FakeStore | None = None, *, clock: datetime = T0) -> None:
        self.store = store if store is not None else FakeStore()
        self.clock = lambda: clock
        self._staged = FakeState()
        self._loose: list[events.Event] = []

    async def __aenter__(self) -> FakeUnitOfWork:
        self._staged = copy.deepcopy(self.store.state)
        self._loose = []
        self.projection = FakeProjectionRepository(self._staged)
        self.campaigns = FakeCampaignRepository(self._staged)
        self.suppression = FakeSuppressionRepository(self._staged)
        self.checks = FakeCheckRepository(self._staged)
        await super().__aenter__()
        return self

    def publish(self, event: events.Event) -> None:
        self._loose.append(event)

    async def first_delivery(self, *, event_id: str, topic: str) -> bool:
        if (topic, event_id) in self._staged.inbox:
            return False
        self._staged.inbox.add((topic, event_id))
        return True

    async def commit(self, *, actor: str) -> None:
        for campaign in self.campaigns.seen:
            self.store.published.extend(campaign.events)
            campaign.events.clear()
        self.store.published.extend(self._loose)
        self._loose = []
        self.store.state = self._staged
        self.store.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        """Nothing to undo: the staged copy is dropped with the unit of work."""

"""Receipts as Merkle chunks: one event per chunk, each receipt provable into its chunk's root."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime

import orjson
import pytest
from campaign_gate import contracts
from campaign_gate.adapters import outgoing
from campaign_gate.domain import errors, events
from campaign_gate.domain.errors import NotFoundError
from campaign_gate.domain.facts import Channel
from campaign_gate.domain.model import Campaign
from campaign_gate.domain.receipts import (
    CHUNK_EVENT_TYPE,
    ChunkTree,
    chunk_receipt_bytes,
    chunk_root,
    receipt_bytes,
)
from campaign_gate.service_layer import commands, handlers
from campaign_gate_examples import recipient
from campaign_gate_fakes import T0, FakeStore, FakeUnitOfWork
from vigie_verify.merkle import leaf_hash, root_from_leaf_hashes, verify_inclusion
from vigie_verify.receipt import check_receipt, chunk_event_id

SPEC = commands.CampaignSpec(
    purpose_id="P-1",
    channel=Channel.EMAIL,
    sender_entity="Acme SAS",
    send_at=datetime(2026, 6, 2, 9, 0, tzinfo=UTC),
    message=commands.Message(subject="Soldes", body="…"),
    targeting=(),
)


def _checkable(store: FakeStore) -> tuple[Campaign, None]:
    """An approvable campaign on purpose P-1 and one known recipient, r-1 (as test_handlers arranges)."""
    store.state.purposes["P-1"] = {"purpose_id": "P-1", "lawful_basis": "consent", "retired": False}
    campaign = Campaign.draft(spec=SPEC.as_json(), by="marketer-1", at=T0)
    campaign.submit(findings=(), by="marketer-1", at=T0)
    campaign = dataclasses.replace(campaign, events=[])
    store.state.campaigns[campaign.id] = campaign
    store.state.recipient_facts["r-1"] = recipient(contact_id="r-1")
    return campaign, None


def _bytes(n: int) -> bytes:
    return receipt_bytes(
        check_id="k",
        campaign_id="c",
        campaign_version=1,
        ruleset_version="v",
        at="2026-06-01T09:00:00+00:00",
        contact_id=f"r-{n}",
        decision="allow",
        reasons=[{"rule": "R", "message": "é"}],
        evidence=["e"],
    )


def test_a_chunk_s_bytes_are_each_receipt_s_whole_sorted_encoding() -> None:
    """The spliced encoding equals encoding the whole receipt object with sorted keys."""
    shared = {
        "check_id": "k-1",
        "campaign_id": "c-\u00e9",
        "campaign_version": 7,
        "ruleset_version": "2026.12",
    }
    at = "2026-06-01T09:00:00.000001+00:00"
    receipts = [
        {
            "contact_id": f'r-{n}"',
            "decision": ("allow", "block", "needs_review")[n % 3],
            "reasons": [{"rule": f"R-{k}", "message": f"m\n{k} ✓"} for k in range(n % 4)],
            "evidence": [f"consent:{n}", "x"][: n % 3],
            "chunk": 0,
        }
        for n in range(50)
    ]
    got = chunk_receipt_bytes(**shared, at=at, receipts=receipts)
    for raw, r in zip(got, receipts, strict=True):
        whole = {**shared, "at": at, **{k: r[k] for k in ("contact_id", "decision", "reasons", "evidence")}}
        assert raw == orjson.dumps(whole, option=orjson.OPT_SORT_KEYS)
        assert json.loads(raw) == whole


def test_receipt_bytes_are_sorted_compact_utf8_json() -> None:
    raw = _bytes(1)
    assert raw.startswith(b'{"at":"2026-06-01T09:00:00+00:00","campaign_id":"c",')
    assert json.loads(raw)["reasons"] == [{"message": "é", "rule": "R"}]
    assert list(json.loads(raw)) == sorted(json.loads(raw))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 33])
def test_a_chunk_tree_proves_every_receipt_into_the_rfc9162_root(size: int) -> None:
    leaves = [_bytes(n) for n in range(size)]
    tree = ChunkTree(leaves)
    assert tree.root == chunk_root(leaves) == root_from_leaf_hashes([leaf_hash(x) for x in leaves])
    for index, leaf in enumerate(leaves):
        verify_inclusion(
            leaf_hash=leaf_hash(leaf), index=index, tree_size=size, proof=tree.proof(index), root=tree.root
        )


def test_the_chunk_event_type_is_the_verifiers() -> None:
    assert CHUNK_EVENT_TYPE == contracts.RECEIPT_CHUNK_COMMITTED


async def test_a_check_publishes_one_event_per_chunk_and_each_receipt_proves_into_its_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore()
    campaign, _ = _checkable(store)
    monkeypatch.setattr(handlers, "RECEIPT_CHUNK", 3)
    ids = ["r-1", *(f"x-{n}" for n in range(9))]
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    items = [
        i
        async for i in handlers.check_stream(command, ids, uow_factory=lambda: FakeUnitOfWork(store), batch=4)
    ]
    *receipts, result = items
    chunks = store.of_type(events.ReceiptChunkCommitted)
    # Batches of 4, 4, 2 cut into chunks of at most 3: 3+1, 3+1, 2.
    assert [(c.chunk, c.first_index, c.count) for c in chunks] == [
        (0, 0, 3),
        (1, 3, 1),
        (2, 4, 3),
        (3, 7, 1),
        (4, 8, 2),
    ]
    assert [(r["chunk"], r["chunk_index"]) for r in receipts][:5] == [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)]

    for chunk in chunks:
        _topic, envelope = outgoing.to_envelope(chunk, actor="a", correlation_id=None)
        assert envelope.subject == campaign.id and envelope.type == contracts.RECEIPT_CHUNK_COMMITTED
        row = store.state.chunks[(result.check_id, chunk.chunk)]
        assert envelope.id == row["event_id"] == chunk_event_id({**envelope.data, "chunk": chunk.chunk})
        assert row["root"].hex() == chunk.root

    for contact_id in ids:
        served = await handlers.receipt_with_proof(result.check_id, contact_id, FakeUnitOfWork(store))
        canonical = base64.b64decode(served["canonical"])
        assert json.loads(canonical)["decision"] == served["decision"]
        verify_inclusion(
            leaf_hash=leaf_hash(canonical),
            index=served["index"],
            tree_size=served["chunk"]["count"],
            proof=[bytes.fromhex(h) for h in served["inclusion_proof"]],
            root=bytes.fromhex(served["chunk"]["root"]),
        )

    listed = await handlers.chunks_of(result.check_id, FakeUnitOfWork(store))
    assert listed["receipts"] == len(ids) and [c["count"] for c in listed["chunks"]] == [3, 1, 3, 1, 2]
    assert [c["event_id"] for c in listed["chunks"]] == [
        store.state.chunks[(result.check_id, c.chunk)]["event_id"] for c in chunks
    ]
    with pytest.raises(NotFoundError):
        await handlers.chunks_of("no-such-check", FakeUnitOfWork(store))

    mine = await handlers.receipts_of("r-1", FakeUnitOfWork(store))
    assert [(r["check_id"], r["chunk"], r["chunk_index"]) for r in mine] == [(result.check_id, 0, 0)]


async def test_a_stored_receipt_changed_after_the_fact_no_longer_proves() -> None:
    store = FakeStore()
    campaign, _ = _checkable(store)
    store.state.recipient_facts["r-2"] = recipient(contact_id="r-2")
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    result, _ = await handlers.check_once(command, ["r-1", "r-2"], uow=FakeUnitOfWork(store))
    store.state.receipts[1]["decision"] = (
        "allow" if store.state.receipts[1]["decision"] != "allow" else "block"
    )
    with pytest.raises(errors.ReceiptIntegrityError):
        await handlers.receipt_with_proof(result.check_id, "r-1", FakeUnitOfWork(store))
    with pytest.raises(NotFoundError):
        await handlers.receipt_with_proof(result.check_id, "nobody", FakeUnitOfWork(store))
    store.state.receipts[0]["chunk"] = None
    with pytest.raises(NotFoundError, match="before receipts were committed in chunks"):
        await handlers.receipt_with_proof(result.check_id, "r-1", FakeUnitOfWork(store))


async def _stopped_after_first_batch(store: FakeStore, campaign: Campaign, ids: list[str]) -> str:
    """Starts a streamed check in batches of 4 and drops it once its first batch is stored (as a dropped
    connection or a restarted gate leaves it); returns its id."""
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    stream = handlers.check_stream(command, ids, uow_factory=lambda: FakeUnitOfWork(store), batch=4)
    first = [await anext(stream) for _ in range(4)]
    await stream.aclose()
    check_id = next(iter(store.state.checks))
    assert [r["contact_id"] for r in first] == ids[:4] and store.state.checks[check_id]["summary"] == {}
    return check_id


async def test_a_resumed_check_decides_only_the_recipients_left_and_its_chunks_continue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore()
    campaign, _ = _checkable(store)
    monkeypatch.setattr(handlers, "RECEIPT_CHUNK", 3)
    ids = ["r-1", *(f"x-{n}" for n in range(9))]
    check_id = await _stopped_after_first_batch(store, campaign, ids)

    resume = commands.ResumeCheck(check_id, "marketer-2", stale=False)
    *receipts, result = [
        i
        async for i in handlers.resume_check_stream(
            resume, [*ids, "x-0"], uow_factory=lambda: FakeUnitOfWork(store), batch=4
        )
    ]
    assert [r["contact_id"] for r in receipts] == ids[4:]
    assert isinstance(result, handlers.CheckResult) and result.check_id == check_id
    assert result.recipients == len(ids) and store.state.checks[check_id]["summary"] == result.summary
    assert sorted(r["contact_id"] for r in store.state.receipts) == sorted(ids)
    chunks = store.of_type(events.ReceiptChunkCommitted)
    # The first batch's 3+1, then the resumed 4 and 2: chunk numbers and first indexes go on.
    assert [(c.chunk, c.first_index, c.count) for c in chunks] == [
        (0, 0, 3),
        (1, 3, 1),
        (2, 4, 3),
        (3, 7, 1),
        (4, 8, 2),
    ]
    completed = store.of_type(events.CheckCompleted)
    assert [(c.check_id, c.recipients) for c in completed] == [(check_id, len(ids))]
    for contact_id in ids:
        check_receipt(await handlers.receipt_with_proof(check_id, contact_id, FakeUnitOfWork(store)))

    with pytest.raises(errors.CheckNotResumableError, match="finished"):
        await handlers.ensure_resumable(check_id, FakeUnitOfWork(store))
    with pytest.raises(NotFoundError):
        await handlers.ensure_resumable("no-such-check", FakeUnitOfWork(store))


async def test_a_check_resumed_on_a_stale_projection_blocks_the_rest_and_says_stale() -> None:
    store = FakeStore()
    campaign, _ = _checkable(store)
    ids = ["r-1", *(f"x-{n}" for n in range(5))]
    check_id = await _stopped_after_first_batch(store, campaign, ids)
    resume = commands.ResumeCheck(check_id, "marketer-1", stale=True, stale_reason="behind")
    *receipts, result = [
        i async for i in handlers.resume_check_stream(resume, ids, uow_factory=lambda: FakeUnitOfWork(store))
    ]
    assert [r["reasons"][0]["rule"] for r in receipts] == ["GATE_STALE", "GATE_STALE"]
    assert isinstance(result, handlers.CheckResult) and result.stale
    assert store.state.checks[check_id]["stale"] is True


async def test_a_check_whose_campaign_changed_since_it_began_is_not_resumable() -> None:
    store = FakeStore()
    campaign, _ = _checkable(store)
    check_id = await _stopped_after_first_batch(store, campaign, ["r-1", *(f"x-{n}" for n in range(5))])
    await handlers.change_campaign(
        commands.ChangeCampaign(
            campaign.id,
            commands.CampaignChanges(given=frozenset({"sender_entity"}), sender_entity="Other SAS"),
            "m-1",
        ),
        FakeUnitOfWork(store),
    )
    with pytest.raises(errors.CheckNotResumableError, match="changed since"):
        await handlers.ensure_resumable(check_id, FakeUnitOfWork(store))

"""audit-log's use cases on the fake log and unit of work: group commit, dedupe, erasure, checkpoints,
reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from audit_log import contracts
from audit_log.domain.errors import EntryNotFoundError, NoCheckpointError, ProofOutOfRangeError
from audit_log.domain.model import EntrySelection
from audit_log.service_layer import commands, handlers
from audit_log_fakes import T0, FakeUnitOfWork, LogState, envelope
from shared.events import EventEnvelope
from vigie_verify import merkle
from vigie_verify.errors import ProofError


def _integrate(*envelopes: EventEnvelope) -> commands.IntegrateEvents:
    return commands.IntegrateEvents(events=tuple(commands.ConsumedEvent(e, e.encode()) for e in envelopes))


async def test_a_batch_is_appended_in_order_at_gap_free_indices_in_one_commit() -> None:
    uow = FakeUnitOfWork()
    batch = [envelope(f"c-{n}") for n in range(5)]

    entries = await handlers.integrate_events(_integrate(*batch), uow)

    assert [(e.index, e.event_id) for e in entries] == [(n, batch[n].id) for n in range(5)]
    assert uow.commits == 1 and uow.log.committed_calls == 1
    assert all(e.integrated_at == T0 for e in entries)
    more = await handlers.integrate_events(_integrate(envelope("c-9")), uow)
    assert [e.index for e in more] == [5]


async def test_duplicates_in_the_log_or_in_the_batch_are_skipped() -> None:
    uow = FakeUnitOfWork()
    first = envelope("c-1")
    await handlers.integrate_events(_integrate(first), uow)
    second = envelope("c-2")

    entries = await handlers.integrate_events(_integrate(first, second, second), uow)

    assert [(e.index, e.event_id) for e in entries] == [(1, second.id)]
    assert len(uow.state.entries) == 2


async def test_an_erasure_shreds_its_subjects_earlier_entries_and_stays_readable_itself() -> None:
    uow = FakeUnitOfWork()
    before, other = envelope("c-1"), envelope("c-2")
    erasure = envelope("c-1", type_=contracts.CONTACT_ERASED, actor="crm/dpo")
    after = envelope("c-1")

    await handlers.integrate_events(_integrate(before, other, erasure, after), uow)

    page = await handlers.list_entries(commands.ListEntries(EntrySelection(subject="c-1"), limit=10), uow)
    assert [(e.event_id, e.event is None) for e in page.items] == [
        (before.id, True),
        (erasure.id, False),
        (after.id, False),
    ]
    (kept,) = (
        await handlers.list_entries(commands.ListEntries(EntrySelection(subject="c-2"), limit=10), uow)
    ).items
    assert kept.event is not None and kept.event["id"] == other.id


async def test_a_failing_batch_commits_nothing() -> None:
    state = LogState()
    uow = FakeUnitOfWork(state)

    class Boom(Exception):
        pass

    def exploding(_envelope: EventEnvelope) -> bool:
        raise Boom

    with pytest.raises(Boom):
        async with uow:
            await uow.log.append([(envelope("c-1"), b"{}")], shred_after=exploding, at=T0)
            await uow.commit()

    assert state.entries == [] and uow.commits == 0


async def test_a_checkpoint_is_signed_only_when_the_tree_grew_and_its_root_is_the_trees() -> None:
    uow = FakeUnitOfWork()
    assert await handlers.sign_checkpoint(commands.SignCheckpoint(), uow) is None

    await handlers.integrate_events(_integrate(*(envelope(f"c-{n}") for n in range(3))), uow)
    signed = await handlers.sign_checkpoint(commands.SignCheckpoint(), uow)

    assert signed is not None and signed.tree_size == 3
    leaves = [merkle.leaf_hash(canonical) for _, canonical, _ in uow.state.entries]
    assert signed.root_hash == merkle.root_from_leaf_hashes(leaves)
    assert await handlers.sign_checkpoint(commands.SignCheckpoint(), uow) is None
    assert (await handlers.latest_checkpoint_or_raise(uow)) == signed
    status = await handlers.log_status(uow)
    assert (status.size, status.last_signed_at) == (3, T0)


async def test_no_checkpoint_extends_a_tree_whose_history_was_rewritten() -> None:
    uow = FakeUnitOfWork()
    await handlers.integrate_events(_integrate(*(envelope(f"c-{n}") for n in range(4))), uow)
    await handlers.sign_checkpoint(commands.SignCheckpoint(), uow)
    uow.state.nodes[(2, 0)] = b"\x42" * 32
    await handlers.integrate_events(_integrate(*(envelope(f"c-{n}") for n in range(4, 8))), uow)

    with pytest.raises(ProofError):
        await handlers.sign_checkpoint(commands.SignCheckpoint(), uow)

    assert [c.tree_size for c in uow.state.checkpoints] == [4]


async def test_proofs_verify_against_the_signed_root_and_are_refused_beyond_the_log() -> None:
    uow = FakeUnitOfWork()
    await handlers.integrate_events(_integrate(*(envelope(f"c-{n}") for n in range(3))), uow)
    first = await handlers.sign_checkpoint(commands.SignCheckpoint(), uow)
    await handlers.integrate_events(_integrate(*(envelope(f"c-{n}") for n in range(3, 7))), uow)
    second = await handlers.sign_checkpoint(commands.SignCheckpoint(), uow)
    assert first is not None and second is not None

    proof = await handlers.prove_inclusion(commands.ProveInclusion(index=5, tree_size=7), uow)
    merkle.verify_inclusion(
        leaf_hash=proof.leaf_hash, index=5, tree_size=7, proof=proof.audit_path, root=second.root_hash
    )
    consistency = await handlers.prove_consistency(commands.ProveConsistency(first=3, second=7), uow)
    merkle.verify_consistency(
        first=3,
        second=7,
        first_root=first.root_hash,
        second_root=second.root_hash,
        proof=consistency.consistency_path,
    )
    for query, field in [
        (commands.ProveInclusion(index=3, tree_size=3), "index"),
        (commands.ProveInclusion(index=0, tree_size=8), "tree_size"),
    ]:
        with pytest.raises(ProofOutOfRangeError, match=field):
            await handlers.prove_inclusion(query, uow)
    for query, field in [
        (commands.ProveConsistency(first=4, second=3), "first"),
        (commands.ProveConsistency(first=3, second=8), "second"),
    ]:
        with pytest.raises(ProofOutOfRangeError, match=field):
            await handlers.prove_consistency(query, uow)


async def test_reads_select_by_subject_type_actor_and_time_and_page_with_a_cursor() -> None:
    uow = FakeUnitOfWork()
    await handlers.integrate_events(
        _integrate(
            envelope("c-1", at=T0),
            envelope("c-2", actor="crm/bob", at=T0 + timedelta(minutes=10)),
            envelope("c-1", type_="vigie.campaigns.contact_forgotten.v1", at=T0 + timedelta(minutes=20)),
            envelope("c-3", at=T0 + timedelta(minutes=30)),
        ),
        uow,
    )

    async def indices(selection: EntrySelection, **paging: int) -> list[int]:
        page = await handlers.list_entries(
            commands.ListEntries(selection, limit=paging.get("limit", 10), cursor=paging.get("cursor")), uow
        )
        return [e.index for e in page.items]

    assert await indices(EntrySelection(subject="c-1")) == [0, 2]
    assert await indices(EntrySelection(actor="crm/bob")) == [1]
    assert await indices(EntrySelection(event_type="vigie.campaigns.contact_forgotten.v1")) == [2]
    assert await indices(
        EntrySelection(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30))
    ) == [1, 2]
    page = await handlers.list_entries(commands.ListEntries(EntrySelection(), limit=3), uow)
    assert page.next_cursor == 3
    assert await indices(EntrySelection(), cursor=3) == [3]
    exported = [e async for e in handlers.export_entries(EntrySelection(subject="c-1"), uow)]
    assert [e.index for e in exported] == [0, 2] and all(e.event is None for e in exported)
    assert (await handlers.get_entry_or_raise(1, uow)).actor == "crm/bob"
    with pytest.raises(EntryNotFoundError):
        await handlers.get_entry_or_raise(4, uow)
    with pytest.raises(NoCheckpointError):
        await handlers.latest_checkpoint_or_raise(uow)
    report = await handlers.verify_log(uow)
    assert report.problems == [] and report.tree_size == 4

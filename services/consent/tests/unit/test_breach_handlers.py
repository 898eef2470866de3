"""The breach register's use cases against in-memory fakes: one commit per step, events published, the
watch raising `breach_overdue` once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from consent.adapters import outgoing
from consent.domain import errors, events, model
from consent.service_layer import commands, handlers
from consent_fakes import T0, FakeStore, FakeUnitOfWork
from shared.testing.harness import ManualClock

H = timedelta(hours=1)
DPO = model.Party(name="Jeanne Martin", contact="dpo@acme.example")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def _uow(store: FakeStore, clock: ManualClock) -> FakeUnitOfWork:
    return FakeUnitOfWork(store, clock=clock)


async def _record(store: FakeStore, clock: ManualClock, **facts: object) -> str:
    breach = await handlers.record_breach(
        commands.RecordBreach(
            actor="dpo/jeanne",
            aware_at=T0,
            nature=("confidentiality",),
            description="Export left on a public link.",
            facts={"dpo": DPO, **facts},
        ),
        _uow(store, clock),
    )
    return breach.breach_id


async def test_each_step_commits_once_and_publishes_its_event(store: FakeStore, clock: ManualClock) -> None:
    breach_id = await _record(store, clock, approx_subjects=10)
    clock.now = T0 + 2 * H
    await handlers.assess_breach(
        commands.AssessBreach(actor="dpo/jeanne", breach_id=breach_id, risk="high", justification="IBANs"),
        _uow(store, clock),
    )
    await handlers.update_breach(
        commands.UpdateBreach(actor="dpo/jeanne", breach_id=breach_id, changes={"approx_records": 12}),
        _uow(store, clock),
    )
    await handlers.notify_breach(
        commands.NotifyBreach(
            actor="dpo/jeanne", breach_id=breach_id, notified_at=T0 + 2 * H, reference="CNIL-1", phased=True
        ),
        _uow(store, clock),
    )
    await handlers.communicate_breach(
        commands.CommunicateBreach(
            actor="dpo/jeanne",
            breach_id=breach_id,
            communicated_at=T0 + 2 * H,
            means="email",
            subjects_informed=10,
        ),
        _uow(store, clock),
    )
    assert store.commits == 5
    kinds = [type(e) for e in store.published]
    assert kinds == [
        events.BreachRecorded,
        events.BreachAssessed,
        events.BreachUpdated,
        events.BreachNotified,
        events.BreachCommunicated,
    ]
    # Every breach event is keyed by the breach id (no person is its subject).
    for event in store.published:
        topic, envelope = outgoing.to_envelope(event, actor="dpo/jeanne", correlation_id=None)
        assert topic == "consent.events" and envelope.subject == breach_id
        assert envelope.type.startswith("vigie.consent.breach_")


async def test_a_refused_step_leaves_the_register_unchanged(store: FakeStore, clock: ManualClock) -> None:
    breach_id = await _record(store, clock)
    clock.now = T0 + 80 * H
    with pytest.raises(errors.BreachRuleError):
        await handlers.notify_breach(
            commands.NotifyBreach(
                actor="dpo", breach_id=breach_id, notified_at=T0 + 80 * H, reference="CNIL-2"
            ),
            _uow(store, clock),
        )
    assert store.commits == 1 and store.tables.breaches[breach_id].notification is None


async def test_an_unknown_breach_or_source_party_is_not_found(store: FakeStore, clock: ManualClock) -> None:
    with pytest.raises(errors.NotFoundError):
        await handlers.get_breach_or_raise("nope", _uow(store, clock))
    with pytest.raises(errors.NotFoundError):
        await _record(store, clock, source_party_id="no-such-party")


async def test_the_watch_raises_overdue_once_and_lists_only_overdue_breaches(
    store: FakeStore, clock: ManualClock
) -> None:
    late = await _record(store, clock)
    clock.now = T0 + 10 * H
    await _record(store, clock)  # aware at T0 too, but notified in time below.
    notified = list(store.tables.breaches)[-1]
    await handlers.notify_breach(
        commands.NotifyBreach(
            actor="dpo",
            breach_id=notified,
            notified_at=T0 + 10 * H,
            reference="CNIL-3",
            phased=True,
        ),
        _uow(store, clock),
    )
    clock.now = T0 + 73 * H
    first = await handlers.watch_breaches(
        commands.WatchBreaches(actor="consent/breach-watch"), _uow(store, clock)
    )
    assert first.overdue == [late] and first.newly_overdue == [late]
    clock.now = T0 + 90 * H
    second = await handlers.watch_breaches(
        commands.WatchBreaches(actor="consent/breach-watch"), _uow(store, clock)
    )
    assert second.overdue == [late] and second.newly_overdue == []
    assert len(store.events_of(events.BreachOverdue)) == 1
    page, at = await handlers.list_breaches(_uow(store, clock), overdue=True)
    assert [b.breach_id for b in page] == [late] and at == T0 + 90 * H
    everything, _ = await handlers.list_breaches(_uow(store, clock))
    assert len(everything) == 2

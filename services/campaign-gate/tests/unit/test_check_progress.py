"""A long check's progress and its receipts as a file (issue 14, operator expectations): while a streamed
check runs, `check_status` says `running` with the recipients decided so far; once it finishes, `finished`
with its totals; `check_receipts` pages through the stored receipts by contact id."""

from __future__ import annotations

import pytest
from campaign_gate.domain.errors import NotFoundError
from campaign_gate.domain.model import Campaign
from campaign_gate.service_layer import commands, handlers
from campaign_gate_examples import recipient
from campaign_gate_fakes import T0, FakeStore, FakeUnitOfWork

SPEC = {
    "purpose_id": "P-1",
    "channel": "email",
    "sender_entity": "Acme SAS",
    "send_at": T0.isoformat(),
    "message": {"subject": "Soldes", "body": "…"},
}


def _campaign(store: FakeStore) -> Campaign:
    store.state.purposes["P-1"] = {"purpose_id": "P-1", "lawful_basis": "consent", "retired": False}
    store.state.recipient_facts["r-1"] = recipient(contact_id="r-1")
    campaign = Campaign.draft(spec=SPEC, by="marketer-1", at=T0)
    store.state.campaigns[campaign.id] = campaign
    return campaign


async def test_a_running_check_shows_its_progress_then_its_totals_and_its_receipts_download() -> None:
    store = FakeStore()
    campaign = _campaign(store)
    command = commands.CheckCampaign(campaign.id, "marketer-1", stale=False)
    ids = ["x-5", "r-1", "x-2", "x-9", "x-3"]
    stream = handlers.check_stream(command, ids, uow_factory=lambda: FakeUnitOfWork(store), batch=2)
    first = [await anext(stream), await anext(stream)]
    check_id = next(iter(store.state.checks))

    running = await handlers.check_status(check_id, FakeUnitOfWork(store))
    assert (running["state"], running["recipients"]) == ("running", 2)
    assert running["summary"] == {"allow": 0, "needs_review": 0, "block": 2}
    assert running["campaign_id"] == campaign.id

    rest = [item async for item in stream]
    *receipts, result = first + rest
    assert isinstance(result, handlers.CheckResult)
    done = await handlers.check_status(check_id, FakeUnitOfWork(store))
    assert (done["state"], done["recipients"], done["summary"]) == ("finished", 5, result.summary)

    pages = [
        page
        async for page in handlers.check_receipts(check_id, uow_factory=lambda: FakeUnitOfWork(store), page=2)
    ]
    assert [len(p) for p in pages] == [2, 2, 1]
    downloaded = [r for page in pages for r in page]
    assert [r["contact_id"] for r in downloaded] == sorted(ids)
    by_id = {r["contact_id"]: r for r in receipts}
    for r in downloaded:
        assert r == {k: by_id[r["contact_id"]][k] for k in ("contact_id", "decision", "reasons", "evidence")}


async def test_an_unknown_check_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        await handlers.check_status("no-such-check", FakeUnitOfWork(FakeStore()))

"""The campaign aggregate: lifecycle, approval guard and four eyes, without any framework."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_gate.domain import events
from campaign_gate.domain.errors import ApprovalRefusedError, FourEyesError, InvalidTransitionError
from campaign_gate.domain.model import Campaign, Status
from campaign_gate.domain.review import SignOff
from campaign_gate.domain.rules import Finding, Outcome

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SPEC = {"purpose_id": "p", "channel": "email", "sender_entity": "Acme", "send_at": AT.isoformat()}


def _submitted(*findings: Finding) -> Campaign:
    campaign = Campaign.draft(spec=SPEC, by="alice", at=AT)
    campaign.submit(findings=findings, by="alice", at=AT)
    return campaign


def test_a_clean_submitted_campaign_is_approved_by_another_reviewer() -> None:
    campaign = _submitted()
    campaign.approve(reviewer="bob", at=AT)
    assert campaign.status is Status.APPROVED and campaign.review["reviewer"] == "bob"


def test_a_reviewer_cannot_approve_a_campaign_they_created_or_last_changed() -> None:
    with pytest.raises(FourEyesError):
        _submitted().approve(reviewer="alice", at=AT)
    campaign = Campaign.draft(spec=SPEC, by="alice", at=AT)
    campaign.change(changes={"sender_entity": "Acme SAS"}, by="bob", at=AT)
    campaign.submit(findings=(), by="bob", at=AT)
    with pytest.raises(FourEyesError):
        campaign.approve(reviewer="bob", at=AT)


DPIA_SIGN_OFF = SignOff(
    "DISC-12",
    "dpia_carried_out_covers_campaign",
    "The DPIA of March 2026 covers loyalty-data profiling for this newsletter.",
    "DPIA-2026-14",
)


def test_a_block_finding_prevents_approval_even_with_a_sign_off() -> None:
    campaign = _submitted(Finding("PROC-04", Outcome.BLOCK, "Purpose not registered."))
    with pytest.raises(ApprovalRefusedError, match="PROC-04"):
        campaign.approve(reviewer="bob", sign_offs=(DPIA_SIGN_OFF,), at=AT)


def test_a_needs_review_finding_needs_a_structured_sign_off() -> None:
    campaign = _submitted(Finding("DISC-12", Outcome.NEEDS_REVIEW, "Large-scale profiling."))
    with pytest.raises(ApprovalRefusedError, match="DISC-12") as refused:
        campaign.approve(reviewer="bob", at=AT)
    assert refused.value.problem_extra["errors"][0]["field"] == "sign_offs[DISC-12]"
    campaign.approve(reviewer="bob", sign_offs=(DPIA_SIGN_OFF,), at=AT)
    [stored] = campaign.review["sign_offs"]
    assert (stored["rule"], stored["basis"], stored["reference"]) == (
        "DISC-12",
        "dpia_carried_out_covers_campaign",
        "DPIA-2026-14",
    )


def test_the_approval_event_publishes_the_sign_offs() -> None:
    campaign = _submitted(Finding("DISC-12", Outcome.NEEDS_REVIEW, "Large-scale profiling.", ("dpia:x",)))
    campaign.approve(reviewer="bob", sign_offs=(DPIA_SIGN_OFF,), at=AT)
    [approved] = [e for e in campaign.events if isinstance(e, events.CampaignApproved)]
    assert approved.sign_offs == ({**DPIA_SIGN_OFF.as_dict(), "evidence": ["dpia:x"]},)
    assert approved.reviewer == "bob"


def test_any_change_after_approval_sends_the_campaign_back_to_draft_without_findings() -> None:
    campaign = _submitted(Finding("DISC-12", Outcome.NEEDS_REVIEW, "Large-scale profiling."))
    campaign.approve(reviewer="bob", sign_offs=(DPIA_SIGN_OFF,), at=AT)
    campaign.change(changes={"sender_entity": "Acme SAS"}, by="alice", at=AT)
    assert (campaign.status, campaign.version) == (Status.DRAFT, 2)
    assert (campaign.findings, campaign.review) == ((), None)


def test_an_unchanged_patch_keeps_the_approval() -> None:
    campaign = _submitted()
    campaign.approve(reviewer="bob", at=AT)
    campaign.change(changes={"sender_entity": "Acme"}, by="alice", at=AT)
    assert campaign.status is Status.APPROVED and campaign.version == 1


def test_only_a_submitted_campaign_can_be_approved_or_rejected() -> None:
    draft = Campaign.draft(spec=SPEC, by="alice", at=AT)
    with pytest.raises(InvalidTransitionError):
        draft.approve(reviewer="bob", at=AT)
    with pytest.raises(InvalidTransitionError):
        draft.reject(reviewer="bob", reason=None, at=AT)

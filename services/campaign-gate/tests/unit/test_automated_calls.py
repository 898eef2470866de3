"""Automated calls are held to the calling hours (TEL-03, D223-9) and the masked-number ban (TEL-07,
L221-17) like human calls (issue 13, defect 4): both texts cover any telephone solicitation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_gate.domain import rules
from campaign_gate.domain.decision import decide_recipient
from campaign_gate.domain.facts import Channel, ConsentRecord, Decision
from campaign_gate.domain.review import review_campaign
from campaign_gate.domain.rules import Outcome
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign, consent, recipient

A, P = Channel.AUTOMATED_CALL, Channel.PHONE_HUMAN
SATURDAY = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
EVENING = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)  # 21:30 in Paris.
LUNCH = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 13:30 in Paris.


def out_of_hours_consent(channel: Channel) -> ConsentRecord:
    return consent(channel, out_of_hours_calls=True)


@pytest.mark.parametrize("channel", [A, P])
@pytest.mark.parametrize("send_at", [SATURDAY, EVENING, LUNCH], ids=["saturday", "21h30", "13h30"])
def test_a_call_outside_the_d223_9_slots_blocks_under_tel_03(channel: Channel, send_at: datetime) -> None:
    result = decide_recipient(campaign(channel, send_at=send_at), recipient(), at=at_for(send_at))
    assert result.decision is Decision.BLOCK
    assert "TEL-03" in [r.rule for r in result.reasons]


def test_an_automated_call_inside_the_slots_is_allowed() -> None:
    result = decide_recipient(campaign(A), recipient(), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.ALLOW, result.reasons


def test_an_automated_call_in_the_consumer_time_zone_slots_follows_that_zone() -> None:
    # 10:30 in Paris is 05:30 in Martinique: outside the consumer's slots.
    result = decide_recipient(campaign(A), recipient(timezone="America/Martinique"), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK and "TEL-03" in [r.rule for r in result.reasons]


def test_the_tel_03_and_tel_07_rows_cover_automated_calls() -> None:
    for rule_id in ("TEL-03", "TEL-07"):
        rows = [r for r in rules.RULES if r.id == rule_id]
        assert any(r.applies(A, SEND_BLOCTEL.date()) for r in rows), rule_id
        assert any(r.applies(P, SEND_BLOCTEL.date()) for r in rows), rule_id


@pytest.mark.parametrize("channel", [A, P])
def test_a_masked_caller_number_blocks_under_tel_07(channel: Channel) -> None:
    c = campaign(channel, caller_number_masked=True)
    found = [(f.rule_id, f.outcome) for f in review_campaign(c, at=at_for(SEND_BLOCTEL))]
    assert ("TEL-07", Outcome.BLOCK) in found
    # Campaign blocks stop every send, even on an approved campaign.
    result = decide_recipient(c, recipient(), at=at_for(SEND_BLOCTEL))
    assert result.decision is Decision.BLOCK and "TEL-07" in [r.rule for r in result.reasons]


def test_express_consent_to_calls_outside_the_slots_lifts_tel_03_for_automated_calls_too() -> None:
    r = recipient(consents=tuple(out_of_hours_consent(ch) if ch is A else consent(ch) for ch in Channel))
    result = decide_recipient(campaign(A, send_at=SATURDAY), r, at=at_for(SATURDAY))
    assert "TEL-03" not in [x.rule for x in result.reasons], result.reasons

"""Section R of the rule table (issue 19, rights): RIGHTS-01 (restriction of processing, Art. 18), RIGHTS-02
(no route to contest an automated decision, Art. 22(3)), and the scope of an objection read by UNI-01 (all
direct marketing, one channel, one purpose), each through the scalar oracle and the served columnar path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_gate.adapters.projection import contact_row, objection_applies, objection_scope
from campaign_gate.domain import bulk, rules
from campaign_gate.domain.decision import decide_recipient, decide_recipients
from campaign_gate.domain.facts import Channel, Decision, Objection
from campaign_gate.domain.review import review_campaign
from campaign_gate.service_layer.handlers import receipt
from campaign_gate_examples import PURPOSE, SEND_BLOCTEL, at_for, campaign, recipient

T = datetime(2026, 2, 1, tzinfo=UTC)
AT = at_for(SEND_BLOCTEL)


def _both(c, people):  # noqa: ANN001, ANN202 - test helper
    oracle = [receipt(d) for d in decide_recipients(c, people, at=AT)]
    served = bulk.decide_receipts(c, people, at=AT).receipts()
    assert served == oracle
    return served


def test_a_restricted_recipient_is_blocked_on_every_channel_citing_the_restriction_request() -> None:
    for channel in Channel:
        restricted = recipient(contact_id="r", restricted=True, restriction_request_id="req-7")
        free = recipient(contact_id="f")
        [blocked, other] = _both(campaign(channel), [restricted, free])
        assert blocked["decision"] == "block", channel
        assert {"rule": "RIGHTS-01", "message": rules.RESTRICTED_MESSAGE} in blocked["reasons"]
        assert "restriction:req-7" in blocked["evidence"]
        assert "RIGHTS-01" not in [r["rule"] for r in other["reasons"]]


def test_a_lifted_restriction_no_longer_blocks() -> None:
    result = decide_recipient(campaign(), recipient(restricted=False, restriction_request_id=None), at=AT)
    assert result.decision is Decision.ALLOW
    assert "RIGHTS-01" not in [r.rule for r in result.reasons]


@pytest.mark.parametrize(
    ("objection", "channel", "blocked"),
    [
        (Objection("o", T), Channel.EMAIL, True),  # All direct marketing.
        (Objection("o", T), Channel.POSTAL_ADDRESSED, True),
        (Objection("o", T, Channel.SMS_MMS), Channel.SMS_MMS, True),  # One channel, every purpose.
        (Objection("o", T, Channel.SMS_MMS), Channel.EMAIL, False),
        (Objection("o", T, purpose_id=PURPOSE), Channel.EMAIL, True),  # One purpose, every channel.
        (Objection("o", T, purpose_id=PURPOSE), Channel.SMS_MMS, True),
        (Objection("o", T, purpose_id="P-newsletter"), Channel.EMAIL, False),
    ],
)
def test_uni_01_honours_the_scope_of_the_objection(
    objection: Objection, channel: Channel, blocked: bool
) -> None:
    [served] = _both(campaign(channel), [recipient(objections=(objection,))])
    assert ("UNI-01" in [r["rule"] for r in served["reasons"]]) is blocked
    assert ("objection:o" in served["evidence"]) is blocked


def test_rights_02_blocks_an_automated_significant_decision_without_a_contest_route() -> None:
    without = review_campaign(campaign(automated_significant_decision=True), at=AT)
    assert [f.outcome for f in without if f.rule_id == "RIGHTS-02"] == [rules.Outcome.BLOCK]
    assert "DISC-07" in [f.rule_id for f in without]  # The Art. 22(2) basis is still DISC-07's to review.
    offered = review_campaign(
        campaign(automated_significant_decision=True, contest_route="https://acme.example/contest"), at=AT
    )
    assert "RIGHTS-02" not in [f.rule_id for f in offered]
    blank = review_campaign(campaign(automated_significant_decision=True, contest_route="  "), at=AT)
    assert "RIGHTS-02" in [f.rule_id for f in blank]
    assert "RIGHTS-02" not in [f.rule_id for f in review_campaign(campaign(), at=AT)]


def test_rights_02_blocks_every_recipient_at_check_time() -> None:
    [served] = _both(campaign(automated_significant_decision=True, approved=True), [recipient()])
    assert served["decision"] == "block" and served["reasons"][0]["rule"] == "RIGHTS-02"


@pytest.mark.parametrize(
    ("event", "stored"),
    [
        (("all_direct_marketing", None, None), ("all_direct_marketing", None, None)),
        (("email", None, None), ("channel", "email", None)),  # Consent's events before explicit scopes.
        (("channel", "sms_mms", None), ("channel", "sms_mms", None)),
        (("purpose", None, "p-1"), ("purpose", None, "p-1")),
        # Unreadable: kept as an objection to all direct marketing, never dropped nor narrowed.
        (("channel", None, None), ("all_direct_marketing", None, None)),
        (("purpose", None, ""), ("all_direct_marketing", None, None)),
        (("pigeons", None, None), ("all_direct_marketing", None, None)),
        ((None, None, None), ("all_direct_marketing", None, None)),
    ],
)
def test_the_projection_reads_an_objection_s_scope_and_keeps_older_ones_meaning(
    event: tuple, stored: tuple
) -> None:
    assert objection_scope(*event) == stored


def test_a_stored_objection_applies_by_its_scope() -> None:
    assert objection_applies("email", None, None, to_channel=Channel.EMAIL, to_purpose="p")
    assert not objection_applies("channel", "email", None, to_channel=Channel.FAX, to_purpose="p")
    assert objection_applies("purpose", None, "p", to_channel=Channel.FAX, to_purpose="p")
    assert not objection_applies("purpose", None, "p", to_channel=Channel.FAX, to_purpose="q")


def _facts(**extra: object) -> dict[str, object]:
    return {
        "kind": "consumer",
        "relationship": "prospect",
        "status": "active",
        "obtained_at": "2026-01-01T00:00:00+00:00",
        "version": 3,
        **extra,
    }


def test_the_projection_stores_a_restriction_and_its_lifting_from_the_contact_s_facts() -> None:
    restricted = contact_row(
        "c1", _facts(restriction={"request_id": "req-1", "grounds": "legal_claims", "since": "x"}), at=T
    )
    assert (restricted["restricted"], restricted["restriction_request_id"]) == (True, "req-1")
    lifted = contact_row("c1", _facts(restriction=None), at=T)
    older = contact_row("c1", _facts(), at=T)  # A producer from before restrictions: none was possible.
    assert lifted["restricted"] is older["restricted"] is False
    with pytest.raises(ValueError, match="restriction"):
        contact_row("c1", _facts(restriction="yes"), at=T)

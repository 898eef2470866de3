"""A generic company address (contact@, info@) is nobody's personal data: the Art. 13 and 14 GDPR
information rules (INFO-01/02/03, UNI-06, POST-02) do not block it (issue 13, defect 7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_gate.domain.decision import decide_recipient
from campaign_gate.domain.facts import Channel, ContactKind, Decision
from campaign_gate_examples import SEND_BLOCTEL, at_for, campaign, recipient

GENERIC, CONSUMER = ContactKind.LEGAL_PERSON_GENERIC, ContactKind.CONSUMER
PRO = ContactKind.PROFESSIONAL_NAMED
LONG_AGO = datetime(2025, 6, 1, tzinfo=UTC)


def rules_of(
    kind: ContactKind, channel: Channel = Channel.EMAIL, **facts: object
) -> tuple[Decision, list[str]]:
    result = decide_recipient(campaign(channel), recipient(kind=kind, **facts), at=at_for(SEND_BLOCTEL))
    return result.decision, [r.rule for r in result.reasons]


def test_a_generic_address_collected_without_an_art13_notice_is_allowed_by_email() -> None:
    decision, cited = rules_of(GENERIC, art13_notice_given_at=None, consents=())
    assert decision is Decision.ALLOW and "INFO-01" not in cited and "ELEC-09" in cited


@pytest.mark.parametrize("kind", [CONSUMER, PRO])
def test_a_natural_person_collected_without_an_art13_notice_stays_blocked(kind: ContactKind) -> None:
    decision, cited = rules_of(kind, art13_notice_given_at=None)
    assert decision is Decision.BLOCK and "INFO-01" in cited


INDIRECT = {
    "collected_from_person": False,
    "source": "directory",
    "obtained_at": LONG_AGO,
    "art13_notice_given_at": None,
    "consents": (),
}


def test_a_generic_address_from_a_directory_needs_no_art14_notice() -> None:
    decision, cited = rules_of(GENERIC, **INDIRECT)
    assert not {"UNI-06", "INFO-02", "INFO-03"} & set(cited)
    assert decision is Decision.ALLOW, cited


def test_a_generic_address_with_an_art14_exemption_claimed_needs_no_review() -> None:
    _decision, cited = rules_of(GENERIC, art14_exemption_claimed=True, **INDIRECT)
    assert "INFO-03" not in cited


@pytest.mark.parametrize(
    ("channel", "rule"), [(Channel.EMAIL, "UNI-06"), (Channel.POSTAL_ADDRESSED, "POST-02")]
)
def test_a_generic_address_is_not_blocked_for_want_of_art14_information(channel: Channel, rule: str) -> None:
    _decision, cited = rules_of(GENERIC, channel, **INDIRECT)
    assert rule not in cited and "INFO-02" not in cited


@pytest.mark.parametrize(
    ("channel", "rules"),
    [(Channel.EMAIL, {"UNI-06", "INFO-02"}), (Channel.POSTAL_ADDRESSED, {"POST-02", "INFO-02"})],
)
def test_a_named_professional_from_a_directory_still_needs_the_art14_notice(
    channel: Channel, rules: set[str]
) -> None:
    decision, cited = rules_of(PRO, channel, **INDIRECT)
    assert decision is Decision.BLOCK and rules <= set(cited)

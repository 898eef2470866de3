"""The breach register's rules, one test (or more) per row of `breaches.RULES`, and the 72-hour clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from consent.domain import breaches, errors, events
from consent.domain.breaches import Breach, ClockState, RiskLevel, Stage
from consent.domain.model import Party

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
H = timedelta(hours=1)
DPO = Party(name="Jeanne Martin", contact="dpo@acme.example")

COMPLETE: dict[str, Any] = {
    "data_categories": ("identity", "contact"),
    "subject_categories": ("prospects",),
    "approx_subjects": 1200,
    "approx_records": 1500,
    "likely_consequences": "Phishing against the prospects whose e-mail addresses leaked.",
    "measures_taken": "Export link revoked; router credentials rotated.",
    "dpo": DPO,
}


def _breach(at: datetime = T0, **overrides: Any) -> Breach:
    fields: dict[str, Any] = {
        "at": at,
        "aware_at": T0,
        "nature": ("confidentiality",),
        "description": "A prospect export was left on a public link of the e-mail router.",
        **COMPLETE,
    }
    fields.update(overrides)
    return Breach.record(**fields)


def _rules_of(exc: pytest.ExceptionInfo[errors.RuleProblemsError]) -> set[tuple[str, str]]:
    return {(p.rule, p.field) for p in exc.value.problems}


# --- The table itself.


def test_every_rule_has_a_unique_id_a_source_and_an_effective_date() -> None:
    ids = [r.id for r in breaches.RULES]
    assert len(ids) == len(set(ids)) == 10
    assert all(r.id.startswith("BRE-") and r.source and r.title for r in breaches.RULES)
    assert all(r.effective_from == date(2018, 5, 25) for r in breaches.RULES)


def test_a_rule_does_not_apply_before_its_effective_date() -> None:
    before = datetime(2018, 5, 24, 12, tzinfo=UTC)
    breach = _breach(at=T0)
    breach.aware_at = before - 100 * H
    # Overdue by the clock, but the GDPR did not apply yet: no BRE-08 finding.
    assert breaches.check(Stage.STANDING, breach, before) == []
    assert [p.rule for p in breaches.check(Stage.STANDING, breach, T0)] == ["BRE-08"]


# --- BRE-01: the record.


def test_bre_01_a_breach_needs_a_nature_a_description_and_a_past_awareness() -> None:
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(nature=(), description="  ", aware_at=T0 + H)
    assert _rules_of(raised) == {("BRE-01", "nature"), ("BRE-01", "description"), ("BRE-01", "aware_at")}
    assert raised.value.problem_extra["errors"][0]["type"] == "BRE-01"
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(aware_at=datetime(2018, 5, 24, tzinfo=UTC))
    assert _rules_of(raised) == {("BRE-01", "aware_at")}


def test_bre_01_times_hold_together_and_counts_are_not_negative() -> None:
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(occurred_from=T0 + H)
    assert _rules_of(raised) == {("BRE-01", "occurred_from")}
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(occurred_from=T0 - 5 * H, occurred_until=T0 - 6 * H)
    assert _rules_of(raised) == {("BRE-01", "occurred_until")}
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(approx_records=-1)
    assert _rules_of(raised) == {("BRE-01", "approx_records")}


def test_bre_01_an_unknown_nature_or_field_is_named() -> None:
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(nature=("leak",))
    assert _rules_of(raised) == {("BRE-01", "nature")}
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach(victims=("x",))
    assert _rules_of(raised) == {("BRE-01", "victims")}


def test_recording_raises_one_event_without_free_text_or_person() -> None:
    breach = _breach(risk="risk")
    recorded, assessed = breach.events
    assert isinstance(recorded, events.BreachRecorded) and isinstance(assessed, events.BreachAssessed)
    data = dataclasses.asdict(recorded)
    assert data["deadline_at"] == T0 + 72 * H and data["state"] == "open"
    assert data["approx_subjects"] == 1200 and data["dpo_named"] is True
    text = repr(data)
    for secret in ("public link", "Phishing", "revoked", "Jeanne", "dpo@acme"):
        assert secret not in text
    assert len(data["record_hash"]) == 64


def test_the_record_hash_follows_every_fact_including_the_texts() -> None:
    breach = _breach()
    before = breach.record_hash()
    breach.update(at=T0 + H, likely_consequences="Identity theft.")
    assert breach.record_hash() != before
    assert isinstance(breach.events[-1], events.BreachUpdated)
    assert breach.events[-1].changed_fields == ("likely_consequences",)
    assert breach.update(at=T0 + 2 * H, likely_consequences="Identity theft.") == ()


# --- BRE-02 to BRE-04: the notification and the 72-hour clock.


def test_bre_02_the_deadline_is_72_hours_after_awareness_and_the_state_follows_the_clock() -> None:
    breach = _breach()
    assert breach.deadline == T0 + 72 * H
    assert breach.state_at(T0 + 72 * H) is ClockState.OPEN
    assert breach.state_at(T0 + 72 * H + timedelta(seconds=1)) is ClockState.OVERDUE


def test_bre_02_a_notification_is_after_awareness_not_in_the_future_and_referenced() -> None:
    breach = _breach()
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.notify(notified_at=T0 - H, reference=" ", at=T0 + H)
    assert _rules_of(raised) == {("BRE-02", "notified_at"), ("BRE-02", "reference")}
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.notify(notified_at=T0 + 2 * H, reference="CNIL-2026-0042", at=T0 + H)
    assert _rules_of(raised) == {("BRE-02", "notified_at")}
    assert breach.notification is None and len(breach.events) == 1


def test_bre_02_notified_within_72_hours_is_in_time_and_only_once() -> None:
    breach = _breach()
    breach.notify(notified_at=T0 + 71 * H, reference="CNIL-2026-0042", at=T0 + 71 * H)
    assert breach.state_at(T0 + 500 * H) is ClockState.NOTIFIED_IN_TIME
    notified = breach.events[-1]
    assert isinstance(notified, events.BreachNotified)
    assert notified.hours_after_awareness == 71.0 and notified.authority_reference == "CNIL-2026-0042"
    with pytest.raises(errors.BreachStepConflictError):
        breach.notify(notified_at=T0 + 72 * H, reference="again", at=T0 + 72 * H)


def test_bre_03_a_late_notification_needs_the_reasons_for_the_delay() -> None:
    breach = _breach()
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.notify(notified_at=T0 + 80 * H, reference="CNIL-2026-0043", at=T0 + 80 * H)
    assert _rules_of(raised) == {("BRE-03", "delay_reasons")}
    breach.notify(
        notified_at=T0 + 80 * H,
        reference="CNIL-2026-0043",
        delay_reasons="The router's logs were only handed over on day 3.",
        at=T0 + 80 * H,
    )
    assert breach.state_at(T0 + 80 * H) is ClockState.NOTIFIED_LATE
    notified = breach.events[-1]
    assert isinstance(notified, events.BreachNotified) and notified.delay_reasons_given
    assert "router's logs" not in repr(notified)


def test_bre_04_a_notification_holds_the_art_33_3_content() -> None:
    breach = _breach(
        data_categories=(),
        subject_categories=(),
        approx_subjects=None,
        approx_records=None,
        likely_consequences="",
        measures_taken="",
        dpo=None,
    )
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.notify(notified_at=T0 + H, reference="CNIL-1", at=T0 + H)
    assert _rules_of(raised) == {
        ("BRE-04", "dpo"),
        ("BRE-04", "data_categories"),
        ("BRE-04", "subject_categories"),
        ("BRE-04", "approx_subjects"),
        ("BRE-04", "approx_records"),
        ("BRE-04", "likely_consequences"),
        ("BRE-04", "measures_taken"),
    }


def test_bre_04_measures_proposed_are_enough_and_a_phased_notification_may_follow_later() -> None:
    breach = _breach(measures_taken="", measures_proposed="Rotate the router's keys.")
    breach.notify(notified_at=T0 + H, reference="CNIL-1", at=T0 + H)
    phased = _breach(approx_subjects=None, likely_consequences="", dpo=DPO)
    phased.notify(notified_at=T0 + H, reference="CNIL-2", at=T0 + H, phased=True)
    assert phased.state_at(T0 + H) is ClockState.NOTIFIED_IN_TIME


def test_bre_04_the_dpo_contact_cannot_be_phased() -> None:
    breach = _breach(dpo=None)
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.notify(notified_at=T0 + H, reference="CNIL-1", at=T0 + H, phased=True)
    assert _rules_of(raised) == {("BRE-04", "dpo")}


# --- BRE-05: not notifiable.


def test_bre_05_unlikely_to_result_in_a_risk_needs_its_justification() -> None:
    breach = _breach()
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.assess(risk="unlikely", justification=" ", at=T0 + H)
    assert _rules_of(raised) == {("BRE-05", "justification")}
    assert breach.assessment is None
    breach.assess(
        risk="unlikely", justification="The leaked file was encrypted (AES-256, key safe).", at=T0 + H
    )
    assert breach.state_at(T0 + 500 * H) is ClockState.NOT_NOTIFIABLE
    assert breach.findings(T0 + 500 * H) == []


def test_bre_05_a_reassessment_to_a_risk_restarts_nothing_the_clock_ran_from_awareness() -> None:
    breach = _breach(risk="unlikely", risk_justification="Encrypted laptop.")
    breach.assess(risk="risk", justification="The key was on a sticker.", at=T0 + 100 * H)
    assert breach.state_at(T0 + 100 * H) is ClockState.OVERDUE


def test_an_unknown_risk_level_is_named() -> None:
    with pytest.raises(errors.BreachRuleError) as raised:
        _breach().assess(risk="medium", justification="", at=T0)
    assert _rules_of(raised) == {("BRE-05", "risk")}


# --- BRE-06 and BRE-07: the communication to the people.


def test_bre_06_a_communication_says_when_and_by_what_means() -> None:
    breach = _breach(risk="high")
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.communicate(at=T0 + H)
    assert _rules_of(raised) == {("BRE-06", "communicated_at"), ("BRE-06", "means")}
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.communicate(at=T0 + H, communicated_at=T0 - H, means="email")
    assert _rules_of(raised) == {("BRE-06", "communicated_at")}
    breach.communicate(at=T0 + 2 * H, communicated_at=T0 + 2 * H, means="email", subjects_informed=1200)
    told = breach.events[-1]
    assert (
        isinstance(told, events.BreachCommunicated)
        and told.means == "email"
        and told.subjects_informed == 1200
    )
    with pytest.raises(errors.BreachStepConflictError):
        breach.communicate(at=T0 + 3 * H, communicated_at=T0 + 3 * H, means="sms")


def test_bre_07_an_exception_is_for_a_high_risk_and_is_justified() -> None:
    breach = _breach(risk="risk")
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.communicate(at=T0 + H, exemption="art34_3_a")
    assert _rules_of(raised) == {("BRE-07", "exemption"), ("BRE-07", "justification")}
    high = _breach(risk="high")
    high.communicate(
        at=T0 + H, exemption="art34_3_a", justification="Encrypted; the key was not compromised."
    )
    assert high.findings(T0 + H) == []
    assert isinstance(high.events[-1], events.BreachCommunicated) and high.events[-1].exemption == "art34_3_a"


def test_bre_07_disproportionate_effort_needs_a_public_communication() -> None:
    breach = _breach(risk="high")
    with pytest.raises(errors.BreachRuleError) as raised:
        breach.communicate(at=T0 + H, exemption="art34_3_c", justification="No address for most of them.")
    assert _rules_of(raised) == {("BRE-07", "means"), ("BRE-07", "communicated_at")}
    breach.communicate(
        at=T0 + 5 * H,
        exemption="art34_3_c",
        justification="No address for most of them.",
        means="public_communication",
        communicated_at=T0 + 4 * H,
    )
    assert breach.communication is not None and breach.communication.communicated_at == T0 + 4 * H


# --- BRE-08 to BRE-10: standing findings.


def test_bre_08_an_overdue_breach_is_found_and_raised_once() -> None:
    breach = _breach()
    assert breach.findings(T0 + 72 * H) == [] and not breach.notice_overdue(at=T0 + 72 * H)
    later = T0 + 73 * H
    assert [(p.rule, p.field) for p in breach.findings(later)] == [("BRE-08", "notification")]
    assert breach.notice_overdue(at=later)
    assert not breach.notice_overdue(at=later + H)
    overdue = [e for e in breach.events if isinstance(e, events.BreachOverdue)]
    assert len(overdue) == 1 and overdue[0].hours_overdue == 1.0 and overdue[0].state == "overdue"
    fresh = _breach(at=T0 + 10 * H, aware_at=T0 + 10 * H)
    assert breaches.overdue([fresh, breach], at=later) == [breach]


def test_bre_08_a_late_notification_ends_the_overdue_state() -> None:
    breach = _breach()
    breach.notify(
        notified_at=T0 + 90 * H, reference="CNIL-3", delay_reasons="Found on a Friday.", at=T0 + 90 * H
    )
    assert breach.findings(T0 + 90 * H) == [] and not breach.notice_overdue(at=T0 + 90 * H)


def test_bre_09_a_high_risk_breach_needs_the_people_told() -> None:
    breach = _breach(risk="high")
    breach.notify(notified_at=T0 + H, reference="CNIL-4", at=T0 + H)
    assert [(p.rule, p.field) for p in breach.findings(T0 + 2 * H)] == [("BRE-09", "communication")]
    breach.communicate(at=T0 + 3 * H, communicated_at=T0 + 3 * H, means="postal_letter")
    assert breach.findings(T0 + 3 * H) == []


def test_bre_10_after_a_phased_notification_the_missing_information_is_due() -> None:
    breach = _breach(approx_subjects=None, approx_records=None)
    breach.notify(notified_at=T0 + H, reference="CNIL-5", at=T0 + H, phased=True)
    assert {(p.rule, p.field) for p in breach.findings(T0 + 2 * H)} == {
        ("BRE-10", "approx_subjects"),
        ("BRE-10", "approx_records"),
    }
    breach.update(at=T0 + 30 * H, approx_subjects=1100, approx_records=1400)
    assert breach.findings(T0 + 30 * H) == []


def test_risk_levels_cover_the_three_outcomes_of_art_33_and_34() -> None:
    assert {r.value for r in RiskLevel} == {"unlikely", "risk", "high"}

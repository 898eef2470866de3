from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from contacts.domain.retention import (
    DEFAULT_GRACE_PERIOD,
    RETENTION_RULES,
    NaiveDatetimeError,
    RetentionError,
    UnknownInteractionKindError,
    UnknownRelationshipError,
    add_calendar_years,
    interaction_counts_as_contact_from_person,
    last_contact_after_interaction,
    retention_deadline,
    retention_rule_for,
    retention_status,
)

COLLECTED = datetime(2021, 3, 15, 9, 0, tzinfo=UTC)
GRACE = timedelta(days=30)


def status_of(
    relationship: str,
    *,
    now: datetime,
    obtained_at: datetime = COLLECTED,
    last_contact: datetime | None = None,
    relationship_end: datetime | None = None,
    grace_period: timedelta = GRACE,
):
    return retention_status(
        relationship=relationship,
        obtained_at=obtained_at,
        last_contact_from_person_at=last_contact,
        relationship_end_at=relationship_end,
        now=now,
        grace_period=grace_period,
    )


# RET-01 — prospects and accounts without a sale.


def test_ret01_prospect_deadline_is_three_calendar_years_after_collection() -> None:
    deadline = retention_deadline(
        relationship="prospect",
        obtained_at=COLLECTED,
        last_contact_from_person_at=None,
        relationship_end_at=None,
    )
    assert deadline == datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def test_ret01_prospect_without_contact_for_three_years_and_a_day_is_flagged() -> None:
    status = status_of("prospect", now=datetime(2024, 3, 16, 9, 0, tzinfo=UTC))
    assert status.state == "flagged"
    assert status.rule_id == "RET-01"
    assert status.due_at == datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def test_ret01_prospect_a_day_before_the_deadline_is_retained() -> None:
    assert status_of("prospect", now=datetime(2024, 3, 14, 9, 0, tzinfo=UTC)).state == "retained"


def test_ret01_prospect_is_flagged_at_the_anniversary_itself() -> None:
    assert status_of("prospect", now=datetime(2024, 3, 15, 9, 0, tzinfo=UTC)).state == "flagged"


def test_ret01_prospect_past_the_grace_period_is_to_be_erased() -> None:
    status = status_of("prospect", now=datetime(2024, 3, 15, 9, 0, tzinfo=UTC) + GRACE)
    assert status.state == "erase"
    assert status.erase_at == datetime(2024, 3, 15, 9, 0, tzinfo=UTC) + GRACE


def test_ret01_a_click_restarts_the_prospect_clock() -> None:
    clicked_at = datetime(2023, 6, 1, tzinfo=UTC)
    last_contact = last_contact_after_interaction(None, kind="click", occurred_at=clicked_at)
    status = status_of("prospect", now=datetime(2024, 3, 16, tzinfo=UTC), last_contact=last_contact)
    assert status.state == "retained"
    assert status.due_at == datetime(2026, 6, 1, tzinfo=UTC)


def test_ret01_an_email_open_does_not_restart_the_prospect_clock() -> None:
    opened_at = datetime(2024, 1, 10, tzinfo=UTC)
    last_contact = last_contact_after_interaction(None, kind="open", occurred_at=opened_at)
    assert last_contact is None
    assert status_of("prospect", now=datetime(2024, 3, 16, tzinfo=UTC), last_contact=last_contact).state == (
        "flagged"
    )


@pytest.mark.parametrize("kind", ["reply", "click", "request", "purchase", "sale"])
def test_ret01_actions_by_the_person_count_as_contact(kind: str) -> None:
    assert interaction_counts_as_contact_from_person(kind) is True


def test_ret01_an_email_open_is_not_a_contact_from_the_person() -> None:
    assert interaction_counts_as_contact_from_person("open") is False


def test_an_unknown_interaction_kind_is_refused() -> None:
    with pytest.raises(UnknownInteractionKindError):
        interaction_counts_as_contact_from_person("forward")


def test_ret01_a_contact_older_than_collection_does_not_shorten_the_clock() -> None:
    deadline = retention_deadline(
        relationship="prospect",
        obtained_at=COLLECTED,
        last_contact_from_person_at=COLLECTED - timedelta(days=400),
        relationship_end_at=None,
    )
    assert deadline == datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def test_ret01_a_late_delivered_older_interaction_does_not_move_the_clock_back() -> None:
    latest = datetime(2023, 6, 1, tzinfo=UTC)
    assert (
        last_contact_after_interaction(latest, kind="reply", occurred_at=latest - timedelta(days=90))
        == latest
    )


def test_ret01_an_account_without_a_sale_keeps_the_prospect_clock() -> None:
    status = status_of("account_only", now=datetime(2024, 3, 16, 9, 0, tzinfo=UTC))
    assert status.rule_id == "RET-01"
    assert status.state == "flagged"


def test_ret01_an_account_without_a_sale_ignores_a_relationship_end_date() -> None:
    status = status_of(
        "account_only",
        now=datetime(2024, 3, 16, 9, 0, tzinfo=UTC),
        relationship_end=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert status.state == "flagged"


# RET-02 — customers.


def test_ret02_customer_with_relationship_end_three_years_ago_is_flagged() -> None:
    ended = datetime(2022, 5, 2, tzinfo=UTC)
    status = status_of("customer_sale_done", now=datetime(2025, 5, 3, tzinfo=UTC), relationship_end=ended)
    assert status.rule_id == "RET-02"
    assert status.due_at == datetime(2025, 5, 2, tzinfo=UTC)
    assert status.state == "flagged"


def test_ret02_customer_is_retained_within_three_years_of_the_relationship_end() -> None:
    status = status_of(
        "customer_sale_done",
        now=datetime(2025, 5, 1, tzinfo=UTC),
        relationship_end=datetime(2022, 5, 2, tzinfo=UTC),
    )
    assert status.state == "retained"


def test_ret02_customer_past_the_grace_period_is_to_be_erased() -> None:
    status = status_of(
        "customer_sale_done",
        now=datetime(2025, 5, 2, tzinfo=UTC) + GRACE + timedelta(seconds=1),
        relationship_end=datetime(2022, 5, 2, tzinfo=UTC),
    )
    assert status.state == "erase"


def test_ret02_customer_clock_counts_from_the_end_not_from_collection() -> None:
    status = status_of(
        "customer_sale_done",
        obtained_at=datetime(2015, 1, 1, tzinfo=UTC),
        now=datetime(2025, 5, 3, tzinfo=UTC),
        relationship_end=datetime(2023, 1, 1, tzinfo=UTC),
    )
    assert status.state == "retained"
    assert status.due_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_ret02_customer_reply_after_the_relationship_end_counts_like_a_prospects() -> None:
    deadline = retention_deadline(
        relationship="customer_sale_done",
        obtained_at=COLLECTED,
        last_contact_from_person_at=datetime(2024, 2, 1, tzinfo=UTC),
        relationship_end_at=datetime(2022, 1, 1, tzinfo=UTC),
    )
    assert deadline == datetime(2027, 2, 1, tzinfo=UTC)


def test_ret02_customer_without_any_end_date_falls_back_to_collection() -> None:
    deadline = retention_deadline(
        relationship="customer_sale_done",
        obtained_at=COLLECTED,
        last_contact_from_person_at=None,
        relationship_end_at=None,
    )
    assert deadline == datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def test_ret02_a_contract_in_progress_has_no_deadline() -> None:
    status = status_of(
        "contract_in_progress",
        obtained_at=datetime(2000, 1, 1, tzinfo=UTC),
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert status.due_at is None
    assert status.erase_at is None
    assert status.state == "retained"
    assert status.rule_id == "RET-02"


def test_ret02_a_contract_in_progress_with_a_known_end_counts_from_that_end() -> None:
    deadline = retention_deadline(
        relationship="contract_in_progress",
        obtained_at=COLLECTED,
        last_contact_from_person_at=None,
        relationship_end_at=datetime(2026, 9, 30, tzinfo=UTC),
    )
    assert deadline == datetime(2029, 9, 30, tzinfo=UTC)


# Calendar arithmetic, inputs and the rule table.


def test_three_calendar_years_from_29_february_end_on_28_february() -> None:
    assert add_calendar_years(datetime(2024, 2, 29, 10, 0, tzinfo=UTC), 3) == datetime(
        2027, 2, 28, 10, 0, tzinfo=UTC
    )


def test_three_calendar_years_keep_the_time_zone_and_the_wall_clock_time() -> None:
    paris_winter = timezone(timedelta(hours=1))
    assert add_calendar_years(datetime(2021, 1, 5, 23, 30, tzinfo=paris_winter), 3) == datetime(
        2024, 1, 5, 23, 30, tzinfo=paris_winter
    )


def test_a_prospect_collected_on_29_february_is_flagged_on_28_february() -> None:
    status = status_of(
        "prospect", obtained_at=datetime(2024, 2, 29, tzinfo=UTC), now=datetime(2027, 2, 28, tzinfo=UTC)
    )
    assert status.state == "flagged"


def test_an_unknown_relationship_is_refused() -> None:
    with pytest.raises(UnknownRelationshipError):
        status_of("lead", now=datetime(2024, 1, 1, tzinfo=UTC))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        status_of("prospect", now=datetime(2024, 1, 1))
    with pytest.raises(NaiveDatetimeError):
        status_of("prospect", obtained_at=datetime(2021, 1, 1), now=datetime(2024, 1, 1, tzinfo=UTC))


def test_a_negative_grace_period_is_refused() -> None:
    with pytest.raises(RetentionError):
        status_of("prospect", now=datetime(2024, 1, 1, tzinfo=UTC), grace_period=timedelta(days=-1))


def test_a_zero_grace_period_goes_straight_to_erase() -> None:
    status = status_of("prospect", now=datetime(2024, 3, 15, 9, 0, tzinfo=UTC), grace_period=timedelta(0))
    assert status.state == "erase"


def test_the_default_grace_period_is_used_when_none_is_given() -> None:
    status = retention_status(
        relationship="prospect",
        obtained_at=COLLECTED,
        last_contact_from_person_at=None,
        relationship_end_at=None,
        now=datetime(2024, 3, 16, tzinfo=UTC),
    )
    assert status.erase_at == datetime(2024, 3, 15, 9, 0, tzinfo=UTC) + DEFAULT_GRACE_PERIOD


def test_the_rule_table_covers_every_relationship_exactly_once() -> None:
    covered = [relationship for rule in RETENTION_RULES for relationship in rule.relationships]
    assert sorted(covered) == sorted(
        {"prospect", "account_only", "customer_sale_done", "contract_in_progress"}
    )


def test_the_rule_table_holds_ret01_and_ret02_with_three_year_periods() -> None:
    table = {rule.rule_id: rule for rule in RETENTION_RULES}
    assert set(table) == {"RET-01", "RET-02"}
    assert all(rule.period_years == 3 for rule in table.values())
    assert all(isinstance(rule.effective_from, date) for rule in table.values())
    assert retention_rule_for("account_only").rule_id == "RET-01"
    assert retention_rule_for("contract_in_progress").rule_id == "RET-02"

"""Purposes: the versioned entries of the register of processing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from consent.domain import errors, events, model


def test_registering_a_purpose_makes_version_one_in_force_and_records_the_fact(make_purpose, t0):
    purpose = make_purpose()

    assert [v.version for v in purpose.versions] == [1]
    assert purpose.current is purpose.versions[0]
    assert purpose.current.in_force
    assert purpose.events == [
        events.PurposeRegistered(
            purpose_id=purpose.purpose_id,
            version=1,
            name="Prospection par e-mail",
            lawful_basis="consent",
            at=t0,
            entry=model.entry_facts(purpose.versions[0]),
        )
    ]


def test_a_revision_makes_version_two_and_keeps_version_one_closed(make_purpose, t0):
    purpose = make_purpose()
    later = t0 + timedelta(days=30)

    revised = purpose.revise(at=later, retention={"prospects": "3 ans"}, data_subjects=["prospects"])

    assert revised.version == 2
    assert [v.version for v in purpose.versions] == [1, 2]
    assert purpose.versions[0].valid_to == later
    assert purpose.versions[0].retention == {"prospects": "3 ans après le dernier contact"}
    assert purpose.version_at(t0).version == 1
    assert purpose.version_at(later).version == 2
    assert purpose.events[-1] == events.PurposeRevised(
        purpose_id=purpose.purpose_id,
        version=2,
        previous_version=1,
        changed_fields=("data_subjects", "retention"),
        lawful_basis="consent",
        at=later,
        entry=model.entry_facts(revised),
    )


def test_a_revision_that_changes_nothing_makes_no_new_version(make_purpose, t0):
    purpose = make_purpose()

    purpose.revise(at=t0 + timedelta(days=1), data_subjects=["prospects", "clients"])

    assert len(purpose.versions) == 1
    assert len(purpose.events) == 1


def test_a_revision_cannot_set_the_version_fields(make_purpose, t0):
    purpose = make_purpose()

    with pytest.raises(errors.InvalidRevisionError):
        purpose.revise(at=t0 + timedelta(days=1), version=7)


def test_a_revision_cannot_predate_the_version_it_replaces(make_purpose, t0):
    purpose = make_purpose()

    with pytest.raises(errors.TimeOrderError):
        purpose.revise(at=t0 - timedelta(days=1), name="Autre")


def test_legitimate_interests_must_state_the_interest_pursued(make_purpose):
    with pytest.raises(errors.LegitimateInterestNotStatedError):
        make_purpose(lawful_basis=model.LawfulBasis.LEGITIMATE_INTERESTS)

    purpose = make_purpose(
        lawful_basis=model.LawfulBasis.LEGITIMATE_INTERESTS, legitimate_interest="fidéliser la clientèle"
    )
    assert purpose.current.legitimate_interest == "fidéliser la clientèle"


def test_flagged_special_categories_must_be_named(make_purpose):
    with pytest.raises(errors.SpecialCategoriesNotDescribedError):
        make_purpose(special_categories=True)


def test_a_retired_purpose_has_no_version_in_force_but_keeps_its_history(make_purpose, t0):
    purpose = make_purpose()
    end = t0 + timedelta(days=10)

    purpose.retire(at=end)

    assert purpose.current is None
    assert purpose.version_at(end) is None
    assert purpose.version_at(t0).version == 1
    assert isinstance(purpose.events[-1], events.PurposeRetired)
    with pytest.raises(errors.PurposeNotInForceError):
        purpose.revise(at=end + timedelta(days=1), name="Autre")


def test_naive_times_are_refused(make_purpose):
    with pytest.raises(errors.NaiveDatetimeError):
        make_purpose(at=datetime(2026, 1, 1))


def test_the_domain_errors_share_one_base_class():
    assert issubclass(errors.UnknownPurposeError, errors.ConsentError)
    assert issubclass(errors.NoticeIncompleteError, errors.ConsentError)
    assert issubclass(errors.PurposeNotInForceError, errors.UnknownPurposeError)


def test_the_registered_version_accepts_timezone_aware_non_utc_times(make_purpose):
    from datetime import timezone

    paris = timezone(timedelta(hours=1))
    purpose = make_purpose(at=datetime(2026, 1, 1, 10, tzinfo=paris))
    assert purpose.current.in_force_at(datetime(2026, 1, 1, 9, 30, tzinfo=UTC))


# --- Art. 14(5)(b) exemption claimed in the register entry (issue 13: INFO-03 reads it from consent).


def test_an_art14_exemption_claim_needs_its_ground_and_reaches_the_purpose_events(make_purpose, t0):
    with pytest.raises(errors.Art14ExemptionGroundMissingError, match="art14_exemption_ground"):
        make_purpose(art14_exemption_claimed=True)
    purpose = make_purpose(
        art14_exemption_claimed=True,
        art14_exemption_ground="Archives publiques de 1950 : personnes introuvables",
    )
    registered = purpose.events[-1]
    assert isinstance(registered, events.PurposeRegistered)
    assert registered.art14_exemption_claimed is True
    assert registered.art14_exemption_ground == "Archives publiques de 1950 : personnes introuvables"

    purpose.revise(at=t0 + timedelta(days=1), art14_exemption_claimed=False)
    revised = purpose.events[-1]
    assert isinstance(revised, events.PurposeRevised)
    assert (revised.art14_exemption_claimed, revised.art14_exemption_ground) == (False, None)
    with pytest.raises(errors.Art14ExemptionGroundMissingError):
        purpose.revise(at=t0 + timedelta(days=2), art14_exemption_claimed=True)
    purpose.revise(at=t0 + timedelta(days=2), art14_exemption_claimed=True, art14_exemption_ground="Effort")
    claimed = purpose.events[-1]
    assert isinstance(claimed, events.PurposeRevised) and claimed.art14_exemption_claimed is True


def test_a_purpose_claims_no_art14_exemption_unless_stated(make_purpose):
    registered = make_purpose().events[-1]
    assert registered.art14_exemption_claimed is False and registered.art14_exemption_ground is None


def test_the_register_entry_facts_name_channels_categories_retention_profiling_and_dpia(make_purpose, t0):
    """What the gate holds each campaign to (REG-*): codes, ids and numbers, not the register's free text."""
    purpose = make_purpose(
        channels=["email", "sms_mms", "email"],
        retention_months=36,
        profiling=True,
        dpia_required=True,
        dpia_reference="AIPD-2026-01",
        processor_ids=["routeur-1"],
        data_categories={model.DataCategory.IDENTITY: ("nom",), model.DataCategory.INTERNET: ()},
    )

    entry = purpose.events[0].entry

    assert entry == {
        "version": 1,
        "channels": ["email", "sms_mms"],
        "data_categories": ["identity"],
        "special_categories": False,
        "processor_ids": ["routeur-1"],
        "retention_months": 36,
        "profiling": True,
        "dpia_required": True,
        "dpia_reference": "AIPD-2026-01",
    }
    revised = purpose.revise(at=t0 + timedelta(days=1), channels=["postal_addressed"], profiling=False)
    assert revised.channels == (model.Channel.POSTAL_ADDRESSED,)
    assert purpose.events[-1].entry["channels"] == ["postal_addressed"]
    assert purpose.events[-1].entry["profiling"] is False
    assert set(purpose.events[-1].changed_fields) == {"channels", "profiling"}


def test_a_retention_of_less_than_a_month_is_refused(make_purpose):
    with pytest.raises(errors.InvalidRevisionError):
        make_purpose(retention_months=0)

"""Parties and their contracts: the clauses each role requires, versions, expiry and broker checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from consent.domain import errors, events
from consent.domain import parties as p
from consent.domain.processors import ART28_3_CHECKLIST

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def _party(*roles: str, **overrides: Any) -> p.Party:
    return p.Party.register(legal_name="Routeur SAS", roles=roles or ("processor",), at=T0, **overrides)


def _contract(party: p.Party, clauses: Any = None, *, version: int = 1, **overrides: Any) -> p.Contract:
    fields: dict[str, Any] = {
        "reference": "DPA-2026",
        "signed_at": T0,
        "at": T0,
        "version": version,
        "expires_at": T0 + 365 * DAY,
    }
    fields.update(overrides)
    wanted = p.required_clauses(party.roles) if clauses is None else clauses
    return p.Contract.sign(party=party, clauses=wanted, **fields)


@pytest.mark.parametrize("role", list(p.PartyRole))
def test_a_contract_with_every_clause_its_role_requires_has_no_finding(role: p.PartyRole) -> None:
    party = _party(role.value, broker_last_verified_at=T0)
    assert p.party_findings(party, [_contract(party)], at=T0 + DAY) == []


@pytest.mark.parametrize(
    ("role", "clause"), [(role, clause) for role in p.PartyRole for clause in p.REQUIRED_CLAUSES[role]]
)
def test_each_required_clause_that_is_missing_is_named_with_its_role(role: p.PartyRole, clause: str) -> None:
    party = _party(role.value, broker_last_verified_at=T0)
    clauses = set(p.REQUIRED_CLAUSES[role]) - {clause}
    contract = _contract(party, clauses)
    assert contract.missing_clauses(party.roles) == {role.value: [clause]}
    findings = p.party_findings(party, [contract], at=T0 + DAY)
    assert [(f.code, f.role, f.clause) for f in findings] == [("missing_clause", role.value, clause)]
    assert clause in findings[0].message


def test_a_processor_needs_the_whole_art_28_3_checklist_and_the_security_clause_is_named() -> None:
    party = _party("processor")
    assert set(ART28_3_CHECKLIST) <= set(p.required_clauses(party.roles))
    contract = _contract(party, set(p.required_clauses(party.roles)) - {"c_security_art32"})
    assert [f.clause for f in p.party_findings(party, [contract], at=T0)] == ["c_security_art32"]


def test_the_controller_processor_sccs_bring_the_art_28_3_clauses_but_not_the_annexes() -> None:
    party = _party("sub_processor")
    contract = _contract(party, {"liability", "breach_notification_delay"}, scc_2021_915=True)
    assert contract.missing_clauses(party.roles) == {
        "sub_processor": [
            "subject_matter_and_duration",
            "nature_and_purpose_of_processing",
            "type_of_personal_data",
            "categories_of_data_subjects",
            "controller_obligations_and_rights",
        ]
    }


def test_a_stated_breach_notification_delay_counts_as_the_clause_and_a_slow_one_is_a_finding() -> None:
    party = _party("integrator")
    clauses = set(p.required_clauses(party.roles)) - {"breach_notification_delay"}
    assert p.party_findings(party, [_contract(party, clauses, breach_notification_hours=48)], at=T0) == []
    slow = p.party_findings(party, [_contract(party, clauses, breach_notification_hours=96)], at=T0)
    assert [f.code for f in slow] == ["breach_notification_too_slow"]


def test_several_roles_require_the_union_of_their_clauses_each_named_per_role() -> None:
    party = _party("integrator", "processor")
    contract = _contract(party, set(p.REQUIRED_CLAUSES[p.PartyRole.PROCESSOR]))
    assert contract.missing_clauses(party.roles) == {
        "integrator": [
            "confidentiality",
            "security_obligations",
            "ownership_of_developments",
            "licence_of_use",
            "return_or_deletion_at_end",
            "audit_rights",
        ]
    }


def test_a_party_without_a_contract_or_with_an_unsigned_or_expired_one_is_found_out() -> None:
    party = _party("consultant")
    assert [f.code for f in p.party_findings(party, [], at=T0)] == ["no_contract"]
    unsigned = _contract(party, signed_at=None)
    assert [f.code for f in p.party_findings(party, [unsigned], at=T0)] == ["contract_not_signed"]
    signed_later = _contract(party, signed_at=T0 + 10 * DAY)
    assert [f.code for f in p.party_findings(party, [signed_later], at=T0)] == ["contract_not_signed"]
    short = _contract(party, expires_at=T0 + 5 * DAY)
    assert p.party_findings(party, [short], at=T0 + 5 * DAY - timedelta(seconds=1)) == []
    assert [f.code for f in p.party_findings(party, [short], at=T0 + 5 * DAY)] == ["contract_expired"]


def test_the_latest_signed_version_is_the_one_in_force() -> None:
    party = _party("processor")
    v1 = _contract(party)
    v2 = _contract(
        party, set(p.required_clauses(party.roles)) - {"liability"}, version=2, signed_at=T0 + 10 * DAY
    )
    assert p.current_contract([v1, v2], at=T0 + DAY) is v1
    assert p.current_contract([v1, v2], at=T0 + 10 * DAY) is v2
    assert [f.clause for f in p.party_findings(party, [v1, v2], at=T0 + 11 * DAY)] == ["liability"]


def test_a_broker_needs_a_verification_on_record_and_not_older_than_the_bound() -> None:
    unverified = _party("data_broker")
    full = _contract(unverified)
    assert [f.code for f in p.party_findings(unverified, [full], at=T0)] == ["broker_not_verified"]
    verified = _party("data_broker", broker_last_verified_at=T0)
    bound = timedelta(days=180)
    assert p.party_findings(verified, [full], at=T0 + 180 * DAY, broker_verification_max_age=bound) == []
    stale = p.party_findings(verified, [full], at=T0 + 181 * DAY, broker_verification_max_age=bound)
    assert [f.code for f in stale] == ["broker_verification_stale"]


def test_a_suspended_party_is_not_relied_on_and_an_ended_one_cannot_change() -> None:
    party = _party("processor")
    contract = _contract(party)
    party.update(at=T0, status="suspended")
    assert [f.code for f in p.party_findings(party, [contract], at=T0)] == ["party_not_active"]
    party.update(at=T0, status="ended")
    with pytest.raises(errors.PartyEndedError):
        party.update(at=T0, legal_name="Autre SAS")
    with pytest.raises(errors.PartyEndedError):
        _contract(party, version=2)


def test_a_party_needs_a_name_and_a_known_role_and_a_contract_only_known_clauses() -> None:
    with pytest.raises(errors.InvalidPartyError):
        p.Party.register(legal_name="X", roles=(), at=T0)
    with pytest.raises(errors.InvalidPartyError):
        p.Party.register(legal_name="X", roles=("astrologer",), at=T0)
    with pytest.raises(errors.InvalidPartyError):
        p.Party.register(legal_name=" ", roles=("processor",), at=T0)
    with pytest.raises(errors.UnknownClauseError):
        _contract(_party(), {"confidentiality", "free_lunch"})
    with pytest.raises(errors.TimeOrderError):
        _contract(_party(), expires_at=T0 - DAY)


def test_registering_updating_and_signing_raise_events_with_the_facts_the_gate_needs() -> None:
    party = _party("data_broker", purpose_ids=["p1"], broker_last_verified_at=T0)
    registered = party.events.pop()
    assert isinstance(registered, events.PartyRegistered)
    assert registered.roles == ("data_broker",) and registered.broker_last_verified_at == T0
    contract = _contract(
        party, set(p.REQUIRED_CLAUSES[p.PartyRole.DATA_BROKER]) - {"consent_forms_name_us_or_our_category"}
    )
    signed = contract.events.pop()
    assert isinstance(signed, events.ContractSigned)
    assert signed.missing_clauses == {"data_broker": ["consent_forms_name_us_or_our_category"]}
    assert signed.signed_at == T0 and signed.expires_at == T0 + 365 * DAY and signed.in_force
    assert signed.broker_last_verified_at == T0

    assert party.update(
        at=T0 + DAY, contract=contract, broker_last_verified_at=T0 + DAY, roles=["data_broker", "processor"]
    ) == ("roles", "broker_last_verified_at")
    updated = party.events.pop()
    assert isinstance(updated, events.PartyUpdated)
    assert updated.broker_last_verified_at == T0 + DAY and updated.contract_id == contract.contract_id
    assert set(updated.missing_clauses or {}) == {"data_broker", "processor"}
    assert party.update(at=T0 + DAY, systems=[]) == () and not party.events


def test_the_expiry_watch_notices_a_contract_once_when_it_enters_the_window_and_once_when_it_expires() -> (
    None
):
    party = _party("processor")
    contract = _contract(party, expires_at=T0 + 40 * DAY)
    contract.events.clear()
    window = timedelta(days=30)
    assert not contract.notice_expiring(party, at=T0 + 9 * DAY, window=window)
    assert contract.notice_expiring(party, at=T0 + 10 * DAY, window=window)
    assert not contract.notice_expiring(party, at=T0 + 11 * DAY, window=window)
    assert not contract.notice_expired(party, at=T0 + 39 * DAY)
    assert contract.notice_expired(party, at=T0 + 40 * DAY)
    assert not contract.notice_expired(party, at=T0 + 41 * DAY)
    assert [type(e) for e in contract.events] == [events.ContractExpiring, events.ContractExpired]
    expiring = contract.events[0]
    assert isinstance(expiring, events.ContractExpiring) and expiring.window_days == 30 and expiring.in_force
    expired = contract.events[1]
    assert isinstance(expired, events.ContractExpired) and not expired.in_force


def test_the_expiring_list_holds_current_contracts_expiring_within_the_window_soonest_first() -> None:
    a, b, c = _party("processor"), _party("integrator"), _party("consultant")
    old_a = _contract(a, expires_at=T0 + 5 * DAY)
    new_a = _contract(a, version=2, expires_at=T0 + 400 * DAY)
    soon_b = _contract(b, expires_at=T0 + 20 * DAY)
    sooner_c = _contract(c, expires_at=T0 + 3 * DAY)
    gone_c_party = {x.party_id: x for x in (a, b, c)}
    found = p.expiring_contracts(
        gone_c_party, [old_a, new_a, soon_b, sooner_c], at=T0, window=timedelta(days=30)
    )
    assert found == [sooner_c, soon_b], "a superseded version does not count"
    assert p.expiring_contracts(gone_c_party, [soon_b], at=T0 + 20 * DAY, window=timedelta(days=30)) == []

"""The recipient facts issue 13 found lost or assumed: each now decides as the law says.

Each test failed on the code before the facts came from their producers (the soft opt-in's seller
was a deployment setting, a minor was "minor today", a retention flag did not block, …).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from campaign_gate.domain.decision import RecipientDecision, decide_recipient
from campaign_gate.domain.facts import (
    Channel,
    ConsentStatus,
    ContactKind,
    ContractFact,
    Decision,
    Objection,
    PhoneCollection,
    Relationship,
)
from campaign_gate_examples import (
    SELLER,
    SEND_BLOCTEL,
    SEND_OPT_IN,
    at_for,
    born,
    bought,
    campaign,
    consent,
    recipient,
    without_consent,
)

E, P = Channel.EMAIL, Channel.PHONE_HUMAN


def decide(channel: Channel = E, send_at: datetime = SEND_BLOCTEL, **facts: Any) -> RecipientDecision:
    r = facts.pop("_recipient", None) or recipient(**facts)
    return decide_recipient(campaign(channel, send_at=send_at), r, at=at_for(send_at))


def rules_of(result: RecipientDecision) -> list[str]:
    return [r.rule for r in result.reasons]


def test_a_customer_emailed_about_what_they_bought_from_the_sender_is_allowed_by_soft_opt_in() -> None:
    result = decide(_recipient=without_consent(purchases=bought("shoes")))
    assert (result.decision, rules_of(result)) == (Decision.ALLOW, ["ELEC-02"])


def test_a_sale_by_another_company_of_the_group_grounds_no_soft_opt_in() -> None:
    result = decide(_recipient=without_consent(purchases=bought("shoes", seller="Acme Travel SAS")))
    assert result.decision is Decision.BLOCK
    assert "ELEC-04" in rules_of(result)


def test_a_pending_double_opt_in_is_named_as_pending_not_as_missing() -> None:
    pending = consent(E, status=ConsentStatus.REQUESTED)
    result = decide(_recipient=recipient(relationship=Relationship.PROSPECT, consents=(pending,)))
    assert result.decision is Decision.BLOCK
    uni_04 = [r for r in result.reasons if r.rule == "UNI-04"]
    assert uni_04 and "pending" in uni_04[0].message


def test_a_consent_given_alone_at_13_stays_invalid_once_the_person_is_18() -> None:
    at_13 = consent(E, granted_at=datetime(2020, 3, 1, tzinfo=UTC), given_by_minor=True)
    r = recipient(relationship=Relationship.PROSPECT, consents=(at_13,), **born(date(2007, 1, 1)))
    result = decide(_recipient=r)
    assert result.decision is Decision.BLOCK
    assert "UNI-09" in rules_of(result)


def test_an_under_15_with_sole_consent_is_blocked_not_sent_to_review() -> None:
    alone = consent(E, granted_at=datetime(2025, 9, 1, tzinfo=UTC), given_by_minor=True)
    r = recipient(relationship=Relationship.PROSPECT, consents=(alone,), **born(date(2012, 1, 1)))
    result = decide(_recipient=r)
    assert (result.decision, "UNI-09" in rules_of(result)) == (Decision.BLOCK, True)


def test_a_contact_flagged_past_retention_by_contacts_is_blocked_under_the_rule_it_cites() -> None:
    assert "RET-01" in rules_of(decide(relationship=Relationship.PROSPECT, retention_flagged_rule="RET-01"))
    assert "RET-02" in rules_of(decide(retention_flagged_rule="RET-02"))


def test_a_contract_in_progress_with_no_open_contract_runs_the_customer_retention_clock() -> None:
    long_ago = datetime(2021, 1, 1, tzinfo=UTC)
    ended = recipient(
        relationship=Relationship.CONTRACT_IN_PROGRESS,
        obtained_at=long_ago,
        relationship_end_at=long_ago,
        last_contact_from_person_at=long_ago,
        contracts=(ContractFact(SELLER, frozenset({"shoes"}), ended=True),),
    )
    assert "RET-02" in rules_of(decide(_recipient=ended))
    still_open = recipient(
        relationship=Relationship.CONTRACT_IN_PROGRESS,
        obtained_at=long_ago,
        last_contact_from_person_at=long_ago,
        contracts=(ContractFact(SELLER, frozenset({"shoes"})),),
    )
    assert "RET-02" not in rules_of(decide(_recipient=still_open))


def test_calling_hours_are_judged_in_the_consumers_time_zone() -> None:
    # 10:30 in Paris is 05:30 in Martinique: lawful in one, not in the other.
    monday_1030_paris = datetime(2026, 9, 14, 8, 30, tzinfo=UTC)
    paris = decide(P, send_at=monday_1030_paris)
    martinique = decide(P, send_at=monday_1030_paris, timezone="America/Martinique")
    assert paris.decision is Decision.ALLOW
    assert (martinique.decision, "TEL-03" in rules_of(martinique)) == (Decision.BLOCK, True)


def test_an_unknown_time_zone_asks_review_for_a_call() -> None:
    result = decide(P, send_at=SEND_OPT_IN, timezone=None)
    assert result.decision is Decision.NEEDS_REVIEW
    assert "TEL-03" in rules_of(result)


def test_an_express_consent_to_out_of_hours_calls_comes_from_the_consent_record() -> None:
    saturday = datetime(2026, 9, 19, 9, 30, tzinfo=UTC)
    without = decide(P, send_at=saturday)
    agreed = tuple(consent(ch, out_of_hours_calls=True) for ch in Channel)
    with_it = decide(P, send_at=saturday, consents=agreed)
    assert "TEL-03" in rules_of(without)
    assert "TEL-03" not in rules_of(with_it)


def test_a_named_professional_is_reachable_by_email_about_their_own_profession_only() -> None:
    pro = {"kind": ContactKind.PROFESSIONAL_NAMED, "relationship": Relationship.PROSPECT}
    relevant = decide(_recipient=without_consent(profession="acheteur", **pro))
    unrelated = decide(_recipient=without_consent(profession="chef de production", **pro))
    unknown = decide(_recipient=without_consent(profession=None, **pro))
    assert relevant.decision is Decision.ALLOW
    assert "ELEC-08" in rules_of(unrelated) and unrelated.decision is Decision.BLOCK
    assert "ELEC-08" in rules_of(unknown)


def test_a_number_collected_without_the_phone_consent_information_is_blocked_after_the_switch() -> None:
    after = SEND_OPT_IN
    obtained = datetime(2026, 8, 20, tzinfo=UTC)
    told = decide(P, send_at=after, obtained_at=obtained)
    not_recorded = decide(P, send_at=after, obtained_at=obtained, phone_collection=None)
    contract_silent = decide(
        P,
        send_at=after,
        obtained_at=obtained,
        phone_collection=PhoneCollection(
            told_calls_need_consent=True, during_contract=True, contract_states_calls_need_consent=False
        ),
    )
    assert "TEL26-03" not in rules_of(told)
    assert "TEL26-03" in rules_of(not_recorded)
    assert "TEL26-03" in rules_of(contract_silent)


def test_call_attempts_and_refusals_count_as_recorded() -> None:
    attempts = tuple(SEND_OPT_IN - timedelta(days=d) for d in (1, 3, 8, 20))
    assert "TEL-04" in rules_of(decide(P, send_at=SEND_OPT_IN, call_attempts_at=attempts))
    refused = decide(P, send_at=SEND_OPT_IN, last_phone_refusal_at=SEND_OPT_IN - timedelta(days=30))
    assert "TEL-05" in rules_of(refused)


def test_a_generic_company_address_runs_no_personal_data_retention_clock_and_gets_post() -> None:
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    generic = without_consent(
        kind=ContactKind.LEGAL_PERSON_GENERIC,
        relationship=Relationship.PROSPECT,
        obtained_at=long_ago,
        last_contact_from_person_at=None,
        informed_at_collection=False,
        objection_offered_at_collection=False,
        art13_notice_given_at=None,
    )
    email = decide(_recipient=generic)
    post = decide(Channel.POSTAL_ADDRESSED, _recipient=generic)
    assert "RET-01" not in rules_of(email) and "UNI-08" not in rules_of(email)
    assert (post.decision, rules_of(post)) == (Decision.ALLOW, ["POST-01"])


def test_an_objection_found_by_another_records_hash_is_a_reimport_blocked_under_uni_02() -> None:
    own = decide(objections=(Objection("o-1", SEND_BLOCTEL - timedelta(days=9)),))
    returning = decide(objections=(Objection("o-2", SEND_BLOCTEL - timedelta(days=9), matched_by_hash=True),))
    assert (rules_of(own), own.evidence) == (["UNI-01"], ("objection:o-1",))
    assert (rules_of(returning), returning.evidence) == (["UNI-02"], ("objection:o-2",))


def test_a_template_without_the_right_to_object_refuses_only_first_contacts() -> None:
    # MSG-04 asks review at the campaign level; UNI-07 decides who is a first contact.
    silent = campaign(message=dataclasses.replace(campaign().message, right_to_object_statement=False))
    first = decide_recipient(silent, recipient(marketing_messages_received=0), at=at_for(SEND_BLOCTEL))
    follow_up = decide_recipient(silent, recipient(marketing_messages_received=2), at=at_for(SEND_BLOCTEL))
    assert (first.decision, "UNI-07" in rules_of(first)) == (Decision.BLOCK, True)
    assert "UNI-07" not in rules_of(follow_up)

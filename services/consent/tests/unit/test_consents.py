"""Consents: granted only for registered consent-based purposes, provable, never overwritten."""

from __future__ import annotations

from datetime import timedelta

import pytest
from consent.domain import errors, events, model


@pytest.fixture
def grant(make_purpose, proof, t0):
    """Returns a helper that grants a consent with complete defaults."""
    purpose = make_purpose()

    def helper(**overrides):
        fields = {
            "contact_id": "contact-1",
            "purpose_id": purpose.purpose_id,
            "purpose": purpose,
            "channel": model.Channel.SMS_MMS,
            "at": t0,
            "collection_method": model.CollectionMethod.WEB_FORM,
            "wording": "J'accepte les offres d'Acme par SMS. Je peux retirer mon accord à tout moment.",
            "proof": proof,
            "notice_id": "notice-1",
            "notice_version": 2,
        }
        fields.update(overrides)
        return model.Consent.grant(**fields)

    helper.purpose = purpose
    return helper


def test_a_consent_is_refused_for_a_purpose_that_is_not_registered(grant):
    with pytest.raises(errors.UnknownPurposeError, match="not registered"):
        grant(purpose_id="nowhere", purpose=None)


def test_a_consent_is_refused_when_the_purpose_lawful_basis_is_not_consent(grant, make_purpose):
    contract_purpose = make_purpose(lawful_basis=model.LawfulBasis.CONTRACT)

    with pytest.raises(
        errors.LawfulBasisNotConsentError, match="lawful basis 'contract', not consent"
    ) as raised:
        grant(purpose_id=contract_purpose.purpose_id, purpose=contract_purpose)
    assert raised.value.lawful_basis == "contract"


def test_a_consent_is_refused_for_a_retired_purpose(grant, t0):
    grant.purpose.retire(at=t0 + timedelta(hours=1))

    with pytest.raises(errors.PurposeNotInForceError):
        grant(at=t0 + timedelta(days=1))


def test_a_consent_is_refused_when_the_purpose_basis_changed_away_from_consent(grant, t0):
    grant.purpose.revise(
        at=t0 + timedelta(days=1),
        lawful_basis=model.LawfulBasis.LEGITIMATE_INTERESTS,
        legitimate_interest="prospection de clients existants",
    )

    with pytest.raises(errors.LawfulBasisNotConsentError):
        grant(at=t0 + timedelta(days=2))


def test_a_direct_consent_is_granted_at_once_with_its_proof(grant, t0):
    consent = grant()

    assert consent.status is model.ConsentStatus.GRANTED
    assert consent.granted_at == t0
    assert consent.purpose_version == 1
    assert consent.notice_version == 2
    assert consent.events == [
        events.ConsentGranted(
            consent_id=consent.consent_id,
            contact_id="contact-1",
            purpose_id=grant.purpose.purpose_id,
            purpose_version=1,
            channel="sms_mms",
            notice_id="notice-1",
            notice_version=2,
            collector_kind="first_party",
            collector_name=None,
            requested_at=t0,
            granted_at=t0,
            confirmed_at=None,
        )
    ]


def test_an_email_consent_stays_pending_until_the_double_opt_in_is_confirmed(grant, t0):
    consent = grant(channel=model.Channel.EMAIL)

    assert consent.status is model.ConsentStatus.PENDING
    assert consent.granted_at is None
    assert not consent.is_granted
    assert isinstance(consent.events[0], events.ConsentRequested)

    confirmed = t0 + timedelta(minutes=7)
    consent.confirm(confirmed)

    assert consent.status is model.ConsentStatus.GRANTED
    assert consent.confirmed_at == confirmed
    assert consent.granted_at == confirmed
    assert consent.requested_at == t0
    granted = consent.events[-1]
    assert isinstance(granted, events.ConsentGranted)
    assert granted.confirmed_at == confirmed


def test_double_opt_in_can_be_switched_off_for_email_or_on_for_another_channel(grant):
    assert grant(channel=model.Channel.EMAIL, double_opt_in=False).status is model.ConsentStatus.GRANTED
    assert grant(channel=model.Channel.SMS_MMS, double_opt_in=True).status is model.ConsentStatus.PENDING


def test_a_granted_consent_cannot_be_confirmed_again(grant, t0):
    consent = grant()

    with pytest.raises(errors.ConsentNotPendingError):
        consent.confirm(t0 + timedelta(minutes=1))


def test_a_confirmation_cannot_predate_the_request(grant, t0):
    consent = grant(channel=model.Channel.EMAIL)

    with pytest.raises(errors.TimeOrderError):
        consent.confirm(t0 - timedelta(minutes=1))


def test_withdrawing_keeps_the_grant_time_beside_the_withdrawal_time(grant, t0):
    consent = grant()
    withdrawn = t0 + timedelta(days=40)

    consent.withdraw(withdrawn, source="unsubscribe_link")

    assert consent.status is model.ConsentStatus.WITHDRAWN
    assert consent.granted_at == t0
    assert consent.withdrawn_at == withdrawn
    assert consent.withdrawal_source == "unsubscribe_link"
    assert consent.events[-1] == events.ConsentWithdrawn(
        consent_id=consent.consent_id,
        contact_id="contact-1",
        purpose_id=grant.purpose.purpose_id,
        channel="sms_mms",
        granted_at=t0,
        withdrawn_at=withdrawn,
    )


def test_a_withdrawn_consent_cannot_be_withdrawn_or_confirmed_again(grant, t0):
    consent = grant(channel=model.Channel.EMAIL)
    consent.withdraw(t0 + timedelta(days=1))

    with pytest.raises(errors.ConsentAlreadyWithdrawnError):
        consent.withdraw(t0 + timedelta(days=2))
    with pytest.raises(errors.ConsentAlreadyWithdrawnError):
        consent.confirm(t0 + timedelta(days=2))


def test_granting_again_after_a_withdrawal_makes_a_new_record_and_leaves_the_old_one_intact(grant, t0):
    first = grant()
    first.withdraw(t0 + timedelta(days=10))

    second = grant(at=t0 + timedelta(days=20), existing=[first])

    assert second.consent_id != first.consent_id
    assert second.granted_at == t0 + timedelta(days=20)
    assert first.status is model.ConsentStatus.WITHDRAWN
    assert (first.granted_at, first.withdrawn_at) == (t0, t0 + timedelta(days=10))


def test_a_second_active_consent_for_the_same_contact_purpose_and_channel_is_refused(grant, t0):
    first = grant()

    with pytest.raises(errors.ConsentAlreadyActiveError):
        grant(at=t0 + timedelta(days=1), existing=[first])
    assert grant(channel=model.Channel.FAX, existing=[first]).channel is model.Channel.FAX


def test_a_consent_collected_by_a_broker_must_name_the_broker(grant):
    with pytest.raises(errors.CollectorNameMissingError):
        grant(collector=model.Collector(kind=model.CollectorKind.BROKER))

    consent = grant(
        collector=model.Collector(
            kind=model.CollectorKind.BROKER, name="DataLeads SARL", partner_list_shown=("Acme",)
        )
    )
    assert consent.collector.name == "DataLeads SARL"
    assert consent.events[-1].collector_name == "DataLeads SARL"


def test_a_consent_without_wording_or_collection_point_is_refused_as_unprovable(grant, t0):
    with pytest.raises(errors.ConsentProofIncompleteError) as raised:
        grant(wording=" ", proof=model.ConsentProof(captured_at=t0, source=""))
    assert raised.value.missing == ("wording", "proof.source")


def test_proof_refuses_a_full_ip_address_but_accepts_a_truncated_or_keyed_hash(t0):
    with pytest.raises(errors.RawIpAddressError):
        model.ConsentProof(captured_at=t0, source="form", ip="203.0.113.77")

    assert model.truncate_ip("203.0.113.77") == "203.0.113.0"
    assert model.truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::"
    hashed = model.keyed_ip_hash("203.0.113.77", key=b"k" * 32)
    assert len(hashed) == 64
    model.ConsentProof(captured_at=t0, source="form", ip=model.truncate_ip("2001:db8:1234:5678::1"))
    model.ConsentProof(captured_at=t0, source="form", ip=hashed)


def test_a_consent_claims_no_validity_term_that_was_not_stated(grant):
    consent = grant()
    assert consent.terms == model.ConsentTerms()
    granted = consent.events[-1]
    assert isinstance(granted, events.ConsentGranted)
    assert (granted.positive_act, granted.withdrawal_info_given, granted.explicit) == (False, False, False)
    assert granted.given_by == ("data_subject",) and granted.proof_present


def test_the_terms_of_a_joint_parental_and_explicit_consent_reach_its_events(grant):
    terms = model.ConsentTerms(
        positive_act=True,
        withdrawal_info_given=True,
        explicit=True,
        given_by=("parental_authority_holder", "data_subject", "data_subject"),
    )
    assert terms.given_by == (model.GivenBy.PARENTAL_AUTHORITY_HOLDER, model.GivenBy.DATA_SUBJECT)
    assert terms.given_jointly
    pending = grant(channel=model.Channel.EMAIL, terms=terms)
    requested = pending.events[-1]
    assert isinstance(requested, events.ConsentRequested)
    assert requested.given_by == ("parental_authority_holder", "data_subject") and requested.explicit
    pending.confirm(pending.requested_at + timedelta(minutes=5))
    confirmed = pending.events[-1]
    assert isinstance(confirmed, events.ConsentGranted)
    assert confirmed.positive_act and confirmed.withdrawal_info_given and confirmed.explicit


def test_a_consent_given_by_nobody_or_by_an_unknown_party_is_refused():
    with pytest.raises(errors.ConsentProofIncompleteError, match="given_by"):
        model.ConsentTerms(given_by=())
    with pytest.raises(ValueError):
        model.ConsentTerms(given_by=("neighbour",))
    assert not model.ConsentTerms(given_by=("parental_authority_holder",)).given_jointly


# --- Terms derived from what was entered (issue 13: the gate reads consent's record, never an assumption).


def _derive(wording="J'accepte les offres d'Acme par SMS.", notice=False, **entered):
    return model.ConsentTerms.derive(
        model.TermsEntered(**entered), wording=wording, notice_states_withdrawal=notice
    )


@pytest.mark.parametrize("act", ["pre_ticked_box", "bundled_with_terms", "inactivity"])
def test_a_pre_ticked_box_bundled_terms_or_inactivity_give_no_positive_act(act):
    terms = _derive(act=act)
    assert terms.positive_act is False and terms.act == model.ConsentAct(act)


@pytest.mark.parametrize("act", ["ticked_box", "clicked_button", "signed", "said_yes", "replied_yes"])
def test_an_affirmative_act_gives_a_positive_act(act):
    assert _derive(act=act).positive_act is True


def test_a_positive_act_is_never_assumed_and_a_claim_contradicting_the_act_is_refused():
    assert _derive().positive_act is False
    assert _derive(positive_act=True).positive_act is True  # the collector's own statement, no act given
    with pytest.raises(errors.ConsentTermsContradictedError, match="terms.positive_act"):
        _derive(act="pre_ticked_box", positive_act=True)
    with pytest.raises(errors.ConsentTermsContradictedError, match="terms.explicit"):
        _derive(act="bundled_with_terms", explicit=True)


def test_a_consent_whose_wording_does_not_say_it_can_be_withdrawn_records_no_withdrawal_information():
    assert _derive(act="ticked_box").withdrawal_info_given is False
    with pytest.raises(errors.ConsentTermsContradictedError, match="terms.withdrawal_info_given"):
        _derive(act="ticked_box", withdrawal_info_given=True)


@pytest.mark.parametrize(
    "text",
    [
        "J'accepte les offres d'Acme par SMS. Je peux retirer mon accord à tout moment.",
        "Vous pourrez retirer votre consentement à tout moment via le lien en bas de chaque message.",
        "Votre consentement peut être retiré à tout moment.",
        "Désinscription possible à tout moment.",
        "Répondez STOP au 36111 pour ne plus recevoir nos SMS.",
        "You can withdraw your consent at any time.",
        "Unsubscribe at any time.",
    ],
)
def test_the_wording_or_the_withdrawal_statement_tells_the_person_consent_can_be_withdrawn(text):
    assert _derive(wording=text).withdrawal_info_given is True
    assert _derive(withdrawal_statement=text).withdrawal_info_given is True


@pytest.mark.parametrize(
    "text", ["J'accepte de recevoir les offres d'Acme.", "Retirez votre colis en magasin."]
)
def test_wording_without_a_withdrawal_statement_does_not_count(text):
    assert model.states_withdrawal(text) is False


def test_the_notice_cited_at_collection_counts_when_it_states_the_right_to_withdraw(make_purpose, t0):
    from consent.domain.notices import ART13_REQUIRED, Notice

    purpose = make_purpose()
    content = {item: f"Texte pour {item}." for item in ART13_REQUIRED}
    notice = Notice.draft(language="fr", article="13", purpose_ids=[purpose.purpose_id], content=content)
    notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    assert notice.tells_consent_can_be_withdrawn(purpose.purpose_id)
    assert not notice.tells_consent_can_be_withdrawn("another-purpose")
    assert _derive(notice=True, withdrawal_info_given=True).withdrawal_info_given is True


def test_derived_terms_reach_the_events_exactly_as_stored(grant):
    consent = grant(terms=_derive(act="pre_ticked_box", given_by=("data_subject",)))
    granted = consent.events[-1]
    assert isinstance(granted, events.ConsentGranted)
    assert {k: getattr(granted, k) for k in consent.terms.facts()} == consent.terms.facts()
    assert granted.positive_act is False and granted.withdrawal_info_given is False
    assert granted.proof_present is consent.proof_present is True


def test_out_of_hours_calls_are_only_for_a_human_phone_consent(grant):
    phone = grant(channel=model.Channel.PHONE_HUMAN, out_of_hours_calls=True)
    granted = phone.events[-1]
    assert isinstance(granted, events.ConsentGranted) and granted.out_of_hours_calls is True
    assert grant(contact_id="contact-2").events[-1].out_of_hours_calls is False
    with pytest.raises(errors.OutOfHoursCallsChannelError, match="out_of_hours_calls"):
        grant(contact_id="contact-3", channel=model.Channel.SMS_MMS, out_of_hours_calls=True)
    pending = grant(contact_id="contact-4", channel=model.Channel.EMAIL)
    requested = pending.events[-1]
    assert isinstance(requested, events.ConsentRequested) and requested.out_of_hours_calls is False

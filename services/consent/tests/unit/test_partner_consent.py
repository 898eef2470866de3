"""Consents name the partners a person's data may go to, and consent to e-mail tracking (issue 19)."""

from __future__ import annotations

import pytest
from consent.domain import errors, events, model


@pytest.fixture
def grant(make_purpose, proof, t0):
    purpose = make_purpose()

    def helper(**overrides):
        fields = {
            "contact_id": "contact-1",
            "purpose_id": purpose.purpose_id,
            "purpose": purpose,
            "channel": model.Channel.EMAIL,
            "at": t0,
            "collection_method": model.CollectionMethod.WEB_FORM,
            "wording": "J'accepte les offres d'Acme et de ses partenaires. Je peux retirer mon accord.",
            "proof": proof,
            "double_opt_in": False,
        }
        fields.update(overrides)
        return model.Consent.grant(**fields)

    return helper


def test_a_consent_names_its_partners_and_categories_and_publishes_them(grant):
    consent = grant(
        partners=[" Assur Plus SA ", "Voyages Soleil", "Assur Plus SA", " "],
        partner_categories=["insurance"],
        email_tracking=True,
    )
    assert consent.partners == ("Assur Plus SA", "Voyages Soleil")
    assert consent.partner_categories == ("insurance",)
    granted = consent.events[-1]
    assert isinstance(granted, events.ConsentGranted)
    assert granted.partners == ("Assur Plus SA", "Voyages Soleil")
    assert granted.partner_categories == ("insurance",)
    assert granted.email_tracking is True


def test_a_consent_by_default_covers_no_partner_and_no_tracking(grant):
    requested = grant(double_opt_in=True).events[-1]
    assert isinstance(requested, events.ConsentRequested)
    assert (requested.partners, requested.partner_categories, requested.email_tracking) == ((), (), False)


def test_email_tracking_is_only_for_an_email_consent(grant):
    with pytest.raises(errors.EmailTrackingChannelError, match="email_tracking") as raised:
        grant(channel=model.Channel.SMS_MMS, email_tracking=True)
    assert raised.value.problem_extra["errors"][0]["field"] == "email_tracking"

"""The scope of an objection (an unsubscribe): all direct marketing, one channel or one purpose."""

from __future__ import annotations

import pytest
from consent.domain import errors, events, model
from consent.service_layer import commands, handlers
from consent_fakes import FakeStore, FakeUnitOfWork


def test_a_plain_objection_covers_all_direct_marketing_on_every_channel_and_purpose(t0) -> None:
    objection = model.Objection.record(contact_id="c1", scope=model.DEFAULT_OBJECTION_SCOPE, at=t0)

    assert objection.scope == model.ALL_DIRECT_MARKETING == model.DEFAULT_OBJECTION_SCOPE.value
    assert all(objection.covers(ch, "p-news") and objection.covers(ch) for ch in model.Channel)


def test_all_is_another_name_of_all_direct_marketing(t0) -> None:
    objection = model.Objection.record(contact_id="c1", scope="all", at=t0)

    assert (objection.scope, objection.channel, objection.purpose_id) == ("all_direct_marketing", None, None)


def test_a_channel_objection_covers_that_channel_for_every_purpose_and_no_other_channel(t0) -> None:
    objection = model.Objection.record(contact_id="c1", scope="channel", channel="sms_mms", at=t0)

    assert objection.covers(model.Channel.SMS_MMS, "p-news") and objection.covers(
        model.Channel.SMS_MMS, "p-x"
    )
    assert not objection.covers(model.Channel.EMAIL, "p-news")
    [event] = objection.events
    assert isinstance(event, events.ObjectionRecorded)
    assert (event.scope, event.channel, event.purpose_id) == ("channel", "sms_mms", None)


def test_a_channel_given_as_the_scope_keeps_its_former_meaning(t0) -> None:
    objection = model.Objection.record(contact_id="c1", scope=model.Channel.EMAIL, at=t0)

    assert (objection.scope, objection.channel) == ("channel", model.Channel.EMAIL)
    assert objection.covers(model.Channel.EMAIL) and not objection.covers(model.Channel.FAX)


def test_a_purpose_objection_covers_that_purpose_on_every_channel_and_no_other_purpose(t0) -> None:
    objection = model.Objection.record(contact_id="c1", scope="purpose", purpose_id="p-news", at=t0)

    assert all(objection.covers(ch, "p-news") for ch in model.Channel)
    assert not objection.covers(model.Channel.EMAIL, "p-offers")
    assert not objection.covers(model.Channel.EMAIL)
    [event] = objection.events
    assert (event.scope, event.channel, event.purpose_id) == ("purpose", None, "p-news")


@pytest.mark.parametrize(
    ("scope", "channel", "purpose_id", "fields"),
    [
        ("channel", None, None, ["channel"]),
        ("purpose", None, None, ["purpose_id"]),
        ("purpose", "email", None, ["channel", "purpose_id"]),
        ("all_direct_marketing", "email", "p-news", ["channel", "purpose_id"]),
        ("channel", "email", "p-news", ["purpose_id"]),
        ("email", "sms_mms", None, ["channel"]),
        ("channel", "pigeon", None, ["channel"]),
    ],
)
def test_a_scope_that_does_not_match_its_fields_is_refused_naming_each_field(
    t0, scope: str, channel: str | None, purpose_id: str | None, fields: list[str]
) -> None:
    with pytest.raises(errors.ObjectionScopeError) as refused:
        model.Objection.record(contact_id="c1", scope=scope, channel=channel, purpose_id=purpose_id, at=t0)

    assert sorted({e["field"] for e in refused.value.problem_extra["errors"]}) == fields


def test_an_unknown_scope_names_the_scope_field(t0) -> None:
    with pytest.raises(errors.InvalidObjectionScopeError) as refused:
        model.Objection.record(contact_id="c1", scope="pigeons", at=t0)

    assert [e["field"] for e in refused.value.problem_extra["errors"]] == ["scope"]


async def test_a_purpose_objection_must_name_a_purpose_of_the_register() -> None:
    uow = FakeUnitOfWork(FakeStore())
    with pytest.raises(errors.ObjectionScopeError) as refused:
        await handlers.record_objection(
            commands.RecordObjection(actor="crm", scope="purpose", purpose_id="nope", contact_id="c1"), uow
        )
    assert [e["field"] for e in refused.value.problem_extra["errors"]] == ["purpose_id"]

    purpose = await handlers.register_purpose(
        commands.RegisterPurpose(
            actor="admin",
            name="Newsletter",
            controller=model.Party(name="Acme SA", contact="dpo@acme.example"),
            description="Send the monthly newsletter",
            lawful_basis=model.LawfulBasis.CONSENT,
            data_categories={model.DataCategory.IDENTITY: ("e-mail",)},
            data_subjects=("subscribers",),
            retention={"subscribers": "until unsubscribe"},
            security_measures=model.SecurityMeasures(access_control="named accounts"),
        ),
        uow,
    )
    objection = await handlers.record_objection(
        commands.RecordObjection(
            actor="crm", scope="purpose", purpose_id=purpose.purpose_id, contact_id="c1"
        ),
        uow,
    )
    assert (objection.scope, objection.purpose_id) == ("purpose", purpose.purpose_id)


def test_the_api_takes_every_scope_the_domain_knows_and_the_channel_names_of_the_former_form() -> None:
    from typing import get_args

    from consent.entrypoints import schemas

    assert set(get_args(schemas.ObjectionScopeName)) == (
        {s.value for s in model.ObjectionScope} | {"all"} | {c.value for c in model.Channel}
    )

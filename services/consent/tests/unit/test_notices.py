"""Notices: mandatory Art. 13/14 content, content hash, deliveries and the Art. 14 deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from consent.domain import errors, events, model, notices

ART13_ITEMS = notices.ART13_REQUIRED
ART14_ITEMS = notices.ART14_REQUIRED


def full_content(article: str) -> dict[str, str]:
    """Returns a content dict that states every mandatory item of `article`."""
    return {item: f"texte pour {item}" for item in notices.REQUIRED_ITEMS[notices.NoticeArticle(article)]}


@pytest.fixture
def purpose(make_purpose):
    return make_purpose()


def draft(purpose, article="13", content=None, **kwargs):
    return notices.Notice.draft(
        language="fr",
        article=article,
        purpose_ids=[purpose.purpose_id],
        content=full_content(article) if content is None else content,
        **kwargs,
    )


def test_the_art14_list_drops_13_2_e_and_adds_categories_and_source():
    assert "statutory_or_contractual_requirement_and_consequences_of_not_providing" not in ART14_ITEMS
    assert set(ART14_ITEMS) - set(ART13_ITEMS) == {
        "categories_of_personal_data",
        "source_of_data_and_whether_publicly_accessible",
    }
    assert len(ART13_ITEMS) == 12
    assert len(ART14_ITEMS) == 13


def test_a_complete_notice_is_published_with_the_hash_of_its_canonical_content(purpose, t0):
    notice = draft(purpose)

    content_hash = notice.publish(at=t0, purposes={purpose.purpose_id: purpose})

    assert notice.published_at == t0
    assert content_hash == notice.content_hash
    assert len(content_hash) == 64
    reordered = dict(reversed(list(notice.content.items())))
    assert content_hash == notices.canonical_content_hash(
        article="13", language="fr", purpose_ids=[purpose.purpose_id], content=reordered
    )
    assert notice.events == [
        events.NoticePublished(
            notice_id=notice.notice_id,
            version=1,
            article="13",
            language="fr",
            purpose_ids=(purpose.purpose_id,),
            content_hash=content_hash,
            at=t0,
        )
    ]


def test_changing_one_item_changes_the_content_hash(purpose):
    one = draft(purpose)
    other = draft(purpose, content={**full_content("13"), "dpo_contact": "dpo2@acme.example"})

    assert one.compute_hash() != other.compute_hash()


@pytest.mark.parametrize("item", ART13_ITEMS)
def test_an_art13_notice_missing_a_mandatory_item_is_refused_naming_it(purpose, t0, item):
    content = full_content("13")
    del content[item]
    notice = draft(purpose, "13", content)

    with pytest.raises(errors.NoticeIncompleteError, match=item) as raised:
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    assert raised.value.missing_items == (item,)
    assert not notice.is_published


@pytest.mark.parametrize("item", ART14_ITEMS)
def test_an_art14_notice_missing_a_mandatory_item_is_refused_naming_it(purpose, t0, item):
    content = full_content("14")
    content[item] = "   "
    notice = draft(purpose, "14", content)

    with pytest.raises(errors.NoticeIncompleteError, match=item) as raised:
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    assert raised.value.missing_items == (item,)


def test_an_art13_notice_reused_as_art14_is_refused_for_categories_and_source(purpose, t0):
    notice = draft(purpose, "14", full_content("13"))

    with pytest.raises(errors.NoticeIncompleteError) as raised:
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    assert raised.value.missing_items == (
        "categories_of_personal_data",
        "source_of_data_and_whether_publicly_accessible",
    )


def test_every_missing_item_is_named_at_once(purpose, t0):
    notice = draft(purpose, "13", {"controller_identity_and_contact": "Acme SAS"})

    with pytest.raises(errors.NoticeIncompleteError) as raised:
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})
    assert raised.value.missing_items == ART13_ITEMS[1:]


def test_a_conditional_item_may_be_marked_not_applicable_when_no_purpose_needs_it(make_purpose, t0):
    purpose = make_purpose(lawful_basis=model.LawfulBasis.CONTRACT)
    content = full_content("13")
    del content["right_to_withdraw_consent"]
    del content["automated_decision_making_incl_profiling_logic_significance_consequences"]
    notice = draft(
        purpose,
        "13",
        content,
        not_applicable=[
            "right_to_withdraw_consent",
            "automated_decision_making_incl_profiling_logic_significance_consequences",
        ],
    )

    notice.publish(at=t0, purposes={purpose.purpose_id: purpose})

    assert notice.is_published


def test_the_right_to_withdraw_cannot_be_marked_not_applicable_for_a_consent_purpose(purpose, t0):
    content = full_content("13")
    del content["right_to_withdraw_consent"]
    notice = draft(purpose, "13", content, not_applicable=["right_to_withdraw_consent"])

    with pytest.raises(errors.NoticeItemNotApplicableError, match="right_to_withdraw_consent"):
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})


def test_an_unconditional_item_cannot_be_marked_not_applicable(purpose, t0):
    content = full_content("13")
    del content["right_to_complain_to_cnil"]
    notice = draft(purpose, "13", content, not_applicable=["right_to_complain_to_cnil"])

    with pytest.raises(errors.NoticeIncompleteError, match="right_to_complain_to_cnil"):
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})


def test_a_notice_item_key_outside_the_rule_book_is_refused(purpose):
    with pytest.raises(errors.UnknownNoticeItemError):
        draft(purpose, "13", {**full_content("13"), "our_values": "..."})


def test_a_notice_for_an_unregistered_purpose_is_not_published(purpose, t0):
    notice = draft(purpose)

    with pytest.raises(errors.UnknownPurposeError):
        notice.publish(at=t0, purposes={})


def test_a_published_notice_is_immutable_and_changes_make_a_new_version(purpose, t0):
    notice = draft(purpose)
    notice.publish(at=t0, purposes={purpose.purpose_id: purpose})

    with pytest.raises(errors.NoticeAlreadyPublishedError):
        notice.set_item("dpo_contact", "other")
    with pytest.raises(errors.NoticeAlreadyPublishedError):
        notice.publish(at=t0, purposes={purpose.purpose_id: purpose})

    successor = notice.next_version(content={**notice.content, "dpo_contact": "dpo2@acme.example"})
    assert (successor.notice_id, successor.version, successor.is_published) == (notice.notice_id, 2, False)


def test_the_article_must_be_13_or_14(purpose):
    with pytest.raises(errors.InvalidNoticeError):
        draft(purpose, "15", {})


def test_a_delivery_records_the_notice_version_and_its_hash(purpose, t0):
    notice = draft(purpose)
    notice.publish(at=t0, purposes={purpose.purpose_id: purpose})

    delivery = notices.NoticeDelivery.deliver(
        notice=notice,
        contact_id="contact-1",
        channel="web_form",
        at=t0 + timedelta(minutes=1),
        evidence={"form": "newsletter-v3", "checkbox_shown": "true"},
    )

    assert (delivery.notice_id, delivery.notice_version) == (notice.notice_id, 1)
    assert delivery.content_hash == notice.content_hash
    assert delivery.evidence["form"] == "newsletter-v3"
    assert isinstance(delivery.events[0], events.NoticeDelivered)


def test_an_unpublished_notice_cannot_be_delivered(purpose, t0):
    with pytest.raises(errors.NoticeNotPublishedError):
        notices.NoticeDelivery.deliver(notice=draft(purpose), contact_id="c", channel="email", at=t0)


# Art. 14(3), INFO-02.


def test_art14_deadline_is_one_calendar_month_after_obtaining_by_default():
    obtained = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)

    assert notices.art14_deadline(obtained_at=obtained) == datetime(2026, 4, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("obtained", "due"),
    [
        (datetime(2026, 1, 31, 8, tzinfo=UTC), datetime(2026, 2, 28, 8, tzinfo=UTC)),
        (datetime(2028, 1, 31, 8, tzinfo=UTC), datetime(2028, 2, 29, 8, tzinfo=UTC)),
        (datetime(2026, 12, 15, 8, tzinfo=UTC), datetime(2027, 1, 15, 8, tzinfo=UTC)),
        (datetime(2026, 3, 31, 8, tzinfo=UTC), datetime(2026, 4, 30, 8, tzinfo=UTC)),
    ],
)
def test_art14_month_is_a_calendar_month_clipped_to_the_end_of_short_months(obtained, due):
    assert notices.art14_deadline(obtained_at=obtained) == due


def test_art14_deadline_is_the_first_communication_when_it_comes_earlier():
    obtained = datetime(2026, 3, 10, tzinfo=UTC)
    first_mail = datetime(2026, 3, 20, tzinfo=UTC)

    assert notices.art14_deadline(obtained_at=obtained, first_communication_at=first_mail) == first_mail


def test_art14_deadline_is_the_first_disclosure_when_it_comes_earliest():
    obtained = datetime(2026, 3, 10, tzinfo=UTC)

    deadline = notices.art14_deadline(
        obtained_at=obtained,
        first_communication_at=datetime(2026, 3, 25, tzinfo=UTC),
        first_disclosure_at=datetime(2026, 3, 12, tzinfo=UTC),
    )

    assert deadline == datetime(2026, 3, 12, tzinfo=UTC)


def test_art14_deadline_stays_one_month_when_communication_comes_later():
    obtained = datetime(2026, 3, 10, tzinfo=UTC)

    deadline = notices.art14_deadline(
        obtained_at=obtained, first_communication_at=datetime(2026, 6, 1, tzinfo=UTC)
    )

    assert deadline == datetime(2026, 4, 10, tzinfo=UTC)


def test_art14_deadline_refuses_naive_times():
    with pytest.raises(errors.NaiveDatetimeError):
        notices.art14_deadline(obtained_at=datetime(2026, 3, 10))

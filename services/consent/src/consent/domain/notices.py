"""Information notices (Art. 13/14 GDPR), their mandatory content, deliveries and the Art. 14 deadline."""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from consent.domain import errors, events
from consent.domain.model import LawfulBasis, Purpose, check_aware, check_not_before, new_id


class NoticeArticle(StrEnum):
    """The GDPR article a notice answers: 13 (data from the person) or 14 (data from elsewhere)."""

    ART13 = "13"
    ART14 = "14"


# Rule book H.1, `art13_required`, in its order.
ART13_REQUIRED: tuple[str, ...] = (
    "controller_identity_and_contact",
    "dpo_contact",
    "purposes_and_legal_basis",
    "legitimate_interests_pursued",
    "recipients_or_categories",
    "third_country_transfers_and_safeguards",
    "retention_period_or_criteria",
    "rights_access_rectification_erasure_restriction_objection_portability",
    "right_to_withdraw_consent",
    "right_to_complain_to_cnil",
    "statutory_or_contractual_requirement_and_consequences_of_not_providing",
    "automated_decision_making_incl_profiling_logic_significance_consequences",
)

# Rule book H.1, `art14_required`: every Art. 13 item except 13(2)(e), plus 14(1)(d) and 14(2)(f).
ART14_REQUIRED: tuple[str, ...] = tuple(
    item
    for item in ART13_REQUIRED
    if item != "statutory_or_contractual_requirement_and_consequences_of_not_providing"
) + (
    "categories_of_personal_data",
    "source_of_data_and_whether_publicly_accessible",
)

REQUIRED_ITEMS: dict[NoticeArticle, tuple[str, ...]] = {
    NoticeArticle.ART13: ART13_REQUIRED,
    NoticeArticle.ART14: ART14_REQUIRED,
}

# French extra of H.1 (art. 85 loi 78-17), marked VERIFY in the rule book: accepted, not required.
FR_RECOMMENDED_ITEMS: tuple[str, ...] = ("post_mortem_directives_right",)

KNOWN_ITEMS: frozenset[str] = frozenset(ART13_REQUIRED + ART14_REQUIRED + FR_RECOMMENDED_ITEMS)

# Items that the GDPR makes conditional ("where applicable", "if 6(1)(f)", ...). A notice must still
# address them, but may do so by marking them not applicable, so that silence is never ambiguous.
CONDITIONAL_ITEMS: frozenset[str] = frozenset(
    {
        "dpo_contact",
        "legitimate_interests_pursued",
        "third_country_transfers_and_safeguards",
        "right_to_withdraw_consent",
        "statutory_or_contractual_requirement_and_consequences_of_not_providing",
        "automated_decision_making_incl_profiling_logic_significance_consequences",
    }
)


def missing_items(
    article: NoticeArticle | str,
    content: Mapping[str, str],
    not_applicable: Iterable[str] = (),
) -> list[str]:
    """Returns the H.1 keys that `content` neither states nor validly marks not applicable, in H.1 order."""
    waived = set(not_applicable) & CONDITIONAL_ITEMS
    return [
        item
        for item in REQUIRED_ITEMS[NoticeArticle(article)]
        if item not in waived and not (content.get(item) or "").strip()
    ]


def check_not_applicable_consistent(
    not_applicable: Iterable[str], purposes: Iterable[Purpose], at: datetime
) -> None:
    """Raises `NoticeItemNotApplicableError` when a waived item is unconditional or required by a purpose."""
    waived = set(not_applicable)
    unconditional = sorted(waived - CONDITIONAL_ITEMS)
    if unconditional:
        raise errors.NoticeItemNotApplicableError(unconditional[0], "the item is mandatory in every notice")
    for purpose in purposes:
        version = purpose.version_in_force_or_raise(at)
        required_by_purpose = {
            "dpo_contact": version.dpo is not None,
            "legitimate_interests_pursued": version.lawful_basis is LawfulBasis.LEGITIMATE_INTERESTS,
            "right_to_withdraw_consent": version.lawful_basis is LawfulBasis.CONSENT,
            "third_country_transfers_and_safeguards": bool(version.transfers),
        }
        for item, required in required_by_purpose.items():
            if required and item in waived:
                raise errors.NoticeItemNotApplicableError(
                    item, f"purpose {purpose.purpose_id!r} (version {version.version}) needs it"
                )


def canonical_content_hash(
    *,
    article: NoticeArticle | str,
    language: str,
    purpose_ids: Iterable[str],
    content: Mapping[str, str],
    not_applicable: Iterable[str] = (),
) -> str:
    """Returns the SHA-256 (hex) of the notice's canonical JSON: what the person was shown."""
    document = {
        "article": str(NoticeArticle(article)),
        "language": language,
        "purpose_ids": sorted(purpose_ids),
        "content": dict(sorted(content.items())),
        "not_applicable": sorted(not_applicable),
    }
    # Because the same notice must hash the same on every machine: sorted keys, no spaces, UTF-8.
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Notice:
    """One version of an information notice; immutable once published."""

    notice_id: str
    version: int
    language: str
    article: NoticeArticle
    purpose_ids: tuple[str, ...]
    content: dict[str, str]
    not_applicable: frozenset[str] = frozenset()
    published_at: datetime | None = None
    content_hash: str | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def draft(
        cls,
        *,
        language: str,
        article: NoticeArticle | str,
        purpose_ids: Iterable[str],
        content: Mapping[str, str],
        not_applicable: Iterable[str] = (),
        notice_id: str | None = None,
        version: int = 1,
    ) -> Notice:
        """Creates an unpublished notice version."""
        try:
            article = NoticeArticle(str(article))
        except ValueError as exc:
            raise errors.InvalidNoticeError(f"article must be '13' or '14', not {article!r}") from exc
        if not language.strip():
            raise errors.InvalidNoticeError("language is required")
        purposes = tuple(dict.fromkeys(purpose_ids))
        if not purposes:
            raise errors.InvalidNoticeError("a notice covers at least one purpose")
        if version < 1:
            raise errors.InvalidNoticeError("version starts at 1")
        for item in list(content) + list(not_applicable):
            check_known_item(item)
        return cls(
            notice_id=notice_id or new_id(),
            version=version,
            language=language,
            article=article,
            purpose_ids=purposes,
            content=dict(content),
            not_applicable=frozenset(not_applicable),
        )

    @property
    def is_published(self) -> bool:
        """Tells whether this version was published."""
        return self.published_at is not None

    def set_item(self, item: str, text: str) -> None:
        """Sets the text of one content item of a draft."""
        self.check_not_published()
        check_known_item(item)
        self.content[item] = text

    def compute_hash(self) -> str:
        """Returns the canonical content hash of this version as it stands."""
        return canonical_content_hash(
            article=self.article,
            language=self.language,
            purpose_ids=self.purpose_ids,
            content=self.content,
            not_applicable=self.not_applicable,
        )

    def publish(self, *, at: datetime, purposes: Mapping[str, Purpose]) -> str:
        """Publishes this version after checking its mandatory content; returns the content hash.

        `purposes` maps the register entries by id; every covered purpose must be in force at `at`.
        """
        check_aware("at", at)
        self.check_not_published()
        covered = []
        for purpose_id in self.purpose_ids:
            purpose = purposes.get(purpose_id)
            if purpose is None:
                raise errors.UnknownPurposeError(purpose_id)
            purpose.version_in_force_or_raise(at)
            covered.append(purpose)
        missing = missing_items(self.article, self.content, self.not_applicable)
        if missing:
            raise errors.NoticeIncompleteError(missing)
        check_not_applicable_consistent(self.not_applicable, covered, at)
        self.published_at = at
        self.content_hash = self.compute_hash()
        self.events.append(
            events.NoticePublished(
                notice_id=self.notice_id,
                version=self.version,
                article=self.article.value,
                language=self.language,
                purpose_ids=self.purpose_ids,
                content_hash=self.content_hash,
                at=at,
            )
        )
        return self.content_hash

    def next_version(
        self,
        *,
        content: Mapping[str, str] | None = None,
        purpose_ids: Iterable[str] | None = None,
        not_applicable: Iterable[str] | None = None,
    ) -> Notice:
        """Returns a draft of version n+1 of this notice, copying what is not given."""
        return Notice.draft(
            notice_id=self.notice_id,
            version=self.version + 1,
            language=self.language,
            article=self.article,
            purpose_ids=self.purpose_ids if purpose_ids is None else purpose_ids,
            content=self.content if content is None else content,
            not_applicable=self.not_applicable if not_applicable is None else not_applicable,
        )

    def tells_consent_can_be_withdrawn(self, purpose_id: str) -> bool:
        """Tells whether this published version, shown for `purpose_id`, states the right to withdraw."""
        return (
            self.is_published
            and purpose_id in self.purpose_ids
            and "right_to_withdraw_consent" not in self.not_applicable
            and bool((self.content.get("right_to_withdraw_consent") or "").strip())
        )

    def check_not_published(self) -> None:
        """Raises `NoticeAlreadyPublishedError` when this version is published."""
        if self.is_published:
            raise errors.NoticeAlreadyPublishedError(self.notice_id, self.version)


def check_known_item(item: str) -> None:
    """Raises `UnknownNoticeItemError` when `item` is not an H.1 key."""
    if item not in KNOWN_ITEMS:
        raise errors.UnknownNoticeItemError(item)


@dataclass
class NoticeDelivery:
    """Proof that a contact received one published notice version."""

    delivery_id: str
    contact_id: str
    notice_id: str
    notice_version: int
    content_hash: str
    channel: str
    delivered_at: datetime
    evidence: dict[str, str]
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def deliver(
        cls,
        *,
        notice: Notice,
        contact_id: str,
        channel: str,
        at: datetime,
        evidence: Mapping[str, str] | None = None,
        delivery_id: str | None = None,
    ) -> NoticeDelivery:
        """Records that `notice` was delivered to `contact_id` at `at`, with its evidence."""
        check_aware("at", at)
        if notice.published_at is None or notice.content_hash is None:
            raise errors.NoticeNotPublishedError(notice.notice_id, notice.version)
        check_not_before("delivery time", at, "publication time", notice.published_at)
        if not channel.strip():
            raise errors.InvalidNoticeError("delivery channel is required")
        delivery = cls(
            delivery_id=delivery_id or new_id(),
            contact_id=contact_id,
            notice_id=notice.notice_id,
            notice_version=notice.version,
            content_hash=notice.content_hash,
            channel=channel,
            delivered_at=at,
            evidence=dict(evidence or {}),
        )
        delivery.events.append(
            events.NoticeDelivered(
                delivery_id=delivery.delivery_id,
                contact_id=contact_id,
                notice_id=notice.notice_id,
                notice_version=notice.version,
                content_hash=notice.content_hash,
                channel=channel,
                at=at,
            )
        )
        return delivery


def add_calendar_month(moment: datetime) -> datetime:
    """Returns the same day and time one calendar month later, clipped to the month's last day."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def art14_deadline(
    *,
    obtained_at: datetime,
    first_communication_at: datetime | None = None,
    first_disclosure_at: datetime | None = None,
) -> datetime:
    """Returns when an Art. 14 notice is due: the earliest of obtaining + 1 month, communication, disclosure.

    Art. 14(3) and INFO-02. The month ends at the same time of day, not at the end of that day:
    Regulation 1182/71 would allow the whole day, and the earlier instant is the safe side.
    """
    check_aware("obtained_at", obtained_at)
    check_aware("first_communication_at", first_communication_at)
    check_aware("first_disclosure_at", first_disclosure_at)
    candidates = [add_calendar_month(obtained_at)]
    candidates += [t for t in (first_communication_at, first_disclosure_at) if t is not None]
    return min(candidates)

"""What a contact's erasure removes from the consent service and what it keeps (SPEC §7, UNI-02)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from consent.domain import events
from consent.domain.model import ALL_DIRECT_MARKETING, Consent, Objection, ObjectionReason, check_aware
from consent.domain.notices import NoticeDelivery


@dataclass(frozen=True)
class ErasurePlan:
    """The records to delete and the suppression entries to keep for one contact's erasure."""

    contact_id: str
    consent_ids: tuple[str, ...]
    delivery_ids: tuple[str, ...]
    kept_objections: tuple[Objection, ...]
    objections_without_blind_index: tuple[str, ...]
    event: events.ConsentDataErased
    #: The suppression entry recorded because the contact had no objection (reason `erasure`), if any.
    erasure_objection: Objection | None = None

    @property
    def kept_blind_indexes(self) -> tuple[str, ...]:
        """Returns every blind index that stays in the objection list after the erasure."""
        return tuple(dict.fromkeys(i for o in self.kept_objections for i in o.blind_indexes))


def erase_subject(
    *,
    contact_id: str,
    consents: Iterable[Consent],
    deliveries: Iterable[NoticeDelivery],
    objections: Iterable[Objection],
    at: datetime,
    blind_indexes: Iterable[str] = (),
) -> ErasurePlan:
    """Returns the plan of a contact's erasure: its consents and notice deliveries go, its objections stay.

    Kept objections are copies with the contact id removed, so that only the blind indexes, the scope
    and the time remain (RET-05: the suppression list keeps hashes and a timestamp, nothing else).
    An objection without a blind index cannot match a re-imported record; the plan lists it so that
    the caller can warn, but it is kept all the same, since an objection is never dropped.

    `blind_indexes` are the contact's e-mail and phone indexes at erasure (contact_erased carries them):
    they join the kept objections, and when the contact had none, an objection to all direct marketing
    with reason `erasure` keeps them, so that a later re-import of the same e-mail or phone is blocked
    (UNI-02) even though the person never objected.
    """
    check_aware("at", at)
    indexes = tuple(dict.fromkeys(i for i in blind_indexes if i))
    consent_ids = tuple(c.consent_id for c in consents if c.contact_id == contact_id)
    delivery_ids = tuple(d.delivery_id for d in deliveries if d.contact_id == contact_id)
    own = [o for o in objections if o.contact_id == contact_id]
    kept = tuple(dataclasses.replace(o, contact_id=None, events=[]) for o in own)
    for objection in kept:
        objection.add_blind_indexes(indexes, at=at)
    erasure_objection = None
    if not own and indexes:
        erasure_objection = Objection.record(
            contact_id=None,
            scope=ALL_DIRECT_MARKETING,
            at=at,
            blind_indexes=indexes,
            reason=ObjectionReason.ERASURE,
        )
        kept += (erasure_objection,)
    event = events.ConsentDataErased(
        contact_id=contact_id,
        consent_ids=consent_ids,
        delivery_ids=delivery_ids,
        kept_objection_ids=tuple(o.objection_id for o in kept),
        at=at,
    )
    return ErasurePlan(
        contact_id=contact_id,
        consent_ids=consent_ids,
        delivery_ids=delivery_ids,
        kept_objections=kept,
        objections_without_blind_index=tuple(o.objection_id for o in kept if not o.blind_indexes),
        event=event,
        erasure_objection=erasure_objection,
    )

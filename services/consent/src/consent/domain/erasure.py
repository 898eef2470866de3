"""What a contact's erasure removes from the consent service and what it keeps (SPEC §7, UNI-02)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from consent.domain import events
from consent.domain.model import Consent, Objection, check_aware
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
) -> ErasurePlan:
    """Returns the plan of a contact's erasure: its consents and notice deliveries go, its objections stay.

    Kept objections are copies with the contact id removed, so that only the blind indexes, the scope
    and the time remain (RET-05: the suppression list keeps hashes and a timestamp, nothing else).
    An objection without a blind index cannot match a re-imported record; the plan lists it so that
    the caller can warn, but it is kept all the same, since an objection is never dropped.
    """
    check_aware("at", at)
    consent_ids = tuple(c.consent_id for c in consents if c.contact_id == contact_id)
    delivery_ids = tuple(d.delivery_id for d in deliveries if d.contact_id == contact_id)
    own = [o for o in objections if o.contact_id == contact_id]
    kept = tuple(dataclasses.replace(o, contact_id=None, events=[]) for o in own)
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
    )

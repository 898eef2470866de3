"""What a person asks the console to do: one frozen dataclass per use case, carrying their token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    """The signed-in person: their bearer token, subject and roles (verified by shared.auth)."""

    token: str = field(repr=False)
    subject: str
    roles: frozenset[str]


@dataclass(frozen=True)
class ApproveCampaign:
    """Approve a submitted campaign with one structured sign-off per rule that asked review."""

    caller: Caller
    campaign_id: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class RejectCampaign:
    """Reject a submitted campaign, with the reason."""

    caller: Caller
    campaign_id: str
    justification: str


@dataclass(frozen=True)
class StartCheck:
    """Check a campaign's recipients (contact ids pasted or uploaded)."""

    caller: Caller
    campaign_id: str
    ids_text: str


@dataclass(frozen=True)
class StartRequest:
    """Record a data-subject request for a contact."""

    caller: Caller
    contact_id: str
    kind: str
    #: A restriction's ground; a contestation's decision and the person's point of view (as the form gives).
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiftRestriction:
    """Lift the restriction a request obtained (Art. 18(3)): reason, when and how the person was informed."""

    caller: Caller
    request_id: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class TakeUpContestation:
    """The calling reviewer takes a contestation up (Art. 22(3) human intervention)."""

    caller: Caller
    request_id: str


@dataclass(frozen=True)
class DecideContestation:
    """The reviewer who took the contestation up decides it, with the reasons owed to the person."""

    caller: Caller
    request_id: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class EntryFilters:
    """The audit log's filters, as the page's form gives them."""

    subject: str = ""
    type: str = ""
    actor: str = ""
    since: str = ""
    until: str = ""
    event_id: str = ""
    cursor: str = ""
    limit: int = 50

    def params(self) -> dict[str, str | int]:
        """Returns the non-empty filters as audit-log's query parameters."""
        values: dict[str, str | int] = {
            "subject": self.subject,
            "type": self.type,
            "actor": self.actor,
            "since": self.since,
            "until": self.until,
            "event_id": self.event_id,
            "cursor": self.cursor,
            "limit": self.limit,
        }
        return {k: v for k, v in values.items() if v not in ("", None)}

"""Errors of the campaign gate's domain: what the lifecycle or the rules refuse, and unknown campaigns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from campaign_gate.domain import review

if TYPE_CHECKING:
    from campaign_gate.domain.model import Status


class NotFoundError(Exception):
    """The named campaign does not exist."""


class ReceiptIntegrityError(Exception):
    """The stored receipts of a chunk no longer hash to the root the audit log holds (tampering)."""


class CampaignError(Exception):
    """A campaign operation the rules refuse."""


class CheckNotResumableError(Exception):
    """A check cannot be resumed: it finished, or its campaign or the rule set changed since it began."""


class InvalidTransitionError(CampaignError):
    """The campaign is not in a status that allows the operation."""

    def __init__(self, operation: str, status: Status) -> None:
        super().__init__(f"cannot {operation} a campaign that is {status.value}")


class FourEyesError(CampaignError):
    """A reviewer tried to approve a campaign they created or last changed."""

    def __init__(self) -> None:
        super().__init__("a reviewer cannot approve a campaign they created or last changed (four eyes)")


class ApprovalRefusedError(CampaignError):
    """A block finding prevents approval, or needs-review findings lack a valid structured sign-off."""

    def __init__(self, message: str, problems: Iterable[review.SignOffProblem] = ()) -> None:
        super().__init__(message)
        # The problem document names each missing or invalid sign-off.
        self.problem_extra = {"errors": [p.as_dict() for p in problems]} if problems else {}

"""Campaign review (sections E, F and I of the rule book) and the approval guard."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from campaign_gate.domain import rules
from campaign_gate.domain.facts import CampaignFacts
from campaign_gate.domain.rules import Finding, Outcome, Scope


def review_campaign(campaign: CampaignFacts, *, at: datetime) -> tuple[Finding, ...]:
    """Returns the automated findings of the campaign review, in table order."""
    ctx = rules.make_context(campaign, at=at)
    rows = rules.applicable_rules(campaign.channel, ctx.moment_date, scope=Scope.CAMPAIGN)
    return tuple(f for row in rows for f in row.evaluate(ctx, None))


def can_approve(findings: Iterable[Finding], justification: str | None) -> bool:
    """Says whether a reviewer may approve a campaign with these findings.

    A block finding prevents approval; needs-review findings need a written justification.
    """
    outcomes = {f.outcome for f in findings}
    if Outcome.BLOCK in outcomes:
        return False
    if Outcome.NEEDS_REVIEW in outcomes:
        return bool(justification and justification.strip())
    return True

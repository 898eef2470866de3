"""Per-recipient decisions of the gate (SPEC §5): precedence, lawful-basis default, receipts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from campaign_gate.domain import rules
from campaign_gate.domain.facts import CampaignFacts, Decision, RecipientFacts
from campaign_gate.domain.rules import Finding, Outcome, Scope

GATE_STALE = "GATE_STALE"
CAMPAIGN_NOT_APPROVED = "CAMPAIGN_NOT_APPROVED"
NO_LAWFUL_BASIS = "NO_LAWFUL_BASIS"
NO_LAWFUL_BASIS_MESSAGE = "No rule establishes a lawful basis for this recipient, channel and purpose."


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule cited by a decision, with its message."""

    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class RecipientDecision:
    """The gate's receipt for one recipient of one campaign."""

    contact_id: str
    decision: Decision
    reasons: tuple[Reason, ...]
    evidence: tuple[str, ...]
    ruleset_version: str


@dataclass(frozen=True, slots=True)
class CampaignEvaluation:
    """The rows that apply to a campaign at its moment of sending, with the campaign rows pre-evaluated."""

    context: rules.Context
    rows: tuple[rules.Rule, ...]
    # Campaign rows contribute only their blocks to recipients: their needs-review findings are
    # settled by the human approval, but a block (an expired processor contract, say) must stop
    # every send even on an approved campaign.
    campaign_blocks: dict[int, tuple[Finding, ...]]


def evaluate_campaign(campaign: CampaignFacts, *, at: datetime) -> CampaignEvaluation:
    """Returns the applicable rows and the campaign-level blocks for a campaign checked at `at`."""
    ctx = rules.make_context(campaign, at=at)
    rows = rules.applicable_rules(campaign.channel, ctx.moment_date)
    blocks = {
        i: tuple(f for f in row.evaluate(ctx, None) if f.outcome is Outcome.BLOCK)
        for i, row in enumerate(rows)
        if row.scope is Scope.CAMPAIGN
    }
    return CampaignEvaluation(context=ctx, rows=rows, campaign_blocks=blocks)


def findings_for(evaluation: CampaignEvaluation, view: rules.RecipientView) -> tuple[Finding, ...]:
    """Returns every finding for one resolved recipient, in table order."""
    out: list[Finding] = []
    for i, row in enumerate(evaluation.rows):
        if row.scope is Scope.CAMPAIGN:
            out.extend(evaluation.campaign_blocks[i])
        else:
            out.extend(row.evaluate(evaluation.context, view))
    return tuple(out)


def _evidence(findings: Iterable[Finding]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for f in findings for e in f.evidence))


def _reasons(findings: Iterable[Finding]) -> tuple[Reason, ...]:
    return tuple(Reason(f.rule_id, f.message) for f in findings)


def combine(contact_id: str, findings: tuple[Finding, ...]) -> RecipientDecision:
    """Returns the decision that the findings lead to under the SPEC §5 precedence."""
    blocks = [f for f in findings if f.outcome is Outcome.BLOCK]
    bases = [f for f in findings if f.outcome is Outcome.ALLOW_BASIS]
    reviews = [f for f in findings if f.outcome is Outcome.NEEDS_REVIEW]
    if blocks:
        decision, cited = Decision.BLOCK, blocks
    elif not bases:
        # No rule established a lawful basis for this (recipient, channel, purpose): fail closed,
        # even if some rule only asked for a review.
        return RecipientDecision(
            contact_id,
            Decision.BLOCK,
            (Reason(NO_LAWFUL_BASIS, NO_LAWFUL_BASIS_MESSAGE),),
            (),
            rules.RULESET_VERSION,
        )
    elif reviews:
        decision, cited = Decision.NEEDS_REVIEW, reviews + bases
    else:
        decision, cited = Decision.ALLOW, bases
    return RecipientDecision(contact_id, decision, _reasons(cited), _evidence(cited), rules.RULESET_VERSION)


def _blocked(contact_id: str, rule_id: str, message: str) -> RecipientDecision:
    return RecipientDecision(
        contact_id, Decision.BLOCK, (Reason(rule_id, message),), (), rules.RULESET_VERSION
    )


def gate_override(campaign: CampaignFacts, *, stale: bool) -> tuple[str, str] | None:
    """Returns the (rule, message) that blocks every recipient before any rule runs, if any."""
    if stale:
        return GATE_STALE, "The gate's projection is behind its topics; checks fail closed."
    if not campaign.approved:
        return CAMPAIGN_NOT_APPROVED, "The campaign has not been approved after review."
    return None


def decide_recipient(
    campaign: CampaignFacts, recipient: RecipientFacts, *, at: datetime, stale: bool = False
) -> RecipientDecision:
    """Returns the gate's decision for one recipient of a campaign checked at `at`."""
    return next(decide_recipients(campaign, (recipient,), at=at, stale=stale))


#: Why a recipient is blocked when a record about them, published before the check, is not applied yet.
RECIPIENT_STALE_MESSAGE = (
    "A record about this recipient published before the check is not applied yet; the gate fails closed."
)


def decide_recipients(
    campaign: CampaignFacts,
    recipients: Iterable[RecipientFacts],
    *,
    at: datetime,
    stale: bool = False,
    stale_ids: frozenset[str] = frozenset(),
) -> Iterator[RecipientDecision]:
    """Yields the gate's decision for each recipient, evaluating the campaign once; the recipients in
    `stale_ids` (unapplied records about them) are blocked under GATE_STALE."""
    override = gate_override(campaign, stale=stale)
    if override is not None:
        for recipient in recipients:
            yield _blocked(recipient.contact_id, *override)
        return
    evaluation = evaluate_campaign(campaign, at=at)
    for recipient in recipients:
        if recipient.contact_id in stale_ids:
            yield _blocked(recipient.contact_id, GATE_STALE, RECIPIENT_STALE_MESSAGE)
            continue
        view = rules.resolve(campaign, recipient)
        yield combine(recipient.contact_id, findings_for(evaluation, view))

"""Property: the served check path (columnar, `bulk.decide_receipts`) gives every recipient the same receipt
as the scalar oracle (`decide_recipients` and `handlers.receipt`): decision, rule ids, messages, evidence.

100,000 randomised recipients (seeded, reproducible) are spread over campaign variants covering every
channel, both telephone regimes, consent and legitimate-interest purposes, commercial or not, profiling,
Art. 9 targeting, a sector-banned product, a message without the Art. 21 statement or with the Art. 14
notice, a silent call script, a late check, an expired processor contract (a campaign block), an
unapproved campaign and a stale gate. Every rule of the table is cited somewhere in the sample.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
from campaign_gate.domain import bulk, decision, rules
from campaign_gate.domain.facts import Decision
from campaign_gate.service_layer.handlers import receipt
from random_gate_facts import SEED, random_campaigns, random_recipient

RECIPIENTS = 100_000


def _first_difference(served: list[dict[str, Any]], oracle: list[dict[str, Any]]) -> str:
    for s, o in zip(served, oracle, strict=True):
        if s != o:
            return f"served {s}\noracle {o}"
    return ""


def test_served_receipts_equal_the_scalar_oracle_on_100000_random_recipients() -> None:
    rng = random.Random(SEED + 14)
    variants = random_campaigns(rng)
    population = [random_recipient(rng, i) for i in range(RECIPIENTS)]
    cited: Counter[str] = Counter()
    messages: set[tuple[str, str]] = set()
    decisions: Counter[str] = Counter()
    for v, (c, at, stale) in enumerate(variants):
        # Each variant decides its own share of the population (the gate overrides take a small one).
        share = population[v :: len(variants)]
        oracle = [receipt(d) for d in decision.decide_recipients(c, share, at=at, stale=stale)]
        result = bulk.decide_receipts(c, share, at=at, stale=stale)
        served = result.receipts()
        assert len(served) == len(oracle) == len(share)
        assert served == oracle, (c, _first_difference(served, oracle))
        assert result.summary() == dict(Counter(r["decision"] for r in oracle)) | {
            d.value: 0 for d in Decision if d.value not in {r["decision"] for r in oracle}
        }
        for r in served:
            decisions[r["decision"]] += 1
            for reason in r["reasons"]:
                cited[reason["rule"]] += 1
                messages.add((reason["rule"], reason["message"]))
    assert sum(decisions.values()) == RECIPIENTS
    assert set(decisions) == {d.value for d in Decision}
    recipient_rules = {r.id for r in rules.RULES if r.scope is rules.Scope.RECIPIENT}
    gate_rules = {decision.NO_LAWFUL_BASIS, decision.CAMPAIGN_NOT_APPROVED, decision.GATE_STALE}
    missing = (recipient_rules | gate_rules | {"PROC-01"}) - set(cited)
    assert missing == set(), sorted(missing)
    # Templated messages (a fact of the recipient in the text) vary, and each variant of a rule shows.
    assert len({m for rule, m in messages if rule == "UNI-04"}) == 3
    assert len({m for rule, m in messages if rule == "ELEC-02"}) == 2
    assert len({m for rule, m in messages if rule == "POST-01"}) == 2
    assert {o for rule, o in messages if rule == "TEL-03"} >= {
        "The consumer's time zone is unknown: the calling hours cannot be checked."
    }
    for templated in ("UNI-08", "TEL-05", "RET-08", "TEL-03"):
        assert len({m for rule, m in messages if rule == templated}) > 2, templated


def test_served_receipts_of_a_subset_follow_the_requested_order() -> None:
    rng = random.Random(SEED + 15)
    c, at, stale = random_campaigns(rng)[0]
    population = [random_recipient(rng, i) for i in range(500)]
    result = bulk.decide_receipts(c, population, at=at, stale=stale)
    everyone = result.receipts()
    picked = [7, 3, 499, 0, 3]
    assert result.receipts(np.array(picked)) == [everyone[i] for i in picked]
    assert result.receipts(slice(10, 20)) == everyone[10:20]

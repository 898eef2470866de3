"""The columnar evaluator gives the same decisions and rule ids as `decide_recipient`."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from campaign_gate.domain import bulk, rules
from campaign_gate.domain.decision import decide_recipients
from campaign_gate.domain.facts import Decision, RecipientFacts
from campaign_gate_examples import SEND_OPT_IN, campaign
from random_gate_facts import SEED, random_campaigns, random_recipient

POPULATION = 5000
EXPANDED = 100  # Recipients per campaign whose full reason list is compared too.


@pytest.fixture(scope="module")
def population() -> list[RecipientFacts]:
    rng = random.Random(SEED)
    return [random_recipient(rng, i) for i in range(POPULATION)]


def test_bulk_decisions_and_rule_ids_equal_the_scalar_ones_on_a_random_population(
    population: list[RecipientFacts],
) -> None:
    rng = random.Random(SEED + 1)
    cited: Counter[str] = Counter()
    decisions: Counter[Decision] = Counter()
    for c, at, stale in random_campaigns(rng):
        scalar = list(decide_recipients(c, population, at=at, stale=stale))
        columns = bulk.RecipientColumns.from_facts(c, population)
        result = bulk.decide_bulk(c, columns, at=at, stale=stale)
        expected_decisions = [s.decision for s in scalar]
        expected_primary = [s.reasons[0].rule for s in scalar]
        assert [bulk.DECISIONS[k] for k in result.decision] == expected_decisions, c
        assert [bulk.RULE_CODES[k] for k in result.primary_rule] == expected_primary, c
        for i in range(EXPANDED):
            assert result.rule_ids_of(i) == tuple(r.rule for r in scalar[i].reasons), (c, population[i])
        for s in scalar:
            decisions[s.decision] += 1
            cited.update(r.rule for r in s.reasons)
    # The population reaches every decision and every recipient rule of the table.
    assert set(decisions) == set(Decision)
    recipient_rules = {r.id for r in rules.RULES if r.scope is rules.Scope.RECIPIENT}
    assert recipient_rules - set(cited) == set()


def test_every_recipient_row_has_a_vectorised_twin() -> None:
    missing = [
        r.id for r in rules.RULES if r.scope is rules.Scope.RECIPIENT and r.evaluate not in bulk.VECTORISED
    ]
    assert missing == []


def test_a_large_population_is_decided_in_one_pass(population: list[RecipientFacts]) -> None:
    c = campaign(send_at=SEND_OPT_IN)
    columns = bulk.RecipientColumns.from_facts(c, population)
    large = columns.take(np.tile(np.arange(len(columns)), 40))
    result = bulk.decide_bulk(c, large, at=SEND_OPT_IN - timedelta(hours=1))
    summary = result.summary()
    assert sum(summary.values()) == len(large) == 40 * POPULATION
    assert result.ruleset_version == rules.RULESET_VERSION


def test_columns_keep_the_view_fields() -> None:
    view_fields = {f.name for f in dataclasses.fields(rules.RecipientView)}
    column_fields = {f.name for f in dataclasses.fields(bulk.RecipientColumns)} - {"timezones"}
    assert column_fields == view_fields


def test_recipients_with_unapplied_records_are_blocked_stale_alone_as_the_scalar_path_says(
    population: list[RecipientFacts],
) -> None:
    """Per-recipient staleness: the recipients named stale get GATE_STALE, everyone else the decision a
    fresh check gives, receipt for receipt in both paths."""
    from campaign_gate.service_layer.handlers import receipt

    rng = random.Random(SEED + 2)
    stale_ids = frozenset(r.contact_id for r in population if rng.random() < 0.15)
    for c, at, _stale in list(random_campaigns(rng))[:6]:
        scalar = list(decide_recipients(c, population, at=at, stale_ids=stale_ids))
        fresh = list(decide_recipients(c, population, at=at))
        result = bulk.decide_bulk(
            c, bulk.RecipientColumns.from_facts(c, population), at=at, stale_ids=stale_ids
        )
        assert result.receipts() == [receipt(s) for s in scalar]
        for s, f in zip(scalar, fresh, strict=True):
            if s.contact_id in stale_ids and c.approved:
                assert (s.decision, s.reasons[0].rule) == (Decision.BLOCK, "GATE_STALE")
            else:
                assert s == f
        assert sum(result.summary().values()) == len(population)

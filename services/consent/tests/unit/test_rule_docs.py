"""docs/encadrer.md lists every row of consent's rule tables (BRE, TERM) with its effective date, and no
row the code does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from consent.domain import breaches, contract_terms

PAGE = Path(__file__).resolve().parents[4] / "docs" / "encadrer.md"
ROW = re.compile(r"^\| ((?:BRE|TERM)-\d\d) \|(.*)$", re.MULTILINE)
TABLES = {"BRE": breaches.RULES, "TERM": contract_terms.RULES}


def _rows() -> dict[str, str]:
    return {match.group(1): match.group(2) for match in ROW.finditer(PAGE.read_text())}


@pytest.mark.parametrize("prefix", sorted(TABLES))
def test_the_page_lists_each_rule_with_its_title_and_effective_date(prefix: str) -> None:
    rows = _rows()
    for rule in TABLES[prefix]:
        assert rule.id in rows, f"{rule.id} is missing from {PAGE.name}"
        assert rule.title in rows[rule.id], f"{rule.id}: the page's title differs from the table's"
        assert rule.effective_from.isoformat() in rows[rule.id], f"{rule.id}: effective date"


def test_the_page_names_no_rule_the_code_does_not_have() -> None:
    known = {rule.id for table in TABLES.values() for rule in table}
    assert set(_rows()) == known

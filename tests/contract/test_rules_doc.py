"""The project's own documents hold what a reader needs.

(a) `docs/rules.md`, generated from campaign-gate's rule table, is current and has a row, with a
decision, for every row of the table; (b) no link in README.md or docs/*.md leaves the repository:
every repository-relative link (a markdown link, an autolink, a reference definition or a path in
backticks starting with `../`) resolves to a file inside the checkout, and nothing points at
`../shared`, the specification folder a person who clones the repository does not have. Links to the
web (https) are fine: the rule book cites its legal sources there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from campaign_gate.domain import rules

from infra import rules_doc

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# --- (a) -----------------------------------------------------------------------------------------


def test_the_committed_rules_document_is_current() -> None:
    assert rules_doc.TARGET.read_text() == rules_doc.render(), (
        "run `make rules-doc` (python -m infra.rules_doc) and commit it"
    )


def test_every_row_of_the_rule_table_is_in_the_document_with_a_decision() -> None:
    text = rules_doc.render()
    rows = re.findall(r"^\| \*\*([A-Z0-9_-]+)\*\* \|", text, flags=re.MULTILINE)
    assert rows == [r.id for r in rules.RULES]
    for rule in rules.RULES:
        assert rules_doc.decisions_of(rule), f"{rule.id}: no decision found in {rule.evaluate.__name__}"
        assert rules_doc.checks_of(rule), f"{rule.id}: {rule.evaluate.__name__} has no docstring"


# --- (b) -----------------------------------------------------------------------------------------

#: `[text](target)` or `![alt](target)`, with an optional title after the target.
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: `<https://…>` or `<path>` autolinks (an HTML comment or tag has a space or `!` after `<`).
AUTOLINK = re.compile(r"<((?:[a-z][a-z0-9+.-]*:|\.{0,2}/)[^>\s]+)>")
#: `[label]: target` reference definitions.
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", flags=re.MULTILINE)
#: A path in backticks that climbs out of the file's folder.
CLIMBING = re.compile(r"`(\.\./[^`\s]*)`")
WEB = ("https://", "http://", "mailto:")


def links(text: str) -> list[str]:
    """Returns every link target of a markdown text (fenced code blocks left out)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    found = [*INLINE.findall(prose), *AUTOLINK.findall(prose), *REFERENCE.findall(prose)]
    return found + CLIMBING.findall(prose)


def leaving(document: Path, text: str) -> list[str]:
    """Returns the links of a document that leave the repository or point at nothing in it."""
    bad = []
    if "../shared" in text:
        bad.append("mentions ../shared")
    for target in links(text):
        if target.startswith(WEB) or target.startswith("#"):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            bad.append(f"{target} (not a web link)")
            continue
        path = target.split("#", 1)[0]
        resolved = (ROOT / path.lstrip("/")) if path.startswith("/") else (document.parent / path)
        resolved = resolved.resolve()
        if not resolved.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            bad.append(f"{target} (no such file in the repository)")
    return bad


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_link_leaves_the_repository(document: Path) -> None:
    assert leaving(document, document.read_text()) == []


def test_the_link_check_catches_what_leaves() -> None:
    readme = ROOT / "README.md"
    sample = "\n".join(
        [
            "See [the spec](../shared/SPEC.md) and `../shared/rules/legal-rules.md`.",
            "Also [up](../../etc/passwd), [gone](docs/nothing-here.md), <file:///etc/hosts>.",
            "[ref]: ../outside.md",
            "Fine: [ops](docs/operations.md#scaling), "
            "[law](https://eur-lex.europa.eu/eli/reg/2016/679/oj), [top](#two-commands).",
            "```sh",
            "cat ../not-a-link-in-code",
            "```",
        ]
    )
    found = leaving(readme, sample)
    assert found[0] == "mentions ../shared"
    assert len(found) == 7, found
    assert not any("operations.md" in f or "eur-lex" in f or "#two-commands" in f for f in found)

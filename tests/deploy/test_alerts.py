"""deploy/monitoring's alerts and docs/runbook.md say the same thing, alert by alert."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifests import DEPLOY, ROOT, documents, render

RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()
#: The runbook's own alerts, each with a section; the verification failure comes from outside Prometheus.
SECTIONS = (
    "Outbox backlog growing",
    "Consumer lag",
    "Gate stale",
    "Checkpoint not advancing",
    "Verification failure",
)


def alerts() -> list[dict]:
    (rule,) = documents(render(DEPLOY / "monitoring"))
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def test_the_runbook_has_a_section_for_every_alert_the_issue_names() -> None:
    headings = re.findall(r"^## (.+)$", RUNBOOK, flags=re.MULTILINE)
    assert set(SECTIONS) <= set(headings)
    for section in SECTIONS:
        body = RUNBOOK.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**What it means.**", "**How to look.**", "**What to do.**"):
            assert part in body, f"{section}: {part}"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_each_shipped_alert_links_to_its_runbook_section_and_is_quoted_there(alert: dict) -> None:
    url = alert["annotations"]["runbook_url"]
    assert url.startswith("docs/runbook.md#")
    assert url.split("#", 1)[1] in {anchor(section) for section in SECTIONS}
    assert alert["labels"]["severity"] in ("page", "ticket")
    assert squeeze(alert["expr"]) in squeeze(RUNBOOK)
    assert alert["alert"] in RUNBOOK


def test_every_series_an_alert_uses_is_listed_in_the_runbooks_table() -> None:
    listed = set(re.findall(r"^\| `([a-z_]+)`", RUNBOOK, flags=re.MULTILINE))
    listed |= {
        name
        for row in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)+) \|", RUNBOOK, flags=re.MULTILINE)
        for name in re.findall(r"`([a-z_]+)`", row)
    }
    functions = {"max", "min", "sum", "by", "rate", "increase", "deriv", "delta", "and", "on"}
    used = {name for alert in alerts() for name in re.findall(r"\b([a-z_]{4,})\b(?=[\s{\[)])", alert["expr"])}
    used -= functions | {"service", "group", "topic", "partition", "rule_id"}
    assert used and used <= listed, used - listed

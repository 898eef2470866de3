"""Generates docs/rules.md: the rule book as the gate applies it, one row per row of the rule table.

Everything in a row comes from `campaign_gate.domain.rules.RULES`: id, title, scope, channels,
effective window and legal source from the `Rule` itself; "what the gate checks" is the first
paragraph of the row's evaluate function's docstring; "decision" is read with `ast` from the
findings the evaluate function (and the module's helpers it calls) can return for that id
(`_block` → block, `_review` → needs review, `_basis` → allow, naming the lawful basis). The prose
around the tables (what each section of the rule book is about, how the gate combines findings) is
written here, in the project's own words. `python -m infra.rules_doc` (`make rules-doc`) rewrites the
file; `tests/contract/test_rules_doc.py` fails when it is out of date.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from campaign_gate.domain import rules
from campaign_gate.domain.facts import Channel

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "rules.md"

#: Finding constructors of rules.py → the decision they stand for.
CONSTRUCTORS = {"_block": "block", "_review": "needs review", "_basis": "allow"}
OUTCOMES = {"BLOCK": "block", "NEEDS_REVIEW": "needs review", "ALLOW_BASIS": "allow"}
DECISION_ORDER = ("allow", "needs review", "block")

#: Section of the rule book → (heading, what the section is about, in our words).
SECTIONS: dict[str, tuple[str, str]] = {
    "GATE": (
        "The gate's own rule",
        "Nothing can be sent to someone without an address on the campaign's channel; this row is the "
        "gate's, not the rule book's.",
    ),
    "UNI": (
        "A. Every recipient, every channel",
        "Rules that hold whatever the channel: an objection to direct marketing is absolute (Art. 21 GDPR) "
        "and survives erasure through the opposition list of hashed e-mails and phones; a consent-based "
        "send needs a consent that was not withdrawn and that the company can prove (timestamp, wording, "
        "collection point); data bought from a broker needs proof that the broker's form produced a "
        "valid consent; data not collected from the person needs the Art. 14 notice by the first "
        "message; the first message must state the right to object; data kept past the retention period "
        "(section G) cannot be used; under 15, consent is given jointly with a parent (art. 45 loi 78-17); "
        "minors reached by profiling and targeting on special-category data (Art. 9) are stopped or "
        "reviewed.",
    ),
    "ELEC": (
        "B. E-mail, SMS/MMS, automated calls, fax (art. L34-5 CPCE)",
        'Electronic prospection of a natural person needs prior opt-in consent, except the "soft '
        'opt-in": a customer whose details were collected at a sale may receive e-mail or SMS about '
        "analogous products of the same seller, if they could object at collection and in every "
        "message. An account without a sale is not a sale. Professionals at a named work address may "
        "be contacted about their profession with an opt-out; a generic company address (contact@) is "
        "nobody's personal data. Automated calls and fax to consumers always need consent. Every "
        "message identifies the advertiser and offers a free way to stop.",
    ),
    "TEL": (
        "C1. Telephone calls, opt-out regime with Bloctel (until 10 August 2026)",
        "Until 10 August 2026 a company may call a consumer who is not registered on Bloctel, "
        "has not refused in the last 60 days and has not been called four times in 30 days, on "
        "weekdays 10:00-13:00 and 14:00-20:00 in the consumer's time zone (art. D223-9, which keeps "
        "applying after that date), with an unmasked number and the mandatory opening statements. "
        "Calls about home energy renovation and home adaptation are banned outside a contract in "
        "progress. Business callees are outside Bloctel but not outside the GDPR. The rows of this "
        "section whose window ends on 10 August 2026 stop applying with the Bloctel regime.",
    ),
    "TEL26": (
        "C2. Telephone calls, opt-in regime (from 11 August 2026, loi 2025-594 art. 13)",
        "From 11 August 2026 calling a consumer for prospection needs their prior consent, which the "
        "company must prove; calls within a contract in progress and related to it are the exception. "
        "Whoever collects a phone number must say that commercial calls need consent. The hours, "
        "frequency and 60-day rules of C1 still apply.",
    ),
    "POST": (
        "D. Postal mail",
        "Addressed mail is an opt-out channel: the person must have been told and able to object, and "
        "data from a third party needs the Art. 14 notice by the first mailing. The Robinson list is "
        'an industry list for addressed mail; "Stop Pub" on a mailbox forbids unaddressed advertising.',
    ),
    "MSG": (
        "E. Message content (campaign review)",
        "Checked once per campaign version, on the message: a free stop mechanism and the sender's "
        "identity on electronic channels, an e-mail subject related to the offer, the right-to-object "
        "statement for first messages, readable conditions of promotional offers, and wording that "
        "restricts the offer by a protected criterion (sent to the section F review).",
    ),
    "DISC": (
        "F. Targeting, offer eligibility and profiling (campaign review)",
        "French law punishes making a good or service, or its conditions, depend on one of the criteria "
        "of art. 225-1 Code pénal (origin, sex, age, place of residence, health, …), and loi 2008-496 "
        "allows a justified difference only for a legitimate aim with necessary means, never for "
        'origin, surname, ethnicity or "race". The gate separates who receives a message (audience) '
        "from who may obtain the offer (eligibility): a protected criterion deciding eligibility "
        "blocks unless justified; one choosing the audience of an open offer asks review; excluding a "
        "protected group, building a segment on Art. 9 data, solely automated significant decisions, "
        "exploiting vulnerabilities, refusals of sale, differential B2B terms and large-scale profiling "
        "(DPIA) are reviewed or blocked as each row says.",
    ),
    "RET": (
        "G. Retention",
        "The CNIL's reference periods for prospection: a prospect's data for three years from collection "
        "or from their last own action (a reply, a click, a purchase; an e-mail open does not count), a "
        "customer's for three years after the relationship ends; a phone file cleaned against Bloctel "
        "at least every 30 days while Bloctel exists. contacts' retention sweep flags, then erases, the "
        "contacts past their period (`POST /v1/retention:sweep`, and periodically). The rule book's "
        "RET-03 to RET-07 (inactive online accounts, archives of contracts and invoices, how long the "
        "opposition list and consent proofs are kept, Bloctel cleaning evidence) are duties of the "
        "services that hold the data, not gate decisions, and have no row here.",
    ),
    "INFO": (
        "H. Information notices",
        "The Art. 13 notice is given at collection; the Art. 14 notice, for data not obtained from the "
        "person, within one month and at the latest at the first communication. Claiming that informing "
        "would take disproportionate effort (Art. 14(5)(b)) is rarely accepted for prospection and asks "
        "review; a consent collected without saying it can be withdrawn is not usable. consent computes "
        "each contact's Art. 14 deadline (`GET /v1/contacts/{id}/art14-deadline`). The rule book's "
        "INFO-05 and INFO-06 are UNI-07 and TEL26-03 here.",
    ),
    "PROC": (
        "I. Processors, transfers and the register (campaign review)",
        "The company stays responsible for the processors it sends through: a contract in force with "
        "the Art. 28(3) clauses, authorised sub-processors, a lawful mechanism for any transfer outside "
        "the EEA, and a purpose recorded in the register of processing (Art. 30) with a lawful basis "
        "that fits the channel. The rule book's section I has no ids; PROC-01 to PROC-05 are the gate's.",
    ),
    "STUDY": (
        "Déployer: the per-operation study (campaign review and every check)",
        "Each promotional operation is studied before it runs, for its targets and its message (the source "
        "article's déployer stage): the campaign's `study` answers five questions in a structured form "
        "(target and criteria, message, offer conditions, partner transfers, tracking; the last for e-mail "
        "and SMS). An unanswered question blocks; each answer is signed off by a reviewer, other than its "
        "author, in the approval (basis, explanation, reference), citing the digest of the answer, so a "
        "changed answer needs a new sign-off. The answers feed RENT, TRACK and SALE below. Ids are the "
        "gate's (issue 19); docs/deployer.md says what the study records.",
    ),
    "RENT": (
        "Déployer: file rental and transfer to partners",
        "A campaign that rents or transfers recipients' data to partners needs, per recipient, a consent "
        "that names each partner or its category (consent's `partners`, `partner_categories`); a category "
        "alone asks review (the CNIL expects the list of partners to be accessible at collection); postal "
        "mail asks review instead of blocking. When the partner receives the data, the study must declare "
        "that it gives the recipients the Art. 14 information at its first communication.",
    ),
    "TRACK": (
        "Déployer: tracking in e-mails",
        "Opening pixels and tracked links that follow each recipient read information from their terminal "
        "(art. 82 loi Informatique et Libertés): each recipient's consent is needed (consent's "
        "`email_tracking`), or the campaign drops the tracking. Tracking declared as aggregate only asks a "
        "reviewer to confirm that no opening or click is tied to anyone.",
    ),
    "SALE": (
        "Déployer: refusal of sale",
        "A promotion may be reserved to a target; refusing the product itself to consumers outside it is a "
        "refusal of sale (L121-11 C. consom.) unless there is a legitimate reason, which the study states "
        "and a reviewer signs off.",
    ),
    "REG": (
        "Prévoir: the campaign held to its register entry (campaign review and every check)",
        "A campaign runs inside the processing its purpose's register entry (Art. 30) describes: on a "
        "channel the entry covers, with data categories and special categories it declares, through "
        "processors and parties it lists, keeping data no longer than it says, and with a DPIA reference "
        "when the entry or the campaign profiles at scale (Art. 35). consent publishes the entry's facts "
        "with each version (`entry` of purpose_registered / purpose_revised); what an entry does not state "
        "(no channel, no retention in months) is not checked and stays a human's call. Categories the "
        "targeting's attribute names only suggest ask review; what the campaign declares is checked. The "
        "ids are the gate's (issue 19).",
    ),
    "PAR": (
        "Encadrer: every party on every send (campaign review and every check)",
        "A campaign names every party its sends run through (router, call centre, data source, tracking "
        "provider, integrator, hosting, printer). Each must be in consent's register of parties (else the "
        "gate fails closed), registered in a role that can play its part on the send, under a contract in "
        "force at the moment of sending with the clauses its roles require, and with the contract terms "
        "consent checks (TERM-01..06) settled: unsettled staff confidentiality or security obligations "
        "block, unsettled ownership, licence or reversibility ask a reviewer. The campaign's single "
        "`processor_id` keeps its PROC-01..03 checks. The ids are the gate's (issue 19).",
    ),
    "RIGHTS": (
        "Rights: restriction of processing, contesting automated decisions (each recipient, campaign review)",
        "A person who obtained the restriction of processing (Art. 18(1): accuracy contested, unlawful "
        "processing with erasure opposed, data needed for legal claims, an objection being verified) keeps "
        "their data stored but not used: contacts records the restriction from the request "
        "(`POST /v1/requests`, kind `restriction`, with its `grounds`) and publishes it in the contact's "
        "facts; the gate blocks every send to them until it is lifted, the person informed beforehand "
        "(Art. 18(3), `POST /v1/requests/{id}/restriction-lifting`). A campaign that takes a solely "
        "automated decision with significant effect (DISC-07 asks its Art. 22(2) basis) must offer the "
        "person a route to contest it (Art. 22(3)): contacts' contestation requests go to a human "
        "reviewer's queue (`GET /v1/contestations`) with a deadline, a named reviewer and an outcome with "
        "reasons, each step in the audit log. The scope of an objection (all direct marketing, one "
        "channel, one purpose) is UNI-01's. The ids are the gate's (issue 19).",
    ),
}


def _section(rule_id: str) -> str:
    prefix = rule_id.split("-", 1)[0]
    return prefix if prefix in SECTIONS else "GATE"


def _module_tree() -> ast.Module:
    return ast.parse(inspect.getsource(rules))


FUNCTIONS: dict[str, ast.FunctionDef] = {
    node.name: node for node in _module_tree().body if isinstance(node, ast.FunctionDef)
}


def _called_helpers(node: ast.AST) -> Iterable[str]:
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in FUNCTIONS:
            yield call.func.id


def decisions_of(rule: rules.Rule) -> tuple[str, ...]:
    """Returns the decisions a row's evaluate function can return for its id, mildest first."""
    found: set[str] = set()
    seen: set[str] = set()
    todo = [rule.evaluate.__name__]
    while todo:
        name = todo.pop()
        if name in seen or name not in FUNCTIONS or name in CONSTRUCTORS or name == "_one":
            continue
        seen.add(name)
        for call in ast.walk(FUNCTIONS[name]):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or not call.args:
                continue
            first = call.args[0]
            named = first.value if isinstance(first, ast.Constant) else None
            if named is not None and named != rule.id:
                continue
            if call.func.id in CONSTRUCTORS:
                found.add(CONSTRUCTORS[call.func.id])
            elif call.func.id == "_one" and len(call.args) > 1 and isinstance(call.args[1], ast.Attribute):
                found.add(OUTCOMES.get(call.args[1].attr, call.args[1].attr))
        todo.extend(_called_helpers(FUNCTIONS[name]))
    return tuple(d for d in DECISION_ORDER if d in found)


def checks_of(rule: rules.Rule) -> str:
    """Returns the first paragraph of the evaluate function's docstring, on one line."""
    doc = inspect.getdoc(rule.evaluate) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def channels_of(rule: rules.Rule) -> str:
    """Names the channels a row applies to."""
    if rule.channels is None or rule.channels == rules.ALL_CHANNELS:
        return "any"
    if rule.channels == rules.PERSONAL_CHANNELS:
        return "any addressed channel"
    return ", ".join(f"`{c.value}`" for c in Channel if c in rule.channels)


def window_of(rule: rules.Rule) -> str:
    """Says when a row applies."""

    def day(d: date) -> str:
        return d.isoformat()

    if rule.effective_from and rule.effective_to:
        return f"{day(rule.effective_from)} to {day(rule.effective_to)}"
    if rule.effective_from:
        return f"from {day(rule.effective_from)}"
    if rule.effective_to:
        return f"until {day(rule.effective_to)}"
    return "always"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=100, break_long_words=False, break_on_hyphens=False)


def _table(rows: Iterable[rules.Rule], decisions: Callable[[rules.Rule], tuple[str, ...]]) -> list[str]:
    lines = [
        "| Rule | Title | What the gate checks | Decision | Level | Channels | In force | Legal source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        level = "campaign review" if r.scope is rules.Scope.CAMPAIGN else "each recipient"
        lines.append(
            f"| **{r.id}** | {_cell(r.title)} | {_cell(checks_of(r))} | {', '.join(decisions(r)) or '—'} "
            f"| {level} | {channels_of(r)} | {window_of(r)} | {_cell(r.source)} |"
        )
    return lines


INTRO = """\
The rule book Vigie applies, in the project's words. Each table below is generated from the rule table
in campaign-gate (`RULES` in `services/campaign-gate/src/campaign_gate/domain/rules.py`); the table is
the authority, and this page cannot drift from it (`tests/contract/test_rules_doc.py`). Regenerate it
with `make rules-doc`. Where each fact a rule reads comes from is in [facts.md](facts.md); how decisions
reach a caller is in [contract.md](contract.md#the-gates-decisions-and-receipts).

This is research turned into code, not legal advice. Sources marked **VERIFY** rest on a secondary
source or on a text that changes soon; a lawyer should confirm them before production."""

HOW = """\
## How the gate decides

- **Two levels.** The *campaign review* runs once per campaign version, when a marketer submits it
  (`POST /v1/campaigns/{id}/submit`): its rows (level "campaign review") look at the campaign alone:
  message, call script, targeting and offer eligibility, processor and purpose. A reviewer then
  approves (signing off every rule that asked review) or rejects. The *per-recipient check* runs on
  every send (`POST /v1/campaigns/{id}/checks`): its rows (level "each recipient") look at one
  recipient's facts for the campaign's channel, purpose and send date.
- **Which rows apply.** A row applies when the campaign's channel is among its channels and the send
  date is in its window. Law that changed on a date is two rows with the same id and windows that do
  not overlap (TEL-06 before and after 11 August 2026), and a rule the verification pass widened is a
  second row on more channels (TEL-08).
- **Decisions.** Every applicable row is evaluated and each can return findings: *block*, *needs
  review* (a person must sign off before sending), or *allow*, which names the lawful basis the send
  rests on (ELEC-01 consent, ELEC-02 soft opt-in, TEL26-02 phone consent, POST-01 postal opt-out, …).
  For a recipient the answer is *block* if any finding blocks; else, if no row established a lawful
  basis, *block* with the gate's own reason `NO_LAWFUL_BASIS` (even when some row only asked review);
  else *needs review* if any finding asks review; else *allow*. No finding turns a block into an allow.
- **Campaign rows at check time.** On every check the campaign rows are evaluated again for the send
  date, but only their blocks reach the recipients (an expired processor contract stops every send
  of an approved campaign); their review findings were settled when the reviewer approved.
- **The gate's own overrides.** A campaign that is not approved blocks every recipient with
  `CAMPAIGN_NOT_APPROVED`, and a gate that has not applied a campaign fact published before the check
  (a purpose, notice, processor or party), or cannot reach Kafka to tell, blocks every recipient with
  `GATE_STALE`: it fails closed, and no row is evaluated then. A recipient about whom a record published
  before the check is not applied yet (an import, a withdrawal, an objection by blind index) is blocked
  with `GATE_STALE` alone; the others are decided.
- **Receipts.** Every decision names the rule ids, their messages and the evidence used, and carries
  the rule-set version below; the receipt is published and kept in the audit log."""

SOURCES = """\
## Where to read the texts

- GDPR, Regulation (EU) 2016/679: <https://eur-lex.europa.eu/eli/reg/2016/679/oj>
- Art. L34-5 Code des postes et des communications électroniques:
  <https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000006465785>
- Art. 225-1 Code pénal: <https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000006417828>
- Loi n° 2008-496 (discrimination in access to goods and services):
  <https://www.legifrance.gouv.fr/loda/id/JORFTEXT000018877783>
- Décret n° 2022-1313 (art. D223-9, days, hours and frequency of calls):
  <https://www.legifrance.gouv.fr/jorf/id/JORFTEXT000046421823>
- CNIL, opposition lists ("liste repoussoir"):
  <https://www.cnil.fr/fr/comment-utiliser-une-liste-repoussoir-pour-respecter-lopposition-la-prospection-commerciale>
- CNIL, prospection by SMS and MMS: <https://www.cnil.fr/fr/la-prospection-commerciale-par-sms-mms>"""


def render() -> str:
    """Returns the document for the current rule table."""
    lines = [
        "# The rule book",
        "",
        "<!-- Generated by `python -m infra.rules_doc` (`make rules-doc`) from campaign-gate's rule table. "
        "Do not edit by hand. -->",
        "",
        INTRO,
        "",
        f"Rule-set version: **{rules.RULESET_VERSION}** (each receipt carries it as `ruleset_version`). "
        f"{len(rules.RULE_IDS)} rule ids, {len(rules.RULES)} rows.",
        "",
        HOW,
        "",
    ]
    groups: dict[str, list[rules.Rule]] = {}
    for r in rules.RULES:
        groups.setdefault(_section(r.id), []).append(r)
    for key, rows in groups.items():
        heading, about = SECTIONS[key]
        lines += [f"## {heading}", "", *_wrap(about), "", *_table(rows, decisions_of), ""]
    verify = [r.id for r in rules.RULES if "VERIFY" in r.source]
    lines += [
        "## Open points",
        "",
        *_wrap(
            "These rows cite a source still marked VERIFY: "
            + ", ".join(dict.fromkeys(verify))
            + ". The phone regime after 11 August 2026 rests on the law as published in 2025; its "
            "implementing decree, the new wording of art. L221-16 (the Bloctel mention at the start of a "
            "call) and the exact article of the all-channel sector ban were not found when the rule book "
            "was last checked (29 November 2026 pass)."
        ),
        "",
        SOURCES,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

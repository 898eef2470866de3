"""The console's domain: role policy, problems, sign-off forms, contact ids, tallies, deadlines,
checkpoints and person searches."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from console.domain import pages
from console.domain.views import (
    CheckpointFormatError,
    CheckTally,
    Problem,
    deadline,
    read_checkpoint,
    read_contact_ids,
    read_person_query,
    read_sign_offs,
    sign_off_forms,
)


@pytest.mark.parametrize(
    ("roles", "menu", "main"),
    [
        ({"reviewer"}, ["campaigns", "contestations"], "campaigns"),
        ({"marketer"}, ["campaigns", "checks"], "checks"),
        (
            {"admin", "auditor"},
            ["campaigns", "contestations", "people", "log", "checkpoint", "verify"],
            "people",
        ),
        ({"auditor"}, ["campaigns", "log", "checkpoint", "verify"], "log"),
        ({"integrator"}, [], None),
    ],
)
def test_each_role_sees_its_pages_and_starts_on_its_main_page(
    roles: set[str], menu: list[str], main: str | None
) -> None:
    assert [p.key for p in pages.menu_for(roles)] == menu
    start = pages.main_page(roles)
    assert (start.key if start else None) == main


def test_a_refusal_names_the_roles_needed_and_held() -> None:
    refusal = pages.page_refusal("log", {"marketer"})
    assert refusal is not None
    assert refusal.needed == ("auditor",) and refusal.held == ("marketer",)
    assert "needs one of the roles auditor; your token carries marketer" in refusal.message
    assert pages.page_refusal("log", {"auditor"}) is None
    assert pages.action_refusal("approve", {"marketer", "auditor"}) is not None
    assert pages.action_refusal("approve", {"reviewer"}) is None
    assert "no role" in (pages.action_refusal("check", set()) or pages.Refusal("", (), ())).message


def test_the_console_admits_what_the_apis_admit_for_approval_and_checks() -> None:
    # docs/contract.md: approve/reject are reviewer only; checks are marketer only; receipts M or Au.
    assert pages.ACTIONS["approve"] == pages.ACTIONS["reject"] == {"reviewer"}
    assert pages.ACTIONS["check"] == {"marketer"}
    assert pages.ACTIONS["receipts"] == pages.ACTIONS["person_receipts"] == {"marketer", "auditor"}
    assert pages.ACTIONS["find_person"] == {"integrator", "admin"}


def test_a_problem_document_is_read_with_its_fields() -> None:
    body = {
        "title": "Invalid request",
        "status": 422,
        "detail": "The request has invalid or missing fields.",
        "errors": [{"field": "body.sign_offs.0.basis", "message": "not allowed", "type": "x"}],
    }
    problem = Problem.of(422, body, service="campaign-gate")
    assert problem.kind == "invalid" and problem.service == "campaign-gate"
    assert problem.errors == (("body.sign_offs.0.basis", "not allowed"),)
    assert Problem.of(403, {"title": "FourEyesError", "detail": "four eyes"}).kind == "refused"
    assert Problem.of(502, "<html>bad gateway</html>").title == "Server error"
    assert Problem.of(404, None).kind == "not found"


FINDINGS = [
    {"rule": "DISC-01", "severity": "info", "message": "fine"},
    {
        "rule": "ELEC-12",
        "severity": "needs_review",
        "message": "Campaign declared non-commercial.",
        "sign_off": {
            "bases": ["public_service_information"],
            "reference_required": True,
            "min_explanation": 40,
        },
    },
    {"rule": "ELEC-12", "severity": "needs_review", "message": "Second finding of the same rule."},
]


def test_one_sign_off_form_per_rule_that_asks_review() -> None:
    forms = sign_off_forms(FINDINGS)
    assert [f.rule for f in forms] == ["ELEC-12"]
    assert forms[0].messages == ("Campaign declared non-commercial.", "Second finding of the same rule.")
    assert forms[0].bases == ("public_service_information",) and forms[0].reference_required


def test_sign_offs_name_the_fields_to_complete_before_anything_is_sent() -> None:
    forms = sign_off_forms(FINDINGS)
    empty = read_sign_offs(forms, {})
    assert [field for field, _ in empty.errors] == [
        "basis-ELEC-12",
        "explanation-ELEC-12",
        "reference-ELEC-12",
    ]
    filled = read_sign_offs(
        forms,
        {
            "basis-ELEC-12": "public_service_information",
            "explanation-ELEC-12": "x" * 40,
            "reference-ELEC-12": " Note 7 ",
        },
    )
    assert not filled.errors
    assert filled.items == (
        {
            "rule": "ELEC-12",
            "basis": "public_service_information",
            "explanation": "x" * 40,
            "reference": "Note 7",
        },
    )
    assert read_sign_offs(forms, {"basis-ELEC-12": "made_up"}).errors[0][0] == "basis-ELEC-12"


def test_contact_ids_are_read_from_lines_commas_and_a_csv_header() -> None:
    ids = read_contact_ids("contact_id\na-1, b-2;c-3\n\na-1\n", limit=10)
    assert ids.ids == ("a-1", "b-2", "c-3") and ids.duplicates == 1 and not ids.bad_lines
    bad = read_contact_ids("ok-1\n<script>\nok-2\n" + "x" * 65, limit=10)
    assert bad.bad_lines == (2, 4) and bad.ids == ("ok-1", "ok-2")
    over = read_contact_ids("\n".join(f"id-{n}" for n in range(5)), limit=3)
    assert over.ids == ("id-0", "id-1", "id-2") and over.bad_lines == (4,)


def test_a_tally_counts_by_decision_and_by_rule() -> None:
    tally = CheckTally(total=4)
    for decision, rules in (("allow", ["ELEC-02"]), ("block", ["ELEC-06", "UNI-04"]), ("block", ["ELEC-06"])):
        tally.add({"decision": decision, "reasons": [{"rule": r, "message": ""} for r in rules]})
    assert tally.by_decision == {"block": 2, "allow": 1} and tally.percent == 75
    assert tally.rules() == [
        ("ELEC-06", 2, {"block": 2}),
        ("ELEC-02", 1, {"allow": 1}),
        ("UNI-04", 1, {"block": 1}),
    ]
    assert CheckTally().percent == 100


def test_a_deadline_says_how_long_is_left_or_how_late_it_is() -> None:
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert deadline(now + timedelta(days=30, hours=1), now) == "due in 30 days"
    assert deadline(now + timedelta(hours=3), now) == "due today"
    assert deadline(now - timedelta(days=1, hours=2), now) == "overdue by 1 day"


def test_a_checkpoint_note_is_read() -> None:
    root = bytes(range(32))
    note = f"vigie.local/audit-log\n46\n{base64.b64encode(root).decode()}\n\n— vigie-audit-local AAAA\n"
    checkpoint = read_checkpoint(note)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hex) == (
        "vigie.local/audit-log",
        46,
        root.hex(),
    )
    assert checkpoint.body == f"vigie.local/audit-log\n46\n{base64.b64encode(root).decode()}\n"
    assert checkpoint.signatures == ("— vigie-audit-local AAAA",)
    with pytest.raises(CheckpointFormatError):
        read_checkpoint("not a note")
    with pytest.raises(CheckpointFormatError):
        read_checkpoint("origin\n3\n!!!\n\n— k x\n")


@pytest.mark.parametrize(
    ("text", "by"),
    [
        ("camille@example.org", "email"),
        ("+33 6 12 34 56 78", "phone"),
        ("06.12.34.56.78", "phone"),
        ("6f66a3f0-1b2c-4d5e-8f90-123456789abc", "contact_id"),
        ("crm-42", "contact_id"),
    ],
)
def test_a_search_is_read_as_an_email_a_phone_or_a_contact_id(text: str, by: str) -> None:
    query = read_person_query(f"  {text} ")
    assert query is not None and query.by == by and query.value == text
    assert read_person_query("   ") is None

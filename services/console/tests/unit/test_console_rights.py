"""Issue 19 in the console: a restriction of processing (Art. 18) and its lifting, a contestation of an
automated decision and its human review (Art. 22(3)): the forms read, what is sent with whose token, and
how contacts' refusals reach the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console.adapters.apis import ApiError
from console.bootstrap import Console
from console.domain import rights
from console.domain.views import Problem
from console.main import create_app
from console.service_layer import commands, handlers
from console.service_layer.checks import CheckJobs
from console.settings import ConsoleSettings
from console_fakes import FakeApis
from fastapi.testclient import TestClient
from shared.auth import build_token_verifier, issue_local_token

SETTINGS = ConsoleSettings(
    VIGIE_PROFILE="test",
    VIGIE_JWT_SECRET="unit-test-secret-0123456789abcdef0123456789",
    VIGIE_JWT_ISSUER="vigie-unit",
    VIGIE_JWT_AUDIENCE="vigie",
)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CONTESTATION = {
    "id": "r-1",
    "kind": "contestation",
    "status": "received",
    "contact_id": "p-1",
    "received_at": "2026-12-07T08:00:00+00:00",
    "due_at": "2027-01-07T08:00:00+00:00",
    "extended_months": 0,
    "overdue": False,
    "confirmations": {},
    "awaiting_confirmation_from": [],
    "completed_at": None,
    "history": [{"at": "2026-12-07T08:00:00+00:00", "action": "received", "note": None}],
    "details": {
        "decision": {"kind": "gate_check", "check_id": "chk-9"},
        "point_of_view": "I never signed up for this newsletter.",
        "contested_receipt": {
            "check_id": "chk-9",
            "decision": "block",
            "reasons": [{"rule": "ELEC-01", "message": "No consent for e-mail prospecting."}],
            "evidence": ["consent:none"],
            "ruleset_version": "2026.12",
        },
    },
}


def _token(*roles: str, subject: str) -> str:
    return issue_local_token(
        secret=SETTINGS.jwt_secret.get_secret_value(),
        issuer=SETTINGS.jwt_issuer,
        audience=SETTINGS.jwt_audience,
        roles=roles,
        subject=subject,
    )


def _caller(*roles: str, subject: str = "someone") -> commands.Caller:
    return commands.Caller(token=_token(*roles, subject=subject), subject=subject, roles=frozenset(roles))


# --- domain --------------------------------------------------------------------------------------


def test_a_restriction_needs_its_ground_of_article_18_1() -> None:
    assert rights.read_restriction("p-1", {}).errors[0][0] == "grounds"
    assert rights.read_restriction("p-1", {"grounds": "because"}).errors[0][0] == "grounds"
    reading = rights.read_restriction("p-1", {"grounds": "accuracy_contested"})
    assert reading.body == {"kind": "restriction", "contact_id": "p-1", "grounds": "accuracy_contested"}


def test_a_contestation_names_the_decision_by_check_or_reference() -> None:
    assert rights.read_contestation("p-1", {"decision_kind": "gate_check"}).errors[0][0] == "check_id"
    assert rights.read_contestation("p-1", {"decision_kind": "other"}).errors[0][0] == "reference"
    assert rights.read_contestation("p-1", {"decision_kind": "oracle"}).errors[0][0] == "decision_kind"
    gate = rights.read_contestation("p-1", {"check_id": " chk-9 ", "point_of_view": " Not me. "})
    assert gate.body == {
        "kind": "contestation",
        "contact_id": "p-1",
        "decision": {"kind": "gate_check", "check_id": "chk-9"},
        "point_of_view": "Not me.",
    }
    other = rights.read_contestation("p-1", {"decision_kind": "other", "reference": "SCORE-12"})
    assert other.body["decision"] == {"kind": "other", "reference": "SCORE-12"}
    assert "point_of_view" not in other.body


def test_a_lifting_needs_the_person_informed_before_now_and_how() -> None:
    empty = rights.read_lifting({}, now=NOW)
    assert [f for f, _ in empty.errors] == ["reason", "informed_at", "informed_by"]
    later = rights.read_lifting(
        {"reason": "accuracy verified", "informed_at": "2026-12-07T10:00", "informed_by": "letter"}, now=NOW
    )
    assert [f for f, _ in later.errors] == ["informed_at"]
    ok = rights.read_lifting(
        {"reason": "accuracy verified", "informed_at": "2026-12-07T08:30", "informed_by": "letter"}, now=NOW
    )
    # A browser's datetime-local has no zone: the page says UTC, so it is read as UTC.
    assert ok.body == {
        "reason": "accuracy verified",
        "informed_at": "2026-12-07T08:30:00+00:00",
        "informed_by": "letter",
    }


def test_an_outcome_is_one_of_three_with_reasons() -> None:
    assert [f for f, _ in rights.read_outcome({"outcome": "maybe"}).errors] == ["outcome", "reasons"]
    assert rights.read_outcome({"outcome": "overturned", "reasons": " No consent was needed. "}).body == {
        "outcome": "overturned",
        "reasons": "No consent was needed.",
    }


def test_a_contestations_state_and_who_may_decide_it() -> None:
    assert rights.contestation_state(CONTESTATION) == "waiting for a human reviewer"
    taken = {**CONTESTATION, "details": {**CONTESTATION["details"], "reviewer": "console/reviewer-bob"}}
    assert rights.contestation_state(taken) == "under human review by console/reviewer-bob"
    assert rights.may_decide(taken, "reviewer-bob") and not rights.may_decide(taken, "bob")
    assert not rights.may_decide(CONTESTATION, "reviewer-bob")
    decided = {**taken, "details": {**taken["details"], "outcome": "upheld"}}
    assert rights.contestation_state(decided) == "decided: upheld" and not rights.may_decide(
        decided, "reviewer-bob"
    )


# --- handlers ------------------------------------------------------------------------------------


async def test_a_restriction_is_started_with_its_ground_and_a_bad_one_never_sent() -> None:
    apis = FakeApis()
    apis.answer("contacts", "/v1/requests", {"kind": "restriction", "status": "completed"})
    caller = _caller("admin")
    fields = {"kind": "restriction", "grounds": "legal_claims"}
    await handlers.start_request(commands.StartRequest(caller, "p-1", "restriction", fields), apis)
    assert apis.calls[-1][1:] == (
        caller.token,
        "contacts",
        "/v1/requests",
        {"kind": "restriction", "contact_id": "p-1", "grounds": "legal_claims"},
    )
    with pytest.raises(handlers.FormError) as refused:
        await handlers.start_request(commands.StartRequest(caller, "p-1", "contestation", {}), apis)
    assert refused.value.errors[0][0] == "check_id"
    assert len(apis.calls) == 1


async def test_a_lifting_goes_to_the_restriction_request() -> None:
    apis = FakeApis()
    apis.answer("contacts", "/v1/requests/r-2/restriction-lifting", {"id": "r-2"})
    fields = {
        "reason": "accuracy verified",
        "informed_at": "2026-12-07T08:30:00+00:00",
        "informed_by": "e-mail",
    }
    await handlers.lift_restriction(commands.LiftRestriction(_caller("admin"), "r-2", fields), apis, now=NOW)
    assert apis.calls[-1][3:] == ("/v1/requests/r-2/restriction-lifting", fields)


async def test_a_contestation_is_read_from_the_queue_or_for_an_admin_from_the_request() -> None:
    apis = FakeApis()
    apis.answer("contacts", "/v1/contestations", {"items": [CONTESTATION]})
    assert (await handlers.contestation(_caller("reviewer"), "r-1", apis))["id"] == "r-1"
    with pytest.raises(ApiError) as missing:
        await handlers.contestation(_caller("reviewer"), "r-2", apis)
    assert missing.value.problem.status == 404
    assert not any(path == "/v1/requests/r-2" for _m, _t, _s, path, _b in apis.calls)
    apis.answer("contacts", "/v1/requests/r-2", {**CONTESTATION, "id": "r-2", "status": "completed"})
    assert (await handlers.contestation(_caller("admin"), "r-2", apis))["id"] == "r-2"


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def client_and_apis() -> tuple[Any, FakeApis]:
    apis = FakeApis()
    console = Console(
        settings=SETTINGS, apis=apis, jobs=CheckJobs(apis), verifier=build_token_verifier(SETTINGS)
    )
    apis.answer("campaign-gate", "/v1/campaigns", {"items": []})  # a reviewer's main page, after sign-in
    return create_app(console=console), apis


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _sign_in(client: TestClient, *roles: str, subject: str) -> str:
    csrf = _csrf(client.get("/login").text)
    page = client.post("/login", data={"csrf": csrf, "token": _token(*roles, subject=subject), "next": "/"})
    assert page.status_code == 200, page.text
    return _csrf(page.text)


def test_a_reviewer_reads_the_queue_and_the_contested_receipt_and_takes_it_up(client_and_apis: Any) -> None:
    app, apis = client_and_apis
    apis.answer("contacts", "/v1/contestations", {"items": [CONTESTATION]})
    taken = {**CONTESTATION, "details": {**CONTESTATION["details"], "reviewer": "console/reviewer-bob"}}
    apis.answer("contacts", "/v1/requests/r-1/human-review", taken)
    with TestClient(app) as client:
        csrf = _sign_in(client, "reviewer", subject="reviewer-bob")
        queue = client.get("/contestations")
        assert queue.status_code == 200 and 'data-request="r-1"' in queue.text
        assert "waiting for a human reviewer" in queue.text
        page = client.get("/contestations/r-1")
        assert "ELEC-01" in page.text and "I never signed up" in page.text and 'id="take-up"' in page.text
        forged = client.post("/contestations/r-1/human-review", data={"csrf": "forged"})
        assert forged.status_code == 403 and not any(c[0] == "POST" for c in apis.calls)
        page = client.post("/contestations/r-1/human-review", data={"csrf": csrf})
        assert page.status_code == 200 and 'id="outcome-form"' in page.text
        assert apis.calls[-1][0:4] == ("POST", apis.calls[-1][1], "contacts", "/v1/requests/r-1/human-review")


def test_another_reviewers_hold_and_a_missing_reason_are_shown(client_and_apis: Any) -> None:
    app, apis = client_and_apis
    taken = {**CONTESTATION, "details": {**CONTESTATION["details"], "reviewer": "console/reviewer-bob"}}
    apis.answer("contacts", "/v1/contestations", {"items": [taken]})
    apis.answer(
        "contacts",
        "/v1/requests/r-1/human-review",
        Problem(
            409, "Conflict", "request r-1 is already under review by console/reviewer-bob", service="contacts"
        ),
    )
    with TestClient(app) as client:
        csrf = _sign_in(client, "reviewer", subject="reviewer-dan")
        page = client.get("/contestations/r-1")
        assert 'id="outcome-form"' not in page.text and "Another reviewer" in page.text
        page = client.post("/contestations/r-1/human-review", data={"csrf": csrf})
        assert page.status_code == 409 and "already under review by console/reviewer-bob" in page.text
        csrf = _sign_in(client, "reviewer", subject="reviewer-bob")
        page = client.post("/contestations/r-1/outcome", data={"csrf": csrf, "outcome": "upheld"})
        assert page.status_code == 422 and "owed the reasons" in page.text
        assert not any(c[3].endswith("/outcome") for c in apis.calls)


def test_the_outcome_decided_is_shown(client_and_apis: Any) -> None:
    app, apis = client_and_apis
    taken = {**CONTESTATION, "details": {**CONTESTATION["details"], "reviewer": "console/reviewer-bob"}}
    decided = {
        **taken,
        "status": "completed",
        "details": {**taken["details"], "outcome": "overturned", "reasons": "Consent was on file."},
    }
    apis.answer("contacts", "/v1/contestations", {"items": [taken]})
    apis.answer("contacts", "/v1/requests/r-1/outcome", decided)
    with TestClient(app) as client:
        csrf = _sign_in(client, "reviewer", subject="reviewer-bob")
        fields = {"csrf": csrf, "outcome": "overturned", "reasons": "Consent was on file."}
        page = client.post("/contestations/r-1/outcome", data=fields)
        assert (
            page.status_code == 200
            and "decided: overturned" in page.text
            and "Consent was on file." in page.text
        )
        assert apis.calls[-1][3:] == (
            "/v1/requests/r-1/outcome",
            {"outcome": "overturned", "reasons": "Consent was on file."},
        )


def test_a_restriction_in_force_is_shown_and_lifted_on_the_person_page(client_and_apis: Any) -> None:
    app, apis = client_and_apis
    contact = {
        "id": "p-1",
        "restriction": {
            "request_id": "r-5",
            "grounds": "accuracy_contested",
            "since": "2026-12-07T08:00:00+00:00",
        },
    }
    apis.answer("contacts", "/v1/contacts/p-1", contact)
    apis.answer("contacts", "/v1/requests", {"items": []})
    apis.answer(
        "contacts",
        "/v1/requests/r-5/restriction-lifting",
        Problem(409, "Conflict", "the restriction of request r-5 was already lifted", service="contacts"),
    )
    with TestClient(app) as client:
        csrf = _sign_in(client, "admin", subject="dpo-eve")
        page = client.get("/people/p-1")
        assert 'id="restriction"' in page.text and "contests the accuracy" in page.text
        assert 'id="lift-form"' in page.text and 'id="contestation-form"' in page.text
        assert 'name="check_id" value="chk-9"' in client.get("/people/p-1?contest=chk-9").text
        informed = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        fields = {
            "csrf": csrf,
            "reason": "accuracy verified",
            "informed_at": informed,
            "informed_by": "letter",
        }
        page = client.post("/people/p-1/restrictions/r-5/lifting", data=fields)
        assert page.status_code == 409 and "already lifted" in page.text
        assert 'value="accuracy verified"' in page.text  # the DPO's input is kept for another try
        page = client.post("/people/p-1/restrictions/r-5/lifting", data={"csrf": csrf, "reason": "ok"})
        assert page.status_code == 422 and "informed_by" in page.text
    # A reviewer (no DPO role) is refused the person page and its lifting before anything is sent.
    with TestClient(app) as client:
        csrf = _sign_in(client, "reviewer", subject="reviewer-bob")
        page = client.post("/people/p-1/restrictions/r-5/lifting", data={**fields, "csrf": csrf})
        assert page.status_code == 403

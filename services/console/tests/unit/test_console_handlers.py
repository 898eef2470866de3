"""The console's use cases and pages against fake APIs: what is sent with whose token, what is refused
before anything is sent, and how the APIs' refusals reach the page."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from console.adapters.apis import ApiError
from console.bootstrap import Console
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
CAMPAIGN = {
    "id": "c-1",
    "status": "submitted",
    "version": 1,
    "spec": {"channel": "email", "sender_entity": "Acme", "purpose_id": "p-1", "message": {"subject": "Hi"}},
    "findings": [
        {
            "rule": "ELEC-12",
            "severity": "needs_review",
            "message": "Campaign declared non-commercial.",
            "evidence": ["declared:commercial=false"],
            "sign_off": {
                "bases": ["public_service_information"],
                "reference_required": False,
                "min_explanation": 10,
            },
        }
    ],
    "review": None,
    "created_by": "alice",
    "updated_by": "alice",
    "created_at": "2026-12-07T08:00:00+00:00",
    "updated_at": "2026-12-07T08:00:00+00:00",
}


def _token(*roles: str, subject: str = "someone") -> str:
    return issue_local_token(
        secret=SETTINGS.jwt_secret.get_secret_value(),
        issuer=SETTINGS.jwt_issuer,
        audience=SETTINGS.jwt_audience,
        roles=roles,
        subject=subject,
    )


def _caller(*roles: str) -> commands.Caller:
    return commands.Caller(token=_token(*roles), subject="someone", roles=frozenset(roles))


# --- handlers ------------------------------------------------------------------------------------


async def test_an_approval_sends_one_sign_off_per_rule_with_the_callers_token() -> None:
    apis = FakeApis()
    apis.answer("campaign-gate", "/v1/campaigns/c-1", CAMPAIGN)
    apis.answer("campaign-gate", "/v1/campaigns/c-1/approve", {**CAMPAIGN, "status": "approved"})
    caller = _caller("reviewer")
    fields = {"basis-ELEC-12": "public_service_information", "explanation-ELEC-12": "A mairie newsletter."}
    await handlers.approve(commands.ApproveCampaign(caller, "c-1", fields), apis)
    method, token, service, path, body = apis.calls[-1]
    assert (method, service, path, token) == (
        "POST",
        "campaign-gate",
        "/v1/campaigns/c-1/approve",
        caller.token,
    )
    assert body == {
        "sign_offs": [
            {"rule": "ELEC-12", "basis": "public_service_information", "explanation": "A mairie newsletter."}
        ]
    }


async def test_an_incomplete_sign_off_is_refused_before_anything_is_posted() -> None:
    apis = FakeApis()
    apis.answer("campaign-gate", "/v1/campaigns/c-1", CAMPAIGN)
    with pytest.raises(handlers.FormError) as refused:
        await handlers.approve(commands.ApproveCampaign(_caller("reviewer"), "c-1", {}), apis)
    assert {field for field, _ in refused.value.errors} == {"basis-ELEC-12", "explanation-ELEC-12"}
    assert [c[0] for c in apis.calls] == ["GET"]


async def test_the_gates_four_eyes_refusal_reaches_the_caller() -> None:
    apis = FakeApis()
    apis.answer("campaign-gate", "/v1/campaigns/c-1", CAMPAIGN)
    apis.answer("campaign-gate", "/v1/campaigns/c-1/approve", Problem(403, "FourEyesError", "four eyes"))
    fields = {"basis-ELEC-12": "public_service_information", "explanation-ELEC-12": "A mairie newsletter."}
    with pytest.raises(ApiError) as refused:
        await handlers.approve(commands.ApproveCampaign(_caller("reviewer"), "c-1", fields), apis)
    assert refused.value.problem.status == 403


async def test_a_check_streams_in_the_background_and_counts_as_it_goes() -> None:
    apis = FakeApis()
    apis.check_lines = [
        {"contact_id": "a", "decision": "allow", "reasons": [{"rule": "ELEC-02", "message": ""}]},
        {"contact_id": "b", "decision": "block", "reasons": [{"rule": "ELEC-06", "message": ""}]},
        {
            "check_id": "k-1",
            "campaign_id": "c-1",
            "ruleset_version": "2026-11-29",
            "stale": False,
            "summary": {},
        },
    ]
    jobs = CheckJobs(apis)
    caller = _caller("marketer")
    job = handlers.start_check(commands.StartCheck(caller, "c-1", "a\nb\n"), jobs, limit=10)
    assert job.state == "running" and job.tally.total == 2
    assert job.task is not None
    await asyncio.wait_for(job.task, 5)
    assert job.state == "finished" and job.check_id == "k-1"
    assert job.tally.by_decision == {"allow": 1, "block": 1} and job.tally.percent == 100
    assert apis.calls == [("CHECK", caller.token, "campaign-gate", "c-1", ["a", "b"])]
    assert jobs.get(job.id, "someone") is job and jobs.get(job.id, "someone-else") is None


async def test_a_check_the_gate_refuses_ends_failed_with_its_problem() -> None:
    apis = FakeApis()
    apis.check_error = ApiError(Problem(404, "NotFoundError", "no campaign c-9", service="campaign-gate"))
    jobs = CheckJobs(apis)
    job = handlers.start_check(commands.StartCheck(_caller("marketer"), "c-9", "a"), jobs, limit=10)
    assert job.task is not None
    await asyncio.wait_for(job.task, 5)
    assert job.state == "failed" and job.problem is not None and job.problem.status == 404


async def test_a_checks_page_counts_its_receipts_by_decision_and_rule_up_to_a_bound() -> None:
    apis = FakeApis()
    apis.answer("campaign-gate", "/v1/checks/k-1", {"check_id": "k-1", "state": "finished", "recipients": 3})
    lines = [
        {"contact_id": "a", "decision": "allow", "reasons": [{"rule": "ELEC-02", "message": ""}]},
        {"contact_id": "b", "decision": "block", "reasons": [{"rule": "ELEC-06", "message": ""}]},
        {"contact_id": "c", "decision": "block", "reasons": [{"rule": "ELEC-06", "message": ""}]},
    ]
    apis.answer("campaign-gate", "/v1/checks/k-1/receipts", "\n".join(json.dumps(x) for x in lines).encode())
    status, tally = await handlers.check(_caller("marketer"), "k-1", apis, tally_up_to=10)
    assert status["state"] == "finished" and tally.total == 3
    assert tally.by_decision == {"block": 2, "allow": 1} and tally.rules()[0] == ("ELEC-06", 2, {"block": 2})
    caller = _caller("marketer")
    _status, partial = await handlers.check(caller, "k-1", apis, tally_up_to=1)
    assert partial.decided == 2  # the first chunk's complete lines, then it stops reading
    assert apis.calls[-1][:4] == (
        "DOWNLOAD",
        caller.token,
        "campaign-gate",
        "/v1/checks/k-1/receipts",
    )


def test_a_check_without_ids_or_with_bad_lines_is_refused() -> None:
    jobs = CheckJobs(FakeApis())
    with pytest.raises(handlers.FormError) as empty:
        handlers.start_check(commands.StartCheck(_caller("marketer"), "", " \n"), jobs, limit=10)
    assert {f for f, _ in empty.value.errors} == {"campaign_id", "contact_ids"}
    with pytest.raises(handlers.FormError) as bad:
        handlers.start_check(commands.StartCheck(_caller("marketer"), "c-1", "ok\n<b>\n"), jobs, limit=10)
    assert "line(s) 2" in bad.value.errors[0][1]


async def test_a_person_file_shows_what_each_role_may_read_and_says_why_the_rest_is_missing() -> None:
    apis = FakeApis()
    apis.answer("contacts", "/v1/contacts/p-1", {"id": "p-1"})
    apis.answer("consent", "/v1/contacts/p-1/consents", {"consents": [], "deliveries": [], "objections": []})
    apis.answer("contacts", "/v1/requests", {"items": [{"contact_id": "p-1"}, {"contact_id": "p-2"}]})
    admin_only = await handlers.person(_caller("admin"), "p-1", apis)
    assert admin_only.contact.ok and admin_only.consents.ok
    assert admin_only.requests.data == [{"contact_id": "p-1"}]
    assert admin_only.receipts.refusal is not None and "marketer" in admin_only.receipts.refusal.message
    assert admin_only.bundle_refusal is None
    assert not any(path.endswith("/receipts") for _m, _t, _s, path, _b in apis.calls)
    auditor = await handlers.person(_caller("auditor"), "p-1", apis)
    assert auditor.contact.refusal is not None and auditor.receipts.problem is not None  # 404 from the fake


async def test_a_request_is_started_for_the_contact() -> None:
    apis = FakeApis()
    apis.answer("contacts", "/v1/requests", {"kind": "access", "status": "in_progress"})
    await handlers.start_request(commands.StartRequest(_caller("admin"), "p-1", "access"), apis)
    assert apis.calls[-1][2:] == ("contacts", "/v1/requests", {"kind": "access", "contact_id": "p-1"})
    with pytest.raises(handlers.FormError):
        await handlers.start_request(
            commands.StartRequest(_caller("admin"), "p-1", "delete_everything"), apis
        )


NOTE = "vigie.local/audit-log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n— vigie-audit-local AAAA\n"


async def test_an_entry_newer_than_the_checkpoint_has_no_proof_yet() -> None:
    apis = FakeApis()
    apis.answer("audit-log", "/v1/checkpoint", NOTE)
    apis.answer("audit-log", "/v1/public-key", {"vkey": "k+00000000+AQ=="})
    apis.answer("audit-log", "/v1/proofs/inclusion", {"audit_path": ["ab"]})
    for index in (4, 5):
        apis.answer("audit-log", f"/v1/entries/{index}", {"index": index})
    inside = await handlers.entry_with_proof(_caller("auditor"), 4, apis)
    assert inside.proof == {"audit_path": ["ab"]} and inside.checkpoint.size == 5
    assert apis.calls[-1][4] == {"index": 4, "tree_size": 5}
    newer = await handlers.entry_with_proof(_caller("auditor"), 5, apis)
    assert newer.proof is None


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def app_and_apis() -> tuple[Any, FakeApis]:
    apis = FakeApis()
    console = Console(
        settings=SETTINGS, apis=apis, jobs=CheckJobs(apis), verifier=build_token_verifier(SETTINGS)
    )
    return create_app(console=console), apis


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _signed_in(client: TestClient, *roles: str, subject: str = "someone") -> str:
    csrf = _csrf(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf": csrf, "token": _token(*roles, subject=subject), "next": "/"}
    )
    assert response.status_code == 200, response.text
    return _csrf(response.text)


def test_the_session_cookie_is_httponly_and_strict_and_forms_need_the_csrf_token(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    apis.answer("audit-log", "/v1/entries", {"items": [], "next_cursor": None})
    with TestClient(app) as client:
        csrf = _csrf(client.get("/login").text)
        forged = client.post("/login", data={"csrf": "forged", "token": _token("auditor")})
        assert forged.status_code == 403 and "CSRF" in forged.text
        response = client.post(
            "/login", data={"csrf": csrf, "token": _token("auditor")}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/log"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert "Content-Security-Policy" in client.get("/log").headers


def test_a_bad_token_is_refused_without_echoing_it(app_and_apis: Any) -> None:
    app, _apis = app_and_apis
    with TestClient(app) as client:
        csrf = _csrf(client.get("/login").text)
        page = client.post("/login", data={"csrf": csrf, "token": "secret-looking-garbage"})
        assert page.status_code == 401 and "does not verify" in page.text
        assert "secret-looking-garbage" not in page.text


def test_a_marketer_is_refused_the_auditors_pages_and_the_approval(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    apis.answer("campaign-gate", "/v1/campaigns/c-1", CAMPAIGN)
    with TestClient(app) as client:
        csrf = _signed_in(client, "marketer")
        for path in ("/log", "/log/verify", "/people", "/campaigns/c-1/review"):
            page = client.get(path)
            assert page.status_code == 403 and "Refused" in page.text, path
        page = client.get("/campaigns/c-1")
        assert page.status_code == 200 and 'id="approve"' not in page.text
        posted = client.post("/campaigns/c-1/approve", data={"csrf": csrf})
        assert posted.status_code == 403
        assert not any(c[0] == "POST" for c in apis.calls)


def test_the_gates_refusal_is_shown_on_the_campaign_page(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    apis.answer("campaign-gate", "/v1/campaigns", {"items": [CAMPAIGN]})
    apis.answer("campaign-gate", "/v1/campaigns/c-1", CAMPAIGN)
    apis.answer(
        "campaign-gate",
        "/v1/campaigns/c-1/approve",
        Problem(
            403, "FourEyesError", "a reviewer cannot approve a campaign they created", service="campaign-gate"
        ),
    )
    with TestClient(app) as client:
        csrf = _signed_in(client, "reviewer", subject="alice")
        fields = {
            "csrf": csrf,
            "basis-ELEC-12": "public_service_information",
            "explanation-ELEC-12": "Town news.",
        }
        page = client.post("/campaigns/c-1/approve", data=fields)
        assert page.status_code == 403
        assert "FourEyesError" in page.text and "campaign-gate, 403" in page.text
        assert "Town news." in page.text  # the reviewer's input is kept for another try


def test_a_missing_proof_bundle_says_what_the_404_means(app_and_apis: Any) -> None:
    app, _apis = app_and_apis
    with TestClient(app) as client:
        _signed_in(client, "admin", "auditor")
        page = client.get("/people/p-1/proof-bundle")
        assert page.status_code == 404 and "No proof bundle" in page.text


def test_signing_out_needs_the_form_and_ends_the_session(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    apis.answer("audit-log", "/v1/entries", {"items": [], "next_cursor": None})
    with TestClient(app) as client:
        csrf = _signed_in(client, "auditor")
        assert client.post("/logout", data={"csrf": "x"}).status_code == 403
        client.post("/logout", data={"csrf": csrf})
        assert client.get("/log", follow_redirects=False).headers["location"] == "/login?next=/log"


def test_the_identity_provider_login_is_a_redirect_when_configured() -> None:
    apis = FakeApis()
    settings = SETTINGS.model_copy(update={"idp_login_url": "https://idp.example/authorize?client_id=vigie"})
    console = Console(
        settings=settings, apis=apis, jobs=CheckJobs(apis), verifier=build_token_verifier(settings)
    )
    with TestClient(create_app(console=console)) as client:
        assert "identity provider" in client.get("/login").text
        response = client.get("/login/idp", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("https://idp.example/")
    with TestClient(
        create_app(console=Console(SETTINGS, apis, CheckJobs(apis), build_token_verifier(SETTINGS)))
    ) as client:
        assert client.get("/login/idp").status_code == 404


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example", "/log"])
def test_after_sign_in_only_a_path_of_this_site_is_followed(app_and_apis: Any, target: str) -> None:
    app, apis = app_and_apis
    apis.answer("audit-log", "/v1/entries", {"items": [], "next_cursor": None})
    with TestClient(app) as client:
        csrf = _csrf(client.get("/login").text)
        form = {"csrf": csrf, "token": _token("auditor"), "next": target}
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.headers["location"] == "/log"


def test_an_id_that_is_not_one_never_reaches_an_api(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    with TestClient(app) as client:
        _signed_in(client, "admin", "auditor")
        for path in ("/people/%2E%2E", "/people/a%2F..%2Fb", "/campaigns/%00", "/checks/-x"):
            assert client.get(path).status_code in (404, 422), path
    assert not any("/.." in call[3] for call in apis.calls)


async def test_a_rejection_needs_its_reason_and_sends_it() -> None:
    apis = FakeApis()
    apis.answer("campaign-gate", "/v1/campaigns/c-1/reject", {**CAMPAIGN, "status": "rejected"})
    with pytest.raises(handlers.FormError):
        await handlers.reject(commands.RejectCampaign(_caller("reviewer"), "c-1", "  "), apis)
    assert apis.calls == []
    await handlers.reject(commands.RejectCampaign(_caller("reviewer"), "c-1", " Targets minors. "), apis)
    assert apis.calls[-1][2:] == (
        "campaign-gate",
        "/v1/campaigns/c-1/reject",
        {"justification": "Targets minors."},
    )


def test_the_whole_log_is_verified_without_a_script_too(app_and_apis: Any) -> None:
    app, apis = app_and_apis
    apis.answer("audit-log", "/v1/entries", {"items": [], "next_cursor": None})
    apis.answer("audit-log", "/v1/checkpoint", NOTE)
    apis.answer("audit-log", "/v1/public-key", {"vkey": "k+00000000+AQ=="})
    report = {"ok": False, "tree_size": 5, "root_hash": "ab", "first_bad_index": 3, "checkpoint_size": 5}
    apis.answer("audit-log", "/v1/verify", {**report, "problems": [{"index": 3, "problem": "leaf mismatch"}]})
    with TestClient(app) as client:
        _signed_in(client, "auditor")
        idle = client.get("/log/verify")
        assert idle.status_code == 200 and "holds 5 entries" in idle.text and "FAILED" not in idle.text
        run = client.get("/log/verify", params={"run": 1})
        assert "FAILED" in run.text and "entry 3: leaf mismatch" in run.text
        scripted = client.get("/log/verify.json")
        assert scripted.json()["first_bad_index"] == 3 and "seconds" in scripted.json()

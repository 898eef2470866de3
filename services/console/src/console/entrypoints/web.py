"""The console's pages: thin translators between the browser and the use cases. Every page checks the
person's roles first (the console's copy of the APIs' policy) and the APIs check them again."""

from __future__ import annotations

import hashlib
import logging
import pathlib
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from shared.auth import AuthenticationError
from starlette.datastructures import UploadFile

from console.adapters.apis import ApiError
from console.adapters.oidc import TokenExchangeError
from console.domain import oidc, pages, rights, views
from console.entrypoints.session import (
    check_csrf,
    csrf_token,
    current_caller,
    end_session,
    keep_csrf_cookie,
    start_session,
    verify_token,
)
from console.service_layer import commands, handlers
from console.service_layer.handlers import FormError

log = logging.getLogger(__name__)
HERE = pathlib.Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["when"] = lambda value: (value or "").replace("T", " ")[:16] + (" UTC" if value else "")
router = APIRouter(include_in_schema=False)
CallerDep = Annotated[commands.Caller, Depends(current_caller)]
STATUSES = ("submitted", "draft", "approved", "rejected")
#: An id in a page's path: it is put in the APIs' paths, so no slash, no dot segment, nothing to escape.
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    caller: commands.Caller | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Renders a page with the menu of the caller's roles and this browser's CSRF token."""
    roles = caller.roles if caller else frozenset()
    base = {
        "caller": caller,
        "roles": sorted(roles),
        "menu": pages.menu_for(roles),
        "csrf": csrf_token(request),
        "idp_login_url": _idp_sign_in(request),
    }
    response = templates.TemplateResponse(request, name, {**base, **(context or {})}, status_code=status_code)
    keep_csrf_cookie(request, response)
    return response


def refused(request: Request, caller: commands.Caller, refusal: pages.Refusal) -> HTMLResponse:
    """The page a person sees when their roles do not allow what they asked (403)."""
    return render(request, "refused.html", {"refusal": refusal}, caller=caller, status_code=403)


def problem_page(
    request: Request, caller: commands.Caller | None, problem: views.Problem, **extra: Any
) -> HTMLResponse:
    """The page for an API's refusal or failure (the API's status; 502 for a service's own failure)."""
    status = problem.status if problem.status < 500 else 502
    return render(request, "problem.html", {"problem": problem, **extra}, caller=caller, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- Sign in ---------------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    # Because "//host" and "/\\host" leave the site: only a path of this site is followed after sign-in.
    safe = value and value.startswith("/") and not value.startswith("//") and "\\" not in value
    return value if safe and value else "/"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
    """The sign-in page: paste a bearer token, or go to the identity provider when one is configured."""
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
async def login(request: Request) -> Response:
    """Verifies the token as the services do and keeps it in the session cookie."""
    fields = await _form(request)
    token = "".join(fields.get("token", "").split())
    try:
        principal = await verify_token(request, token)
    except AuthenticationError as exc:
        # The reason (expired, bad signature…) helps; the token itself is never echoed or logged.
        error = f"This token does not verify: {exc}" if token else "Paste a bearer token."
        return render(
            request, "login.html", {"error": error, "next": _safe_next(fields.get("next"))}, status_code=401
        )
    start = pages.main_page(principal.roles)
    target = _safe_next(fields.get("next"))
    response = RedirectResponse(target if target != "/" else (start.path if start else "/"), status_code=303)
    start_session(request, response, token)
    return response


OIDC_COOKIE = "vigie_oidc"


def _idp_sign_in(request: Request) -> str | None:
    """Returns whether (and how) the login page offers the identity provider."""
    settings = request.app.state.console.settings
    return "/login/idp" if settings.oidc_enabled() else settings.idp_login_url


def _oidc_key(request: Request) -> bytes:
    # Because the attempt cookie and the CSRF tokens must not be interchangeable: one secret, two keys.
    secret = request.app.state.console.settings.csrf_secret.get_secret_value().encode()
    return hashlib.sha256(b"vigie-console-oidc-attempt:" + secret).digest()


def _oidc_redirect_uri(request: Request) -> str:
    configured = request.app.state.console.settings.oidc_redirect_uri
    return str(configured or request.url_for("login_callback"))


@router.get("/login/idp")
async def login_idp(request: Request, next: str | None = None) -> Response:
    """Starts the OIDC code flow with PKCE at the identity provider (or, without OIDC settings, sends
    the browser to the configured login URL); 404 when no provider is configured."""
    settings = request.app.state.console.settings
    if settings.oidc_enabled():
        attempt = oidc.LoginAttempt.start(_safe_next(next), now=int(time.time()))
        url = oidc.authorization_url(
            settings.oidc_authorization_endpoint,
            client_id=settings.oidc_client_id,
            redirect_uri=_oidc_redirect_uri(request),
            scope=settings.oidc_scope,
            attempt=attempt,
        )
        response = RedirectResponse(url, status_code=303)
        # Lax, not Strict: the provider's redirect back is a cross-site navigation that must carry it.
        response.set_cookie(
            OIDC_COOKIE,
            attempt.seal(_oidc_key(request)),
            max_age=oidc.ATTEMPT_TTL_SECONDS,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookie(),
            path="/login/callback",
        )
        return response
    if not settings.idp_login_url:
        return render(
            request, "login.html", {"error": "No identity provider is configured here."}, status_code=404
        )
    return RedirectResponse(settings.idp_login_url, status_code=303)


@router.get("/login/callback", name="login_callback")
async def login_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """Finishes the OIDC code flow: checks the attempt, trades the code for the access token, verifies
    it as the services do and opens the session."""
    console = request.app.state.console

    def refused(message: str, status_code: int) -> Response:
        page = render(request, "login.html", {"error": message}, status_code=status_code)
        page.delete_cookie(OIDC_COOKIE, path="/login/callback")
        return page

    if console.oidc is None:
        return refused("No identity provider is configured here.", 404)
    if error:
        # The provider's own words (e.g. access_denied), never a token: shown, not logged.
        return refused(f"The identity provider did not sign you in: {error_description or error}.", 401)
    try:
        attempt = oidc.LoginAttempt.open(
            request.cookies.get(OIDC_COOKIE), _oidc_key(request), state=state, now=int(time.time())
        )
    except oidc.LoginAttemptError as exc:
        return refused(f"Sign-in refused: {exc}.", 400)
    if not code:
        return refused("Sign-in refused: the identity provider sent no code.", 400)
    try:
        token = await console.oidc.exchange(
            code=code, redirect_uri=_oidc_redirect_uri(request), verifier=attempt.verifier
        )
        principal = await verify_token(request, token)
    except TokenExchangeError as exc:
        return refused(f"Sign-in failed: {exc}.", 502)
    except AuthenticationError as exc:
        return refused(f"The identity provider's token does not verify here: {exc}.", 401)
    start = pages.main_page(principal.roles)
    target = attempt.next_path if attempt.next_path != "/" else (start.path if start else "/")
    # A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not send it on
    # the rest of a navigation that began at the provider's site; the page's own navigation is same-site.
    response = render(request, "signed_in.html", {"target": target})
    start_session(request, response, token)
    response.delete_cookie(OIDC_COOKIE, path="/login/callback")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Ends the session."""
    await _form(request)
    response = RedirectResponse("/login", status_code=303)
    end_session(response)
    return response


@router.get("/")
async def home(request: Request, caller: CallerDep) -> HTMLResponse:
    """The pages the caller's roles open."""
    return render(request, "home.html", {"main": pages.main_page(caller.roles)}, caller=caller)


# --- Reviewer ------------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns_page(request: Request, caller: CallerDep, status: str = "submitted") -> HTMLResponse:
    """Campaigns by status (the reviewer's queue: submitted)."""
    if refusal := pages.page_refusal("campaigns", caller.roles):
        return refused(request, caller, refusal)
    status = status if status in (*STATUSES, "") else "submitted"
    items = await handlers.campaigns(caller, status, request.app.state.console.apis)
    context = {"items": items, "status": status, "statuses": STATUSES, "counts": views.finding_counts}
    return render(request, "campaigns.html", context, caller=caller)


async def _campaign_page(
    request: Request,
    caller: commands.Caller,
    campaign_id: str,
    *,
    problem: views.Problem | None = None,
    form_errors: tuple[tuple[str, str], ...] = (),
    fields: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    view = await handlers.campaign(caller, campaign_id, request.app.state.console.apis)
    context = {
        "c": view.campaign,
        "forms": view.forms,
        "review_refusal": pages.action_refusal("approve", caller.roles),
        "problem": problem,
        "form_errors": dict(form_errors),
        "fields": fields or {},
        "done": done,
    }
    return render(request, "campaign.html", context, caller=caller, status_code=status_code)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, caller: CallerDep, campaign_id: Id) -> HTMLResponse:
    """A campaign with its findings (rule, severity, message, evidence) and, for a reviewer, the review."""
    if refusal := pages.page_refusal("campaigns", caller.roles):
        return refused(request, caller, refusal)
    return await _campaign_page(request, caller, campaign_id)


@router.get("/campaigns/{campaign_id}/review")
async def review_page(request: Request, caller: CallerDep, campaign_id: Id) -> Response:
    """The review form alone (reviewers only): the campaign page's review section."""
    if refusal := pages.page_refusal("review", caller.roles):
        return refused(request, caller, refusal)
    return RedirectResponse(f"/campaigns/{quote(campaign_id)}#review", status_code=303)


@router.post("/campaigns/{campaign_id}/approve")
async def approve(request: Request, caller: CallerDep, campaign_id: Id) -> Response:
    """Approves with the sign-offs entered; the gate's refusal (four eyes, a block finding) is shown."""
    fields = await _form(request)
    if refusal := pages.action_refusal("approve", caller.roles):
        return refused(request, caller, refusal)
    apis = request.app.state.console.apis
    try:
        await handlers.approve(commands.ApproveCampaign(caller, campaign_id, fields), apis)
    except FormError as exc:
        return await _campaign_page(
            request, caller, campaign_id, form_errors=exc.errors, fields=fields, status_code=422
        )
    except ApiError as exc:
        return await _campaign_page(
            request, caller, campaign_id, problem=exc.problem, fields=fields, status_code=exc.problem.status
        )
    return await _campaign_page(request, caller, campaign_id, done="Approved.")


@router.post("/campaigns/{campaign_id}/reject")
async def reject(request: Request, caller: CallerDep, campaign_id: Id) -> Response:
    """Rejects with the reason given."""
    fields = await _form(request)
    if refusal := pages.action_refusal("reject", caller.roles):
        return refused(request, caller, refusal)
    apis = request.app.state.console.apis
    command = commands.RejectCampaign(caller, campaign_id, fields.get("justification", ""))
    try:
        await handlers.reject(command, apis)
    except FormError as exc:
        return await _campaign_page(
            request, caller, campaign_id, form_errors=exc.errors, fields=fields, status_code=422
        )
    except ApiError as exc:
        return await _campaign_page(
            request, caller, campaign_id, problem=exc.problem, status_code=exc.problem.status
        )
    return await _campaign_page(request, caller, campaign_id, done="Rejected.")


# --- Reviewer: contestations of automated decisions (Art. 22(3)) ----------------------------------


@router.get("/contestations")
async def contestations_page(request: Request, caller: CallerDep) -> HTMLResponse:
    """The human-review queue: open contestations with their state and deadline."""
    if refusal := pages.page_refusal("contestations", caller.roles):
        return refused(request, caller, refusal)
    items: list[dict[str, Any]] = []
    problem = None
    try:
        items = await handlers.contestations(caller, request.app.state.console.apis)
    except ApiError as exc:
        problem = exc.problem
    context = {
        "items": items,
        "problem": problem,
        "state": rights.contestation_state,
        "deadline": views.deadline,
        "now": _now(),
        "parse": _parse_time,
    }
    return render(request, "contestations.html", context, caller=caller)


async def _contestation_page(
    request: Request,
    caller: commands.Caller,
    request_id: str,
    *,
    found: dict[str, Any] | None = None,
    problem: views.Problem | None = None,
    fields: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    if found is None:
        try:
            found = await handlers.contestation(caller, request_id, request.app.state.console.apis)
        except ApiError as exc:
            if problem is None:
                return problem_page(request, caller, exc.problem, back="/contestations")
            found = {"id": request_id, "details": {}}
    context = {
        "r": found,
        "d": found.get("details") or {},
        "state": rights.contestation_state(found),
        "may_decide": rights.may_decide(found, caller.subject),
        "outcomes": rights.OUTCOMES,
        "problem": problem,
        "fields": fields or {},
        "done": done,
        "deadline": views.deadline,
        "now": _now(),
        "parse": _parse_time,
    }
    return render(request, "contestation.html", context, caller=caller, status_code=status_code)


@router.get("/contestations/{request_id}")
async def contestation_page(request: Request, caller: CallerDep, request_id: Id) -> HTMLResponse:
    """A contestation: the decision contested (with the gate's receipt), the person's point of view, and
    for a reviewer the buttons to take it up and decide it."""
    if refusal := pages.page_refusal("contestations", caller.roles):
        return refused(request, caller, refusal)
    return await _contestation_page(request, caller, request_id)


@router.post("/contestations/{request_id}/human-review")
async def take_up_contestation(request: Request, caller: CallerDep, request_id: Id) -> HTMLResponse:
    """The caller takes the contestation up; contacts' refusal (another reviewer holds it) is shown."""
    await _form(request)
    if refusal := pages.action_refusal("review_contestation", caller.roles):
        return refused(request, caller, refusal)
    command = commands.TakeUpContestation(caller, request_id)
    try:
        taken = await handlers.take_up_contestation(command, request.app.state.console.apis)
    except ApiError as exc:
        return await _contestation_page(
            request, caller, request_id, problem=exc.problem, status_code=exc.problem.status
        )
    return await _contestation_page(
        request, caller, request_id, found=taken, done="Taken up: decide it below."
    )


@router.post("/contestations/{request_id}/outcome")
async def decide_contestation(request: Request, caller: CallerDep, request_id: Id) -> HTMLResponse:
    """The reviewer's outcome with its reasons; the page names missing fields, contacts' refusals shown."""
    fields = await _form(request)
    if refusal := pages.action_refusal("review_contestation", caller.roles):
        return refused(request, caller, refusal)
    command = commands.DecideContestation(caller, request_id, fields)
    try:
        decided = await handlers.decide_contestation(command, request.app.state.console.apis)
    except FormError as exc:
        problem = views.Problem(422, "Invalid outcome", errors=exc.errors)
        return await _contestation_page(
            request, caller, request_id, problem=problem, fields=fields, status_code=422
        )
    except ApiError as exc:
        return await _contestation_page(
            request, caller, request_id, problem=exc.problem, fields=fields, status_code=exc.problem.status
        )
    outcome = (decided.get("details") or {}).get("outcome")
    return await _contestation_page(request, caller, request_id, found=decided, done=f"Decided: {outcome}.")


# --- Marketer ------------------------------------------------------------------------------------


@router.get("/checks/new")
async def new_check_page(request: Request, caller: CallerDep, campaign_id: str = "") -> HTMLResponse:
    """The form to check a campaign's recipients: paste ids or upload a file of them."""
    if refusal := pages.page_refusal("checks", caller.roles):
        return refused(request, caller, refusal)
    approved: list[dict[str, Any]] = []
    try:
        approved = await handlers.campaigns(caller, "approved", request.app.state.console.apis)
    except ApiError:
        approved = []  # Because the form still works with an id typed in.
    return render(
        request, "check_new.html", {"campaign_id": campaign_id, "approved": approved}, caller=caller
    )


@router.post("/checks")
async def start_check(request: Request, caller: CallerDep) -> Response:
    """Starts the check in the background and sends the browser to its progress page."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    if refusal := pages.action_refusal("check", caller.roles):
        return refused(request, caller, refusal)
    text = str(form.get("contact_ids") or "")
    upload = form.get("ids_file")
    if isinstance(upload, UploadFile) and upload.filename:
        text += "\n" + (await upload.read()).decode("utf-8", errors="replace")
    console = request.app.state.console
    command = commands.StartCheck(caller, str(form.get("campaign_id") or ""), text)
    try:
        job = handlers.start_check(command, console.jobs, limit=console.settings.max_check_ids)
    except FormError as exc:
        context = {"campaign_id": command.campaign_id, "approved": [], "form_errors": dict(exc.errors)}
        return render(request, "check_new.html", context, caller=caller, status_code=422)
    return RedirectResponse(f"/checks/jobs/{job.id}", status_code=303)


@router.get("/checks/jobs/{job_id}")
async def check_job_page(request: Request, caller: CallerDep, job_id: Id) -> HTMLResponse:
    """A running check's progress (the page refreshes itself until the gate has answered)."""
    if refusal := pages.page_refusal("checks", caller.roles):
        return refused(request, caller, refusal)
    job = request.app.state.console.jobs.get(job_id, caller.subject)
    if job is None:
        problem = views.Problem(404, "No such check here", "This console process did not start it for you.")
        return problem_page(request, caller, problem)
    return render(request, "check_job.html", {"job": job}, caller=caller)


@router.get("/checks/{check_id}")
async def check_page(request: Request, caller: CallerDep, check_id: Id) -> HTMLResponse:
    """A check's state and summary by decision and rule, with its receipts to download."""
    if refusal := pages.page_refusal("check", caller.roles):
        return refused(request, caller, refusal)
    status, tally = await handlers.check(
        caller, check_id, request.app.state.console.apis, tally_up_to=200_000
    )
    return render(
        request, "check.html", {"status": status, "tally": tally, "check_id": check_id}, caller=caller
    )


@router.get("/checks/{check_id}/receipts.ndjson")
async def check_receipts(request: Request, caller: CallerDep, check_id: Id) -> Response:
    """The check's receipts as the gate serves them (NDJSON), downloaded with the caller's token."""
    if refusal := pages.action_refusal("receipts", caller.roles):
        return refused(request, caller, refusal)
    download = await request.app.state.console.apis.download(
        caller.token, "campaign-gate", f"/v1/checks/{check_id}/receipts"
    )
    disposition = download.disposition or f'attachment; filename="check-{check_id}-receipts.ndjson"'
    return StreamingResponse(
        download.chunks, media_type=download.media_type, headers={"Content-Disposition": disposition}
    )


# --- DPO -----------------------------------------------------------------------------------------


@router.get("/people")
async def people_page(request: Request, caller: CallerDep, q: str = "") -> Response:
    """Search a person by e-mail or phone (contacts' blind indexes) or contact id."""
    if refusal := pages.page_refusal("people", caller.roles):
        return refused(request, caller, refusal)
    query = views.read_person_query(q)
    found: list[dict[str, Any]] = []
    problem = None
    if query is not None:
        try:
            found = await handlers.find_people(caller, query, request.app.state.console.apis)
        except ApiError as exc:
            problem = exc.problem
        if len(found) == 1:
            return RedirectResponse(f"/people/{quote(found[0]['id'])}", status_code=303)
    context = {"q": q, "query": query, "found": found, "problem": problem}
    return render(request, "people.html", context, caller=caller)


async def _person_page(
    request: Request,
    caller: commands.Caller,
    contact_id: str,
    *,
    done: str = "",
    problem: Any = None,
    code: int = 200,
    fields: dict[str, str] | None = None,
    contest: str = "",
) -> HTMLResponse:
    file = await handlers.person(caller, contact_id, request.app.state.console.apis)
    context = {
        "p": file,
        "kinds": [k for k in handlers.PAGE_REQUEST_KINDS if k not in ("restriction", "contestation")],
        "grounds": rights.RESTRICTION_GROUNDS,
        "lift_refusal": pages.action_refusal("lift_restriction", caller.roles),
        "contestations_page": pages.page_refusal("contestations", caller.roles) is None,
        "contestation_state": rights.contestation_state,
        "fields": fields or {},
        "contest": contest,
        "request_refusal": pages.action_refusal("start_request", caller.roles),
        "done": done,
        "problem": problem,
        "deadline": views.deadline,
        "now": _now(),
        "parse": _parse_time,
    }
    return render(request, "person.html", context, caller=caller, status_code=code)


@router.get("/people/{contact_id}")
async def person_page(request: Request, caller: CallerDep, contact_id: Id, contest: str = "") -> HTMLResponse:
    """Everything Vigie holds about one person, each part from its owner, with its deadlines; `contest`
    fills the contestation form with a check's id (the receipts' "contest" links)."""
    if refusal := pages.page_refusal("people", caller.roles):
        return refused(request, caller, refusal)
    return await _person_page(request, caller, contact_id, contest=contest[:64])


@router.post("/people/{contact_id}/requests")
async def start_request(request: Request, caller: CallerDep, contact_id: Id) -> HTMLResponse:
    """Records a data-subject request for the person."""
    fields = await _form(request)
    if refusal := pages.action_refusal("start_request", caller.roles):
        return refused(request, caller, refusal)
    command = commands.StartRequest(caller, contact_id, fields.get("kind", ""), fields)
    try:
        created = await handlers.start_request(command, request.app.state.console.apis)
    except FormError as exc:
        problem = views.Problem(422, "Invalid request", errors=exc.errors)
        return await _person_page(request, caller, contact_id, problem=problem, code=422)
    except ApiError as exc:
        return await _person_page(request, caller, contact_id, problem=exc.problem, code=exc.problem.status)
    due = str(created.get("due_at", ""))[:10]
    done = f"Request {created.get('kind')} recorded ({created.get('status')}), due {due}."
    return await _person_page(request, caller, contact_id, done=done)


@router.post("/people/{contact_id}/restrictions/{request_id}/lifting")
async def lift_restriction(
    request: Request, caller: CallerDep, contact_id: Id, request_id: Id
) -> HTMLResponse:
    """Lifts the person's restriction (Art. 18(3)), once they were informed; contacts' refusal is shown."""
    fields = await _form(request)
    if refusal := pages.action_refusal("lift_restriction", caller.roles):
        return refused(request, caller, refusal)
    command = commands.LiftRestriction(caller, request_id, fields)
    try:
        await handlers.lift_restriction(command, request.app.state.console.apis, now=_now())
    except FormError as exc:
        problem = views.Problem(422, "Invalid lifting", errors=exc.errors)
        return await _person_page(request, caller, contact_id, problem=problem, code=422, fields=fields)
    except ApiError as exc:
        return await _person_page(
            request, caller, contact_id, problem=exc.problem, code=exc.problem.status, fields=fields
        )
    return await _person_page(
        request, caller, contact_id, done="Restriction lifted (the person was informed)."
    )


@router.get("/people/{contact_id}/proof-bundle")
async def proof_bundle(request: Request, caller: CallerDep, contact_id: Id) -> Response:
    """The person's proof-of-consent bundle from audit-log, downloaded with the caller's token."""
    if refusal := pages.action_refusal("proof_bundle", caller.roles):
        return refused(request, caller, refusal)
    try:
        download = await request.app.state.console.apis.download(
            caller.token, "audit-log", f"/v1/subjects/{contact_id}/proof-bundle"
        )
    except ApiError as exc:
        if exc.problem.status == 404:
            problem = views.Problem(
                404,
                "No proof bundle",
                "audit-log answered 404: it holds no proof-of-consent bundle for this person "
                "(no entry about them yet), or this audit-log does not serve proof bundles.",
                service="audit-log",
            )
            return problem_page(request, caller, problem, back=f"/people/{quote(contact_id)}")
        raise
    disposition = download.disposition or f'attachment; filename="proof-bundle-{contact_id}.json"'
    return StreamingResponse(
        download.chunks, media_type=download.media_type, headers={"Content-Disposition": disposition}
    )


# --- Auditor -------------------------------------------------------------------------------------


@router.get("/log")
async def log_page(
    request: Request,
    caller: CallerDep,
    subject: str = "",
    type: str = "",  # noqa: A002 - audit-log's own filter name.
    actor: str = "",
    since: str = "",
    until: str = "",
    event_id: str = "",
    cursor: str = "",
) -> HTMLResponse:
    """The log's entries, oldest first, filtered by subject, type, actor, time or event id."""
    if refusal := pages.page_refusal("log", caller.roles):
        return refused(request, caller, refusal)
    filters = commands.EntryFilters(subject, type, actor, since, until, event_id, cursor)
    problem = None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        page = await handlers.entries(caller, filters, request.app.state.console.apis)
    except ApiError as exc:
        problem = exc.problem
    next_params = {**filters.params(), "cursor": page.get("next_cursor") or ""}
    next_url = "/log?" + "&".join(f"{k}={quote(str(v))}" for k, v in next_params.items() if k != "limit")
    context = {"f": filters, "page": page, "problem": problem, "next_url": next_url}
    return render(request, "log.html", context, caller=caller)


@router.get("/log/entries/{index}")
async def entry_page(request: Request, caller: CallerDep, index: int) -> HTMLResponse:
    """One entry with its canonical bytes, and its inclusion proof verified in the page."""
    if refusal := pages.page_refusal("entry", caller.roles):
        return refused(request, caller, refusal)
    found = await handlers.entry_with_proof(caller, index, request.app.state.console.apis)
    data = {
        "index": index,
        "canonical": found.entry.get("canonical"),
        "leaf_hash": found.entry.get("leaf_hash"),
        "tree_size": found.checkpoint.size,
        "audit_path": (found.proof or {}).get("audit_path"),
        "note": found.note,
        "vkey": found.vkey,
    }
    return render(request, "entry.html", {"e": found.entry, "found": found, "data": data}, caller=caller)


@router.get("/log/checkpoint")
async def checkpoint_page(request: Request, caller: CallerDep) -> HTMLResponse:
    """The latest signed checkpoint, with its signature checked in the page."""
    if refusal := pages.page_refusal("checkpoint", caller.roles):
        return refused(request, caller, refusal)
    note, checkpoint, key = await handlers.latest_checkpoint(caller, request.app.state.console.apis)
    data = {"note": note, "vkey": key.get("vkey", "")}
    return render(
        request, "checkpoint.html", {"cp": checkpoint, "key": key, "data": data, "note": note}, caller=caller
    )


@router.get("/log/verify")
async def verify_page(request: Request, caller: CallerDep, run: bool = False) -> HTMLResponse:
    """The "verify the whole log" page; with `run=1` (no script) it verifies before answering."""
    if refusal := pages.page_refusal("verify", caller.roles):
        return refused(request, caller, refusal)
    apis = request.app.state.console.apis
    report = await handlers.verify_log(caller, apis) if run else None
    _note, checkpoint, _key = await handlers.latest_checkpoint(caller, apis)
    return render(request, "verify.html", {"report": report, "cp": checkpoint}, caller=caller)


@router.get("/log/verify.json")
async def verify_json(request: Request, caller: CallerDep) -> JSONResponse:
    """Runs the full verification (the page's script calls it and shows its progress meanwhile)."""
    if refusal := pages.page_refusal("verify", caller.roles):
        return JSONResponse({"refused": refusal.message}, status_code=403)
    try:
        return JSONResponse(await handlers.verify_log(caller, request.app.state.console.apis))
    except ApiError as exc:
        p = exc.problem
        return JSONResponse(
            {"problem": {"status": p.status, "title": p.title, "detail": p.detail}}, status_code=502
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

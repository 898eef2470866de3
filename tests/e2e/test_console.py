"""The console in a real headless browser (Debian's chromium driven by Playwright) over the four real
services on a real Kafka and PostgreSQL: every role's pages, real actions, and the role checks.

The services and the console are served by uvicorn on 127.0.0.1; `make demo`'s own code seeds the
register, people, consents and two approved campaigns through the public APIs. The browser signs in
with each role's token and: a reviewer who created a campaign is refused its approval (four eyes) and
another reviewer approves it with a structured sign-off; a marketer runs a check and downloads its
receipts; the DPO finds a person by e-mail, starts a request, records a restriction of processing and
a contestation of the gate's decision, which a reviewer takes up and decides; an auditor verifies an entry's
inclusion proof and the checkpoint's signature in the page, and the whole log. Each page is saved as a
screenshot under `.test-output/console/`; with `VIGIE_UPDATE_SCREENSHOTS=1` each role's main page is
copied to `docs/console/<role>.png` (the README shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from audit_log.main import create_app as create_audit_app
from audit_log.settings import AuditLogSettings
from campaign_gate.main import create_app as create_gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.main import create_app as create_consent_app
from consent.settings import ConsentSettings
from console.main import create_app as create_console_app
from console.settings import ConsoleSettings
from contacts.main import create_app as create_contacts_app
from contacts.settings import ContactsSettings
from fastapi import FastAPI
from shared.testing.harness import ROOT, common_settings, eventually, migrated_database, running, token

from infra.demo import CAST, Demo, Endpoints, Story, Tokens

pytestmark = pytest.mark.e2e

OUT = ROOT / ".test-output" / "console"
DOCS = ROOT / "docs" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The needs-review campaign the reviewers sign off: created and submitted by this marketer.
CREATOR = "marketer-alice"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Runs the app (lifespan: relay, consumers) and serves it over real HTTP; yields its base URL."""
    port = port or _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    async with running(app):
        task = asyncio.create_task(server.serve())
        try:
            await eventually(lambda: asyncio.sleep(0, result=server.started), timeout=10)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


def _tokens() -> Tokens:
    return Tokens(
        admin=token("admin", subject="demo-admin"),
        integrator=token("integrator", subject="demo-crm"),
        marketer=token("marketer", subject=CREATOR),
        reviewer=token("reviewer", subject="reviewer-bob"),
        auditor=token("auditor", subject="auditor-carol"),
    )


@dataclass
class Seeded:
    """What the browser works on."""

    story: Story
    review_campaign: str  # submitted, with a needs-review finding (ELEC-12), created by CREATOR
    customers_campaign: str  # approved by the demo
    bundle_served: bool  # whether this audit-log serves GET /v1/subjects/{id}/proof-bundle


def _seed(urls: Endpoints, audit_app: FastAPI) -> Seeded:
    tokens = _tokens()
    demo = Demo(urls, tokens, out=lambda _line: None, timeout=60)
    story = Story(tag=uuid.uuid4().hex[:6], started=datetime.now(UTC))
    try:
        demo.register(story)
        demo.people(story)
        demo.campaign(story)
        # The same campaign as the demo's newsletter (its study and all), declared non-commercial: the
        # review then asks a human to confirm it (ELEC-12).
        spec = demo.get(f"{urls.gate}/v1/campaigns/{story.campaigns['newsletter']}", tokens.marketer)["spec"]
        spec = {**spec, "commercial": False, "message": {**spec["message"], "subject": "Lettre de décembre"}}
        created = demo.post(f"{urls.gate}/v1/campaigns", tokens.marketer, spec)
        submitted = demo.post(f"{urls.gate}/v1/campaigns/{created['id']}/submit", tokens.marketer, {})
        severities = {f["rule"]: f["severity"] for f in submitted["findings"]}
        assert severities.get("ELEC-12") == "needs_review", severities
        assert "block" not in severities.values(), severities
        demo.wait_for_pipeline(story)
        _check_newsletter(demo, story)
    finally:
        demo.close()
    served = "/v1/subjects/{subject_id}/proof-bundle" in audit_app.openapi()["paths"]
    return Seeded(story, created["id"], story.campaigns["customers"], served)


def _check_newsletter(demo: Demo, story: Story) -> None:
    """Checks the newsletter's people through the API, so that the person the DPO looks up has a receipt
    (ELEC-01 for the prospect); checks again while the gate's projection is behind (it fails closed)."""
    ids = [story.contacts[p.key] for p in CAST if p.campaign == "newsletter"]
    url = f"{demo.urls.gate}/v1/campaigns/{story.campaigns['newsletter']}/checks"
    deadline = time.monotonic() + 30
    while True:
        result = demo.post(url, demo.tokens.marketer, {"contact_ids": ids})
        cited = {r["rule"] for receipt in result["recipients"] for r in receipt["reasons"]}
        if not result.get("stale") and not cited & {"GATE_STALE", "NO_CHANNEL_ADDRESS"}:
            return
        assert time.monotonic() < deadline, f"the gate's projection stays behind: {cited}"
        time.sleep(0.5)


class Browser:
    """One Chromium (fresh profile) and helpers: sign in as a role, save a screenshot of each page."""

    def __init__(self, playwright: Any, console: str, shots: Path) -> None:
        self.profile = tempfile.mkdtemp(prefix="vigie-chromium-")
        self.context = playwright.chromium.launch_persistent_context(
            self.profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        self.context.set_default_timeout(20_000)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.console = console
        self.shots = shots

    def close(self) -> None:
        self.context.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def go(self, path: str) -> Any:
        return self.page.goto(self.console + path)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, bearer: str) -> None:
        self.context.clear_cookies()
        self.go("/login")
        self.page.fill("#token", bearer)
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_load_state()


def _sign_off_every_rule(page: Any) -> None:
    """Fills each rule's sign-off: the first basis it allows, an explanation, a reference."""
    for fieldset in page.locator("fieldset.sign-off").all():
        basis = fieldset.locator("select option").nth(1).get_attribute("value")
        fieldset.locator("select").select_option(basis)
        fieldset.locator("textarea").fill(
            "Examiné par le DPO: la lettre ne présente ni produit ni offre; l'analyse est documentée dans "
            "la note jointe et vaut pour toute la campagne."
        )
        fieldset.locator("input").fill("Note DPO-2026-12")


def _tampered_audit_path(route: Any) -> None:
    """Serves the entry page with the first hash of its audit path changed (one hex digit)."""
    response = route.fetch()
    body = response.text()
    data = json.loads(re.search(r'id="proof-data">(.*?)</script>', body, re.S).group(1))
    first = data["audit_path"][0]
    body = body.replace(first, ("1" if first[0] == "0" else "0") + first[1:])
    route.fulfill(response=response, body=body)


def _browse(urls: dict[str, str], seeded: Seeded, shots: Path) -> dict[str, Path]:
    """Drives every role's pages; returns each role's main-page screenshot."""
    from playwright.sync_api import expect, sync_playwright

    story = seeded.story
    main: dict[str, Path] = {}
    with sync_playwright() as playwright:
        b = Browser(playwright, urls["console"], shots)
        page = b.page
        try:
            # --- Sign in: a page that is not the token's, and a token that does not verify.
            b.go("/campaigns")
            expect(page).to_have_url(f"{urls['console']}/login?next=/campaigns")
            b.shot("login")
            page.fill("#token", "not-a-token")
            page.click("form[action='/login'] button[type=submit]")
            expect(page.get_by_role("alert")).to_contain_text("does not verify")

            # --- Reviewer 1 is the campaign's creator: the gate refuses (four eyes), the page says so.
            b.sign_in(token("reviewer", subject=CREATOR))
            expect(page).to_have_url(f"{urls['console']}/campaigns")
            row = page.locator(f"tr[data-campaign='{seeded.review_campaign}']")
            expect(row).to_contain_text("needs_review")
            b.go(f"/campaigns/{seeded.review_campaign}")
            expect(page.locator("fieldset.sign-off[data-rule='ELEC-12']")).to_contain_text("non-commercial")
            # The reviewer reads the study's answers beside the STUDY sign-offs they ask for.
            expect(page.locator("#study tr[data-question='target']")).to_contain_text("criteria")
            expect(page.locator("fieldset.sign-off[data-rule='STUDY-01']")).to_be_visible()
            page.click("#approve")  # nothing filled: the page names the fields before anything is sent
            expect(page.locator(".field-error").first).to_be_visible()
            _sign_off_every_rule(page)
            page.click("#approve")
            alert = page.locator("section.problem[data-status='403']")
            expect(alert).to_contain_text("four eyes")
            expect(page.locator("#campaign-status")).to_have_text("submitted")
            b.shot("reviewer-four-eyes-refused")

            # --- Reviewer 2 approves with the structured sign-off.
            b.sign_in(token("reviewer", subject="reviewer-dan"))
            b.shot("reviewer-campaigns")
            b.go(f"/campaigns/{seeded.review_campaign}")
            _sign_off_every_rule(page)
            page.click("#approve")
            expect(page.locator("#campaign-status")).to_have_text("approved")
            expect(page.locator("#review-record")).to_contain_text("reviewer-dan")
            expect(page.locator("#sign-offs")).to_contain_text("STUDY-01")
            main["reviewer"] = b.shot("reviewer-campaign-approved")

            # --- Marketer: run a check with pasted ids, follow its progress, read the summary, download.
            b.sign_in(token("marketer", subject=CREATOR))
            expect(page).to_have_url(f"{urls['console']}/checks/new")
            customers = [story.contacts[p.key] for p in CAST if p.campaign == "customers"]
            page.fill("input[name=campaign_id]", seeded.customers_campaign)
            # One id pasted, the others uploaded as a CSV with its header.
            page.fill("textarea[name=contact_ids]", customers[0])
            upload = ("contact_id\n" + "\n".join(customers[1:]) + "\n").encode()
            page.set_input_files(
                "input[name=ids_file]", {"name": "ids.csv", "mimeType": "text/csv", "buffer": upload}
            )
            b.shot("marketer-new-check")
            page.click("#run-check")
            expect(page.locator("#job-state")).to_have_attribute("data-state", "finished", timeout=30_000)
            expect(page.locator("#job-state")).to_contain_text(f"{len(customers)} of {len(customers)}")
            expect(page.locator("#by-rule")).to_contain_text("ELEC-02")
            expect(page.locator("#by-decision")).to_contain_text("needs_review")
            main["marketer"] = b.shot("marketer-check-progress")
            page.click("#check-link")
            expect(page.locator("#check-state")).to_have_text("finished")
            b.shot("marketer-check")
            with page.expect_download() as download:
                page.click("#download")
            lines = Path(download.value.path()).read_text().splitlines()
            assert sorted(json.loads(line)["contact_id"] for line in lines) == sorted(customers)
            # A marketer may read a campaign but not review it, nor open the auditor's pages.
            b.go(f"/campaigns/{seeded.review_campaign}")
            expect(page.locator("#approve")).to_have_count(0)
            response = b.go(f"/campaigns/{seeded.review_campaign}/review")
            assert response.status == 403
            expect(page.get_by_role("alert")).to_contain_text("reviewer")
            response = b.go("/log")
            assert response.status == 403
            expect(page.get_by_role("alert")).to_contain_text("auditor")
            b.shot("marketer-refused-log")

            # --- DPO (admin for contacts and consent, auditor for receipts and the proof bundle).
            b.sign_in(token("admin", "auditor", subject="dpo-eve"))
            expect(page).to_have_url(f"{urls['console']}/people")
            b.shot("dpo-search")
            page.fill("input[name=q]", f"hugo.bernard.{story.tag}@example.org")
            page.click("#person-search button")
            expect(page.locator("#contact-id")).to_have_text(story.contacts["prospect"])
            expect(page.locator("#contact")).to_contain_text("Hugo")
            expect(page.locator(f"tr[data-consent='{story.consents['prospect']}']")).to_contain_text(
                "granted"
            )
            expect(page.locator("#deliveries")).to_be_visible()
            expect(page.locator("#receipts")).to_contain_text("ELEC-01")
            page.select_option("#request-form select", "access")
            page.click("#request-form button")
            expect(page.locator(".done")).to_contain_text("Request access recorded")
            expect(page.locator("#requests")).to_contain_text("due in")
            main["dpo"] = b.shot("dpo-person")
            if seeded.bundle_served:
                with page.expect_download() as bundle:
                    page.click("#proof-bundle")
                assert story.contacts["prospect"] in Path(bundle.value.path()).read_text()
                # Nobody: audit-log answers 404, and the page says what that means.
                b.go(f"/people/{uuid.uuid4()}/proof-bundle")
            else:
                page.click("#proof-bundle")
            expect(page.locator("section.problem[data-status='404']")).to_contain_text("No proof bundle")
            b.shot("dpo-no-proof-bundle")

            # --- DPO: the person obtains the restriction of processing (Art. 18(1)(a)); the page shows it in
            # force, and contacts' refusal of a lifting whose "informed at" precedes the request is readable.
            b.go(f"/people/{story.contacts['prospect']}")
            page.select_option("#restriction-form select[name=grounds]", "accuracy_contested")
            page.click("#restriction-form button")
            expect(page.locator(".done")).to_contain_text("Request restriction recorded")
            expect(page.locator("#restriction")).to_contain_text("contests the accuracy")
            page.fill("#lift-form input[name=reason]", "accuracy verified")
            page.fill("#lift-form input[name=informed_at]", "2026-01-05T09:00")
            page.fill("#lift-form input[name=informed_by]", "letter")
            page.click("#lift")
            expect(page.locator("section.problem[data-status='422']")).to_contain_text("informed_at")
            expect(page.locator("#restriction")).to_contain_text("contests the accuracy")
            b.shot("dpo-person-restricted")
            # ... and contests the gate's decision about them (Art. 22(3)), with their point of view: the
            # receipt's "contest" link fills the form with its check.
            receipt = page.locator("#receipts tr", has_text="ELEC-01").first
            contested = receipt.locator(".check-id").inner_text()
            receipt.locator("a.contest").click()
            expect(page.locator("#contestation-form input[name=check_id]")).to_have_value(contested)
            page.fill(
                "#contestation-form textarea[name=point_of_view]", "Je n'ai jamais été prospecté ainsi."
            )
            page.click("#contestation-form button")
            expect(page.locator(".done")).to_contain_text("Request contestation recorded")
            contestation = page.locator("#requests a[href^='/contestations/']").first.get_attribute("href")

            # --- A reviewer takes the contestation up from the queue and decides it.
            b.sign_in(token("reviewer", subject="reviewer-dan"))
            b.go("/contestations")
            row = page.locator(f"tr[data-request='{contestation.rsplit('/', 1)[1]}']")
            expect(row).to_contain_text("waiting for a human reviewer")
            row.locator("a").click()
            expect(page.locator("#contested-receipt")).to_contain_text("ELEC-01")
            expect(page.locator("#point-of-view")).to_contain_text("jamais")
            page.click("#take-up")
            expect(page.locator("#contestation-state")).to_contain_text("under human review by")
            page.select_option("#outcome-form select[name=outcome]", "upheld")
            page.fill(
                "#outcome-form textarea[name=reasons]",
                "Consentement recueilli par le formulaire, en double opt-in.",
            )
            b.shot("reviewer-contestation")
            page.click("#decide")
            expect(page.locator("#contestation-state")).to_have_text("decided: upheld")
            expect(page.locator("#outcome")).to_contain_text("double opt-in")
            b.shot("reviewer-contestation-decided")

            # --- Auditor: the log, one entry's proof verified in the page, the checkpoint, the whole log.
            b.sign_in(token("auditor", subject="auditor-carol"))
            expect(page).to_have_url(f"{urls['console']}/log")
            expect(page.locator("#entries tbody tr").first).to_be_visible()
            b.shot("auditor-log")
            page.fill("input[name=type]", "vigie.campaigns.campaign_approved.v1")
            page.click("#log-filters button")
            expect(page.locator("#entries")).to_contain_text("campaign_approved")
            b.shot("auditor-log-filtered")
            page.locator("#entries tbody tr a").first.click()
            proof = page.locator("#proof")
            expect(proof).to_have_attribute("data-verified", "true")
            expect(page.locator("#proof-steps li.ok")).to_have_count(3)
            assert len(proof.get_attribute("data-root") or "") == 64
            # The same page with one hash of the audit path changed in transit: the page refuses it.
            entry_url = page.url
            page.route(entry_url, _tampered_audit_path)
            page.reload()
            expect(proof).to_have_attribute("data-verified", "false")
            expect(page.locator("#proof-steps li.bad")).to_contain_text("root recomputed")
            b.shot("auditor-entry-proof-tampered")
            page.unroute(entry_url)
            page.reload()
            expect(proof).to_have_attribute("data-verified", "true")
            main["auditor"] = b.shot("auditor-entry-proof")
            b.go("/log/checkpoint")
            expect(page.locator("#proof")).to_have_attribute("data-verified", "true")
            b.shot("auditor-checkpoint")
            b.go("/log/verify")
            page.click("#verify")
            expect(page.locator("#verify-result")).to_have_attribute("data-ok", "true", timeout=30_000)
            expect(page.locator("#verify-result")).to_contain_text("OK")
            b.shot("auditor-verify")
            # An auditor cannot open the DPO's page, nor post a form without this browser's CSRF token.
            response = b.go("/people")
            assert response.status == 403
            posted = page.request.post(f"{urls['console']}/logout", form={"csrf": "forged"})
            assert posted.status == 403

            # --- Signing out ends the session.
            b.go("/log")
            page.click("form[action='/logout'] button")
            expect(page).to_have_url(f"{urls['console']}/login")
            b.go("/log")
            expect(page).to_have_url(f"{urls['console']}/login?next=/log")
        finally:
            b.close()
    return main


@pytest.fixture
def shots() -> Iterator[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    yield OUT


async def test_every_role_uses_the_console_in_a_real_browser(
    kafka_bootstrap: str, postgres_admin_url: str, shots: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    started = time.monotonic()
    common = common_settings(kafka_bootstrap)
    suffix = uuid.uuid4().hex[:8]
    db = {
        name: await migrated_database(postgres_admin_url, name)
        for name in ("contacts", "consent", "campaign-gate", "audit-log")
    }
    gate_port = _free_port()
    audit_app = create_audit_app(
        AuditLogSettings(
            database_url=db["audit-log"],
            campaign_gate_url=f"http://127.0.0.1:{gate_port}",
            consumer_group=f"audit-{suffix}",
            checkpoint_every_seconds=0.2,
            **common,
        )
    )
    apps = (
        create_contacts_app(
            ContactsSettings(
                database_url=db["contacts"],
                retention_sweep_interval_seconds=0,
                # Because a contestation of a gate decision reads the gate's receipt of it for the reviewer.
                campaign_gate_url=f"http://127.0.0.1:{gate_port}",
                requests_consumer_group=f"contacts-requests-{suffix}",
                **common,
            )
        ),
        create_consent_app(
            ConsentSettings(database_url=db["consent"], consumer_group=f"consent-{suffix}", **common)
        ),
        create_gate_app(
            CampaignGateSettings(database_url=db["campaign-gate"], consumer_group=f"gate-{suffix}", **common)
        ),
        audit_app,
    )
    async with (
        _served(apps[0]) as contacts,
        _served(apps[1]) as consent,
        _served(apps[2], gate_port) as gate,
        _served(apps[3]) as audit,
    ):
        console_app = create_console_app(
            ConsoleSettings(
                contacts_url=contacts, consent_url=consent, gate_url=gate, audit_url=audit, **common
            )
        )
        async with _served(console_app) as console:
            urls = Endpoints(contacts, consent, gate, audit)
            seeded = await asyncio.to_thread(_seed, urls, audit_app)
            browsing = time.monotonic()
            main = await asyncio.to_thread(_browse, {"console": console}, seeded, shots)
            browsed = time.monotonic() - browsing

    assert set(main) == {"reviewer", "marketer", "dpo", "auditor"}
    # The DPO searched by e-mail and read a person's file: nothing of it reached a log line.
    searched = f"hugo.bernard.{seeded.story.tag}@example.org"
    console_lines = [r for r in caplog.records if r.name.startswith(("console", "vigie.http"))]
    assert console_lines, "the console logged its requests"
    for record in caplog.records:
        line = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        assert searched not in line and "Bernard" not in line, record.name
    assert len(list(shots.glob("*.png"))) >= 17
    if os.environ.get("VIGIE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for role, path in main.items():
            shutil.copyfile(path, DOCS / f"{role}.png")
    # Because this suite runs in `make test` on a 2-core machine: the browser part must stay small (it took
    # 20-30 s here), and the whole test with its services and seeding too.
    assert browsed < 90, f"the browser part took {browsed:.0f}s"
    assert time.monotonic() - started < 150, f"the console's test took {time.monotonic() - started:.0f}s"


async def test_the_console_refuses_a_token_signed_with_another_key() -> None:
    console_app = create_console_app(ConsoleSettings(**common_settings("127.0.0.1:1")))
    forged = token("auditor").rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    async with (
        _served(console_app) as console,
        httpx.AsyncClient(base_url=console, cookies={"vigie_session": forged}) as http,
    ):
        page = await http.get("/log")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/log"

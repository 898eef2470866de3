"""The console's use cases: each takes a command (or a caller and ids) and the APIs port, and asks the
services with the caller's own token. No state of its own is written: the services hold everything."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.adapters.apis import AbstractApis, ApiError
from console.domain import pages, rights
from console.domain.views import (
    REQUEST_KINDS,
    Checkpoint,
    CheckpointFormatError,
    CheckTally,
    PersonQuery,
    Problem,
    SignOffForm,
    read_checkpoint,
    read_contact_ids,
    read_sign_offs,
    sign_off_forms,
)
from console.service_layer import commands
from console.service_layer.checks import CheckJob, CheckJobs

GATE, CONTACTS, CONSENT, AUDIT = "campaign-gate", "contacts", "consent", "audit-log"


class FormError(Exception):
    """The form needs completing before anything is sent: the fields and what each needs."""

    def __init__(self, errors: tuple[tuple[str, str], ...]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


@dataclass
class Section:
    """One part of a page, filled from one API call, or the reason it is empty (refused, not found…)."""

    data: Any = None
    problem: Problem | None = None
    refusal: pages.Refusal | None = None

    @property
    def ok(self) -> bool:
        """Tells whether the section holds data."""
        return self.problem is None and self.refusal is None


async def _section(call: Callable[[], Awaitable[Any]], refusal: pages.Refusal | None = None) -> Section:
    if refusal is not None:
        return Section(refusal=refusal)
    try:
        return Section(data=await call())
    except ApiError as exc:
        return Section(problem=exc.problem)


# --- Reviewer ------------------------------------------------------------------------------------


async def campaigns(caller: commands.Caller, status: str, apis: AbstractApis) -> list[dict[str, Any]]:
    """Returns the campaigns of one status (all when empty), last changed first."""
    page = await apis.get(caller.token, GATE, "/v1/campaigns", {"status": status or None, "limit": 200})
    return list(page.get("items", []))


@dataclass
class CampaignView:
    """A campaign with its sign-off forms."""

    campaign: dict[str, Any]
    forms: list[SignOffForm] = field(default_factory=list)


async def campaign(caller: commands.Caller, campaign_id: str, apis: AbstractApis) -> CampaignView:
    """Returns a campaign with one sign-off form per rule whose findings ask review."""
    found = await apis.get(caller.token, GATE, f"/v1/campaigns/{campaign_id}")
    return CampaignView(found, sign_off_forms(found.get("findings", [])))


async def approve(cmd: commands.ApproveCampaign, apis: AbstractApis) -> dict[str, Any]:
    """Approves with the sign-offs entered; FormError when the page can tell a field is missing, else
    whatever the gate answers (its four-eyes and sign-off rules decide)."""
    view = await campaign(cmd.caller, cmd.campaign_id, apis)
    sign_offs = read_sign_offs(view.forms, cmd.fields)
    if sign_offs.errors:
        raise FormError(sign_offs.errors)
    body = {"sign_offs": [{k: v for k, v in s.items() if v is not None} for s in sign_offs.items]}
    result: dict[str, Any] = await apis.post(
        cmd.caller.token, GATE, f"/v1/campaigns/{cmd.campaign_id}/approve", body
    )
    return result


async def reject(cmd: commands.RejectCampaign, apis: AbstractApis) -> dict[str, Any]:
    """Rejects with the reason given."""
    if len(cmd.justification.strip()) < 3:
        raise FormError((("justification", "say why the campaign is rejected"),))
    body = {"justification": cmd.justification.strip()}
    result: dict[str, Any] = await apis.post(
        cmd.caller.token, GATE, f"/v1/campaigns/{cmd.campaign_id}/reject", body
    )
    return result


# --- Marketer ------------------------------------------------------------------------------------


def start_check(cmd: commands.StartCheck, jobs: CheckJobs, *, limit: int) -> CheckJob:
    """Starts a check of the ids given; FormError when none can be read or some lines are not ids."""
    errors: list[tuple[str, str]] = []
    if not cmd.campaign_id.strip():
        errors.append(("campaign_id", "name the campaign to check"))
    ids = read_contact_ids(cmd.ids_text, limit=limit)
    if ids.bad_lines:
        lines = ", ".join(str(n) for n in ids.bad_lines[:10])
        errors.append(("contact_ids", f"line(s) {lines}: not a contact id (or over the limit of {limit})"))
    elif not ids.ids:
        errors.append(("contact_ids", "paste or upload at least one contact id"))
    if errors:
        raise FormError(tuple(errors))
    return jobs.start(
        token=cmd.caller.token, owner=cmd.caller.subject, campaign_id=cmd.campaign_id.strip(), ids=ids.ids
    )


async def check(
    caller: commands.Caller, check_id: str, apis: AbstractApis, *, tally_up_to: int
) -> tuple[dict[str, Any], CheckTally]:
    """Returns a check's progress from the gate and its receipts counted by decision and rule (read from
    the receipts' download, up to `tally_up_to` of them)."""
    status: dict[str, Any] = await apis.get(caller.token, GATE, f"/v1/checks/{check_id}")
    tally = CheckTally(total=int(status.get("recipients") or 0))
    download = await apis.download(caller.token, GATE, f"/v1/checks/{check_id}/receipts")
    buffer = b""
    try:
        async for chunk in download.chunks:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    tally.add(json.loads(line))
            if tally.decided >= tally_up_to:
                break  # Because a summary of the first receipts is enough for a page; the file has them all.
        else:
            if buffer.strip():
                tally.add(json.loads(buffer))
    finally:
        await download.close()
    return status, tally


# --- DPO -----------------------------------------------------------------------------------------


async def find_people(
    caller: commands.Caller, query: PersonQuery, apis: AbstractApis
) -> list[dict[str, Any]]:
    """Finds contacts by e-mail or phone (contacts' blind-index lookup) or by id."""
    if query.by == "contact_id":
        return [await apis.get(caller.token, CONTACTS, f"/v1/contacts/{query.value}")]
    page = await apis.get(caller.token, CONTACTS, "/v1/contacts", {query.by: query.value})
    return list(page.get("items", []))


@dataclass
class PersonFile:
    """Everything Vigie holds about one person that the caller's roles may read, section by section."""

    contact_id: str
    contact: Section
    consents: Section
    requests: Section
    receipts: Section
    bundle_refusal: pages.Refusal | None


async def person(caller: commands.Caller, contact_id: str, apis: AbstractApis) -> PersonFile:
    """Gathers a person's contact, consents (with proof), notices, objections, open requests and receipts."""
    roles = caller.roles

    async def _requests() -> list[dict[str, Any]]:
        page = await apis.get(caller.token, CONTACTS, "/v1/requests", {"limit": 500})
        return [r for r in page.get("items", []) if r.get("contact_id") == contact_id]

    contact, consents, requests, receipts = await asyncio.gather(
        _section(
            lambda: apis.get(caller.token, CONTACTS, f"/v1/contacts/{contact_id}"),
            pages.action_refusal("find_person", roles),
        ),
        _section(
            lambda: apis.get(caller.token, CONSENT, f"/v1/contacts/{contact_id}/consents"),
            pages.action_refusal("consents", roles),
        ),
        _section(_requests, pages.action_refusal("requests", roles)),
        _section(
            lambda: apis.get(caller.token, GATE, f"/v1/contacts/{contact_id}/receipts"),
            pages.action_refusal("person_receipts", roles),
        ),
    )
    return PersonFile(
        contact_id, contact, consents, requests, receipts, pages.action_refusal("proof_bundle", roles)
    )


#: The kinds the person page starts (a rectification needs the fields to correct: over the API).
PAGE_REQUEST_KINDS = (*(k for k in REQUEST_KINDS if k != "rectification"), "restriction", "contestation")


async def start_request(cmd: commands.StartRequest, apis: AbstractApis) -> dict[str, Any]:
    """Records a data-subject request for the contact (contacts honours it as far as it can now); a
    restriction takes its ground, a contestation the decision contested and the person's point of view."""
    if cmd.kind == "restriction":
        reading = rights.read_restriction(cmd.contact_id, cmd.fields)
    elif cmd.kind == "contestation":
        reading = rights.read_contestation(cmd.contact_id, cmd.fields)
    elif cmd.kind in PAGE_REQUEST_KINDS:
        reading = rights.FormReading({"kind": cmd.kind, "contact_id": cmd.contact_id})
    else:
        reading = rights.FormReading({}, (("kind", "choose one of " + ", ".join(PAGE_REQUEST_KINDS)),))
    if reading.errors:
        raise FormError(reading.errors)
    result: dict[str, Any] = await apis.post(cmd.caller.token, CONTACTS, "/v1/requests", reading.body)
    return result


async def lift_restriction(
    cmd: commands.LiftRestriction, apis: AbstractApis, *, now: datetime
) -> dict[str, Any]:
    """Lifts the restriction a request obtained, once the person was informed (contacts checks again)."""
    reading = rights.read_lifting(cmd.fields, now=now)
    if reading.errors:
        raise FormError(reading.errors)
    result: dict[str, Any] = await apis.post(
        cmd.caller.token, CONTACTS, f"/v1/requests/{cmd.request_id}/restriction-lifting", reading.body
    )
    return result


# --- Reviewer: contestations (Art. 22(3)) ---------------------------------------------------------


async def contestations(caller: commands.Caller, apis: AbstractApis) -> list[dict[str, Any]]:
    """Returns the human-review queue: open contestations, oldest due first."""
    page = await apis.get(caller.token, CONTACTS, "/v1/contestations", {"limit": 500})
    return list(page.get("items", []))


async def contestation(caller: commands.Caller, request_id: str, apis: AbstractApis) -> dict[str, Any]:
    """Returns one contestation: from the queue (open ones), else, for a role that reads requests, from
    contacts' request itself (a decided one); a 404 problem otherwise."""
    for item in await contestations(caller, apis):
        if item.get("id") == request_id:
            return item
    if pages.action_refusal("requests", caller.roles) is None:
        found: dict[str, Any] = await apis.get(caller.token, CONTACTS, f"/v1/requests/{request_id}")
        if found.get("kind") == "contestation":
            return found
    raise ApiError(
        Problem(
            404,
            "No such open contestation",
            "contacts' queue holds no open contestation with this id (decided ones leave the queue).",
            service=CONTACTS,
        )
    )


async def take_up_contestation(cmd: commands.TakeUpContestation, apis: AbstractApis) -> dict[str, Any]:
    """The caller takes the contestation up; contacts refuses (409) one another reviewer holds."""
    result: dict[str, Any] = await apis.post(
        cmd.caller.token, CONTACTS, f"/v1/requests/{cmd.request_id}/human-review", None
    )
    return result


async def decide_contestation(cmd: commands.DecideContestation, apis: AbstractApis) -> dict[str, Any]:
    """Sends the reviewer's outcome and reasons; FormError names what is missing before anything is sent."""
    reading = rights.read_outcome(cmd.fields)
    if reading.errors:
        raise FormError(reading.errors)
    result: dict[str, Any] = await apis.post(
        cmd.caller.token, CONTACTS, f"/v1/requests/{cmd.request_id}/outcome", reading.body
    )
    return result


# --- Auditor -------------------------------------------------------------------------------------


async def entries(
    caller: commands.Caller, filters: commands.EntryFilters, apis: AbstractApis
) -> dict[str, Any]:
    """Returns a page of audit entries matching the filters."""
    page: dict[str, Any] = await apis.get(caller.token, AUDIT, "/v1/entries", filters.params())
    return page


async def latest_checkpoint(
    caller: commands.Caller, apis: AbstractApis
) -> tuple[str, Checkpoint, dict[str, Any]]:
    """Returns the latest signed checkpoint (its note, read) and the log's verifier key."""
    note, key = await asyncio.gather(
        apis.get(caller.token, AUDIT, "/v1/checkpoint"), apis.get(caller.token, AUDIT, "/v1/public-key")
    )
    try:
        return str(note), read_checkpoint(str(note)), key
    except CheckpointFormatError as exc:
        raise ApiError(Problem(502, "Unreadable checkpoint", str(exc), service=AUDIT)) from None


@dataclass
class EntryProof:
    """An entry, and what the page needs to verify it: the checkpoint and the audit path to its root."""

    entry: dict[str, Any]
    note: str
    checkpoint: Checkpoint
    vkey: str
    proof: dict[str, Any] | None  # None while the entry is newer than the latest checkpoint


async def entry_with_proof(caller: commands.Caller, index: int, apis: AbstractApis) -> EntryProof:
    """Returns an entry with its inclusion proof into the latest signed checkpoint's tree."""
    entry, (note, checkpoint, key) = await asyncio.gather(
        apis.get(caller.token, AUDIT, f"/v1/entries/{index}"), latest_checkpoint(caller, apis)
    )
    proof = None
    if index < checkpoint.size:
        proof = await apis.get(
            caller.token, AUDIT, "/v1/proofs/inclusion", {"index": index, "tree_size": checkpoint.size}
        )
    return EntryProof(entry, note, checkpoint, str(key.get("vkey", "")), proof)


async def verify_log(caller: commands.Caller, apis: AbstractApis) -> dict[str, Any]:
    """Runs audit-log's full verification and returns its report, with how long it took."""
    started = datetime.now(UTC)
    report: dict[str, Any] = await apis.get(caller.token, AUDIT, "/v1/verify")
    report["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 2)
    return report

"""The campaign aggregate: lifecycle draft → submitted → approved | rejected, review findings, four eyes.

A campaign's `spec` is plain data (what the marketer wrote); `campaign_facts` turns it, with the
purpose and processor known from consent's events, into the `CampaignFacts` the rules read.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaign_gate.domain import events, review, rules
from campaign_gate.domain.errors import ApprovalRefusedError, FourEyesError, InvalidTransitionError
from campaign_gate.domain.facts import (
    Audience,
    CallScript,
    CampaignFacts,
    CampaignParty,
    Channel,
    LawfulBasis,
    MessageFacts,
    ProcessorFacts,
    RefusalReason,
    RegisterEntryFacts,
    SendRole,
    StudyFacts,
    StudyQuestion,
    TargetingCriterion,
    TransferMode,
    VendorGap,
)
from campaign_gate.domain.review import SignOff
from campaign_gate.domain.rules import Finding, Outcome


class Status(enum.StrEnum):
    """Where a campaign is in its lifecycle."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


#: Finding outcome → the severity shown to people.
SEVERITY = {Outcome.BLOCK: "block", Outcome.NEEDS_REVIEW: "needs_review", Outcome.ALLOW_BASIS: "info"}


@dataclass(frozen=True)
class PurposeInfo:
    """What consent's events say about a purpose."""

    purpose_id: str
    lawful_basis: str
    retired: bool = False
    #: The register-entry facts consent published with the purpose's version (None: none seen).
    entry: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StoredFinding:
    """A review finding as stored and shown: rule id, severity, message, evidence."""

    rule: str
    severity: str
    message: str
    evidence: tuple[str, ...] = ()

    @classmethod
    def of(cls, finding: Finding) -> StoredFinding:
        """Returns the stored form of a rule finding."""
        return cls(finding.rule_id, SEVERITY[finding.outcome], finding.message, finding.evidence)

    def as_dict(self) -> dict[str, Any]:
        """Returns the JSON form."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredFinding:
        """Parses the JSON form."""
        return cls(data["rule"], data["severity"], data["message"], tuple(data.get("evidence", ())))


_OUTCOMES = {"block": Outcome.BLOCK, "needs_review": Outcome.NEEDS_REVIEW, "info": Outcome.ALLOW_BASIS}


def _as_findings(findings: Iterable[StoredFinding]) -> list[Finding]:
    return [Finding(f.rule, _OUTCOMES[f.severity], f.message, f.evidence) for f in findings]


def approvable(findings: Iterable[StoredFinding], sign_offs: Iterable[SignOff] = ()) -> bool:
    """Says whether stored findings allow approval, with the same rule as `review.can_approve`."""
    return review.can_approve(_as_findings(findings), sign_offs)


@dataclass
class Campaign:
    """One campaign and its review; methods check the lifecycle and append events."""

    id: str
    status: Status
    version: int
    spec: dict[str, Any]
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime
    findings: tuple[StoredFinding, ...] = ()
    review: dict[str, Any] | None = None
    events: list[events.Event] = field(default_factory=list)

    @classmethod
    def draft(cls, *, spec: dict[str, Any], by: str, at: datetime) -> Campaign:
        """Creates a draft campaign."""
        campaign = cls(
            id=str(uuid.uuid4()),
            status=Status.DRAFT,
            version=1,
            spec=dict(spec),
            created_by=by,
            updated_by=by,
            created_at=at,
            updated_at=at,
        )
        campaign.events.append(events.CampaignDrafted(campaign.id, 1, None, tuple(sorted(spec)), at))
        return campaign

    def change(self, *, changes: Mapping[str, Any], by: str, at: datetime) -> None:
        """Applies changed fields; any change of a submitted, approved or rejected campaign makes it draft."""
        changed = tuple(sorted(k for k, v in changes.items() if self.spec.get(k) != v))
        if not changed:
            return
        previous = self.status
        self.spec = {**self.spec, **{k: changes[k] for k in changed}}
        self.status, self.version, self.updated_by, self.updated_at = Status.DRAFT, self.version + 1, by, at
        self.findings, self.review = (), None
        self.events.append(events.CampaignDrafted(self.id, self.version, previous.value, changed, at))

    def submit(
        self, *, findings: Iterable[Finding], by: str, at: datetime, register_version: int | None = None
    ) -> None:
        """Stores the automated review's findings and waits for a reviewer (`register_version`: the
        version of the purpose's register entry the review held the campaign to, None when unknown)."""
        if self.status not in (Status.DRAFT, Status.REJECTED):
            raise InvalidTransitionError("submit", self.status)
        self.findings = tuple(StoredFinding.of(f) for f in findings)
        self.status, self.updated_at, self.review = Status.SUBMITTED, at, None
        self.events.append(
            events.CampaignSubmitted(
                self.id,
                self.version,
                tuple({"rule": f.rule, "severity": f.severity, "message": f.message} for f in self.findings),
                rules.RULESET_VERSION,
                at,
                study=study_record(self.spec.get("study")),
                uses={**uses_record(self.spec), "register_version": register_version},
            )
        )

    def approve(self, *, reviewer: str, sign_offs: Iterable[SignOff] = (), at: datetime) -> None:
        """Approves a submitted campaign: no block finding, a valid sign-off per rule with needs-review
        findings, four eyes. The sign-offs are stored in the review and published with the approval."""
        if self.status is not Status.SUBMITTED:
            raise InvalidTransitionError("approve", self.status)
        if reviewer in (self.created_by, self.updated_by):
            raise FourEyesError()
        if any(f.severity == "block" for f in self.findings):
            blocking = ", ".join(sorted({f.rule for f in self.findings if f.severity == "block"}))
            raise ApprovalRefusedError(f"block findings prevent approval: {blocking}")
        sign_offs = tuple(sign_offs)
        problems = review.sign_off_problems(
            _as_findings(self.findings), sign_offs, study_facts(self.spec.get("study"))
        )
        if problems:
            named = ", ".join(dict.fromkeys(p.rule for p in problems))
            raise ApprovalRefusedError(
                f"needs-review findings need a structured sign-off (rule, basis, explanation, reference); "
                f"missing or invalid for: {named}",
                problems,
            )
        signed = tuple(
            {
                **s.as_dict(),
                "evidence": [
                    e
                    for f in self.findings
                    if f.rule == s.rule and f.severity == "needs_review"
                    for e in f.evidence
                ],
            }
            for s in sign_offs
        )
        self.status, self.updated_at = Status.APPROVED, at
        self.review = {
            "decision": "approved",
            "reviewer": reviewer,
            "at": at.isoformat(),
            "sign_offs": list(signed),
        }
        self.events.append(events.CampaignApproved(self.id, self.version, reviewer, signed, at))

    def reject(self, *, reviewer: str, reason: str | None, at: datetime) -> None:
        """Rejects a submitted campaign."""
        if self.status is not Status.SUBMITTED:
            raise InvalidTransitionError("reject", self.status)
        self.status, self.updated_at = Status.REJECTED, at
        self.review = {"decision": "rejected", "reviewer": reviewer, "at": at.isoformat(), "reason": reason}
        self.events.append(events.CampaignRejected(self.id, self.version, reviewer, reason, at))


def _criteria(items: Iterable[Mapping[str, Any]]) -> tuple[TargetingCriterion, ...]:
    out = []
    for item in items:
        value = item.get("value", "")
        out.append(
            TargetingCriterion(
                attribute=str(item["attribute"]),
                operator=str(item["operator"]),
                value=tuple(str(v) for v in value) if isinstance(value, list | tuple) else str(value),
                justification=documented_justification(item.get("justification")),
            )
        )
    return tuple(out)


def documented_justification(value: Any) -> str | None:
    """Returns a criterion's justification when it documents an exception: a ground the DISC reviews
    accept and an explanation (issue 19). Free text, the form stored before, documents nothing: DISC-01
    and DISC-05 then block until the marketer gives a structured justification."""
    if not isinstance(value, Mapping) or value.get("ground") not in review.CRITERION_GROUNDS:
        return None
    explanation = str(value.get("explanation") or "").strip()
    if len(explanation) < review.MIN_EXPLANATION:
        return None
    return f"{value['ground']}: {explanation}"


def _processor(processor: Mapping[str, Any] | None) -> ProcessorFacts | None:
    """Reads the processor as consent published it, with the gaps of the parties linked to it."""
    if processor is None:
        return None
    contract = processor.get("contract") or {}
    return ProcessorFacts(
        name=str(processor["legal_name"]),
        active=processor.get("status") == "active",
        contract_signed_at=_dt(contract.get("signed_at")),
        contract_expires_at=_dt(contract.get("expires_at")),
        missing_clauses=tuple(str(c) for c in contract.get("missing_clauses") or ()),
        gaps=tuple(
            VendorGap(str(g["code"]), str(g["topic"]), str(g.get("detail") or g["code"]))
            for g in contract.get("gaps") or ()
            if isinstance(g, Mapping)
        ),
        party_gaps=tuple(
            VendorGap("missing_clause", "party", f"{party['legal_name']} ({role}) lacks {clause}")
            for party in processor.get("parties") or ()
            if party.get("status") != "ended"
            for role, clauses in (party.get("missing_clauses") or {}).items()
            for clause in clauses
        ),
    )


def _dt(value: Any) -> datetime | None:
    return None if value is None else _required_dt(value)


def _required_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def uses_record(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Returns what a submitted campaign declares it uses and runs through (issue 19), for the audit log:
    the parties by id and role, the data and special categories, the retention; no text, no person."""
    return {
        "purpose_id": spec.get("purpose_id"),
        "processor_id": spec.get("processor_id"),
        "parties": [{"party_id": p["party_id"], "role": p["role"]} for p in spec.get("parties") or ()],
        "data_categories": list(spec.get("data_categories") or ()),
        "special_categories": list(spec.get("special_categories") or ()),
        "retention_months": spec.get("retention_months"),
    }


def _register_entry(entry: Mapping[str, Any] | None) -> RegisterEntryFacts | None:
    """Reads the register entry's facts as consent published them (`entry` of its purpose events)."""
    if entry is None:
        return None
    return RegisterEntryFacts(
        version=int(entry.get("version") or 0),
        channels=frozenset(
            Channel(c) for c in entry.get("channels") or () if c in Channel.__members__.values()
        ),
        data_categories=frozenset(str(c) for c in entry.get("data_categories") or ()),
        special_categories=bool(entry.get("special_categories", False)),
        processor_ids=frozenset(str(p) for p in entry.get("processor_ids") or ()),
        retention_months=_int(entry.get("retention_months")),
        profiling=bool(entry.get("profiling", False)),
        dpia_required=bool(entry.get("dpia_required", False)),
        dpia_reference=entry.get("dpia_reference"),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _party(named: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]]) -> CampaignParty:
    """Reads one party the campaign names, with what consent's party register says of it (absent: unknown)."""
    party_id = str(named["party_id"])
    row = known.get(party_id)
    found: Mapping[str, Any] = row or {}
    gaps = found.get("term_gaps")
    return CampaignParty(
        party_id=party_id,
        role=SendRole(named["role"]),
        known=row is not None,
        name=str(found.get("legal_name") or party_id),
        roles=frozenset(str(r) for r in found.get("roles") or ()),
        active=found.get("status") == "active",
        contract_signed_at=_dt(found.get("contract_signed_at")),
        contract_expires_at=_dt(found.get("contract_expires_at")),
        missing_clauses=tuple(
            f"{r}: {clause}"
            for r, clauses in (found.get("missing_clauses") or {}).items()
            for clause in clauses
        ),
        term_gaps=None
        if gaps is None
        else tuple(f"{g.get('rule')} {g.get('field')}" for g in gaps if isinstance(g, Mapping)),
        purpose_ids=frozenset(str(p) for p in found.get("purpose_ids") or ()),
        processor_id=found.get("processor_id"),
    )


def campaign_facts(
    campaign: Campaign,
    *,
    purpose: PurposeInfo | None,
    processor: Mapping[str, Any] | None,
    parties: Mapping[str, Mapping[str, Any]] | None = None,
) -> CampaignFacts:
    """Returns what the rules read about a campaign, with its purpose, processor and the parties it names
    as consent knows them (`parties`: consent's party rows by id; one the gate lacks is unknown)."""
    s = campaign.spec
    basis = LawfulBasis.UNKNOWN
    if purpose is not None and not purpose.retired:
        try:
            basis = LawfulBasis(purpose.lawful_basis)
        except ValueError:
            basis = LawfulBasis.UNKNOWN
    message = s.get("message") or {}
    script = s.get("call_script") or {}
    return CampaignFacts(
        campaign_id=campaign.id,
        purpose_id=str(s["purpose_id"]),
        purpose_lawful_basis=basis,
        channel=Channel(s["channel"]),
        sender_entity=str(s["sender_entity"]),
        send_at=_required_dt(s["send_at"]),
        approved=campaign.status is Status.APPROVED,
        purpose_registered=purpose is not None and not purpose.retired,
        commercial=bool(s.get("commercial", True)),
        audience=Audience(s.get("audience", "b2c")),
        product_category=str(s.get("product_category", "")),
        analogous_categories=frozenset(s.get("analogous_categories") or ()),
        analogy_unclear_categories=frozenset(s.get("analogy_unclear_categories") or ()),
        complementary_categories=frozenset(s.get("complementary_categories") or ()),
        message=MessageFacts(**{k: v for k, v in message.items() if k in MessageFacts.__dataclass_fields__}),
        call_script=CallScript(**{k: v for k, v in script.items() if k in CallScript.__dataclass_fields__}),
        caller_number_masked=bool(s.get("caller_number_masked", False)),
        processor=_processor(processor) if s.get("processor_id") else None,
        targeting=_criteria(s.get("targeting") or ()),
        offer_eligibility=_criteria(s.get("offer_eligibility") or ()),
        offer_generally_available=bool(s.get("offer_generally_available", True)),
        refuses_product_outside_target=bool(s.get("refuses_product_outside_target", False)),
        differential_b2b_terms=bool(s.get("differential_b2b_terms", False)),
        uses_profiling=bool(s.get("uses_profiling", False)),
        large_scale_profiling=bool(s.get("large_scale_profiling", False)),
        combines_datasets=bool(s.get("combines_datasets", False)),
        automated_significant_decision=bool(s.get("automated_significant_decision", False)),
        contest_route=s.get("contest_route"),
        manipulative_design=bool(s.get("manipulative_design", False)),
        art9_explicit_consent_only=bool(s.get("art9_explicit_consent_only", False)),
        dpia_reference=s.get("dpia_reference"),
        professional_target=professions(s.get("professional_target") or ()),
        study=study_facts(s.get("study")),
        register=_register_entry(purpose.entry) if purpose is not None and not purpose.retired else None,
        processor_id=s.get("processor_id"),
        data_categories=frozenset(s.get("data_categories") or ()),
        special_categories=frozenset(s.get("special_categories") or ()),
        retention_months=_int(s.get("retention_months")),
        parties=tuple(_party(p, parties or {}) for p in s.get("parties") or ()),
    )


def study_digest(answer: Any) -> str:
    """Returns the digest a sign-off cites for one answer of the study: the SHA-256 of its canonical JSON
    (16 hex digits), so that a changed answer is a new answer to sign off."""
    canonical = json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def study_answers(study: Mapping[str, Any] | None) -> dict[StudyQuestion, Mapping[str, Any]]:
    """Returns the answered questions of a stored study (a question left null is unanswered)."""
    study = study or {}
    return {q: study[q.value] for q in StudyQuestion if isinstance(study.get(q.value), Mapping)}


def study_record(study: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Returns the study as the submission publishes it: each answer with its digest (None: no study)."""
    answers = study_answers(study)
    if study is None:
        return None
    return {q.value: {"answer": dict(a), "digest": study_digest(a)} for q, a in answers.items()}


def study_facts(study: Mapping[str, Any] | None) -> StudyFacts:
    """Returns what the rules read of a stored study (`spec.study`, as the API validated it)."""
    answers = study_answers(study)
    offer = answers.get(StudyQuestion.OFFER) or {}
    partners = answers.get(StudyQuestion.PARTNERS) or {}
    tracking = answers.get(StudyQuestion.TRACKING) or {}
    tracked = bool(tracking.get("opening_pixels") or tracking.get("tracked_links"))
    return StudyFacts(
        answers=tuple((q, study_digest(a)) for q, a in answers.items()),
        refuses_product_outside_target=bool(offer.get("refuses_product_outside_target", False)),
        refusal_reason=RefusalReason(offer["refusal_reason"]) if offer.get("refusal_reason") else None,
        transfers_to_partners=bool(partners.get("transfers", False)),
        transfer_mode=TransferMode(partners["mode"]) if partners.get("mode") else None,
        partners=tuple((str(p["name"]), str(p["category"])) for p in partners.get("partners") or ()),
        partner_informs_art14=bool(partners.get("partner_informs_art14", False)),
        tracking=tracked,
        per_recipient_tracking=tracked and bool(tracking.get("per_recipient", False)),
    )


def professions(names: Iterable[str]) -> frozenset[str]:
    """Returns professions as contacts publishes a contact's `profession`: stripped, lower-cased."""
    return frozenset(n.strip().lower() for n in names if n and n.strip())


def missing_processor(campaign: Campaign, processor: Mapping[str, Any] | None) -> Finding | None:
    """Returns a PROC-01 block when the campaign names a processor consent never registered."""
    processor_id = campaign.spec.get("processor_id")
    if processor_id and processor is None:
        return Finding(
            "PROC-01",
            Outcome.BLOCK,
            "The processor is not in consent's vendor registry.",
            (f"processor:{processor_id}",),
        )
    return None

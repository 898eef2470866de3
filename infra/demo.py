"""`make demo`: a realistic small dataset entered into a running Vigie through its public HTTP APIs.

For a newcomer on empty databases. It registers the Art. 30 register (a newsletter and an SMS
purpose on consent, customer offers on legitimate interests), an Art. 13 notice, a processor and its
party with an Art. 28 contract. It imports 1,000 people (consumer prospects, customers who bought
shoes or handbags, professionals) with e-mails, mobile and landline phones and postal addresses, in
one streamed `POST /v1/contacts:import` (NDJSON report lines as it goes, a few bad and repeated rows
on purpose), then delivers the notice to the people the campaigns target, records consents with
their proof (double opt-in for e-mail), withdrawals and objections, and a data-subject access
request. Seven named people tell the story a receipt at a time: a consent, a withdrawal, an
opposition-list entry, a pharmacist, a shoe buyer, a handbag buyer and a cold prospect. A marketer
submits three campaigns (newsletter by e-mail, offer to customers by e-mail, an SMS offer) and a
second person, the reviewer, approves them (four eyes); the gate checks every recipient: allow,
block and needs-review receipts. It then fetches one receipt with its Merkle proofs and verifies it
with `vigie-verify receipt`, downloads one person's proof-of-consent bundle from the audit log and
verifies it with `vigie-verify bundle`, prints the latest signed checkpoint, and where to look in
the console.

Only HTTP: nothing is written to a database. Base URLs and tokens are parameters (`Endpoints`,
`Tokens`), so `python -m infra.demo` (on `make run`) and the end-to-end test run the same code. A
second run reuses the register (purposes, processor, party: found by name) and creates a fresh
notice, fresh people (new e-mails, phones and references) and fresh campaigns. Files go to
`.run/demo/`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

CONTROLLER = "Acme SAS"
#: The register's two entries the story uses: key → (name, lawful basis). A consent can only be recorded
#: for a consent-based purpose, and the soft opt-in rests on legitimate interests: two campaigns.
PURPOSES = {
    "newsletter": ("Newsletter et offres par e-mail (démo)", "consent"),
    "customers": ("Offres aux clients sur des produits analogues (démo)", "legitimate_interests"),
    "sms": ("Offres par SMS (démo)", "consent"),
}
PROCESSOR_NAME = "Routeur Démo SAS"
# Because consent checks an Art. 28(3) contract clause by clause: the processor's contract says yes to each.
ART28_3 = (
    "subject_matter_and_duration",
    "nature_and_purpose_of_processing",
    "type_of_personal_data",
    "categories_of_data_subjects",
    "controller_obligations_and_rights",
    "a_documented_instructions_only",
    "b_confidentiality_of_authorised_persons",
    "c_security_art32",
    "d_subprocessors",
    "e_assist_with_data_subject_rights",
    "f_assist_with_art32_to_36",
    "g_delete_or_return_at_end",
    "h_information_and_audits",
    "notify_if_instruction_infringes_law",
    "form",
)
CONTRACT_REF = "DPA-DEMO-2026-2"
#: The clauses of the processor's contract as a party (what consent's party register reports on).
PARTY_CLAUSES = (
    *ART28_3,
    "confidentiality",
    "security_obligations",
    "breach_notification_delay",
    "liability",
    "return_or_deletion_at_end",
    "audit_rights",
)
ART13_ITEMS = {
    "controller_identity_and_contact": "Acme SAS, 1 rue de la Paix, 75002 Paris; privacy@acme.example.",
    "dpo_contact": "Délégué à la protection des données: dpo@acme.example.",
    "purposes_and_legal_basis": "Prospection commerciale: votre consentement, ou notre intérêt légitime "
    "pour nos clients (produits analogues).",
    "legitimate_interests_pursued": "Faire connaître nos produits à nos clients.",
    "recipients_or_categories": "Notre routeur d'e-mails (sous-traitant), en France.",
    "third_country_transfers_and_safeguards": "Aucun transfert hors de l'Union européenne.",
    "retention_period_or_criteria": "3 ans après le dernier contact de votre part.",
    "rights_access_rectification_erasure_restriction_objection_portability": "Accès, rectification, "
    "effacement, limitation, opposition et portabilité: privacy@acme.example.",
    "right_to_withdraw_consent": "Vous pouvez retirer votre consentement à tout moment (lien de "
    "désinscription dans chaque message).",
    "right_to_complain_to_cnil": "Vous pouvez saisir la CNIL (www.cnil.fr).",
    "statutory_or_contractual_requirement_and_consequences_of_not_providing": "Aucune obligation de "
    "fournir ces données; sans e-mail, nous ne pouvons pas vous écrire.",
    "automated_decision_making_incl_profiling_logic_significance_consequences": "Aucune décision "
    "automatisée ni profilage.",
}
MESSAGE = {
    "subject": "Nos chaussures d'hiver",
    "body": "Découvrez la collection d'hiver, -20 % jusqu'à dimanche.",
    "unsubscribe_mechanism": "https://acme.example/stop",
    "unsubscribe_free": True,
    "right_to_object_statement": True,
    "sender_identification": CONTROLLER,
    "subject_related_to_offer": True,
    "objection_reminder": True,
}
WORDINGS = {
    "email": "J'accepte de recevoir par e-mail les offres d'Acme sur ses chaussures. "
    "Je peux retirer mon consentement à tout moment.",
    "sms_mms": "J'accepte de recevoir par SMS les offres d'Acme. Je peux retirer mon consentement à tout "
    "moment en répondant STOP.",
}


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


class UnavailableError(DemoError):
    """A service answered 503 with Retry-After: it is catching up, and the call may be made again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the four services."""

    contacts: str = "http://127.0.0.1:8001"
    consent: str = "http://127.0.0.1:8002"
    gate: str = "http://127.0.0.1:8003"
    audit: str = "http://127.0.0.1:8004"

    def named(self) -> dict[str, str]:
        return {"contacts": self.contacts, "consent": self.consent, "campaign-gate": self.gate,
                "audit-log": self.audit}  # fmt: skip


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens by role. The marketer and the reviewer must be two different people (four eyes)."""

    admin: str
    integrator: str
    marketer: str
    reviewer: str
    auditor: str


@dataclass(frozen=True)
class Person:
    """One person of the story: who they are, and the decision the law gives for this campaign."""

    key: str
    name: str
    story: str
    campaign: str  # which campaign checks them: "newsletter" (consent) or "customers" (soft opt-in)
    expected: str  # allow | block | needs_review
    rule: str  # the rule id the receipt must cite


#: The cast, in the order they are checked. `expected` and `rule` are what the law says (and the test
#: asserts); the demo prints what the gate answered.
CAST: tuple[Person, ...] = (
    Person(
        "prospect",
        "Hugo Bernard",
        "ticked the newsletter box on acme.example (consent with proof)",
        "newsletter",
        "allow",
        "ELEC-01",
    ),
    Person(
        "withdrawn",
        "Léa Petit",
        "consented, then clicked the unsubscribe link",
        "newsletter",
        "block",
        "UNI-03",
    ),
    Person(
        "listed",
        "Nina Robert",
        "consented, but her address is on Acme's opposition list (repoussoir)",
        "newsletter",
        "block",
        "UNI-02",
    ),
    Person(
        "pharmacist",
        "Dr Claire Moreau",
        "a pharmacist at her professional address, never consented; "
        "the newsletter sells shoes, not pharmacy supplies",
        "newsletter",
        "block",
        "ELEC-08",
    ),
    Person(
        "customer",
        "Camille Martin",
        "bought shoes from Acme 20 minutes ago, never ticked a box (consumer customer: soft opt-in)",
        "customers",
        "allow",
        "ELEC-02",
    ),
    Person(
        "handbag",
        "Inès Laurent",
        "bought a handbag from Acme, never ticked a box: are shoes analogous to handbags?",
        "customers",
        "needs_review",
        "ELEC-05",
    ),
    Person(
        "cold",
        "Paul Richard",
        "a consumer from a contest form: no purchase, no consent",
        "customers",
        "block",
        "ELEC-06",
    ),
)
#: What the customers bought from Acme (the soft opt-in covers analogous products of the same seller).
PURCHASES = {"customer": "shoes", "handbag": "handbags"}
CAMPAIGNS = {
    "newsletter": "the monthly newsletter (consent-based purpose)",
    "customers": "an offer to customers on shoes (legitimate interests: soft opt-in)",
    "sms": "an SMS offer to prospects with a mobile phone (consent-based purpose)",
}
#: A fourth campaign, submitted and left for the reviewer to decide in the console (not checked).
AWAITING = "catalogue"
#: Each campaign's channel (the purpose of the same key is its register entry; the catalogue's is
#: the customers' one).
CHANNELS = {"newsletter": "email", "customers": "email", "sms": "sms_mms", AWAITING: "postal_addressed"}

# --- The dataset: 1,000 people imported in one streamed request ---------------------------------------

#: How many people `make demo` imports besides the cast.
DATASET_SIZE = 1000
GIVEN_NAMES = ("Louise", "Gabriel", "Jade", "Raphaël", "Emma", "Arthur", "Alice", "Louis", "Chloé", "Jules",
               "Lina", "Adam", "Rose", "Maël", "Anna", "Noah", "Mila", "Léo", "Julia", "Sacha")  # fmt: skip
FAMILY_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
                "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
                "Vincent", "Fournier")  # fmt: skip
CITIES = (("75011", "Paris"), ("69003", "Lyon"), ("13006", "Marseille"), ("31000", "Toulouse"),
          ("33000", "Bordeaux"), ("59800", "Lille"), ("44000", "Nantes"),
          ("67000", "Strasbourg"))  # fmt: skip
PROFESSIONS = ("Pharmacien", "Architecte", "Expert-comptable", "Boulanger", "Avocat", "Kinésithérapeute")


@dataclass
class Dataset:
    """The imported people, by segment, and what the demo does to each (for the printout and the test).

    Every person has an `external_ref` (`DEMO-<run>-<n>`), the CRM's id, which the import hands back
    with the contact id. `rows` is the NDJSON body: the people, two rows with a broken e-mail and
    three rows repeating an earlier person (the import rejects the first and recognises the others).
    """

    rows: list[dict[str, Any]]
    kinds: dict[str, str]  # external_ref → prospect | customer | b2b
    bad: list[str]  # external_refs of the rows the import must reject
    repeated: list[str]  # external_refs given twice
    newsletter: dict[str, str]  # external_ref → consented | withdrawn | objected | none
    customers: dict[str, str]  # external_ref → shoes | handbags | objected
    sms: dict[str, str]  # external_ref → consented | none

    def expected(self, campaign: str) -> dict[str, str]:
        """external_ref → the decision the law gives in that campaign."""
        law = {
            "newsletter": {"consented": "allow"},
            "customers": {"shoes": "allow", "handbags": "needs_review"},
            "sms": {"consented": "allow"},
        }[campaign]
        plan = {"newsletter": self.newsletter, "customers": self.customers, "sms": self.sms}[campaign]
        return {ref: law.get(what, "block") for ref, what in plan.items()}


def make_dataset(tag: str, size: int, now: datetime) -> Dataset:
    """The dataset of one run: deterministic for a run tag, fresh addresses and phones for each tag."""
    rng = random.Random(tag)
    phones: set[str] = set()

    def phone(prefix: str) -> str:
        while True:
            # Because not every French number is allocated (06 39, 06 9x are not): 06 10-38, 01 xx.
            number = f"+33{prefix}{rng.randrange(10, 39)}{rng.randrange(10**6):06d}"
            if number not in phones:
                phones.add(number)
                return number

    def address(n: int) -> dict[str, str]:
        postal_code, city = CITIES[n % len(CITIES)]
        return {"line1": f"{1 + n % 120} rue des Lilas", "postal_code": postal_code, "city": city,
                "country": "FR"}  # fmt: skip

    obtained = (now - timedelta(minutes=30)).isoformat()
    bought = (now - timedelta(minutes=20)).isoformat()
    n_prospects, n_customers = size * 40 // 100, size * 35 // 100
    rows: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    for n in range(size):
        given, family = GIVEN_NAMES[n % len(GIVEN_NAMES)], FAMILY_NAMES[(n // 3) % len(FAMILY_NAMES)]
        ref = f"DEMO-{tag}-{n:04d}"
        row: dict[str, Any] = {
            "kind": "consumer",
            "relationship": "prospect",
            "given_name": given,
            "family_name": family,
            "email": f"{_ascii(given)}.{_ascii(family)}.{n}.{tag}@example.org",
            "collected_from_person": True,
            "source": "web_form",
            "obtained_at": obtained,
            "external_ref": ref,
        }
        if n < n_prospects:
            kinds[ref] = "prospect"
            # The SMS campaign's audience (from 40 % of the prospects on) all gave a mobile number.
            if n >= n_prospects * 40 // 100 or rng.random() < 0.3:
                row["phone"] = phone("6")
        elif n < n_prospects + n_customers:
            kinds[ref] = "customer"
            category = "handbags" if n % 4 == 0 else "shoes"
            purchase = {"seller": CONTROLLER, "categories": [category], "last_at": bought}
            row.update(relationship="customer_sale_done", source="sale", purchases=[purchase])
            if rng.random() < 0.6:
                row["postal_address"] = address(n)
            if rng.random() < 0.3:
                row["phone"] = phone("6")
        else:
            kinds[ref] = "b2b"
            row.update(kind="professional_named", profession=PROFESSIONS[n % len(PROFESSIONS)],
                       email=f"{_ascii(given)[0]}.{_ascii(family)}.{n}.{tag}@cabinet-{n % 37}.example",
                       phone=phone("1"), postal_address=address(n), source="trade_fair")  # fmt: skip
        rows.append(row)
    prospects = [r for r, k in kinds.items() if k == "prospect"]
    customers = [r for r, k in kinds.items() if k == "customer"]
    # Who the campaigns target: 40 % of the prospects for the newsletter, the customers for the offer,
    # the next 25 % of the prospects (all with a mobile) for the SMS.
    audience = prospects[: len(prospects) * 40 // 100]
    newsletter = {}
    for i, ref in enumerate(audience):
        part = i / len(audience)
        newsletter[ref] = (
            "withdrawn"
            if part < 0.08
            else "consented"
            if part < 0.75
            else "objected"
            if part < 0.8
            else "none"
        )
    by_ref = {row["external_ref"]: row for row in rows}
    offer = {
        ref: "objected" if i < len(customers) // 25 + 1 else by_ref[ref]["purchases"][0]["categories"][0]
        for i, ref in enumerate(customers[: len(customers) * 45 // 100])
    }
    texted = prospects[len(audience) : len(audience) + len(prospects) * 25 // 100]
    sms = {ref: "consented" if i % 5 < 2 else "none" for i, ref in enumerate(texted)}
    # On purpose: two rows with a broken e-mail (rejected, reported by row, nothing stored) and three
    # repeats of an earlier person (recognised by their reference: the same contact id comes back).
    bad = [f"DEMO-{tag}-BAD-{k}" for k in range(2)]
    body = list(rows)
    for k, ref in enumerate(bad):
        body.insert(
            100 + 400 * k, {**rows[0], "email": "pas-une-adresse", "external_ref": ref, "phone": None}
        )
    repeated = [rows[i]["external_ref"] for i in (3, size // 2, size - 2)]
    body += [{**by_ref[ref], "given_name": by_ref[ref]["given_name"] + " (doublon)"} for ref in repeated]
    for row in body:
        if row.get("phone") is None:
            row.pop("phone", None)
    return Dataset(body, kinds, bad, repeated, newsletter, offer, sms)


@dataclass
class Story:
    """What the demo created (ids), for the printout and the test."""

    tag: str
    purposes: dict[str, str] = field(default_factory=dict)  # campaign key → purpose id
    notice_id: str = ""
    processor_id: str = ""
    party_id: str = ""
    contacts: dict[str, str] = field(default_factory=dict)  # person key → contact id
    consents: dict[str, str] = field(default_factory=dict)  # person key → consent id
    campaigns: dict[str, str] = field(default_factory=dict)  # campaign key → campaign id
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # campaign key → check header
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)  # person key → receipt
    reused: list[str] = field(default_factory=list)
    verified: Any = None  # vigie_verify's ReceiptVerification
    verify_output: str = ""
    receipt_file: str = ""
    bundle: dict[str, Any] = field(default_factory=dict)  # the receipt file vigie-verify checked
    checkpoint: str = ""
    vkey: str = ""
    started: datetime | None = None
    dataset: Dataset | None = None
    imported: dict[str, str] = field(default_factory=dict)  # external_ref → contact id
    import_lines: list[dict[str, Any]] = field(default_factory=list)  # progress, summary, rows in error
    consented: dict[str, str] = field(default_factory=dict)  # external_ref → consent id
    objections: list[str] = field(default_factory=list)  # objection ids
    audience: dict[str, list[str]] = field(default_factory=dict)  # campaign key → contact ids checked
    all_receipts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # campaign key → receipts
    request: dict[str, Any] = field(default_factory=dict)  # the data-subject request
    bundle_file: str = ""
    bundle_result: Any = None  # vigie_verify's BundleVerification
    bundle_output: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # step → seconds


class Demo:
    """Drives the four services' APIs; each step is a method so that a test can run them one by one."""

    def __init__(
        self,
        endpoints: Endpoints,
        tokens: Tokens,
        *,
        out: Callable[[str], None] = print,
        timeout: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
        size: int = DATASET_SIZE,
        concurrency: int = 8,
        console: str = "http://127.0.0.1:8005",
    ) -> None:
        self.size = size
        self.concurrency = concurrency
        self._campaign_fields: set[str] | None = None
        self.console = console
        self.urls = endpoints
        self.tokens = tokens
        self.out = out
        self.timeout = timeout
        self.now = now
        self.http = httpx.Client(
            timeout=30.0,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2),
        )

    def close(self) -> None:
        self.http.close()

    # --- HTTP ------------------------------------------------------------------------------------------

    def _call(self, method: str, url: str, token: str, body: Any = None, **params: Any) -> Any:
        try:
            response = self.http.request(
                method,
                url,
                json=body,
                params=params or None,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TransportError as exc:
            raise DemoError(f"{method} {url}: {type(exc).__name__}: {exc}. Is `make run` up?") from None
        if response.status_code == 503 and "retry-after" in response.headers:
            raise UnavailableError(
                f"{method} {url} → 503 {response.text[:600]}", float(response.headers["retry-after"])
            )
        if response.status_code >= 400:
            raise DemoError(f"{method} {url} → {response.status_code} {response.text[:600]}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def post(self, url: str, token: str, body: Any) -> Any:
        return self._call("POST", url, token, body)

    def get(self, url: str, token: str, **params: Any) -> Any:
        return self._call("GET", url, token, **params)

    # --- Steps -----------------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Fails with a clear message unless every service answers ready."""
        down = []
        for name, url in self.urls.named().items():
            try:
                response = self.http.get(f"{url}/readyz", timeout=5.0)
            except httpx.TransportError:
                down.append(f"{name} ({url}) does not answer")
                continue
            if response.status_code != 200:
                down.append(f"{name} ({url}) is not ready: {response.text[:200]}")
        if down:
            raise DemoError(
                "Vigie is not running: " + "; ".join(down) + ".\nStart it with `make run` (and stop it "
                "with `make stop`), then run `make demo` again."
            )

    def register(self, story: Story) -> None:
        """The register entry (a purpose on legitimate interests), its notice, a processor and its party."""
        consent, admin = self.urls.consent, self.tokens.admin
        existing = _items(self.get(f"{consent}/v1/purposes", admin, limit=500))
        for key, (name, basis) in PURPOSES.items():
            found = [p["purpose_id"] for p in existing if _current(p).get("name") == name]
            if found:
                story.purposes[key] = found[0]
                story.reused.append(f"purpose {found[0]} ({name})")
            else:
                story.purposes[key] = self.post(f"{consent}/v1/purposes", admin, _purpose(name, basis))[
                    "purpose_id"
                ]
        notice = {
            "language": "fr",
            "article": "13",
            "purpose_ids": list(story.purposes.values()),
            "content": ART13_ITEMS,
        }
        story.notice_id = self.post(f"{consent}/v1/notices", admin, notice)["notice_id"]
        processors = [
            p
            for p in _items(self.get(f"{consent}/v1/processors", admin))
            if p.get("legal_name") == PROCESSOR_NAME
        ]
        if processors:
            story.processor_id = processors[0]["processor_id"]
            story.reused.append(f"processor {story.processor_id} ({PROCESSOR_NAME})")
        else:
            story.processor_id = self.post(f"{consent}/v1/processors", admin, _processor())["processor_id"]
        parties = [
            p
            for p in _items(self.get(f"{consent}/v1/parties", admin))
            if p.get("legal_name") == PROCESSOR_NAME
        ]
        if parties:
            story.party_id = parties[0]["party_id"]
            story.reused.append(f"party {story.party_id} ({PROCESSOR_NAME})")
        else:
            party = {"legal_name": PROCESSOR_NAME, "roles": ["processor"], "processor_id": story.processor_id}
            story.party_id = self.post(f"{consent}/v1/parties", admin, party)["party_id"]
        contracts = _items(self.get(f"{consent}/v1/parties/{story.party_id}/contracts", admin))
        if not any(c.get("reference") == CONTRACT_REF for c in contracts):
            contract = {
                "reference": CONTRACT_REF,
                "signed_at": "2026-01-05T00:00:00+00:00",
                "expires_at": "2028-12-31T00:00:00+00:00",
                "clauses": list(PARTY_CLAUSES),
            }
            self.post(f"{consent}/v1/parties/{story.party_id}/contracts", admin, contract)

    def people(self, story: Story) -> None:
        """Creates the cast in contacts, delivers the notice, records consents (with proof) and the rest."""
        contacts, consent = self.urls.contacts, self.urls.consent
        integrator = self.tokens.integrator
        now = self.now()
        obtained = (now - timedelta(minutes=30)).isoformat()
        for person in CAST:
            given, family = person.name.replace("Dr ", "").split(" ", 1)
            body: dict[str, Any] = {
                "kind": "consumer",
                "relationship": "prospect",
                "given_name": given,
                "family_name": family,
                "email": f"{given.lower()}.{_ascii(family)}.{story.tag}@example.org",
                "collected_from_person": True,
                "source": "web_form",
                "obtained_at": obtained,
            }
            if person.key in PURCHASES:
                body.update(relationship="customer_sale_done", source="sale")
            if person.key == "pharmacist":
                body.update(
                    kind="professional_named",
                    profession="Pharmacien",
                    email=f"c.moreau.{story.tag}@pharmacie-du-port.example",
                )
            if person.key == "cold":
                body.update(source="contest_form")
            created = self.post(f"{contacts}/v1/contacts", integrator, body)
            cid = story.contacts[person.key] = created["id"]
            self.post(
                f"{consent}/v1/notices/{story.notice_id}/deliveries",
                integrator,
                {"contact_id": cid, "channel": "email"},
            )
            if person.key in PURCHASES:
                sale = {
                    "kind": "sale",
                    "seller": CONTROLLER,
                    "product_categories": [PURCHASES[person.key]],
                    "occurred_at": (now - timedelta(minutes=20)).isoformat(),
                }
                self.post(f"{contacts}/v1/contacts/{cid}/interactions", integrator, sale)
            if person.key in ("prospect", "withdrawn", "listed"):
                # Double opt-in: the form records the request, the person confirms from the e-mail's link.
                requested = self.post(f"{consent}/v1/consents", integrator, self._consent(story, cid))
                story.consents[person.key] = requested["consent_id"]
                self.post(f"{consent}/v1/consents/{requested['consent_id']}/confirmation", integrator, None)
            if person.key == "withdrawn":
                self.post(
                    f"{consent}/v1/consents/{story.consents['withdrawn']}/withdrawal",
                    integrator,
                    {"source": "unsubscribe link"},
                )
        listed_email = f"nina.robert.{story.tag}@example.org"
        self.post(
            f"{self.urls.gate}/v1/suppression-lists/opposition-demo/entries",
            self.tokens.admin,
            {"kind": "opposition", "emails": [listed_email], "phones": []},
        )

    def import_dataset(self, story: Story) -> None:
        """Imports the dataset in one `POST /v1/contacts:import`, its report streamed (NDJSON): each
        batch's row results once committed, progress lines, the summary; keeps each reference's id."""
        dataset = story.dataset = make_dataset(story.tag, self.size, self.now())
        body = b"\n".join(json.dumps(row, ensure_ascii=False).encode() for row in dataset.rows)
        url = f"{self.urls.contacts}/v1/contacts:import"
        headers = {
            "Authorization": f"Bearer {self.tokens.integrator}",
            "Content-Type": "application/x-ndjson",
            "Accept": "application/x-ndjson",
        }
        self.out(
            f"Importing {len(dataset.rows)} CRM rows (NDJSON, the report streamed as batches commit) ..."
        )
        summary: dict[str, Any] = {}
        try:
            with self.http.stream("POST", url, content=body, headers=headers, timeout=300.0) as response:
                if response.status_code >= 400:
                    response.read()
                    raise DemoError(f"POST {url} → {response.status_code} {response.text[:600]}")
                for raw in response.iter_lines():
                    if not raw.strip():
                        continue
                    line = json.loads(raw)
                    kind = line.get("type")
                    if kind == "row" and line["status"] != "error":
                        story.imported[line["external_ref"]] = line["contact_id"]
                        continue
                    story.import_lines.append(line)
                    if kind == "row":
                        said = "; ".join(f"{e['field']}: {e['message']}" for e in line.get("errors", []))
                        self.out(
                            f"  row {line['row']} rejected ({line['external_ref']}): {said}; nothing stored"
                        )
                    elif kind == "progress":
                        self.out(_progress(line))
                    elif kind == "summary":
                        summary = line
                    elif kind == "error":
                        raise DemoError(f"the import stopped: {line.get('detail')}")
        except httpx.TransportError as exc:
            raise DemoError(f"POST {url}: {type(exc).__name__}: {exc}. Is `make run` up?") from None
        if not summary:
            raise DemoError("the import's report stream ended without its summary line")
        missing = [ref for ref in dataset.kinds if ref not in story.imported]
        if missing:
            raise DemoError(
                f"the import report names no contact for {len(missing)} people, e.g. {missing[0]}"
            )

    def audience(self, story: Story) -> None:
        """For the people each campaign targets: the notice delivered, then a consent with its proof (by
        e-mail a double opt-in: requested, confirmed), a withdrawal or an objection, as the plan says."""
        dataset, ids = story.dataset, story.imported
        assert dataset is not None
        consent, integrator = self.urls.consent, self.tokens.integrator
        plans = (("newsletter", dataset.newsletter), ("customers", dataset.customers), ("sms", dataset.sms))
        work = [(ref, key, what) for key, plan in plans for ref, what in plan.items()]

        def one(item: tuple[str, str, str]) -> None:
            ref, key, what = item
            cid, channel = ids[ref], CHANNELS[key]
            delivery = {"contact_id": cid, "channel": channel}
            self.post(f"{consent}/v1/notices/{story.notice_id}/deliveries", integrator, delivery)
            if what in ("consented", "withdrawn"):
                body = self._consent(story, cid, purpose=key, channel=channel)
                consent_id = self.post(f"{consent}/v1/consents", integrator, body)["consent_id"]
                if body["double_opt_in"]:
                    self.post(f"{consent}/v1/consents/{consent_id}/confirmation", integrator, None)
                story.consented[ref] = consent_id
                if what == "withdrawn":
                    withdrawal = {"source": "unsubscribe link"}
                    self.post(f"{consent}/v1/consents/{consent_id}/withdrawal", integrator, withdrawal)
            elif what == "objected":
                # A plain "unsubscribe from everything": an objection to all direct marketing (Art. 21(2)).
                objection = self.post(f"{consent}/v1/objections", integrator, {"contact_id": cid})
                story.objections.append(objection["objection_id"])

        self.out(
            f"Recording what the CRM knows about the {len(work)} people the campaigns target (notices, "
            f"consents with proof, withdrawals, objections; {self.concurrency} calls at a time) ..."
        )
        self._parallel(one, work)
        for key, plan in plans:
            story.audience[key] = [ids[ref] for ref in plan]

    def data_subject_request(self, story: Story) -> None:
        """One person asks for everything held about them (Art. 15): a request with its one-month deadline."""
        assert story.dataset is not None
        ref = next(ref for ref, what in story.dataset.newsletter.items() if what == "consented")
        body = {"kind": "access", "contact_id": story.imported[ref]}
        story.request = self.post(f"{self.urls.contacts}/v1/requests", self.tokens.integrator, body)

    def _gate_takes(self, name: str) -> bool:
        """Whether campaign-gate's campaigns have that field (its OpenAPI says so)."""
        if self._campaign_fields is None:
            try:
                schemas = self.http.get(f"{self.urls.gate}/openapi.json").json()["components"]["schemas"]
                self._campaign_fields = set(schemas.get("CampaignFields", {}).get("properties", {}))
            except (httpx.HTTPError, KeyError, ValueError):
                self._campaign_fields = set()
        return name in self._campaign_fields

    def _parallel(self, work: Callable[[Any], None], items: Iterable[Any]) -> None:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for future in [pool.submit(work, item) for item in items]:
                future.result()

    def _consent(
        self, story: Story, contact_id: str, purpose: str = "newsletter", channel: str = "email"
    ) -> dict[str, Any]:
        return {
            "contact_id": contact_id,
            "purpose_id": story.purposes[purpose],
            "channel": channel,
            "collection_method": "web_form",
            "notice_id": story.notice_id,
            "wording": WORDINGS[channel],
            "proof": {
                "captured_at": self.now().isoformat(),
                "source": "https://acme.example/newsletter#form-v3",
                "ip": "203.0.113.7",
            },
            # Double opt-in by e-mail (the CNIL's advice); an SMS consent is confirmed as it is given.
            "double_opt_in": channel == "email",
            "terms": {"act": "ticked_box", "explicit": False, "given_by": ["data_subject"]},
        }

    def campaign(self, story: Story) -> None:
        """For each campaign, a marketer creates and submits it; the reviewer (another person) approves."""
        gate = self.urls.gate
        for key in (*CAMPAIGNS, AWAITING):
            purpose = "customers" if key == AWAITING else key
            spec = {
                "purpose_id": story.purposes[purpose],
                "channel": CHANNELS[key],
                "sender_entity": CONTROLLER,
                "message": MESSAGE,
                "product_category": "shoes",
                "processor_id": story.processor_id,
                # Because whether handbags are "analogous products" to shoes is a judgement the DPO has
                # not documented yet: the gate asks a person to review such recipients (ELEC-05).
                "analogy_unclear_categories": ["handbags"] if key == "customers" else [],
                "send_at": (self.now() + timedelta(hours=2)).isoformat(),
            }
            if self._gate_takes("study"):
                spec["study"] = _study(purpose)
            campaign_id = self.post(f"{gate}/v1/campaigns", self.tokens.marketer, spec)["id"]
            story.campaigns[key] = campaign_id
            story.findings[key] = findings = self._submitted(campaign_id)
            if key == AWAITING:  # left in the reviewer's queue, for the console
                continue
            sign_offs: dict[str, dict[str, Any]] = {}
            for finding in findings:
                if finding.get("severity") != "needs_review" or finding["rule"] in sign_offs:
                    continue
                grounds = finding.get("sign_off") or {}
                sign_offs[finding["rule"]] = {
                    "rule": finding["rule"],
                    "basis": (grounds.get("bases") or ["documented_assessment"])[0],
                    "explanation": f"Examiné par le DPO ({finding['rule']}): le fondement retenu est "
                    "documenté dans la note jointe et vaut pour toute la campagne.",
                    "reference": "Note DPO-DEMO-1",
                }
            try:
                self.post(
                    f"{gate}/v1/campaigns/{campaign_id}/approve",
                    self.tokens.reviewer,
                    {"sign_offs": list(sign_offs.values())},
                )
            except DemoError as exc:
                said = "; ".join(f"{f['rule']} {f['severity']}: {f['message']}" for f in findings)
                raise DemoError(f"{exc}\nThe review found: {said or 'nothing'}") from None

    def _submitted(self, campaign_id: str) -> list[dict[str, Any]]:
        """Submits a campaign and returns its findings. The gate's review waits for its projection to
        apply what this run published (the purpose, the processor, the register); while it answers 503
        (still catching up), submits again until `timeout`."""
        url, deadline = f"{self.urls.gate}/v1/campaigns/{campaign_id}/submit", time.monotonic() + self.timeout
        while True:
            try:
                submitted = self.post(url, self.tokens.marketer, {})
            except UnavailableError as exc:
                if time.monotonic() > deadline:
                    raise DemoError(f"{exc}\nSee .run/logs/campaign-gate-consumer.log") from None
                self.out("  (the gate has not applied this run's register yet; submitting again)")
                time.sleep(exc.retry_after)
                continue
            findings: list[dict[str, Any]] = submitted.get("findings", [])
            return findings

    def wait_for_pipeline(self, story: Story) -> None:
        """Waits until every event the run caused is on Kafka (the audit log, which consumes the same topics
        as the gate, holds as many of each type since the run began), so that the gate's check, which
        waits for its projection to reach the topics' ends, weighs them all."""
        expected = self._expected_events(story)
        since = (story.started or self.now()).isoformat()

        def _arrived() -> bool:
            return all(self._count_entries(kind, since, count) >= count for kind, count in expected.items())

        _poll(_arrived, self.timeout, "the audit log to receive the run's events (are the relays running?)")

    def _expected_events(self, story: Story) -> dict[str, int]:
        dataset = story.dataset
        plans = [dataset.newsletter, dataset.customers, dataset.sms] if dataset else []
        what = Counter(w for plan in plans for w in plan.values())
        # The cast: seven people, seven notices, three consents (one withdrawn), two purchases.
        return {
            "vigie.contacts.contact_created.v1": len(CAST) + len(set(story.imported.values())),
            "vigie.contacts.interaction_recorded.v1": len(PURCHASES),
            "vigie.consent.notice_delivered.v1": len(CAST) + sum(len(plan) for plan in plans),
            "vigie.consent.consent_granted.v1": 3 + what["consented"] + what["withdrawn"],
            "vigie.consent.consent_withdrawn.v1": 1 + what["withdrawn"],
            "vigie.consent.objection_recorded.v1": what["objected"],
        }

    def _count_entries(self, kind: str, since: str, enough: int) -> int:
        """How many audit entries of that type since then (counting stops at `enough`)."""
        seen, cursor = 0, None
        while seen < enough:
            params = {"type": kind, "since": since, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = self.get(f"{self.urls.audit}/v1/entries", self.tokens.auditor, **params)
            seen += len(_items(page))
            cursor = page.get("next_cursor") if isinstance(page, dict) else None
            if not cursor:
                break
        return seen

    def check(self, story: Story) -> None:
        """Checks each campaign's recipients; while the gate's projection is behind (GATE_STALE, or a
        person it has not applied yet), checks again, until `timeout`."""
        for key in CAMPAIGNS:
            people = [p for p in CAST if p.campaign == key]
            ids = [story.contacts[p.key] for p in people] + story.audience.get(key, [])
            url = f"{self.urls.gate}/v1/campaigns/{story.campaigns[key]}/checks"
            deadline = time.monotonic() + self.timeout
            while True:
                result = self.post(url, self.tokens.marketer, {"contact_ids": ids})
                cited = {r["rule"] for rec in result["recipients"] for r in rec["reasons"]}
                # GATE_STALE: the projection lags Kafka beyond its bound (the gate fails closed).
                # NO_CHANNEL_ADDRESS: every person here has an e-mail, so the gate has not applied one
                # of them yet (it lags, within its bound).
                behind = cited & {"GATE_STALE", "NO_CHANNEL_ADDRESS"}
                if not result.get("stale") and not behind:
                    break
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the gate still answers {', '.join(sorted(behind)) or 'stale'} after "
                        f"{self.timeout:.0f}s: its projection does not catch up with Kafka; see "
                        ".run/logs/campaign-gate.log"
                    )
                self.out(f"  (the gate's projection is behind: {', '.join(sorted(behind))}; checking again)")
                time.sleep(0.5)
            story.all_receipts[key] = result.pop("recipients")
            by_id = {r["contact_id"]: r for r in story.all_receipts[key]}
            story.checks[key] = result
            for person in people:
                story.receipts[person.key] = by_id[story.contacts[person.key]]

    def prove(self, story: Story, key: str = "customer", workdir: Path | None = None) -> None:
        """Fetches one receipt with its proofs (`vigie-verify receipt --fetch`) and verifies it offline."""
        from vigie_verify.cli import FetchError
        from vigie_verify.cli import main as vigie_verify
        from vigie_verify.receipt import fetch_receipt_file, verify_receipt_file

        auditor = self.tokens.auditor
        story.vkey = self.get(f"{self.urls.audit}/v1/public-key", auditor)["vkey"]
        campaign = next(p.campaign for p in CAST if p.key == key)
        check_id, contact_id = story.checks[campaign]["check_id"], story.contacts[key]
        bundle: dict[str, Any] = {}

        def _fetched() -> bool:
            nonlocal bundle
            try:
                bundle = fetch_receipt_file(
                    gate_url=self.urls.gate,
                    log_url=self.urls.audit,
                    gate_token=auditor,
                    log_token=auditor,
                    check_id=check_id,
                    contact_id=contact_id,
                )
            except FetchError as exc:  # the chunk's entry or a checkpoint covering it is not there yet
                if "retry" not in str(exc):
                    raise DemoError(f"fetching the receipt: {exc}") from None
                return False
            return True

        _poll(_fetched, self.timeout, "the audit log to sign a checkpoint holding the check's chunk")
        workdir = workdir or ROOT / ".run" / "demo"
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"receipt-{check_id}-{key}.json"
        path.write_text(json.dumps(bundle, indent=2))
        story.receipt_file = str(path)
        story.bundle = bundle
        story.verified = verify_receipt_file(json.loads(path.read_text()), vkey=story.vkey)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = vigie_verify(["receipt", str(path), "--vkey", story.vkey])
        story.verify_output = printed.getvalue().rstrip()
        if code != 0:
            raise DemoError(f"vigie-verify receipt failed:\n{story.verify_output}")
        # The newest signed tree (the audit log signs one every second or so while entries arrive).
        story.checkpoint = str(self.get(f"{self.urls.audit}/v1/checkpoint", auditor))

    def bundle(self, story: Story, key: str = "prospect", workdir: Path | None = None) -> None:
        """Downloads one person's proof-of-consent bundle from the audit log and verifies it offline
        (`vigie-verify bundle`): their consent, notice and receipt, each proven into a signed checkpoint."""
        from vigie_verify.bundle import verify_bundle
        from vigie_verify.cli import main as vigie_verify
        from vigie_verify.errors import VerificationError

        contact_id = story.contacts[key]
        url = f"{self.urls.audit}/v1/subjects/{contact_id}/proof-bundle"
        bundle: dict[str, Any] = {}

        def _ready() -> bool:
            nonlocal bundle
            try:
                response = self.http.get(url, headers={"Authorization": f"Bearer {self.tokens.auditor}"})
            except httpx.TransportError as exc:
                raise DemoError(f"GET {url}: {type(exc).__name__}: {exc}") from None
            if response.status_code in (404, 503):  # no checkpoint over the person yet; the gate busy
                return False
            if response.status_code >= 400:
                raise DemoError(f"GET {url} → {response.status_code} {response.text[:600]}")
            try:
                result = verify_bundle(response.json(), vkey=story.vkey)
            except VerificationError as exc:
                raise DemoError(f"the proof bundle does not verify: {exc}") from None
            # Wait until the person's receipt is under the signed checkpoint too.
            if result.receipts < 1 or result.pending:
                return False
            bundle = response.json()
            return True

        _poll(_ready, self.timeout, "a signed checkpoint over the person's entries and receipt")
        workdir = workdir or ROOT / ".run" / "demo"
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"proof-bundle-{contact_id}.json"
        path.write_text(json.dumps(bundle, indent=2))
        story.bundle_file = str(path)
        story.bundle_result = verify_bundle(json.loads(path.read_text()), vkey=story.vkey)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = vigie_verify(["bundle", str(path), "--vkey", story.vkey])
        story.bundle_output = printed.getvalue().rstrip()
        if code != 0:
            raise DemoError(f"vigie-verify bundle failed:\n{story.bundle_output}")

    # --- The whole story ----------------------------------------------------------------------------

    def run(self, *, tag: str | None = None, workdir: Path | None = None) -> Story:
        """Runs every step and prints the story; returns what it created."""
        story = Story(tag=tag or uuid.uuid4().hex[:6], started=self.now())
        began = time.monotonic()
        self.out("Checking that Vigie is running ...")
        self.preflight()
        self.out(f"Seeding the dataset (run {story.tag}) through the HTTP APIs ...")
        timed = _Timed(story.timings)
        with timed("register"):
            self.register(story)
        for what in story.reused:
            self.out(f"  reusing {what}, created by an earlier `make demo`")
        with timed("import"):
            self.import_dataset(story)
        with timed("cast"):
            self.people(story)
        with timed("audience"):
            self.audience(story)
            self.data_subject_request(story)
        with timed("campaigns"):
            self.campaign(story)
        self.out("Waiting for the events to reach Kafka and the gate's projection ...")
        with timed("pipeline"):
            self.wait_for_pipeline(story)
        self.out("Checking every recipient of the three campaigns ...")
        with timed("checks"):
            self.check(story)
        self.out("Proving a receipt and a person's bundle against the audit log's signed checkpoint ...")
        with timed("receipt proof"):
            self.prove(story, workdir=workdir)
        with timed("bundle"):
            self.bundle(story, workdir=workdir)
        for line in render(story, self.urls, console=self.console):
            self.out(line)
        steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in story.timings.items())
        self.out(f"\n(make demo took {time.monotonic() - began:.0f} s: {steps})")
        return story


def render(story: Story, urls: Endpoints, *, console: str = "http://127.0.0.1:8005") -> Iterator[str]:
    """The printout for a newcomer."""
    yield ""
    yield "== The register (consent service)"
    for key, (name, basis) in PURPOSES.items():
        yield f"  purpose   {story.purposes[key]}  {name} ({basis})"
    yield f"  notice    {story.notice_id}  Art. 13, French, for the three purposes; delivered to each person"
    yield f"  processor {story.processor_id}  {PROCESSOR_NAME} (party {story.party_id}, Art. 28 contract)"
    yield from _render_dataset(story)
    for key, what in CAMPAIGNS.items():
        check = story.checks[key]
        findings = ", ".join(f"{f['rule']} {f['severity']}" for f in story.findings[key]) or "none"
        receipts = story.all_receipts.get(key, [])
        decided = Counter(r["decision"] for r in receipts)
        yield ""
        yield f"== Campaign {story.campaigns[key]}: {what} ({CHANNELS[key]})"
        yield f"   submitted by the marketer (review findings: {findings}), approved by the reviewer"
        yield (
            f"   check {check['check_id']} (rule set {check['ruleset_version']}): {len(receipts)} receipts, "
            + ", ".join(f"{decided[d]} {d}" for d in ("allow", "block", "needs_review"))
        )
        rules = Counter(f"{r['decision']} {reason['rule']}" for r in receipts for reason in r["reasons"][:1])
        yield "   by first rule cited: " + ", ".join(f"{rule} x{n}" for rule, n in rules.most_common(6))
        for person in (p for p in CAST if p.campaign == key):
            receipt = story.receipts[person.key]
            yield f"  {receipt['decision'].upper():<12} {person.name}: {person.story}"
            pad = " " * 15
            yield f"{pad}contact {receipt['contact_id']}"
            for reason in receipt["reasons"]:
                yield f"{pad}{reason['rule']}: {reason['message']}"
            if receipt.get("evidence"):
                yield f"{pad}evidence: {', '.join(receipt['evidence'])}"
    yield ""
    yield "== One receipt, proven: vigie-verify receipt (offline, against the signed checkpoint)"
    bundle = story.bundle
    served, proof = bundle.get("receipt", {}), bundle.get("entry_proof", {})
    chunk = served.get("chunk", {})
    yield f"  GET {urls.gate}/v1/checks/{served.get('check_id')}/receipts/{served.get('contact_id')}"
    yield (
        f"    the receipt, its canonical bytes, leaf {served.get('index')} of chunk {chunk.get('number')} "
        f"and {len(served.get('inclusion_proof', []))} hash(es) up to the chunk root "
        f"{str(chunk.get('root'))[:16]}…"
    )
    yield f"  GET {urls.audit}/v1/entries?event_id={str(chunk.get('event_id'))[:16]}…"
    yield f"    the audit entry holding that root (index {proof.get('index')}), then"
    yield (
        f"  GET {urls.audit}/v1/proofs/inclusion: {len(proof.get('audit_path', []))} hash(es) from it to "
        f"the signed tree of size {proof.get('tree_size')}"
    )
    yield f"  all saved in {story.receipt_file}; then, offline:"
    yield f"  $ vigie-verify receipt {Path(story.receipt_file).name} --vkey $VKEY"
    for line in story.verify_output.splitlines():
        yield f"  {line}"
    if story.bundle_file:
        yield ""
        yield "== One person's proof-of-consent bundle: vigie-verify bundle (offline)"
        yield f"  GET {urls.audit}/v1/subjects/{story.contacts['prospect']}/proof-bundle   (auditor)"
        yield f"  saved in {story.bundle_file}; then, offline:"
        yield f"  $ vigie-verify bundle {Path(story.bundle_file).name} --vkey $VKEY"
        for line in story.bundle_output.splitlines():
            yield f"  {line}"
    yield ""
    yield "== The audit log's latest signed checkpoint (GET /v1/checkpoint)"
    for line in story.checkpoint.rstrip("\n").splitlines():
        yield f"  {line}"
    yield ""
    yield "== Go further"
    customer, check_id = story.contacts["customer"], story.checks["customers"]["check_id"]
    auth = '-H "Authorization: Bearer $AUDITOR"'
    yield "  AUDITOR=$(make -s token ROLE=auditor); INTEGRATOR=$(make -s token ROLE=integrator)"
    yield f"  VKEY='{story.vkey}'   # from GET /v1/public-key; a real auditor gets it out of band"
    yield f"  curl -s '{urls.consent}/v1/register?format=csv' {auth}   # the Art. 30 register"
    yield f"  curl -s {urls.gate}/v1/checks/{check_id}/receipts/{customer} {auth}"
    yield f"  curl -s {urls.gate}/v1/contacts/{customer}/receipts {auth}"
    yield f"  curl -s {urls.consent}/v1/contacts/{story.contacts['prospect']}/consents " + auth.replace(
        "AUDITOR", "INTEGRATOR"
    )
    yield f"  curl -s '{urls.audit}/v1/entries?subject={customer}' {auth}"
    yield f'  .venv/bin/vigie-verify receipt {story.receipt_file} --vkey "$VKEY"'
    yield f'  .venv/bin/vigie-verify checkpoint --url {urls.audit} --token "$AUDITOR" --vkey "$VKEY"'
    yield "  The rules: docs/rules.md; reading a receipt: README.md; every API: <service URL>/docs"
    yield ""
    yield f"== Where to look in the console ({console}; sign in with a token: make -s token ROLE=<role>)"
    yield f"  sign in          {console}/login                       paste the token of the role below"
    pad = " " * 19
    yield f"  reviewer         {console}/campaigns   (ROLE=reviewer) the queue: a postal catalogue to review"
    if story.campaigns.get(AWAITING):
        yield f"{pad}{console}/campaigns/{story.campaigns[AWAITING]}/review: its findings, sign off, decide"
    yield f"{pad}{console}/campaigns?status=approved: the three campaigns above, findings and sign-offs"
    hugo = story.contacts["prospect"]
    yield f'  DPO              {console}/people?q={hugo}   (ROLE="admin auditor")'
    yield f"{pad}search a person by e-mail, phone or id; {console}/people/{hugo}:"
    yield f"{pad}Hugo Bernard's consent with proof, notice, receipts, requests and proof bundle"
    if story.request:
        yield f"{pad}access request {story.request.get('id')} due {story.request.get('due_at')}"
    yield f"  auditor          {console}/log?subject={hugo}   (ROLE=auditor)"
    yield f"{pad}the log, an entry with its proof checked in the page, the checkpoint; {console}/log/verify"


class _Timed:
    """Times the steps of a run into a dict (step → seconds)."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.into[step] = round(time.monotonic() - began, 2)


def _progress(line: dict[str, Any]) -> str:
    return (
        f"  {line['rows_done']}/{line['rows_total']} rows done: {line['created']} created, "
        f"{line['matched']} recognised, {line['rejected']} rejected ({line['elapsed_s']} s)"
    )


def _render_dataset(story: Story) -> Iterator[str]:
    dataset = story.dataset
    if dataset is None:
        return
    summary = next((line for line in story.import_lines if line.get("type") == "summary"), {})
    kinds = Counter(dataset.kinds.values())
    people = {row["external_ref"]: row for row in dataset.rows if row["external_ref"] in dataset.kinds}
    rows = list(people.values())
    with_phone = sum(1 for row in rows if "phone" in row)
    mobile = sum(1 for row in rows if str(row.get("phone", "")).startswith("+336"))
    postal = sum(1 for row in rows if "postal_address" in row)
    yield ""
    yield f"== The people (contacts service): one streamed import of {summary.get('rows')} rows, " + (
        f"{summary.get('elapsed_s')} s"
    )
    yield (
        f"  {summary.get('created')} created, {summary.get('matched')} recognised (a repeated CRM id: the "
        f"same contact id back), {summary.get('rejected')} rejected (a broken e-mail, by row; nothing stored)"
    )
    yield (
        f"  by kind: {kinds['prospect']} consumer prospects, {kinds['customer']} customers (shoes or "
        f"handbags bought from {CONTROLLER}), {kinds['b2b']} professionals (B2B)"
    )
    yield (
        f"  by channel: {len(rows)} e-mail, {with_phone} phone ({mobile} mobile: SMS and calls; "
        f"{with_phone - mobile} landline), {postal} postal address"
    )
    first = f"DEMO-{story.tag}-0000"
    yield f"  every row maps back: external_ref {first} → contact {story.imported.get(first)}"
    plans = {"newsletter": dataset.newsletter, "customers": dataset.customers, "sms": dataset.sms}
    yield (
        f"  then {sum(len(p) for p in plans.values())} notices delivered, {len(story.consented)} consents "
        f"with proof (double opt-in by e-mail), {Counter(dataset.newsletter.values())['withdrawn']} "
        f"withdrawn, {len(story.objections)} objections, 1 access request (Art. 15)"
    )


# --- Helpers -----------------------------------------------------------------------------------------


def _items(page: Any) -> list[dict[str, Any]]:
    if isinstance(page, list):
        return page
    if isinstance(page, dict):
        for key in ("items", "purposes", "processors", "parties", "contracts"):
            if isinstance(page.get(key), list):
                return list(page[key])
    return []


def _current(purpose: dict[str, Any]) -> dict[str, Any]:
    versions = purpose.get("versions") or [{}]
    return dict(versions[-1])


def _events_of(key: str) -> set[str]:
    """The event types the story causes about a person (what the audit log must hold for them)."""
    types = {"vigie.contacts.contact_created.v1", "vigie.consent.notice_delivered.v1"}
    if key in ("prospect", "withdrawn", "listed"):
        types |= {"vigie.consent.consent_requested.v1", "vigie.consent.consent_granted.v1"}
    if key == "withdrawn":
        types.add("vigie.consent.consent_withdrawn.v1")
    if key in PURCHASES:
        types.add("vigie.contacts.interaction_recorded.v1")
    return types


def _poll(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise DemoError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _ascii(text: str) -> str:
    return text.lower().replace("é", "e").replace("è", "e").replace(" ", "-")


def _purpose(name: str, basis: str) -> dict[str, Any]:
    extra = (
        {"legitimate_interest": "Faire connaître nos produits à nos clients"} if basis != "consent" else {}
    )
    return {
        "name": name,
        "controller": {"name": CONTROLLER, "contact": "1 rue de la Paix, 75002 Paris; privacy@acme.example"},
        "dpo": {"name": "DPO Acme", "contact": "dpo@acme.example"},
        "description": "Envoyer par e-mail des offres sur nos produits à nos clients et prospects",
        "lawful_basis": basis,
        **extra,
        "data_categories": {"identity": ["nom", "e-mail"], "economic_financial": ["achats"]},
        "data_subjects": ["prospects", "clients"],
        "retention": {
            "prospects": "3 ans après le dernier contact",
            "clients": "3 ans après la fin de la relation commerciale",
        },  # fmt: skip
        "security_measures": {"access_control": "comptes nominatifs", "encryption": "AES-256 au repos"},
    }


def _study(key: str) -> dict[str, Any]:
    """The per-operation study of a campaign: its target, message, offer, partners and tracking."""
    target = {
        "newsletter": ("Prospects who asked for the newsletter", ["newsletter consent"]),
        "customers": ("Customers who bought from Acme this year", ["purchase from Acme", "product category"]),
        "sms": ("Prospects who agreed to SMS offers", ["SMS consent"]),
    }[key]
    return {
        "target": {
            "population": target[0],
            "criteria": target[1],
            "criteria_reason": "The people who asked for our offers, or bought analogous products from us.",
        },
        "message": {
            "summary": "The winter shoe collection, 20 % off until Sunday.",
            "claims_substantiated": True,
            "mentions_price_or_discount": True,
        },
        "offer": {
            "conditions": "20 % off every pair until Sunday, for everyone.",
            "reserved_to_target": False,
        },
        "partners": {"transfers": False},
        "tracking": {"opening_pixels": False},
    }


def _processor() -> dict[str, Any]:
    return {
        "legal_name": PROCESSOR_NAME,
        "role": "processor",
        "contract": {
            "reference": CONTRACT_REF,
            "signed_at": "2026-01-05T00:00:00+00:00",
            "expires_at": "2028-12-31T00:00:00+00:00",
            "clauses": dict.fromkeys(ART28_3, True),
        },
        "locations": [{"country": "FR", "activity": "e-mail sending"}],
    }


def local_tokens() -> Tokens:
    """Tokens for `make run`, signed with its local key (as `make token` prints them)."""
    from shared.auth import issue_local_token
    from shared.settings import ServiceSettings

    settings = ServiceSettings()

    def _token(role: str) -> str:
        return issue_local_token(
            secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles=[role],
            subject=f"demo-{role}",  # the marketer and the reviewer are two people
            client="make-demo",
            ttl_seconds=3600,
        )

    return Tokens(*(_token(role) for role in ("admin", "integrator", "marketer", "reviewer", "auditor")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo", description=__doc__.split("\n")[0])
    defaults = Endpoints()
    parser.add_argument("--contacts", default=defaults.contacts)
    parser.add_argument("--consent", default=defaults.consent)
    parser.add_argument("--gate", default=defaults.gate)
    parser.add_argument("--audit", default=defaults.audit)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each stage")
    args = parser.parse_args(argv)
    endpoints = Endpoints(args.contacts, args.consent, args.gate, args.audit)
    demo = Demo(endpoints, local_tokens(), timeout=args.timeout)
    try:
        demo.run()
    except DemoError as exc:
        print(f"\nmake demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

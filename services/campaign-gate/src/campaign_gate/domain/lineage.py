"""Where each fact the rules read comes from: one row per field of `RecipientFacts` and `CampaignFacts`.

A row names the service that produces the fact, the API field(s) where a person or a system enters
it, the event type and payload key that carry it to the gate (or, for a fact the gate holds itself,
the gate API and table), and the projection column the gate keeps it in. The rule ids that read
each fact are not written here: `python -m infra.facts` derives them from `rules.py` and writes
`docs/facts.md`; `tests/contract/test_fact_lineage.py` checks every row against the producers'
real OpenAPI schemas and event payloads, and that no field the rules read is left without one.

Plain data only. Paths: a row's `fact` is `RecipientFacts.<field>` or `CampaignFacts.<field>`,
with `.<sub>` for a field of a nested record (`consents.positive_act`, `message.subject`); an API
field or payload key is dotted, `[]` stepping into a list (`purchases[].seller`).
"""

from __future__ import annotations

from dataclasses import dataclass

CONTACTS, CONSENT, GATE = "contacts", "consent", "campaign-gate"

# Event types (the producers' public contracts; the test checks each against the producer's table).
CONTACT_CREATED = "vigie.contacts.contact_created.v1"
CONTACT_UPDATED = "vigie.contacts.contact_updated.v1"
INTERACTION_RECORDED = "vigie.contacts.interaction_recorded.v1"
RETENTION_FLAGGED = "vigie.contacts.retention_flagged.v1"
PROCESSING_RESTRICTED = "vigie.contacts.processing_restricted.v1"
RESTRICTION_LIFTED = "vigie.contacts.restriction_lifted.v1"
CONSENT_REQUESTED = "vigie.consent.consent_requested.v1"
CONSENT_GRANTED = "vigie.consent.consent_granted.v1"
CONSENT_WITHDRAWN = "vigie.consent.consent_withdrawn.v1"
OBJECTION_RECORDED = "vigie.consent.objection_recorded.v1"
OBJECTION_INDEXES_ADDED = "vigie.consent.objection_indexes_added.v1"
NOTICE_PUBLISHED = "vigie.consent.notice_published.v1"
NOTICE_DELIVERED = "vigie.consent.notice_delivered.v1"
PURPOSE_REGISTERED = "vigie.consent.purpose_registered.v1"
PURPOSE_REVISED = "vigie.consent.purpose_revised.v1"
PURPOSE_RETIRED = "vigie.consent.purpose_retired.v1"
PROCESSOR_REGISTERED = "vigie.consent.processor_registered.v1"
PROCESSOR_UPDATED = "vigie.consent.processor_updated.v1"
PARTY_REGISTERED = "vigie.consent.party_registered.v1"
PARTY_UPDATED = "vigie.consent.party_updated.v1"
CONTRACT_SIGNED = "vigie.consent.contract_signed.v1"

#: Where contacts' gate facts travel: the `facts` object of these three events.
CONTACT_FACT_EVENTS = (CONTACT_CREATED, CONTACT_UPDATED, INTERACTION_RECORDED)
CONSENT_EVENTS = (CONSENT_REQUESTED, CONSENT_GRANTED)


@dataclass(frozen=True, slots=True)
class ApiField:
    """A field of a request body where a fact is entered (`field` empty: the operation itself)."""

    service: str
    method: str
    path: str
    field: str = ""

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" `{self.field}`" if self.field else "")


@dataclass(frozen=True, slots=True)
class EventKey:
    """A key of an event's `data` that carries a fact to the gate."""

    event_type: str
    key: str

    def __str__(self) -> str:
        return f"{self.event_type.removeprefix('vigie.')} `{self.key}`"


@dataclass(frozen=True, slots=True)
class Lineage:
    """One fact: who produces it, where it is entered, what carries it, where the gate keeps it."""

    fact: str
    producer: str
    entered: tuple[ApiField, ...]
    carried: tuple[EventKey, ...] = ()
    #: For a fact the gate holds itself (no event carries it): the gate API and table.
    gate_owned: str = ""
    columns: tuple[str, ...] = ()
    how: str = ""


def _contacts(method_path: str, *fields: str) -> tuple[ApiField, ...]:
    method, path = method_path.split(" ", 1)
    return tuple(ApiField(CONTACTS, method, path, f) for f in fields or ("",))


def _on_contact(*fields: str) -> tuple[ApiField, ...]:
    """The fields on both POST and PATCH /v1/contacts."""
    return _contacts("POST /v1/contacts", *fields) + _contacts("PATCH /v1/contacts/{contact_id}", *fields)


_INTERACTIONS = "POST /v1/contacts/{contact_id}/interactions"


def _interaction(*fields: str) -> tuple[ApiField, ...]:
    return _contacts(_INTERACTIONS, *fields)


def _facts(key: str, *types: str) -> tuple[EventKey, ...]:
    return tuple(EventKey(t, f"facts.{key}") for t in types or CONTACT_FACT_EVENTS)


def _consent_api(*fields: str) -> tuple[ApiField, ...]:
    return tuple(ApiField(CONSENT, "POST", "/v1/consents", f) for f in fields or ("",))


def _consent_events(key: str, *types: str) -> tuple[EventKey, ...]:
    return tuple(EventKey(t, key) for t in (types or CONSENT_EVENTS))


def _campaign(*fields: str) -> tuple[ApiField, ...]:
    return tuple(
        ApiField(GATE, m, p, f)
        for f in fields
        for m, p in (("POST", "/v1/campaigns"), ("PATCH", "/v1/campaigns/{campaign_id}"))
    )


def _gc(*names: str) -> tuple[str, ...]:
    return tuple(f"gate_contacts.{n}" for n in names)


_CONTACT = "gate_contacts"
_SPEC = "campaigns.spec (the campaign as the marketer wrote it, one version per change)"

_RECIPIENT: tuple[Lineage, ...] = (
    Lineage(
        "RecipientFacts.contact_id",
        CONTACTS,
        _contacts("POST /v1/contacts"),
        tuple(EventKey(t, "contact_id") for t in CONTACT_FACT_EVENTS),
        columns=_gc("contact_id"),
        how="assigned by contacts when the contact is created; the event's subject",
    ),
    Lineage("RecipientFacts.kind", CONTACTS, _on_contact("kind"), _facts("kind"), columns=_gc("kind")),
    Lineage(
        "RecipientFacts.relationship",
        CONTACTS,
        _on_contact("relationship") + _interaction("kind"),
        _facts("relationship"),
        columns=_gc("relationship"),
        how="entered, or moved by a sale, purchase, contract_start or contract_end interaction",
    ),
    Lineage(
        "RecipientFacts.collected_from_person",
        CONTACTS,
        _contacts("POST /v1/contacts", "collected_from_person"),
        _facts("collected_from_person"),
        columns=_gc("collected_from_person"),
    ),
    Lineage(
        "RecipientFacts.obtained_at",
        CONTACTS,
        _contacts("POST /v1/contacts", "obtained_at"),
        _facts("obtained_at"),
        columns=_gc("obtained_at"),
    ),
    Lineage(
        "RecipientFacts.channel_addresses",
        CONTACTS,
        _on_contact("email", "phone", "postal_address"),
        _facts("channels"),
        columns=_gc("channel_mask"),
        how="one channel per address on record (a phone number reaches calls, automated calls and SMS)",
    ),
    Lineage(
        "RecipientFacts.source",
        CONTACTS,
        _contacts("POST /v1/contacts", "source"),
        _facts("source"),
        columns=_gc("source"),
    ),
    Lineage(
        "RecipientFacts.broker_name",
        CONTACTS,
        _contacts("POST /v1/contacts", "broker_name"),
        _facts("broker_name"),
        columns=_gc("broker_name"),
    ),
    Lineage(
        "RecipientFacts.broker_verification",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/parties", "roles"),
            ApiField(CONSENT, "POST", "/v1/parties", "broker_last_verified_at"),
            ApiField(CONSENT, "PATCH", "/v1/parties/{party_id}", "broker_last_verified_at"),
            ApiField(CONSENT, "POST", "/v1/parties/{party_id}/contracts", "signed_at"),
        ),
        (
            EventKey(PARTY_REGISTERED, "broker_last_verified_at"),
            EventKey(PARTY_UPDATED, "broker_last_verified_at"),
            EventKey(CONTRACT_SIGNED, "broker_last_verified_at"),
            EventKey(CONTRACT_SIGNED, "signed_at"),
        ),
        columns=(
            "gate_parties.broker_last_verified_at",
            "gate_parties.contract_signed_at",
            "gate_parties.contract_expires_at",
            "gate_parties.roles",
        ),
        how="the data-broker party named like the contact's broker: active, contract in force, verified "
        "no longer ago than the configured bound",
    ),
    Lineage(
        "RecipientFacts.broker_verified_at",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/parties", "broker_last_verified_at"),
            ApiField(CONSENT, "PATCH", "/v1/parties/{party_id}", "broker_last_verified_at"),
        ),
        (
            EventKey(PARTY_REGISTERED, "broker_last_verified_at"),
            EventKey(PARTY_UPDATED, "broker_last_verified_at"),
        ),
        columns=("gate_parties.broker_last_verified_at",),
    ),
    Lineage(
        "RecipientFacts.last_contact_from_person_at",
        CONTACTS,
        _contacts("POST /v1/contacts", "last_contact_from_person_at") + _interaction("kind", "occurred_at"),
        _facts("last_contact_from_person_at"),
        columns=_gc("last_contact_from_person_at"),
        how="the latest reply, purchase, sale, click or request; never an e-mail open or a call attempt",
    ),
    Lineage(
        "RecipientFacts.relationship_end_at",
        CONTACTS,
        _on_contact("relationship_end_at") + _interaction("kind", "occurred_at"),
        _facts("relationship_end_at"),
        columns=_gc("relationship_end_at"),
        how="entered, or the time of the contract_end that leaves no contract open",
    ),
    Lineage(
        "RecipientFacts.retention_flagged_rule",
        CONTACTS,
        _contacts("POST /v1/retention:sweep"),
        (EventKey(RETENTION_FLAGGED, "rule"),),
        columns=_gc("status", "retention_rule"),
        how="contacts' retention sweep (periodic, or run on demand) flags a contact past RET-01/RET-02",
    ),
    Lineage(
        "RecipientFacts.majority_on",
        CONTACTS,
        _on_contact("birth_date"),
        _facts("majority_on"),
        columns=_gc("majority_on"),
        how="the 18th birthday, derived by contacts from the birth date",
    ),
    Lineage(
        "RecipientFacts.digital_consent_age_on",
        CONTACTS,
        _on_contact("birth_date"),
        _facts("digital_consent_age_on"),
        columns=_gc("digital_consent_age_on"),
        how="the 15th birthday, derived by contacts from the birth date",
    ),
    # Objections (consent).
    Lineage(
        "RecipientFacts.objections.objection_id",
        CONSENT,
        (ApiField(CONSENT, "POST", "/v1/objections"),),
        (EventKey(OBJECTION_RECORDED, "objection_id"),),
        columns=("gate_objections.objection_id",),
        how="assigned by consent; also recorded by consent when contacts erases a contact",
    ),
    Lineage(
        "RecipientFacts.objections.at",
        CONSENT,
        (ApiField(CONSENT, "POST", "/v1/objections"),),
        (EventKey(OBJECTION_RECORDED, "at"),),
        columns=("gate_objections.at",),
    ),
    Lineage(
        "RecipientFacts.objections.channel",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/objections", "scope"),
            ApiField(CONSENT, "POST", "/v1/objections", "channel"),
        ),
        (EventKey(OBJECTION_RECORDED, "scope"), EventKey(OBJECTION_RECORDED, "channel")),
        columns=("gate_objections.scope", "gate_objections.channel"),
        how="scope channel: that channel, for every purpose; all_direct_marketing (the default, a plain "
        "unsubscribe link's) or purpose: every channel",
    ),
    Lineage(
        "RecipientFacts.objections.purpose_id",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/objections", "scope"),
            ApiField(CONSENT, "POST", "/v1/objections", "purpose_id"),
        ),
        (EventKey(OBJECTION_RECORDED, "scope"), EventKey(OBJECTION_RECORDED, "purpose_id")),
        columns=("gate_objections.scope", "gate_objections.purpose_id"),
        how="scope purpose: that register purpose, on every channel; all_direct_marketing or channel: every "
        "purpose",
    ),
    Lineage(
        "RecipientFacts.objections.matched_by_hash",
        CONSENT,
        tuple(ApiField(CONSENT, "POST", "/v1/objections", f) for f in ("email", "phone", "blind_indexes")),
        (EventKey(OBJECTION_RECORDED, "blind_indexes"), EventKey(OBJECTION_INDEXES_ADDED, "blind_indexes")),
        columns=(
            "gate_objection_indexes.blind_index",
            "gate_contacts.email_index",
            "gate_contacts.phone_index",
        ),
        how="the objection reaches the contact only through its e-mail or phone blind index (a returning "
        "person, UNI-02), not through its contact id",
    ),
    Lineage(
        "RecipientFacts.objections",
        CONSENT,
        tuple(
            ApiField(CONSENT, "POST", "/v1/objections", f)
            for f in ("contact_id", "email", "phone", "blind_indexes")
        ),
        (
            EventKey(OBJECTION_RECORDED, "contact_id"),
            EventKey(OBJECTION_RECORDED, "blind_indexes"),
            EventKey(OBJECTION_INDEXES_ADDED, "blind_indexes"),
        ),
        columns=("gate_objections.contact_id", "gate_objection_indexes.blind_index"),
        how="the contact's objections, and any objection whose blind indexes match its e-mail or phone",
    ),
    # Suppression lists (the gate's own).
    *(
        Lineage(
            f"RecipientFacts.suppression_hits.{sub}",
            GATE,
            tuple(ApiField(GATE, "POST", "/v1/suppression-lists/{name}/entries", f) for f in fields),
            gate_owned="POST /v1/suppression-lists/{name}/entries → suppression_lists, suppression_imports, "
            "suppression_entries",
            columns=columns,
        )
        for sub, fields, columns in (
            ("list_name", ("",), ("suppression_entries.list_name",)),
            ("list_kind", ("kind",), ("suppression_lists.kind",)),
            ("import_id", ("",), ("suppression_entries.import_id",)),
            ("imported_at", ("",), ("suppression_imports.imported_at",)),
            ("channel", ("channel",), ("suppression_lists.channel",)),
        )
    ),
    Lineage(
        "RecipientFacts.suppression_hits",
        GATE,
        tuple(
            ApiField(GATE, "POST", "/v1/suppression-lists/{name}/entries", f)
            for f in ("emails", "phones", "blind_indexes")
        ),
        gate_owned="POST /v1/suppression-lists/{name}/entries → suppression_entries (blind indexes only)",
        columns=("suppression_entries.blind_index", "gate_contacts.email_index", "gate_contacts.phone_index"),
        how="the contact's e-mail and phone blind indexes (contacts' facts `email_index`, `phone_index`) "
        "found in an imported list",
    ),
    # Consents (consent).
    Lineage(
        "RecipientFacts.consents.consent_id",
        CONSENT,
        _consent_api(),
        _consent_events("consent_id", CONSENT_REQUESTED, CONSENT_GRANTED, CONSENT_WITHDRAWN),
        columns=("gate_consents.consent_id",),
        how="assigned by consent",
    ),
    Lineage(
        "RecipientFacts.consents.purpose_id",
        CONSENT,
        _consent_api("purpose_id"),
        _consent_events("purpose_id", CONSENT_REQUESTED, CONSENT_GRANTED, CONSENT_WITHDRAWN),
        columns=("gate_consents.purpose_id",),
    ),
    Lineage(
        "RecipientFacts.consents.channel",
        CONSENT,
        _consent_api("channel"),
        _consent_events("channel", CONSENT_REQUESTED, CONSENT_GRANTED, CONSENT_WITHDRAWN),
        columns=("gate_consents.channel",),
    ),
    Lineage(
        "RecipientFacts.consents.status",
        CONSENT,
        _consent_api("double_opt_in")
        + (
            ApiField(CONSENT, "POST", "/v1/consents/{consent_id}/confirmation"),
            ApiField(CONSENT, "POST", "/v1/consents/{consent_id}/withdrawal"),
        ),
        (
            EventKey(CONSENT_REQUESTED, "consent_id"),
            EventKey(CONSENT_GRANTED, "granted_at"),
            EventKey(CONSENT_WITHDRAWN, "withdrawn_at"),
        ),
        columns=("gate_consents.status",),
        how="requested (double opt-in pending), granted, or withdrawn: the event type itself",
    ),
    Lineage(
        "RecipientFacts.consents.granted_at",
        CONSENT,
        _consent_api("proof.captured_at")
        + (ApiField(CONSENT, "POST", "/v1/consents/{consent_id}/confirmation"),),
        (EventKey(CONSENT_GRANTED, "granted_at"), EventKey(CONSENT_REQUESTED, "requested_at")),
        columns=("gate_consents.granted_at", "gate_consents.requested_at"),
    ),
    Lineage(
        "RecipientFacts.consents.withdrawn_at",
        CONSENT,
        (ApiField(CONSENT, "POST", "/v1/consents/{consent_id}/withdrawal"),),
        (EventKey(CONSENT_WITHDRAWN, "withdrawn_at"),),
        columns=("gate_consents.withdrawn_at",),
    ),
    Lineage(
        "RecipientFacts.consents.proof_present",
        CONSENT,
        _consent_api("proof", "wording"),
        _consent_events("proof_present"),
        columns=("gate_consents.proof_present",),
        how="consent refuses a consent without wording and proof, and says so in the event",
    ),
    Lineage(
        "RecipientFacts.consents.positive_act",
        CONSENT,
        _consent_api("terms.act", "terms.positive_act"),
        _consent_events("positive_act"),
        columns=("gate_consents.positive_act",),
        how="derived by consent from the act entered (a pre-ticked box, bundling or inactivity is none)",
    ),
    Lineage(
        "RecipientFacts.consents.explicit",
        CONSENT,
        _consent_api("terms.explicit"),
        _consent_events("explicit"),
        columns=("gate_consents.explicit",),
    ),
    Lineage(
        "RecipientFacts.consents.withdrawal_info_given",
        CONSENT,
        _consent_api("wording", "terms.withdrawal_statement", "notice_id"),
        _consent_events("withdrawal_info_given"),
        columns=("gate_consents.withdrawal_info_given",),
        how="derived by consent from the wording, the withdrawal statement or the cited notice",
    ),
    Lineage(
        "RecipientFacts.consents.given_by_minor",
        CONSENT,
        _consent_api("terms.given_by"),
        _consent_events("given_by"),
        columns=("gate_consents.given_by",),
    ),
    Lineage(
        "RecipientFacts.consents.given_by_parent",
        CONSENT,
        _consent_api("terms.given_by"),
        _consent_events("given_by"),
        columns=("gate_consents.given_by",),
    ),
    Lineage(
        "RecipientFacts.consents.out_of_hours_calls",
        CONSENT,
        _consent_api("out_of_hours_calls"),
        _consent_events("out_of_hours_calls"),
        columns=("gate_consents.out_of_hours_calls",),
        how="the person's express consent to calls outside the D223-9 slots (phone_human only)",
    ),
    # Issue 19: what the consent lets the data be transferred to (RENT-01), and e-mail tracking (TRACK-01).
    *(
        Lineage(
            f"RecipientFacts.consents.{name}",
            CONSENT,
            _consent_api(name),
            _consent_events(name),
            columns=(f"gate_consents.{name}",),
            how=how,
        )
        for name, how in (
            ("partners", "the partners, by name, the person agreed their data may be rented or given to"),
            ("partner_categories", "the categories of partners the person agreed their data may go to"),
            ("email_tracking", "the person's consent to per-recipient e-mail tracking (email consents only)"),
        )
    ),
    Lineage(
        "RecipientFacts.consents.collector",
        CONSENT,
        _consent_api("collector.name"),
        _consent_events("collector_name"),
        columns=("gate_consents.collector_name",),
    ),
    Lineage(
        "RecipientFacts.consents.notice_version",
        CONSENT,
        _consent_api("notice_version"),
        _consent_events("notice_version"),
        columns=("gate_consents.notice_version",),
    ),
    # Notices (consent).
    *(
        Lineage(
            f"RecipientFacts.{name}",
            CONSENT,
            (
                ApiField(CONSENT, "POST", "/v1/notices", "purpose_ids"),
                ApiField(CONSENT, "POST", "/v1/notices", "article"),
                ApiField(CONSENT, "POST", "/v1/notices/{notice_id}/deliveries", "contact_id"),
            ),
            (
                EventKey(NOTICE_PUBLISHED, "purpose_ids"),
                EventKey(NOTICE_PUBLISHED, "article"),
                EventKey(NOTICE_DELIVERED, "contact_id"),
                EventKey(NOTICE_DELIVERED, "notice_version"),
            ),
            columns=("gate_notices.purpose_ids", "gate_notices.article", "gate_notice_deliveries.contact_id"),
            how="a published Art. 13/14 notice covering the campaign's purpose was delivered to the contact "
            "(consent publishes a notice only when it states the right to object)",
        )
        for name in ("informed_at_collection", "objection_offered_at_collection")
    ),
    *(
        Lineage(
            f"RecipientFacts.{name}",
            CONSENT,
            (
                ApiField(CONSENT, "POST", "/v1/notices", "article"),
                ApiField(CONSENT, "POST", "/v1/notices/{notice_id}/deliveries", "delivered_at"),
            ),
            (EventKey(NOTICE_PUBLISHED, "article"), EventKey(NOTICE_DELIVERED, key)),
            columns=("gate_notices.article", f"gate_notice_deliveries.{column}"),
            how=f"the first delivery of an Art. {article} notice to the contact",
        )
        for name, key, column, article in (
            ("art13_notice_given_at", "at", "delivered_at", "13"),
            ("art14_notice_delivered_at", "at", "delivered_at", "14"),
            ("art14_delivery_id", "delivery_id", "delivery_id", "14 (else 13)"),
        )
    ),
    Lineage(
        "RecipientFacts.art14_exemption_claimed",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/purposes", "art14_exemption_claimed"),
            ApiField(CONSENT, "PATCH", "/v1/purposes/{purpose_id}", "art14_exemption_claimed"),
        ),
        (
            EventKey(PURPOSE_REGISTERED, "art14_exemption_claimed"),
            EventKey(PURPOSE_REVISED, "art14_exemption_claimed"),
        ),
        columns=("gate_purposes.art14_exemption_claimed",),
        how="the register entry of the campaign's purpose claims Art. 14(5)(b)",
    ),
    # Sales, contracts, profession (contacts).
    Lineage(
        "RecipientFacts.collected_at_sale",
        CONTACTS,
        _contacts("POST /v1/contacts", "source", "purchases"),
        _facts("source") + _facts("purchases"),
        columns=_gc("source", "purchases"),
        how="collected from the person at a sale (source `sale`, or purchases entered at creation)",
    ),
    Lineage(
        "RecipientFacts.purchases.seller",
        CONTACTS,
        _contacts("POST /v1/contacts", "purchases[].seller") + _interaction("seller"),
        _facts("purchases[].seller"),
        columns=_gc("purchases"),
        how="the legal entity that sold (sale or purchase interaction, or an existing customer's purchases)",
    ),
    Lineage(
        "RecipientFacts.purchases.categories",
        CONTACTS,
        _contacts("POST /v1/contacts", "purchases[].categories") + _interaction("product_categories"),
        _facts("purchases[].categories"),
        columns=_gc("purchases"),
    ),
    Lineage(
        "RecipientFacts.contracts.seller",
        CONTACTS,
        _interaction("kind", "seller"),
        _facts("contracts[].seller", CONTACT_UPDATED, INTERACTION_RECORDED),
        columns=_gc("contracts"),
        how="contract_start / contract_end interactions",
    ),
    Lineage(
        "RecipientFacts.contracts.categories",
        CONTACTS,
        _interaction("product_categories"),
        _facts("contracts[].categories", CONTACT_UPDATED, INTERACTION_RECORDED),
        columns=_gc("contracts"),
    ),
    Lineage(
        "RecipientFacts.contracts.ended",
        CONTACTS,
        _interaction("kind", "occurred_at"),
        _facts("contracts[].ended_at", CONTACT_UPDATED, INTERACTION_RECORDED),
        columns=_gc("contracts"),
        how="a contract_end interaction sets ended_at",
    ),
    Lineage(
        "RecipientFacts.profession",
        CONTACTS,
        _on_contact("profession"),
        _facts("profession"),
        columns=_gc("profession"),
        how="lower-cased, stripped; compared with the campaign's professional_target",
    ),
    # Bloctel (the gate's own imports).
    Lineage(
        "RecipientFacts.bloctel_checked_on",
        GATE,
        (ApiField(GATE, "POST", "/v1/suppression-lists/{name}/entries", "kind"),),
        gate_owned="POST /v1/suppression-lists/{name}/entries (kind bloctel) → suppression_imports",
        columns=("suppression_imports.imported_at", "gate_contacts.obtained_at"),
        how="the latest Bloctel import on or after the contact's obtained_at",
    ),
    # Calls (contacts).
    Lineage(
        "RecipientFacts.call_attempts_at",
        CONTACTS,
        _interaction("kind", "outcome", "occurred_at"),
        _facts("call_attempts"),
        columns=_gc("call_attempts"),
        how="call_attempt interactions (no_answer, answered, refused): the 4 latest",
    ),
    Lineage(
        "RecipientFacts.last_phone_refusal_at",
        CONTACTS,
        _interaction("outcome", "occurred_at"),
        _facts("last_call_refusal_at"),
        columns=_gc("last_call_refusal_at"),
        how="the latest call_attempt with outcome refused",
    ),
    *(
        Lineage(
            f"RecipientFacts.phone_collection.{sub}",
            CONTACTS,
            _on_contact(f"phone_collection.{sub}"),
            _facts(f"phone_collection.{sub}"),
            columns=_gc("phone_collection"),
        )
        for sub in ("told_calls_need_consent", "during_contract", "contract_states_calls_need_consent")
    ),
    Lineage(
        "RecipientFacts.timezone",
        CONTACTS,
        _on_contact("timezone", "phone", "postal_address"),
        _facts("timezone"),
        columns=_gc("timezone"),
        how="entered, else from the phone number's region, else from the postal address, else Europe/Paris",
    ),
    Lineage(
        "RecipientFacts.marketing_messages_received",
        GATE,
        (ApiField(GATE, "POST", "/v1/campaigns/{campaign_id}/checks"),),
        gate_owned="POST /v1/campaigns/{campaign_id}/checks → check_receipts (allowed ones)",
        columns=("check_receipts.contact_id", "check_receipts.decision"),
        how="earlier sends the gate allowed to the contact; 0 makes this the first communication",
    ),
    Lineage(
        "RecipientFacts.stop_pub",
        CONTACTS,
        _on_contact("stop_pub"),
        _facts("stop_pub"),
        columns=_gc("stop_pub"),
    ),
    # Rights (section R): the restriction of processing (Art. 18), through contacts' rights desk.
    Lineage(
        "RecipientFacts.restricted",
        CONTACTS,
        (
            ApiField(CONTACTS, "POST", "/v1/requests", "kind"),
            ApiField(CONTACTS, "POST", "/v1/requests", "grounds"),
            ApiField(CONTACTS, "POST", "/v1/requests/{request_id}/restriction-lifting", "informed_at"),
        ),
        _facts("restriction", PROCESSING_RESTRICTED, RESTRICTION_LIFTED, *CONTACT_FACT_EVENTS),
        columns=_gc("restricted"),
        how="a restriction request (Art. 18(1)(a)-(d)) restricts the contact at once; its lifting, the "
        "person informed beforehand (Art. 18(3)), ends it",
    ),
    Lineage(
        "RecipientFacts.restriction_request_id",
        CONTACTS,
        (ApiField(CONTACTS, "POST", "/v1/requests", "kind"),),
        (
            EventKey(PROCESSING_RESTRICTED, "request_id"),
            EventKey(PROCESSING_RESTRICTED, "facts.restriction.request_id"),
        ),
        columns=_gc("restriction_request_id"),
        how="the restriction request, cited as evidence (restriction:<request id>, GET /v1/requests/{id})",
    ),
)

_CAMPAIGN_OWNED = "POST /v1/campaigns, PATCH /v1/campaigns/{campaign_id} → " + _SPEC


def _spec_row(name: str, *fields: str, how: str = "") -> Lineage:
    fields = fields or (name,)
    return Lineage(
        f"CampaignFacts.{name}",
        GATE,
        _campaign(*fields),
        gate_owned=_CAMPAIGN_OWNED,
        columns=tuple(f"campaigns.spec.{f}" for f in fields),
        how=how,
    )


_PROCESSOR_EVENTS = (PROCESSOR_REGISTERED, PROCESSOR_UPDATED)


def _processor(sub: str, api: tuple[str, ...], keys: tuple[str, ...], how: str = "") -> Lineage:
    return Lineage(
        f"CampaignFacts.processor.{sub}",
        CONSENT,
        tuple(
            ApiField(CONSENT, m, p, f)
            for f in api
            for m, p in (("POST", "/v1/processors"), ("PATCH", "/v1/processors/{processor_id}"))
        ),
        tuple(
            EventKey(t, k)
            for k in keys
            for t in _PROCESSOR_EVENTS
            if not (k == "legal_name" and t == PROCESSOR_UPDATED)
        ),
        columns=("gate_processors.contract",)
        if keys[0].startswith("facts.")
        else tuple(f"gate_processors.{k}" for k in keys),
        how=how,
    )


_PURPOSE_VERSION_EVENTS = (PURPOSE_REGISTERED, PURPOSE_REVISED)


def _entry(sub: str, api: str, how: str = "") -> Lineage:
    """A register-entry fact (issue 19): entered on consent's purposes, carried in the events' `entry`."""
    return Lineage(
        f"CampaignFacts.register.{sub}",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/purposes", api),
            ApiField(CONSENT, "PATCH", "/v1/purposes/{purpose_id}", api),
        ),
        tuple(EventKey(t, f"entry.{sub}") for t in _PURPOSE_VERSION_EVENTS),
        columns=("gate_purposes.entry",),
        how=how,
    )


_PARTY_EVENTS = (PARTY_REGISTERED, PARTY_UPDATED)


def _named_party(
    sub: str, api: tuple[tuple[str, str, str], ...], keys: tuple[EventKey, ...], column: str, how: str = ""
) -> Lineage:
    """A fact of a party the campaign names, as consent's party register published it (issue 19)."""
    return Lineage(
        f"CampaignFacts.parties.{sub}",
        CONSENT,
        tuple(ApiField(CONSENT, m, path, f) for m, path, f in api),
        keys,
        columns=(f"gate_parties.{column}",),
        how=how,
    )


_PARTY_API = (("POST", "/v1/parties"), ("PATCH", "/v1/parties/{party_id}"))
_CONTRACT_API = "/v1/parties/{party_id}/contracts"

_CAMPAIGN: tuple[Lineage, ...] = (
    Lineage(
        "CampaignFacts.campaign_id",
        GATE,
        (ApiField(GATE, "POST", "/v1/campaigns"),),
        gate_owned="POST /v1/campaigns → campaigns.id",
        columns=("campaigns.id",),
        how="assigned by the gate",
    ),
    _spec_row("purpose_id"),
    Lineage(
        "CampaignFacts.purpose_lawful_basis",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/purposes", "lawful_basis"),
            ApiField(CONSENT, "PATCH", "/v1/purposes/{purpose_id}", "lawful_basis"),
        ),
        (EventKey(PURPOSE_REGISTERED, "lawful_basis"), EventKey(PURPOSE_REVISED, "lawful_basis")),
        columns=("gate_purposes.lawful_basis",),
        how="the register entry of the campaign's purpose",
    ),
    _spec_row("channel"),
    _spec_row("sender_entity", how="compared with the seller of the contact's purchases and contracts"),
    _spec_row("send_at"),
    Lineage(
        "CampaignFacts.approved",
        GATE,
        (ApiField(GATE, "POST", "/v1/campaigns/{campaign_id}/approve"),),
        gate_owned="POST /v1/campaigns/{campaign_id}/approve (a reviewer, four eyes) → campaigns.status",
        columns=("campaigns.status",),
    ),
    Lineage(
        "CampaignFacts.purpose_registered",
        CONSENT,
        (
            ApiField(CONSENT, "POST", "/v1/purposes"),
            ApiField(CONSENT, "POST", "/v1/purposes/{purpose_id}/retirement"),
        ),
        (EventKey(PURPOSE_REGISTERED, "purpose_id"), EventKey(PURPOSE_RETIRED, "purpose_id")),
        columns=("gate_purposes.purpose_id", "gate_purposes.retired"),
    ),
    _spec_row("commercial"),
    _spec_row("audience"),
    _spec_row("product_category"),
    _spec_row("professional_target", how="the professions the message concerns (B2B relevance)"),
    _spec_row("analogous_categories"),
    _spec_row("analogy_unclear_categories"),
    _spec_row("complementary_categories"),
    *(
        _spec_row(f"message.{sub}")
        for sub in (
            "subject",
            "body",
            "unsubscribe_mechanism",
            "unsubscribe_free",
            "right_to_object_statement",
            "sender_identification",
            "offer_conditions",
            "is_promotional_offer",
            "subject_related_to_offer",
            "carries_art14_notice",
            "objection_reminder",
        )
    ),
    *(
        _spec_row(f"call_script.{sub}")
        for sub in (
            "caller_identity",
            "company_identity",
            "commercial_nature",
            "bloctel_mention",
            "art14_information",
        )
    ),
    _spec_row("caller_number_masked"),
    _processor("name", ("legal_name",), ("legal_name",)),
    _processor("active", ("status",), ("status",)),
    _processor("contract_signed_at", ("contract.signed_at",), ("facts.signed_at",)),
    _processor("contract_expires_at", ("contract.expires_at",), ("facts.expires_at",)),
    _processor(
        "missing_clauses",
        ("contract.clauses", "contract.scc_2021_915"),
        ("facts.missing_clauses",),
        how="consent's list of the Art. 28(3) clauses the contract lacks, as published",
    ),
    _processor(
        "gaps",
        ("sub_processors", "locations", "transfer_mechanism", "tia_done_at"),
        ("facts.gaps",),
        how="consent's gaps as published: unauthorised sub-processors, transfers without a valid tool",
    ),
    Lineage(
        "CampaignFacts.processor.party_gaps",
        CONSENT,
        tuple(
            ApiField(CONSENT, m, path, f)
            for m, path, f in (
                ("POST", "/v1/parties", "processor_id"),
                ("PATCH", "/v1/parties/{party_id}", "processor_id"),
                ("POST", "/v1/parties/{party_id}/contracts", "clauses"),
            )
        ),
        (
            EventKey(PARTY_REGISTERED, "processor_id"),
            EventKey(PARTY_UPDATED, "processor_id"),
            EventKey(PARTY_UPDATED, "missing_clauses"),
            EventKey(CONTRACT_SIGNED, "missing_clauses"),
        ),
        columns=("gate_parties.processor_id", "gate_parties.missing_clauses"),
        how="the clauses each role of a party working under the processor requires and its contract lacks",
    ),
    _spec_row(
        "targeting",
        "targeting[].attribute",
        "targeting[].operator",
        "targeting[].value",
        "targeting[].justification",
    ),
    _spec_row(
        "offer_eligibility",
        "offer_eligibility[].attribute",
        "offer_eligibility[].operator",
        "offer_eligibility[].value",
        "offer_eligibility[].justification",
    ),
    _spec_row("offer_generally_available"),
    _spec_row("refuses_product_outside_target"),
    _spec_row("differential_b2b_terms"),
    _spec_row("uses_profiling"),
    _spec_row("large_scale_profiling"),
    _spec_row("combines_datasets"),
    _spec_row("automated_significant_decision"),
    _spec_row("contest_route", how="where the person contests an automated decision (Art. 22(3))"),
    _spec_row("manipulative_design"),
    _spec_row("art9_explicit_consent_only"),
    _spec_row("dpia_reference"),
    # Issue 19: the per-operation study, as the marketer answered it (STUDY-*, RENT-*, TRACK-*, SALE-*).
    _spec_row(
        "study.answers",
        *(f"study.{q}" for q in ("target", "message", "offer", "partners", "tracking")),
        how="each answered question, with the digest of its answer the reviewer's sign-off cites",
    ),
    _spec_row("study.refuses_product_outside_target", "study.offer.refuses_product_outside_target"),
    _spec_row("study.refusal_reason", "study.offer.refusal_reason"),
    _spec_row("study.transfers_to_partners", "study.partners.transfers"),
    _spec_row("study.transfer_mode", "study.partners.mode"),
    _spec_row(
        "study.partners",
        "study.partners.partners[].name",
        "study.partners.partners[].category",
        how="compared, case and spaces folded, with the partners and categories each consent names",
    ),
    _spec_row("study.partner_informs_art14", "study.partners.partner_informs_art14"),
    _spec_row("study.tracking", "study.tracking.opening_pixels", "study.tracking.tracked_links"),
    _spec_row("study.per_recipient_tracking", "study.tracking.per_recipient"),
    # Issue 19: the register entry the campaign is held to (REG-*) and the parties it names (PAR-*).
    _entry("version", "name", "the entry's version in force (any change of the entry makes one)"),
    _entry("channels", "channels", "empty: the entry does not say, and REG-01 checks nothing"),
    _entry("data_categories", "data_categories", "the template's groups with at least one item"),
    _entry("special_categories", "special_categories"),
    _entry("processor_ids", "processor_ids"),
    _entry("retention_months", "retention_months", "null: not stated in months (REG-05 asks review)"),
    _entry("profiling", "profiling"),
    _entry("dpia_required", "dpia_required"),
    _entry("dpia_reference", "dpia_reference"),
    _spec_row("processor_id", how="compared with the register entry's processors (REG-04)"),
    _spec_row("data_categories", how="the register template's groups the campaign declares it uses"),
    _spec_row("special_categories", how="the Art. 9 categories the campaign declares it uses"),
    _spec_row("retention_months"),
    _spec_row("parties.party_id", "parties[].party_id"),
    _spec_row("parties.role", "parties[].role", how="router, call_centre, data_source, tracking_provider, …"),
    _named_party(
        "known",
        tuple((m, p, "") for m, p in _PARTY_API[:1]),
        tuple(EventKey(t, "party_id") for t in _PARTY_EVENTS),
        "party_id",
        "a party the gate's projection lacks is unknown: PAR-01 blocks (fail closed)",
    ),
    _named_party(
        "name",
        tuple((m, p, "legal_name") for m, p in _PARTY_API),
        tuple(EventKey(t, "legal_name") for t in _PARTY_EVENTS),
        "legal_name",
    ),
    _named_party(
        "roles",
        tuple((m, p, "roles") for m, p in _PARTY_API),
        tuple(EventKey(t, "roles") for t in (*_PARTY_EVENTS, CONTRACT_SIGNED)),
        "roles",
        "consent's roles, compared with the role the party plays on the send (PAR-03)",
    ),
    _named_party(
        "active",
        tuple((m, p, "status") for m, p in _PARTY_API[1:]),
        tuple(EventKey(t, "status") for t in _PARTY_EVENTS) + (EventKey(CONTRACT_SIGNED, "party_status"),),
        "status",
    ),
    _named_party(
        "contract_signed_at",
        (("POST", _CONTRACT_API, "signed_at"),),
        (EventKey(CONTRACT_SIGNED, "signed_at"),),
        "contract_signed_at",
    ),
    _named_party(
        "contract_expires_at",
        (("POST", _CONTRACT_API, "expires_at"),),
        (EventKey(CONTRACT_SIGNED, "expires_at"),),
        "contract_expires_at",
    ),
    _named_party(
        "missing_clauses",
        (("POST", _CONTRACT_API, "clauses"),),
        (EventKey(CONTRACT_SIGNED, "missing_clauses"), EventKey(PARTY_UPDATED, "missing_clauses")),
        "missing_clauses",
        "consent's clauses each role requires and the contract lacks, as published",
    ),
    _named_party(
        "term_gaps",
        (("POST", _CONTRACT_API, "terms"),),
        (EventKey(CONTRACT_SIGNED, "term_gaps"), EventKey(PARTY_UPDATED, "term_gaps")),
        "term_gaps",
        "consent's TERM-01..06 gaps (rule and field) of the current contract's structured terms",
    ),
    _named_party(
        "purpose_ids",
        tuple((m, p, "purpose_ids") for m, p in _PARTY_API),
        tuple(EventKey(t, "purpose_ids") for t in _PARTY_EVENTS),
        "purpose_ids",
        "the purposes consent records the party as touching (REG-04)",
    ),
    _named_party(
        "processor_id",
        tuple((m, p, "processor_id") for m, p in _PARTY_API),
        tuple(EventKey(t, "processor_id") for t in _PARTY_EVENTS),
        "processor_id",
        "the processor record it works under, compared with the entry's processors (REG-04)",
    ),
)

#: Every row, recipient facts first.
LINEAGE: tuple[Lineage, ...] = _RECIPIENT + _CAMPAIGN


def row(fact: str) -> Lineage | None:
    """Returns the row of a fact path (a nested path falls back to its field's own row)."""
    by_fact = {r.fact: r for r in LINEAGE}
    return by_fact.get(fact)

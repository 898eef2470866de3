"""The campaign-gate database: the projection of contacts and consent, campaigns, suppression lists, checks.

The projection tables (`gate_*`) are written only by the consumers of `contacts.events` and
`consent.events` and can be rebuilt from those topics; they hold ids, blind indexes, kinds and
times, never a direct identifier of a person.
"""

import sqlalchemy as sa
from shared.db import UtcDateTime, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = new_metadata()
_TS = UtcDateTime()

# --- Projection ----------------------------------------------------------------------------------

gate_contacts = sa.Table(
    "gate_contacts",
    metadata,
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("relationship", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("collected_from_person", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(200), nullable=True),
    sa.Column("broker_name", sa.String(200), nullable=True),
    sa.Column("obtained_at", _TS, nullable=False),
    sa.Column("last_contact_from_person_at", _TS, nullable=True),
    sa.Column("relationship_end_at", _TS, nullable=True),
    #: The rule contacts cited when it flagged the contact past its retention deadline.
    sa.Column("retention_rule", sa.String(16), nullable=True),
    sa.Column("majority_on", sa.Date, nullable=True),
    sa.Column("digital_consent_age_on", sa.Date, nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("profession", sa.String(200), nullable=True),
    #: One bit per `facts.Channel` the contact has an address for (see `projection.CHANNEL_BITS`).
    sa.Column("channel_mask", sa.Integer, nullable=False),
    sa.Column("email_index", sa.String(64), nullable=True, index=True),
    sa.Column("phone_index", sa.String(64), nullable=True, index=True),
    #: [{"seller", "categories"}], one per selling entity (soft opt-in).
    sa.Column("purchases", sa.JSON, nullable=False),
    #: [{"seller", "categories", "ended"}] (the contract-in-progress exception, RET-02).
    sa.Column("contracts", sa.JSON, nullable=False),
    #: The latest outbound call attempts (TEL-04) and the last refusal (TEL-05).
    sa.Column("call_attempts", sa.JSON, nullable=False),
    sa.Column("last_call_refusal_at", _TS, nullable=True),
    #: What the consumer was told when their number was collected (TEL26-03), or null.
    sa.Column("phone_collection", sa.JSON, nullable=True),
    sa.Column("stop_pub", sa.Boolean, nullable=False),
    #: Art. 18 restriction of processing and the data-subject request that made it (from 0008).
    sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("restriction_request_id", sa.String(64), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

gate_consents = sa.Table(
    "gate_consents",
    metadata,
    sa.Column("consent_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("purpose_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("granted_at", _TS, nullable=True),
    sa.Column("withdrawn_at", _TS, nullable=True),
    sa.Column("notice_id", sa.String(64), nullable=True),
    sa.Column("notice_version", sa.Integer, nullable=True),
    sa.Column("collector_kind", sa.String(32), nullable=True),
    sa.Column("collector_name", sa.String(200), nullable=True),
    #: Consent's own record of how the consent was given (UNI-04, INFO-04, UNI-09, UNI-11, TEL-03).
    sa.Column("requested_at", _TS, nullable=True),
    sa.Column("proof_present", sa.Boolean, nullable=False),
    sa.Column("positive_act", sa.Boolean, nullable=False),
    sa.Column("withdrawal_info_given", sa.Boolean, nullable=False),
    sa.Column("explicit", sa.Boolean, nullable=False),
    sa.Column("given_by", sa.JSON, nullable=False),
    sa.Column("out_of_hours_calls", sa.Boolean, nullable=False),
    #: Issue 19 (migration 0009): the partners and partner categories the consent names (RENT-01), and
    #: consent to per-recipient e-mail tracking (TRACK-01), as consent published them.
    sa.Column("partners", sa.JSON, nullable=True),
    sa.Column("partner_categories", sa.JSON, nullable=True),
    sa.Column("email_tracking", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Index("ix_gate_consents_contact", "contact_id", "purpose_id", "channel"),
)

gate_objections = sa.Table(
    "gate_objections",
    metadata,
    sa.Column("objection_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=True, index=True),
    #: `all_direct_marketing`, `channel` (with `channel`) or `purpose` (with `purpose_id`), from 0008.
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("purpose_id", sa.String(64), nullable=True),
)

gate_objection_indexes = sa.Table(
    "gate_objection_indexes",
    metadata,
    sa.Column("objection_id", sa.String(64), primary_key=True),
    sa.Column("blind_index", sa.String(64), primary_key=True, index=True),
)

gate_notices = sa.Table(
    "gate_notices",
    metadata,
    sa.Column("notice_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("article", sa.String(8), nullable=False),
    #: The purposes the notice informs about: a notice informs only about these.
    sa.Column("purpose_ids", sa.JSON, nullable=False),
)

gate_notice_deliveries = sa.Table(
    "gate_notice_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False, index=True),
    sa.Column("notice_id", sa.String(64), nullable=False),
    sa.Column("notice_version", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("delivered_at", _TS, nullable=False),
)

gate_purposes = sa.Table(
    "gate_purposes",
    metadata,
    sa.Column("purpose_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("name", sa.String(300), nullable=True),
    sa.Column("lawful_basis", sa.String(32), nullable=False),
    sa.Column("retired", sa.Boolean, nullable=False),
    #: The register entry claims the Art. 14(5)(b) exemption (INFO-03).
    sa.Column("art14_exemption_claimed", sa.Boolean, nullable=False),
    #: The register-entry facts of the version in force, as consent published them (REG-*); null: none seen.
    sa.Column("entry", sa.JSON, nullable=True),
)

gate_processors = sa.Table(
    "gate_processors",
    metadata,
    sa.Column("processor_id", sa.String(64), primary_key=True),
    sa.Column("legal_name", sa.String(300), nullable=False),
    sa.Column("role", sa.String(32), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    #: Contract facts when consent's events carry them (signed_at, expires_at, clauses, transfers).
    sa.Column("contract", sa.JSON, nullable=True),
)

#: Parties to the deployment as consent registers them; the gate reads data brokers' verification (UNI-05).
gate_parties = sa.Table(
    "gate_parties",
    metadata,
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("legal_name", sa.String(300), nullable=False, index=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("broker_last_verified_at", _TS, nullable=True),
    sa.Column("contract_id", sa.String(64), nullable=True),
    sa.Column("contract_signed_at", _TS, nullable=True),
    sa.Column("contract_expires_at", _TS, nullable=True),
    sa.Column("missing_clauses", sa.JSON, nullable=True),
    #: The processor record the party works under (consent's link); its clause gaps block that processor.
    sa.Column("processor_id", sa.String(64), nullable=True, index=True),
    #: The purposes consent records the party as touching (REG-04) and its contract's TERM gaps as
    #: [{"rule", "field"}] (PAR-05); null: the events seen did not say.
    sa.Column("purpose_ids", sa.JSON, nullable=True),
    sa.Column("term_gaps", sa.JSON, nullable=True),
)

projection_offsets = sa.Table(
    "projection_offsets",
    metadata,
    sa.Column("topic", sa.String(200), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("last_event_time", _TS, nullable=True),
    sa.Column("updated_at", _TS, nullable=False),
)

# --- Suppression lists ---------------------------------------------------------------------------

suppression_lists = sa.Table(
    "suppression_lists",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("created_at", _TS, nullable=False),
)

suppression_imports = sa.Table(
    "suppression_imports",
    metadata,
    sa.Column("import_id", sa.String(64), primary_key=True),
    sa.Column(
        "list_name", sa.String(100), sa.ForeignKey("suppression_lists.name"), nullable=False, index=True
    ),
    sa.Column("imported_at", _TS, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)

suppression_entries = sa.Table(
    "suppression_entries",
    metadata,
    sa.Column("list_name", sa.String(100), primary_key=True),
    sa.Column("blind_index", sa.String(64), primary_key=True, index=True),
    sa.Column("import_id", sa.String(64), nullable=False),
)

# --- Campaigns and checks ------------------------------------------------------------------------

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("review", sa.JSON, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("campaign_id", sa.String(36), nullable=False, index=True),
    sa.Column("campaign_version", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("checked_at", _TS, nullable=False),
    sa.Column("ruleset_version", sa.String(32), nullable=False),
    sa.Column("stale", sa.Boolean, nullable=False),
    sa.Column("recipients", sa.Integer, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
)

check_receipts = sa.Table(
    "check_receipts",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True, index=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    # Where the receipt sits in the check's Merkle chunks (NULL for receipts from before chunks).
    sa.Column("chunk", sa.Integer, nullable=True),
    sa.Column("chunk_index", sa.Integer, nullable=True),
    sa.Index("ix_check_receipts_check_id_chunk", "check_id", "chunk"),
)

#: One row per chunk of a check's receipts: the root its chunk event carried to the audit log.
check_chunks = sa.Table(
    "check_chunks",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True),
    sa.Column("first_index", sa.Integer, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    # The exact text the chunk's receipts and header hashed (not re-rendered from a timestamp).
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

"""The consent database: register, notices, deliveries, consents, objections, processors, outbox, inbox."""

import sqlalchemy as sa
from shared.db import UtcDateTime, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = new_metadata()

#: One row per purpose; its versions (the register history) are one JSON list.
purposes = sa.Table(
    "purposes",
    metadata,
    sa.Column("purpose_id", sa.String(64), primary_key=True),
    sa.Column("versions", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column("notice_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("article", sa.String(4), nullable=False),
    sa.Column("purpose_ids", sa.JSON, nullable=False),
    sa.Column("content", sa.JSON, nullable=False),
    sa.Column("not_applicable", sa.JSON, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=True),
)

notice_deliveries = sa.Table(
    "notice_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False, index=True),
    sa.Column("notice_id", sa.String(64), nullable=False),
    sa.Column("notice_version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("consent_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False, index=True),
    sa.Column("purpose_id", sa.String(64), nullable=False),
    sa.Column("purpose_version", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("collection_method", sa.String(32), nullable=False),
    sa.Column("wording", sa.Text, nullable=False),
    sa.Column("notice_id", sa.String(64), nullable=True),
    sa.Column("notice_version", sa.Integer, nullable=True),
    sa.Column("collector", sa.JSON, nullable=False),
    sa.Column("proof", sa.JSON, nullable=False),
    sa.Column("double_opt_in", sa.Boolean, nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("granted_at", UtcDateTime, nullable=True),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("withdrawn_at", UtcDateTime, nullable=True),
    sa.Column("withdrawal_source", sa.String(200), nullable=True),
    #: `ConsentTerms` (positive act, withdrawal information, explicit, given by); NULL on rows before 0002.
    sa.Column("terms", sa.JSON, nullable=True),
    #: The person's express consent to calls outside the D223-9 slots (phone_human only); from 0003.
    sa.Column("out_of_hours_calls", sa.Boolean, nullable=False, server_default=sa.false()),
    #: The partners and partner categories the consent names, and consent to e-mail tracking; from 0007.
    sa.Column("partners", sa.JSON, nullable=True),
    sa.Column("partner_categories", sa.JSON, nullable=True),
    sa.Column("email_tracking", sa.Boolean, nullable=False, server_default=sa.false()),
    # Because two simultaneous grants can both pass the domain check: at most one active record per
    # (contact, purpose, channel), enforced by the database (partial index, SQLite and PostgreSQL).
    sa.Index(
        "uq_consents_active",
        "contact_id",
        "purpose_id",
        "channel",
        unique=True,
        sqlite_where=sa.text("status != 'withdrawn'"),
        postgresql_where=sa.text("status != 'withdrawn'"),
    ),
)

#: Objections outlive a contact's erasure: `contact_id` is cleared, the blind indexes stay (UNI-02).
objections = sa.Table(
    "objections",
    metadata,
    sa.Column("objection_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=True, index=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("blind_indexes", sa.JSON, nullable=False),
    #: `ObjectionReason`: the person's objection, or the suppression entry kept at an erasure (from 0003).
    sa.Column("reason", sa.String(32), nullable=False, server_default="objection"),
    #: `ObjectionScope` is `channel`: the channel; `purpose`: the register purpose (from 0006).
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("purpose_id", sa.String(64), nullable=True),
)

#: One row per (blind index, objection), so that a re-import is matched by index lookup (UNI-02).
objection_indexes = sa.Table(
    "objection_indexes",
    metadata,
    sa.Column("blind_index", sa.String(64), primary_key=True),
    sa.Column(
        "objection_id",
        sa.String(64),
        sa.ForeignKey("objections.objection_id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

#: One row per vendor; contract, sub-processors and locations are JSON documents.
processors = sa.Table(
    "processors",
    metadata,
    sa.Column("processor_id", sa.String(64), primary_key=True),
    sa.Column("legal_name", sa.String(300), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
)

#: The blind indexes each live contact has had (from contacts.events), attached to its objections; the
#: row goes at the contact's erasure, the indexes then live on in the objections only (UNI-02, RET-05).
contact_indexes = sa.Table(
    "contact_indexes",
    metadata,
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("blind_indexes", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: Parties to the deployment (issue 10); scope and broker verification in `record`.
parties = sa.Table(
    "parties",
    metadata,
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("legal_name", sa.String(300), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
)

#: Contract versions per party; the expiry watch's notices are kept so each is raised once.
party_contracts = sa.Table(
    "party_contracts",
    metadata,
    sa.Column("contract_id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(64), sa.ForeignKey("parties.party_id"), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(300), nullable=False),
    sa.Column("signed_at", UtcDateTime, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True, index=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("expiring_notified_at", UtcDateTime, nullable=True),
    sa.Column("expired_notified_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("party_id", "version", name="uq_party_contracts_version"),
)

#: The breach register (Art. 33(5)); `status` is `open` until notified or found not notifiable, so that the
#: overdue breaches are one indexed range read (`open` and `deadline_at` passed).
breaches = sa.Table(
    "breaches",
    metadata,
    sa.Column("breach_id", sa.String(64), primary_key=True),
    sa.Column("aware_at", UtcDateTime, nullable=False, index=True),
    sa.Column("deadline_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("overdue_notified_at", UtcDateTime, nullable=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Index("ix_breaches_status_deadline_at", "status", "deadline_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

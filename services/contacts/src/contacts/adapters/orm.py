"""The contacts database: personal data only as ciphertext, looked up through blind indexes."""

import sqlalchemy as sa
from shared.db import UtcDateTime, new_metadata
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = new_metadata()

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("relationship", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("collected_from_person", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("broker_name", sa.String(200), nullable=True),
    sa.Column("obtained_at", UtcDateTime, nullable=False),
    sa.Column("last_contact_from_person_at", UtcDateTime, nullable=True),
    sa.Column("relationship_end_at", UtcDateTime, nullable=True),
    # Facts the gate reads that identify nobody on their own, kept beside the sealed personal data.
    sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Paris"),
    sa.Column("timezone_source", sa.String(16), nullable=False, server_default="default"),
    sa.Column("profession", sa.String(200), nullable=True),
    sa.Column("phone_collection", sa.JSON, nullable=True),
    sa.Column("stop_pub", sa.Boolean, nullable=False, server_default=sa.false()),
    #: [{seller, categories, last_at}], one per seller.
    sa.Column("purchases", sa.JSON, nullable=True),
    #: [{seller, categories, started_at, ended_at}].
    sa.Column("contracts", sa.JSON, nullable=True),
    #: The latest outbound call attempts (ISO times, oldest first).
    sa.Column("call_attempts", sa.JSON, nullable=True),
    sa.Column("last_call_refusal_at", UtcDateTime, nullable=True),
    #: {request_id, grounds, since} while processing is restricted (Art. 18), else NULL (from 0007).
    sa.Column("restriction", sa.JSON, nullable=True),
    #: The per-contact data key wrapped by a key-encryption key; deleting it shreds `personal_data`,
    #: which seals the person's identifiers and the free-form attributes (no plaintext column for them).
    sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
    sa.Column("personal_data", sa.LargeBinary, nullable=True),
    sa.Column("email_index", sa.String(64), nullable=True),
    sa.Column("phone_index", sa.String(64), nullable=True),
    #: Blind index of the caller's (source, external_ref): its own id of the person, unique per source.
    sa.Column("external_ref_index", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Because one live contact per e-mail and per phone is what "no duplicates" means, the database
    # enforces it: a create needs no prior lookup, and two racing creates cannot both win.
    # Erased contacts hold no index, so the partial indexes skip them.
    sa.Index(
        "uq_contacts_email_index",
        "email_index",
        unique=True,
        postgresql_where=sa.text("email_index IS NOT NULL"),
        sqlite_where=sa.text("email_index IS NOT NULL"),
    ),
    sa.Index(
        "uq_contacts_phone_index",
        "phone_index",
        unique=True,
        postgresql_where=sa.text("phone_index IS NOT NULL"),
        sqlite_where=sa.text("phone_index IS NOT NULL"),
    ),
    sa.Index(
        "uq_contacts_external_ref_index",
        "external_ref_index",
        unique=True,
        postgresql_where=sa.text("external_ref_index IS NOT NULL"),
        sqlite_where=sa.text("external_ref_index IS NOT NULL"),
    ),
)

interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("seller", sa.String(200), nullable=True),
    sa.Column("product_categories", sa.JSON, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
)

# Data-subject requests hold no personal data: the person is named by contact id only (or by nobody when
# no data was found); history notes are written by the service or the DPO's extension reason.
data_subject_requests = sa.Table(
    "data_subject_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("contact_id", sa.String(36), nullable=True, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("extended_months", sa.Integer, nullable=False),
    #: {service: ISO time} of the erasure confirmations received.
    sa.Column("confirmations", sa.JSON, nullable=False),
    sa.Column("history", sa.JSON, nullable=False),
    sa.Column("overdue_reported_at", UtcDateTime, nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    #: A restriction's grounds and lifting, a contestation's decision, review and outcome (from 0007).
    sa.Column("details", sa.JSON, nullable=True),
    sa.Index("ix_data_subject_requests_status_due", "status", "due_at"),
)

#: Objections of people we hold no contact for, until consent accepts them (blind indexes only).
objection_forwards = sa.Table(
    "objection_forwards",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("blind_indexes", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_attempt_at", UtcDateTime, nullable=True),
    sa.Column("forwarded_at", UtcDateTime, nullable=True),
    sa.Index("ix_objection_forwards_pending", "forwarded_at", "created_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

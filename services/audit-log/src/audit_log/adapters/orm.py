"""The audit-log database: append-only entries, Merkle nodes, checkpoints and per-subject keys."""

import sqlalchemy as sa
from shared.db import UtcDateTime, new_metadata

metadata = new_metadata()

entries = sa.Table(
    "entries",
    metadata,
    sa.Column(
        "idx", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_type", sa.String(200), nullable=False, index=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False, index=True),
    sa.Column("actor", sa.String(300), nullable=False, index=True),
    sa.Column("event_time", UtcDateTime(), nullable=False, index=True),
    sa.Column("integrated_at", UtcDateTime(), nullable=False),
    sa.Column("sealed_event", sa.LargeBinary, nullable=False),
    sa.Column("canonical", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
)

#: Hashes of complete Merkle subtrees: level 0 are leaves; insert-only, never recomputed.
tree_nodes = sa.Table(
    "tree_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "idx", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column(
        "tree_size", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

#: One data key per subject, wrapped; deleting the row shreds that subject's sealed events.
subject_keys = sa.Table(
    "subject_keys",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

shredded_subjects = sa.Table(
    "shredded_subjects",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("shredded_at", UtcDateTime(), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
)

APPEND_ONLY_TABLES = ("entries", "tree_nodes", "checkpoints")

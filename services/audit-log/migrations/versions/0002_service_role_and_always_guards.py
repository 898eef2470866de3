"""the service's role: INSERT/SELECT on the log, never its owner; guards that fire always

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 06:30:00

On PostgreSQL the tables and their append-only triggers belong to the role that runs the migrations
(the owner). The service connects as a member of `vigie_audit_log_app`, which may INSERT and SELECT on
the log's tables, DELETE a subject's key (crypto-shredding) and nothing else: no UPDATE, DELETE or
TRUNCATE on entries, tree nodes or checkpoints, and, not owning them, no ALTER TABLE, so it cannot
disable the guards. The guards are ENABLE ALWAYS, so that `session_replication_role = replica` does
not skip them either. SQLite (`make run`) has no roles: nothing changes there.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The group role the service's login role is a member of (created here when the owner may).
APP_ROLE = "vigie_audit_log_app"
APPEND_ONLY = ("entries", "tree_nodes", "checkpoints")
GRANTS = {
    "entries": "SELECT, INSERT",
    "tree_nodes": "SELECT, INSERT",
    "checkpoints": "SELECT, INSERT",
    "shredded_subjects": "SELECT, INSERT",
    # Because erasure destroys the subject's key (and only that row).
    "subject_keys": "SELECT, INSERT, DELETE",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Because roles are cluster-wide: another database's migration may have made it already, even now.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
    """)
    for table, privileges in GRANTS.items():
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
    for table in APPEND_ONLY:
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_update_delete")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")
    op.execute("REVOKE ALL ON FUNCTION vigie_append_only() FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_update_delete")
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_truncate")
    for table in GRANTS:
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")

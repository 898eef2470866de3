"""projection changes: which transaction last wrote each row a check reads, and which rows were deleted

The API's in-memory view of `gate_contacts`, `gate_consents` and `gate_notice_deliveries`
(`adapters.contact_view`) is loaded from the database at the first check and, before each check batch,
reads only the rows written since its last read. The projection's consumer runs in another process, so
the change record lives in the database, written by triggers (the projection's writer needs no change):

- `change_xid` on each of those tables: the 64-bit id of the transaction that last inserted or updated
  the row (`pg_current_xact_id()`, BEFORE INSERT OR UPDATE). A transaction id, not a sequence value, because
  sequence values are taken in statement order but become visible in commit order: a reader that keeps
  "the largest value seen" would skip a row whose transaction took a smaller value and committed later.
  With transaction ids the reader keeps the oldest transaction still running when it read
  (`pg_snapshot_xmin`) and next time reads every row written by that transaction or a later one, so
  nothing committed after its snapshot is missed (rows already seen may be read twice; harmless).
- `gate_projection_tombstones`: the table, key and transaction of each deleted row (an erasure deletes a
  contact's consents and deliveries, a reset of the projection every row), AFTER DELETE per statement;
  a TRUNCATE records one tombstone without a key, which makes a view load everything again.
- `gate_allowed_contacts`: every contact some check allowed (the receipts' decisions a first contact is
  judged by), filled from `check_receipts` by an AFTER INSERT statement trigger (receipts are only ever
  added), with the transaction that added it.

PostgreSQL only: on any other database checks read the projection row by row and no view exists.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


#: The tables a check reads through the view, with their key column.
_TABLES = {
    "gate_contacts": "contact_id",
    "gate_consents": "consent_id",
    "gate_notice_deliveries": "delivery_id",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE gate_projection_tombstones (table_name VARCHAR(64) NOT NULL, row_id VARCHAR(64), "
        "change_xid BIGINT NOT NULL, deleted_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    op.execute(
        "CREATE INDEX ix_gate_projection_tombstones_change_xid ON gate_projection_tombstones (change_xid)"
    )
    op.execute(
        """
        CREATE FUNCTION gate_projection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_xid := pg_current_xact_id()::text::bigint;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION gate_projection_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO gate_projection_tombstones (table_name, row_id, change_xid)
            VALUES (TG_TABLE_NAME, NULL, pg_current_xact_id()::text::bigint);
            RETURN NULL;
        END $$
        """
    )
    for table, key in _TABLES.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN change_xid BIGINT")
        op.execute(f"CREATE INDEX ix_{table}_change_xid ON {table} (change_xid)")
        op.execute(
            f"CREATE TRIGGER {table}_changed BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gate_projection_changed()"
        )
        # Because the deleted rows' key column differs per table: one function each.
        op.execute(
            f"""
            CREATE FUNCTION {table}_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO gate_projection_tombstones (table_name, row_id, change_xid)
                SELECT TG_TABLE_NAME, {key}, pg_current_xact_id()::text::bigint FROM gone;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_deleted AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {table}_deleted()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gate_projection_truncated()"
        )
    # Rows written before this migration keep a NULL change_xid: a view reads them when it loads.

    # The contacts some check allowed (a first contact is one no check allowed yet): kept by the
    # receipts' COPY itself, one set-based statement per batch, so a view needs no scan of the receipts.
    op.execute(
        "CREATE TABLE gate_allowed_contacts (contact_id VARCHAR(64) PRIMARY KEY, change_xid BIGINT NOT NULL)"
    )
    op.execute("CREATE INDEX ix_gate_allowed_contacts_change_xid ON gate_allowed_contacts (change_xid)")
    op.execute(
        "INSERT INTO gate_allowed_contacts (contact_id, change_xid) SELECT DISTINCT contact_id, "
        "pg_current_xact_id()::text::bigint FROM check_receipts WHERE decision = 'allow'"
    )
    op.execute(
        """
        CREATE FUNCTION check_receipts_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO gate_allowed_contacts (contact_id, change_xid)
            SELECT DISTINCT contact_id, pg_current_xact_id()::text::bigint FROM added
            WHERE decision = 'allow'
            ON CONFLICT (contact_id) DO NOTHING;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER check_receipts_allowed AFTER INSERT ON check_receipts "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION check_receipts_allowed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER check_receipts_allowed ON check_receipts")
    op.execute("DROP FUNCTION check_receipts_allowed()")
    op.execute("DROP TABLE gate_allowed_contacts")
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_truncated ON {table}")
        op.execute(f"DROP TRIGGER {table}_deleted ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
        op.execute(f"DROP FUNCTION {table}_deleted()")
        op.execute(f"DROP INDEX ix_{table}_change_xid")
        op.execute(f"ALTER TABLE {table} DROP COLUMN change_xid")
    op.execute("DROP FUNCTION gate_projection_truncated()")
    op.execute("DROP FUNCTION gate_projection_changed()")
    op.execute("DROP TABLE gate_projection_tombstones")

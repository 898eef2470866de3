"""contact changes: which transaction last wrote each gate_contacts row, and which rows were deleted

The API's in-memory columnar view of `gate_contacts` (`adapters.contact_view`) is rebuilt from the
database at start and, before each check batch, reads only the rows written since its last read. The
projection's consumer runs in another process, so the change record lives in the database, written by
triggers (the projection's writer needs no change):

- `gate_contacts.change_xid`: the 64-bit id of the transaction that last inserted or updated the row
  (`pg_current_xact_id()`, BEFORE INSERT OR UPDATE). A transaction id, not a sequence value, because
  sequence values are taken in statement order but become visible in commit order: a reader that keeps
  "the largest value seen" would skip a row whose transaction took a smaller value and committed later.
  With transaction ids the reader keeps the oldest transaction still running when it read
  (`pg_snapshot_xmin`) and next time reads every row written by that transaction or a later one, so
  nothing committed after its snapshot is missed (rows already seen may be read twice; harmless).
- `gate_contact_tombstones`: the contact id and transaction of each deleted row (a reset of the
  projection deletes them all), AFTER DELETE per statement; a TRUNCATE records one tombstone without a
  contact id, which makes a view reload everything.

PostgreSQL only: on any other database checks read the projection row by row and no view exists.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE gate_contacts ADD COLUMN change_xid BIGINT")
    op.execute("CREATE INDEX ix_gate_contacts_change_xid ON gate_contacts (change_xid)")
    op.execute(
        "CREATE TABLE gate_contact_tombstones (contact_id VARCHAR(64), change_xid BIGINT NOT NULL, "
        "deleted_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    op.execute("CREATE INDEX ix_gate_contact_tombstones_change_xid ON gate_contact_tombstones (change_xid)")
    op.execute(
        """
        CREATE FUNCTION gate_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_xid := pg_current_xact_id()::text::bigint;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER gate_contacts_changed BEFORE INSERT OR UPDATE ON gate_contacts "
        "FOR EACH ROW EXECUTE FUNCTION gate_contacts_changed()"
    )
    op.execute(
        """
        CREATE FUNCTION gate_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO gate_contact_tombstones (contact_id, change_xid)
            SELECT contact_id, pg_current_xact_id()::text::bigint FROM gone;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER gate_contacts_deleted AFTER DELETE ON gate_contacts "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION gate_contacts_deleted()"
    )
    op.execute(
        """
        CREATE FUNCTION gate_contacts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO gate_contact_tombstones (contact_id, change_xid)
            VALUES (NULL, pg_current_xact_id()::text::bigint);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER gate_contacts_truncated AFTER TRUNCATE ON gate_contacts "
        "FOR EACH STATEMENT EXECUTE FUNCTION gate_contacts_truncated()"
    )
    # Rows written before this migration keep a NULL change_xid: a view reads them when it loads.


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER gate_contacts_truncated ON gate_contacts")
    op.execute("DROP TRIGGER gate_contacts_deleted ON gate_contacts")
    op.execute("DROP TRIGGER gate_contacts_changed ON gate_contacts")
    op.execute("DROP FUNCTION gate_contacts_truncated()")
    op.execute("DROP FUNCTION gate_contacts_deleted()")
    op.execute("DROP FUNCTION gate_contacts_changed()")
    op.execute("DROP TABLE gate_contact_tombstones")
    op.execute("DROP INDEX ix_gate_contacts_change_xid")
    op.execute("ALTER TABLE gate_contacts DROP COLUMN change_xid")

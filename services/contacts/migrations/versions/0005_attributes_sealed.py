"""the free-form attributes sealed with the personal data; the plaintext column dropped

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 05:30:00

Each live contact's attributes are moved into its sealed `personal_data` (same data key, new nonce,
the contact id still bound as associated data), then the plaintext `attributes` column is dropped.
Erased contacts hold no data key and no attributes. The key-encryption keys are read from the
service's settings (`CONTACTS_KEKS` or `CONTACTS_KEKS_FILE`), as the service itself reads them, so
the migration job mounts them. Downgrade decrypts them back into a plaintext column.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def _vault() -> Any:
    # Imported here because a migration module must load without the service's settings in scope.
    from contacts.adapters.protection import PersonalDataVault
    from contacts.settings import ContactsSettings
    from shared.blind_index import BlindIndexer
    from shared.envelope_crypto import KeyRing

    settings = ContactsSettings()
    keks, active = settings.kek_ring()
    return PersonalDataVault(
        key_ring=KeyRing(keks, active),
        indexer=BlindIndexer(settings.blind_index_key.get_secret_value().encode()),
    )


def _rows(conn: sa.Connection, contacts: sa.Table, after: str) -> list[Any]:
    c = contacts.c
    return list(
        conn.execute(
            sa.select(c.id, c.wrapped_key, c.personal_data, c.attributes)
            .where(c.id > after)
            .order_by(c.id)
            .limit(_BATCH)
        ).all()
    )


def upgrade() -> None:
    from contacts.adapters.protection import SealedPersonalData

    conn = op.get_bind()
    contacts = sa.Table(
        "contacts",
        sa.MetaData(),
        sa.Column("id", sa.String(36)),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("personal_data", sa.LargeBinary),
        sa.Column("attributes", sa.JSON),
    )
    vault = None
    after = ""
    while rows := _rows(conn, contacts, after):
        for contact_id, wrapped, ciphertext, attributes in rows:
            if wrapped is not None:
                vault = vault or _vault()
                opened = vault.open(contact_id, SealedPersonalData(bytes(wrapped), bytes(ciphertext)))
                merged = {**(opened.attributes or {}), **(attributes or {})}
                sealed = vault.seal(
                    contact_id, opened.personal, attributes=merged, wrapped_key=bytes(wrapped)
                )
                conn.execute(
                    contacts.update()
                    .where(contacts.c.id == contact_id)
                    .values(personal_data=sealed.ciphertext)
                )
        after = rows[-1][0]
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("attributes")


def downgrade() -> None:
    from contacts.adapters.protection import ATTRIBUTES_KEY
    from shared.envelope_crypto import decrypt_fields, encrypt_fields

    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
    conn = op.get_bind()
    contacts = sa.Table(
        "contacts",
        sa.MetaData(),
        sa.Column("id", sa.String(36)),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("personal_data", sa.LargeBinary),
        sa.Column("attributes", sa.JSON),
    )
    vault = None
    after = ""
    while rows := _rows(conn, contacts, after):
        for contact_id, wrapped, ciphertext, _attributes in rows:
            values: dict[str, Any] = {"attributes": {}}
            if wrapped is not None:
                vault = vault or _vault()
                dek = vault.key_ring.unwrap(bytes(wrapped))
                fields = decrypt_fields(dek, bytes(ciphertext), associated_data=contact_id.encode())
                values["attributes"] = fields.pop(ATTRIBUTES_KEY, None) or {}
                # Because the code before this revision reads only the identifiers from the blob.
                values["personal_data"] = encrypt_fields(dek, fields, associated_data=contact_id.encode())
            conn.execute(contacts.update().where(contacts.c.id == contact_id).values(**values))
        after = rows[-1][0]
    with op.batch_alter_table("contacts") as batch:
        batch.alter_column("attributes", existing_type=sa.JSON(), nullable=False)

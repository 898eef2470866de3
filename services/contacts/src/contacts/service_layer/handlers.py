"""Use cases of contacts: each takes a command and a unit of work, and commits once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from contacts.adapters import orm
from contacts.domain.errors import DuplicateContactError
from contacts.domain.model import Contact, PersonalData, Status
from contacts.service_layer import commands
from contacts.service_layer.unit_of_work import ContactsUnitOfWork


async def _check_no_duplicate(uow: ContactsUnitOfWork, contact: Contact) -> None:
    for matched_on, index in (("email", contact.indexes.email), ("phone", contact.indexes.phone)):
        if index is None:
            continue
        kwargs = {f"{matched_on}_index": index}
        existing = [cid for cid in await uow.contacts.find_by_index(**kwargs) if cid != contact.id]
        if existing:
            raise DuplicateContactError(existing[0], matched_on)


async def create_contact(cmd: commands.CreateContact, uow: ContactsUnitOfWork) -> Contact:
    """Creates a contact unless the same e-mail or phone is already known (DuplicateContactError)."""
    async with uow:
        contact = Contact.create(
            kind=cmd.kind, relationship=cmd.relationship, personal=cmd.personal,
            indexes=uow.vault.indexes_for(cmd.personal), origin=cmd.origin, obtained_at=cmd.obtained_at,
            last_contact_from_person_at=cmd.last_contact_from_person_at,
            relationship_end_at=cmd.relationship_end_at, attributes=cmd.attributes, at=uow.clock())
        await _check_no_duplicate(uow, contact)
        uow.contacts.add(contact)
        await uow.commit(actor=cmd.actor)
    return contact


async def get_contact(contact_id: str, uow: ContactsUnitOfWork) -> Contact:
    """Returns a contact (its personal data decrypted) or raises ContactNotFoundError."""
    async with uow:
        return await uow.contacts.get_or_raise(contact_id)


async def find_contacts(*, email: str | None, phone: str | None, uow: ContactsUnitOfWork) -> list[Contact]:
    """Returns the live contacts with this e-mail or phone, found through the blind indexes."""
    indexer = uow.vault.indexer
    async with uow:
        ids = await uow.contacts.find_by_index(email_index=indexer.email(email) if email else None,
                                               phone_index=indexer.phone(phone) if phone else None)
        return [await uow.contacts.get_or_raise(cid) for cid in ids]


async def update_contact(cmd: commands.UpdateContact, uow: ContactsUnitOfWork) -> Contact:
    """Applies a PATCH; new e-mail or phone values get new blind indexes and a duplicate check."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        changes = dict(cmd.changes)
        if "email" in changes or "phone" in changes:
            contact.check_not_erased()
            merged = {**contact.personal.as_dict(), **{k: changes[k] for k in ("email", "phone") if k in changes}}
            changes["indexes"] = uow.vault.indexes_for(PersonalData.from_dict(merged))
        contact.update(changes=changes, at=uow.clock(), expected_version=cmd.expected_version)
        await _check_no_duplicate(uow, contact)
        await uow.commit(actor=cmd.actor)
    return contact


async def record_interaction(cmd: commands.RecordInteraction, uow: ContactsUnitOfWork) -> str:
    """Records an interaction and returns its id."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        at = uow.clock()
        interaction_id = contact.record_interaction(kind=cmd.kind, channel=cmd.channel,
                                                    occurred_at=cmd.occurred_at, at=at)
        await uow.contacts.flush()
        await uow.session.execute(orm.interactions.insert().values(
            id=interaction_id, contact_id=contact.id, kind=cmd.kind.value, channel=cmd.channel,
            occurred_at=cmd.occurred_at, recorded_at=at))
        await uow.commit(actor=cmd.actor)
    return interaction_id


async def erase_contact(cmd: commands.EraseContact, uow: ContactsUnitOfWork) -> None:
    """Destroys a contact's personal data and data key; its interactions go too."""
    async with uow:
        contact = await uow.contacts.get_or_raise(cmd.contact_id, for_update=True)
        contact.erase(reason=cmd.reason, at=uow.clock())
        await uow.session.execute(orm.interactions.delete().where(orm.interactions.c.contact_id == contact.id))
        await uow.commit(actor=cmd.actor)


async def sweep_retention(cmd: commands.SweepRetention, uow: ContactsUnitOfWork, *,
                          grace: timedelta) -> dict[str, int]:
    """Flags contacts past their retention deadline, erases those past the grace; returns the counts."""
    flagged = erased = 0
    async with uow:
        ids = (await uow.session.execute(
            sa.select(orm.contacts.c.id).where(orm.contacts.c.status != Status.ERASED.value)
            .order_by(orm.contacts.c.id).limit(cmd.limit))).scalars().all()
        for contact_id in ids:
            contact = await uow.contacts.get_or_raise(contact_id)
            status = contact.retention_status(now=cmd.now, grace=grace)
            if status.state == "erase":
                contact.erase(reason=f"retention {status.rule_id}", at=cmd.now)
                erased += 1
            elif status.state == "flagged" and contact.status is Status.ACTIVE:
                contact.flag_for_retention(status=status, at=cmd.now)
                flagged += 1
        await uow.commit(actor=cmd.actor)
    return {"flagged": flagged, "erased": erased}

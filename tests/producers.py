"""Upstream events made by the producers' own code, for the consumers' tests (issue 13, item 2).

A consumer test never writes another service's payload by hand. Here each event is made by the
producing service's domain (contacts' `Contact`; consent's `Purpose`, `Notice`, `NoticeDelivery`,
`Consent`, `Objection`, `Processor`, `Party`, `Contract`), turned into its CloudEvent by that
service's own mapping (`<service>.adapters.outgoing.to_envelope`), written to an outbox as the
service's unit of work writes it (`shared.outbox.add`) and published by the platform's
`OutboxRelay` to the real Kafka, key and headers included. The steps that a producer's handler takes
between the API and its domain (blind indexes from the vault, consent terms derived from what the
collector entered and from the notice cited) are taken here with the same functions.

When a consumer needs a fact, it is entered where the producer takes it (an act on the form, a
clause in a contract, an e-mail address): if the producer cannot make it, the test cannot either.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from campaign_gate import contracts as gate_contracts
from campaign_gate.adapters import outgoing as gate_outgoing
from campaign_gate.domain import events as gate_events
from campaign_gate.domain import receipts as gate_receipts
from campaign_gate.domain.facts import Decision
from campaign_gate.domain.rules import RULESET_VERSION
from consent.adapters import outgoing as consent_outgoing
from consent.domain import parties as consent_parties
from consent.domain.erasure import erase_subject
from consent.domain.model import (
    Channel,
    CollectionMethod,
    Consent,
    ConsentAct,
    ConsentProof,
    ConsentTerms,
    GivenBy,
    LawfulBasis,
    Objection,
    Party,
    Purpose,
    TermsEntered,
)
from consent.domain.notices import ART13_REQUIRED, ART14_REQUIRED, Notice, NoticeDelivery
from consent.domain.processors import ART28_3_CHECKLIST, Location, Processor, ProcessorContract, ProcessorRole
from contacts import contracts as contacts_contracts
from contacts.adapters import outgoing as contacts_outgoing
from contacts.adapters.protection import PersonalDataVault
from contacts.domain.model import (
    CallOutcome,
    Contact,
    InteractionKind,
    Kind,
    Origin,
    PersonalData,
    PhoneCollection,
    Purchase,
    Relationship,
)
from shared.blind_index import BlindIndexer
from shared.db import make_engine, make_sessionmaker
from shared.envelope_crypto import KeyRing
from shared.events import EventEnvelope
from shared.kafka import KafkaPublisher
from shared.outbox import OutboxRelay, add_many, outbox_table

CONTROLLER = Party(name="Acme SAS", contact="1 rue de la Paix, 75002 Paris; privacy@acme.example")
DPO = Party(name="DPO Acme", contact="dpo@acme.example")
#: The wording shown beside an e-mail consent box; it tells the person how to withdraw (Art. 7(3)).
WORDING = (
    "J'accepte de recevoir les offres d'Acme par e-mail. Je peux retirer mon consentement à tout moment."
)


def now() -> datetime:
    """Returns the current time, aware."""
    return datetime.now(UTC)


class RecordingPublisher:
    """Takes the relay's records as a broker would, for consumer tests that run without Kafka.

    `records` holds (topic, key, value, headers) in publication order: the bytes a consumer would poll.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, str, bytes, list[tuple[str, bytes]]]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.records.append((topic, key, value, headers))

    async def send(
        self, *, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        await self.publish(topic=topic, key=key, value=value, headers=headers)
        acknowledged: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


class _Outbox:
    """One producer's outbox (a file SQLite database) and the platform's relay publishing it to Kafka."""

    def __init__(self, directory: str, name: str, publisher: KafkaPublisher | RecordingPublisher) -> None:
        self.table = outbox_table(sa.MetaData())
        self.engine = make_engine(f"sqlite:///{os.path.join(directory, name)}.db")
        self.sessions = make_sessionmaker(self.engine)
        self.relay = OutboxRelay(
            engine=self.engine, table=self.table, publisher=publisher, coalesce_seconds=0
        )

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(self.table.metadata.create_all)

    async def publish(self, items: Sequence[tuple[str, EventEnvelope]]) -> None:
        """Writes the rows as the producer's unit of work commits them, then relays them in order."""
        async with self.sessions() as session:
            await add_many(session, self.table, list(items))
            await session.commit()
        await self._relay()

    async def redeliver(self, event_id: str) -> None:
        """Publishes a row again, as the relay does when it crashed after publishing but before marking it."""
        async with self.engine.begin() as conn:
            await conn.execute(
                self.table.update().where(self.table.c.event_id == event_id).values(published_at=None)
            )
        await self._relay()

    async def _relay(self) -> None:
        while await self.relay.publish_pending():
            pass
        async with self.engine.connect() as conn:
            left = await conn.scalar(
                sa.select(sa.func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            )
        assert left == 0, "the relay could not publish to Kafka (see the log)"

    async def close(self) -> None:
        await self.engine.dispose()


class Upstream:
    """Publishes what contacts, consent and the campaign gate publish, made by their own code, to Kafka.

    Use as `async with Upstream(kafka, blind_index_key=...) as upstream:`; with `kafka=None` the relay
    publishes to a `RecordingPublisher` instead (`upstream.publisher.records`), for in-process tests.
    Every method that makes an event publishes it before returning the domain object, so a later call
    (a withdrawal, an erasure) acts on the same aggregate the way the producer's next command would.
    """

    def __init__(self, kafka_bootstrap: str | None, *, blind_index_key: str | bytes) -> None:
        key = blind_index_key.encode() if isinstance(blind_index_key, str) else blind_index_key
        self.indexer = BlindIndexer(key)
        # Contacts' vault computes a contact's blind indexes; its key ring only seals, which no event needs.
        self.vault = PersonalDataVault(
            key_ring=KeyRing({"test": os.urandom(32)}, "test"), indexer=self.indexer
        )
        self.publisher: KafkaPublisher | RecordingPublisher = (
            KafkaPublisher(kafka_bootstrap, client_id="test-upstream")
            if kafka_bootstrap
            else RecordingPublisher()
        )
        self._directory = tempfile.mkdtemp(prefix="vigie-upstream-")
        self._outboxes = {
            name: _Outbox(self._directory, name, self.publisher)
            for name in ("contacts", "consent", "campaign-gate")
        }
        self.purposes: dict[str, Purpose] = {}
        self.notices: dict[str, Notice] = {}
        #: Every envelope published, in order (a test may deliver one again, as an at-least-once relay can).
        self.published: list[EventEnvelope] = []

    async def __aenter__(self) -> Upstream:
        await self.publisher.start()
        for outbox in self._outboxes.values():
            await outbox.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        try:
            for outbox in self._outboxes.values():
                await outbox.close()
            await self.publisher.stop()
        finally:
            shutil.rmtree(self._directory, ignore_errors=True)

    # --- Publishing, as each producer's unit of work and relay do.

    async def _publish(
        self, service: str, outgoing: ModuleType, aggregate: Any, *, actor: str
    ) -> list[EventEnvelope]:
        pending = list(aggregate.events)
        aggregate.events.clear()
        items = [outgoing.to_envelope(event, actor=actor, correlation_id=None) for event in pending]
        await self._outboxes[service].publish(items)
        envelopes = [envelope for _topic, envelope in items]
        self.published += envelopes
        return envelopes

    async def contacts_publish(self, contact: Contact, *, actor: str = "contacts/api") -> list[EventEnvelope]:
        """Publishes a contact's pending events through contacts' mapping and outbox relay."""
        return await self._publish("contacts", contacts_outgoing, contact, actor=actor)

    async def consent_publish(self, aggregate: Any, *, actor: str = "consent/api") -> list[EventEnvelope]:
        """Publishes a consent aggregate's pending events through consent's mapping and outbox relay."""
        return await self._publish("consent", consent_outgoing, aggregate, actor=actor)

    async def redeliver(self, envelope: EventEnvelope) -> None:
        """Delivers a published event again (same id and bytes), as an at-least-once relay may."""
        service = {contacts_contracts.SOURCE: "contacts", gate_contracts.SOURCE: "campaign-gate"}.get(
            envelope.source, "consent"
        )
        await self._outboxes[service].redeliver(envelope.id)

    # --- contacts: what POST /v1/contacts, PATCH, interactions and erasure make.

    async def contact(
        self,
        *,
        contact_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        postal_address: dict[str, str] | None = None,
        birth_date: date | None = None,
        kind: Kind | str = Kind.CONSUMER,
        relationship: Relationship | str = Relationship.PROSPECT,
        collected_from_person: bool = True,
        source: str = "web_form",
        broker_name: str | None = None,
        obtained_at: datetime | None = None,
        at: datetime | None = None,
        timezone: str | None = None,
        profession: str | None = None,
        phone_collection: PhoneCollection | None = None,
        stop_pub: bool = False,
        purchases: list[Purchase] | None = None,
        actor: str = "contacts/api",
    ) -> Contact:
        """Creates a contact as contacts' create handler does (indexes from its vault); publishes it."""
        personal = PersonalData(
            email=email, phone=phone, postal_address=postal_address, birth_date=birth_date
        )
        at = at or now()
        contact = Contact.create(
            kind=Kind(kind),
            relationship=Relationship(relationship),
            personal=personal,
            indexes=self.vault.indexes_for(personal),
            origin=Origin(
                collected_from_person=collected_from_person, source=source, broker_name=broker_name
            ),
            obtained_at=obtained_at or at,
            at=at,
            contact_id=contact_id,
            timezone=timezone,
            profession=profession,
            phone_collection=phone_collection,
            stop_pub=stop_pub,
            purchases=purchases,
        )
        await self.contacts_publish(contact, actor=actor)
        return contact

    async def update_contact(
        self, contact: Contact, *, at: datetime | None = None, actor: str = "contacts/api", **changes: Any
    ) -> Contact:
        """Applies a PATCH as contacts' update handler does (a new e-mail or phone gets new indexes)."""
        if "email" in changes or "phone" in changes:
            given = {k: changes[k] for k in ("email", "phone") if k in changes}
            merged = {**contact.personal.as_dict(), **given}
            changes["indexes"] = self.vault.indexes_for(PersonalData.from_dict(merged))
        contact.update(changes=changes, at=at or now())
        await self.contacts_publish(contact, actor=actor)
        return contact

    async def interaction(
        self,
        contact: Contact,
        kind: InteractionKind | str,
        *,
        channel: str | None = None,
        occurred_at: datetime | None = None,
        at: datetime | None = None,
        seller: str | None = None,
        product_categories: list[str] | None = None,
        outcome: CallOutcome | str | None = None,
    ) -> Contact:
        """Records an interaction (a sale, a contract, a call attempt…) and publishes interaction_recorded."""
        contact.record_interaction(
            kind=InteractionKind(kind),
            channel=channel,
            occurred_at=occurred_at or now(),
            at=at or now(),
            seller=seller,
            product_categories=product_categories,
            outcome=CallOutcome(outcome) if outcome is not None else None,
        )
        await self.contacts_publish(contact)
        return contact

    async def erase(
        self,
        contact: Contact,
        *,
        reason: str = "request",
        at: datetime | None = None,
        actor: str = "contacts/rights-desk",
    ) -> EventEnvelope:
        """Erases the contact as contacts does and publishes contact_erased (with its blind indexes)."""
        contact.erase(reason=reason, at=at or now())
        (envelope,) = await self.contacts_publish(contact, actor=actor)
        return envelope

    # --- consent: the register, notices, consents, objections, processors and parties.

    async def purpose(
        self,
        purpose_id: str | None = None,
        *,
        lawful_basis: LawfulBasis | str = LawfulBasis.CONSENT,
        at: datetime | None = None,
        **fields: Any,
    ) -> Purpose:
        """Registers a purpose (by default 60 days ago, so that older consents can cite it); publishes it."""
        basis = LawfulBasis(lawful_basis)
        defaults: dict[str, Any] = {
            "name": "Newsletter",
            "controller": CONTROLLER,
            "dpo": DPO,
            "description": "Envoyer des offres commerciales aux prospects et clients",
            "data_subjects": ("prospects", "clients"),
            "retention": {"prospects": "3 ans après le dernier contact"},
        }
        if basis is LawfulBasis.LEGITIMATE_INTERESTS:
            defaults["legitimate_interest"] = "Prospection de nos clients et prospects (considérant 47)"
        purpose = Purpose.register(
            at=at or now() - timedelta(days=60),
            lawful_basis=basis,
            purpose_id=purpose_id,
            **{**defaults, **fields},
        )
        self.purposes[purpose.purpose_id] = purpose
        await self.consent_publish(purpose)
        return purpose

    async def notice(
        self,
        purpose_ids: Iterable[str],
        *,
        article: str = "13",
        language: str = "fr",
        at: datetime | None = None,
        without: Iterable[str] = (),
    ) -> Notice:
        """Publishes a complete Art. 13/14 notice for the purposes (by default 30 days ago)."""
        required = ART13_REQUIRED if article == "13" else ART14_REQUIRED
        left_out = set(without)
        content = {item: f"Texte pour {item}." for item in required if item not in left_out}
        notice = Notice.draft(language=language, article=article, purpose_ids=purpose_ids, content=content)
        notice.publish(at=at or now() - timedelta(days=30), purposes=self.purposes)
        self.notices[notice.notice_id] = notice
        await self.consent_publish(notice)
        return notice

    async def deliver(
        self, notice: Notice, contact_id: str, *, channel: str = "email", at: datetime | None = None
    ) -> NoticeDelivery:
        """Records that the notice was delivered to the contact and publishes notice_delivered."""
        delivery = NoticeDelivery.deliver(
            notice=notice,
            contact_id=contact_id,
            channel=channel,
            at=at or now(),
            evidence={"message_id": f"<{uuid.uuid4().hex}@acme.example>"},
        )
        await self.consent_publish(delivery)
        return delivery

    async def consent(
        self,
        contact_id: str,
        purpose_id: str,
        *,
        channel: Channel | str = Channel.EMAIL,
        notice: Notice | None = None,
        act: ConsentAct | str | None = ConsentAct.TICKED_BOX,
        positive_act: bool | None = None,
        withdrawal_statement: str | None = None,
        wording: str = WORDING,
        explicit: bool = False,
        given_by: tuple[GivenBy | str, ...] = (GivenBy.DATA_SUBJECT,),
        collection_method: CollectionMethod | str = CollectionMethod.WEB_FORM,
        double_opt_in: bool | None = None,
        confirm: bool = True,
        at: datetime | None = None,
        out_of_hours_calls: bool = False,
    ) -> Consent:
        """Records a consent as consent's grant handler does, and (double opt-in) its confirmation.

        The terms are derived from what the collector entered (`act`, `withdrawal_statement`) and from
        the notice cited, as POST /v1/consents derives them; an e-mail consent is confirmed one minute
        later unless `confirm` is false.
        """
        at = at or now()
        entered = TermsEntered(
            act=ConsentAct(act) if act is not None else None,
            positive_act=positive_act,
            withdrawal_statement=withdrawal_statement,
            explicit=explicit,
            given_by=tuple(GivenBy(g) for g in given_by),
        )
        terms = ConsentTerms.derive(
            entered,
            wording=wording,
            notice_states_withdrawal=(
                notice is not None and notice.tells_consent_can_be_withdrawn(purpose_id)
            ),
        )
        consent = Consent.grant(
            contact_id=contact_id,
            purpose_id=purpose_id,
            purpose=self.purposes.get(purpose_id),
            channel=Channel(channel),
            at=at,
            collection_method=CollectionMethod(collection_method),
            wording=wording,
            proof=ConsentProof(
                captured_at=at,
                source="https://acme.example/form#v3",
                ip="203.0.113.0",
                user_agent="Mozilla/5.0",
            ),
            notice_id=notice.notice_id if notice else None,
            notice_version=notice.version if notice else None,
            double_opt_in=double_opt_in,
            terms=terms,
            out_of_hours_calls=out_of_hours_calls,
        )
        if consent.double_opt_in and confirm:
            consent.confirm(at + timedelta(minutes=1))
        await self.consent_publish(consent)
        return consent

    async def withdraw(self, consent: Consent, *, at: datetime | None = None) -> EventEnvelope:
        """Withdraws the consent as consent does and publishes consent_withdrawn."""
        consent.withdraw(at or now(), source="unsubscribe_link")
        (envelope,) = await self.consent_publish(consent)
        return envelope

    async def objection(
        self,
        *,
        contact_id: str | None = None,
        scope: str = "all_direct_marketing",
        email: str | None = None,
        phone: str | None = None,
        blind_indexes: Iterable[str] = (),
        at: datetime | None = None,
    ) -> Objection:
        """Records an objection as consent's handler does (indexes of the e-mail and phone); publishes it.

        Consent also adds the blind indexes it knows of `contact_id` from contacts' events; a test that
        needs them passes them in `blind_indexes`.
        """
        indexes = list(blind_indexes)
        if email:
            indexes.append(self.indexer.email(email))
        if phone:
            indexes.append(self.indexer.phone(phone))
        objection = Objection.record(
            contact_id=contact_id, scope=scope, at=at or now(), blind_indexes=indexes
        )
        await self.consent_publish(objection)
        return objection

    async def processor(
        self,
        *,
        processor_id: str | None = None,
        legal_name: str = "Routeur SAS",
        role: ProcessorRole | str = ProcessorRole.PROCESSOR,
        missing_clauses: Iterable[str] = (),
        signed_at: datetime | None = None,
        expires_at: datetime | None = None,
        purpose_ids: Iterable[str] = (),
        locations: Iterable[str] = ("FR",),
        at: datetime | None = None,
    ) -> Processor:
        """Registers a vendor whose contract sets out every Art. 28(3) item but `missing_clauses`."""
        lacking = set(missing_clauses)
        contract = ProcessorContract(
            reference="DPA-1",
            signed_at=signed_at or now() - timedelta(days=30),
            expires_at=expires_at,
            clauses={key: key not in lacking for key in ART28_3_CHECKLIST},
        )
        processor = Processor.register(
            legal_name=legal_name,
            role=ProcessorRole(role),
            at=at or now(),
            processor_id=processor_id,
            purpose_ids=purpose_ids,
            contract=contract,
            locations=[Location(country=c) for c in locations],
        )
        await self.consent_publish(processor)
        return processor

    async def update_processor(
        self, processor: Processor, *, at: datetime | None = None, **changes: Any
    ) -> Processor:
        """Applies a PATCH to a vendor (`contract_expires_at` replaces its contract's end); publishes it."""
        if "contract_expires_at" in changes:
            assert processor.contract is not None
            changes["contract"] = replace(processor.contract, expires_at=changes.pop("contract_expires_at"))
        processor.update(at=at or now(), **changes)
        await self.consent_publish(processor)
        return processor

    async def party(
        self,
        legal_name: str,
        *,
        roles: Iterable[str],
        broker_last_verified_at: datetime | None = None,
        at: datetime | None = None,
    ) -> consent_parties.Party:
        """Registers a party (a data broker, a consultant…) and publishes party_registered."""
        party = consent_parties.Party.register(
            legal_name=legal_name,
            roles=roles,
            at=at or now(),
            broker_last_verified_at=broker_last_verified_at,
        )
        await self.consent_publish(party)
        return party

    async def sign_contract(
        self,
        party: consent_parties.Party,
        *,
        signed_at: datetime | None = None,
        expires_at: datetime | None = None,
        missing: Iterable[str] = (),
        breach_notification_hours: int | None = None,
        version: int = 1,
        at: datetime | None = None,
    ) -> consent_parties.Contract:
        """Signs a contract with every clause the party's roles require but `missing`; publishes it."""
        lacking = set(missing)
        clauses = [c for c in consent_parties.required_clauses(party.roles) if c not in lacking]
        contract = consent_parties.Contract.sign(
            party=party,
            version=version,
            reference=f"K-{uuid.uuid4().hex[:6]}",
            signed_at=signed_at or now() - timedelta(days=60),
            expires_at=expires_at,
            clauses=clauses,
            breach_notification_hours=breach_notification_hours,
            at=at or now(),
        )
        await self.consent_publish(contract)
        return contract

    # --- campaign gate: what a check publishes for each recipient.

    async def gate_receipt_chunk(
        self,
        contact_ids: Sequence[str],
        *,
        campaign_id: str | None = None,
        decision: Decision | str = Decision.ALLOW,
        at: datetime | None = None,
        actor: str = "campaign-gate/api",
    ) -> EventEnvelope:
        """Publishes the gate's commitment of one chunk of a check's receipts (receipt_chunk_committed),
        its root computed over the receipts' canonical bytes as a check does; keyed by the campaign id."""
        when = at or now()
        check_id, campaign = str(uuid.uuid4()), campaign_id or str(uuid.uuid4())
        leaves = [
            gate_receipts.receipt_bytes(
                check_id=check_id,
                campaign_id=campaign,
                campaign_version=1,
                ruleset_version=RULESET_VERSION,
                at=gate_receipts.timestamp(when),
                contact_id=contact_id,
                decision=Decision(decision).value,
                reasons=(),
                evidence=(),
            )
            for contact_id in contact_ids
        ]
        chunk = gate_events.ReceiptChunkCommitted(
            check_id=check_id,
            campaign_id=campaign,
            campaign_version=1,
            ruleset_version=RULESET_VERSION,
            chunk=0,
            first_index=0,
            count=len(leaves),
            root=gate_receipts.chunk_root(leaves).hex(),
            at=when,
        )
        items = [gate_outgoing.to_envelope(chunk, actor=actor, correlation_id=None)]
        await self._outboxes["campaign-gate"].publish(items)
        self.published += [envelope for _topic, envelope in items]
        return items[0][1]

    # --- erasure confirmations: what consent and the gate publish when contacts' contact_erased reaches them.

    async def consent_data_erased(
        self,
        contact_id: str,
        *,
        consents: Iterable[Consent] = (),
        blind_indexes: Iterable[str] = (),
        at: datetime | None = None,
        actor: str = "contacts/data-subject-requests",
    ) -> EventEnvelope:
        """Publishes consent's confirmation of a contact's erasure, made by consent's erasure plan as its
        consumer of contact_erased makes it (the actor is the erasure's)."""
        plan = erase_subject(
            contact_id=contact_id,
            consents=consents,
            deliveries=(),
            objections=(),
            at=at or now(),
            blind_indexes=blind_indexes,
        )
        items = [consent_outgoing.to_envelope(plan.event, actor=actor, correlation_id=None)]
        await self._outboxes["consent"].publish(items)
        self.published += [envelope for _topic, envelope in items]
        return items[0][1]

    async def gate_contact_forgotten(
        self,
        contact_id: str,
        *,
        receipts_kept: int = 0,
        at: datetime | None = None,
        actor: str = "contacts/data-subject-requests",
    ) -> EventEnvelope:
        """Publishes the gate's confirmation of a contact's erasure (contact_forgotten), as its projection of
        contact_erased does."""
        forgotten = gate_events.ContactForgotten(contact_id, receipts_kept, at or now())
        items = [gate_outgoing.to_envelope(forgotten, actor=actor, correlation_id=None)]
        await self._outboxes["campaign-gate"].publish(items)
        self.published += [envelope for _topic, envelope in items]
        return items[0][1]

"""The columnar read of the projection (`adapters.columns`, what checks read on PostgreSQL), with its
queries or with the API's in-memory view of contacts, consents and deliveries (`adapters.contact_view`),
gives the same columns as the projection's facts resolved one by one (`ProjectionRepository.recipients`,
then `rules.resolve`: the path every other database takes and the property test's oracle starts from).

A real PostgreSQL projection is filled with randomised rows of every table the read joins (contacts with
every kind, relationship, purchase, contract, call history and collection record; several consents per
contact, withdrawn, requested; own objections and other records' objections found by blind index, by
channel; opposition, Bloctel and Robinson lists, for one channel or all; Art. 13 and 14 notices for the
purpose or another one; earlier allowed receipts; verified and unverified data brokers) and both reads
are compared column by column for campaigns on every channel, with unknown ids among the known ones.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from campaign_gate.adapters import orm
from campaign_gate.adapters.contact_view import ContactColumnsView
from campaign_gate.domain.bulk import COLUMN_NAMES, RecipientColumns
from campaign_gate.domain.facts import Channel
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork, GateUnitOfWork
from shared.db import make_engine
from shared.testing.harness import migrated_database
from sqlalchemy.ext.asyncio import async_sessionmaker


def _examples() -> Any:
    """The unit tests' example campaign builder (a module of the unit test folder)."""
    if "campaign_gate_examples" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "unit" / "campaign_gate_examples.py"
        spec = importlib.util.spec_from_file_location("campaign_gate_examples", path)
        assert spec is not None and spec.loader is not None
        sys.modules["campaign_gate_examples"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["campaign_gate_examples"])
    return sys.modules["campaign_gate_examples"]


PURPOSE, SELLER, campaign = _examples().PURPOSE, _examples().SELLER, _examples().campaign

pytestmark = pytest.mark.integration

CONTACTS = 600
NOW = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
CHANNEL_NAMES = [ch.value for ch in Channel]


def _at(rng: random.Random, days: int = 2000) -> datetime:
    return NOW - timedelta(days=rng.randrange(days), seconds=rng.randrange(86400))


def _rows(rng: random.Random) -> dict[sa.Table, list[dict[str, Any]]]:
    rows: dict[sa.Table, list[dict[str, Any]]] = {t: [] for t in orm.metadata.sorted_tables}
    rows[orm.gate_purposes] = [
        {
            "purpose_id": PURPOSE,
            "version": 1,
            "name": "p",
            "lawful_basis": "legitimate_interest",
            "retired": False,
            "art14_exemption_claimed": True,
        }
    ]
    rows[orm.gate_notices] = [
        {"notice_id": "n13", "version": 1, "article": "13", "purpose_ids": [PURPOSE]},
        {"notice_id": "n14", "version": 1, "article": "14", "purpose_ids": [PURPOSE, "other"]},
        {"notice_id": "nx", "version": 1, "article": "13", "purpose_ids": ["other"]},
    ]
    rows[orm.gate_parties] = [
        {
            "party_id": "b1",
            "legal_name": "DataCo",
            "roles": ["data_broker"],
            "status": "active",
            "broker_last_verified_at": NOW - timedelta(days=30),
            "contract_signed_at": NOW - timedelta(days=400),
            "contract_expires_at": None,
        },
        {
            "party_id": "b2",
            "legal_name": "ListCo",
            "roles": ["data_broker"],
            "status": "active",
            "broker_last_verified_at": NOW - timedelta(days=900),
            "contract_signed_at": NOW - timedelta(days=1000),
            "contract_expires_at": None,
        },
    ]
    for kind, name in (("opposition", "repoussoir"), ("bloctel", "bloctel"), ("robinson", "robinson")):
        for channel in (None, "email", "phone_human"):
            list_name = f"{name}-{channel or 'all'}"
            rows[orm.suppression_lists].append(
                {"name": list_name, "kind": kind, "channel": channel, "created_at": NOW - timedelta(days=500)}
            )
            for k in range(2):
                rows[orm.suppression_imports].append(
                    {
                        "import_id": f"{list_name}-{k}",
                        "list_name": list_name,
                        "imported_at": NOW - timedelta(days=10 + 40 * k),
                        "entries": 0,
                        "actor": "t",
                    }
                )
    imports = [r["import_id"] for r in rows[orm.suppression_imports]]
    for i in range(CONTACTS):
        cid = f"c-{i}"
        email, phone = (
            (f"e{i % 450}" if rng.random() < 0.9 else None),
            (f"p{i}" if rng.random() < 0.6 else None),
        )
        obtained = _at(rng)
        relationship = rng.choice(("prospect", "account_only", "customer_sale_done", "contract_in_progress"))
        from_person = rng.random() < 0.7
        rows[orm.gate_contacts].append(
            {
                "contact_id": cid,
                "kind": rng.choice(("consumer", "consumer", "professional_named", "legal_person_generic")),
                "relationship": relationship,
                "status": rng.choice(("active", "active", "retention_flagged")),
                "collected_from_person": from_person,
                "source": rng.choice(("sale", "web_form", None))
                if from_person
                else rng.choice(("broker", None)),
                "broker_name": None if from_person else rng.choice(("DataCo", "ListCo", "Unknown", None)),
                "obtained_at": obtained,
                "last_contact_from_person_at": _at(rng) if rng.random() < 0.4 else None,
                "relationship_end_at": _at(rng) if rng.random() < 0.3 else None,
                "retention_rule": rng.choice((None, "RET-01", "RET-02")),
                "majority_on": date(2000 + rng.randrange(15), 1 + rng.randrange(12), 1)
                if rng.random() < 0.4
                else None,
                "digital_consent_age_on": date(2005 + rng.randrange(15), 3, 2)
                if rng.random() < 0.3
                else None,
                "timezone": rng.choice(("Europe/Paris", "Indian/Reunion", None)),
                "profession": rng.choice((None, "acheteur", "chef")),
                "channel_mask": rng.randrange(64),
                "email_index": email,
                "phone_index": phone,
                "purchases": [
                    {
                        "seller": rng.choice((SELLER, "Other")),
                        "categories": rng.sample(["shoes", "bags", "garden"], 1),
                    }
                    for _ in range(rng.choice((0, 0, 1, 2)))
                ],
                "contracts": [
                    {
                        "seller": rng.choice((SELLER, "Other")),
                        "categories": rng.sample(["shoes", "insurance"], 1),
                        "ended": rng.random() < 0.3,
                    }
                    for _ in range(rng.choice((0, 1, 2)))
                ],
                "call_attempts": [_at(rng, 40).isoformat() for _ in range(rng.choice((0, 3, 4, 5)))],
                "last_call_refusal_at": _at(rng, 80) if rng.random() < 0.2 else None,
                "phone_collection": rng.choice(
                    (
                        None,
                        {
                            "told_calls_need_consent": rng.random() < 0.7,
                            "during_contract": rng.random() < 0.5,
                            "contract_states_calls_need_consent": rng.random() < 0.5,
                        },
                    )
                ),
                "stop_pub": rng.random() < 0.2,
                **(
                    {"restricted": True, "restriction_request_id": rng.choice((f"req-{i}", None))}
                    if rng.random() < 0.05
                    else {"restricted": False, "restriction_request_id": None}
                ),
                "version": 1,
                "updated_at": NOW,
            }
        )
        for k in range(rng.choice((0, 1, 1, 2, 3))):
            status = rng.choice(("granted", "granted", "requested", "withdrawn"))
            granted = _at(rng) if status != "requested" else None
            rows[orm.gate_consents].append(
                {
                    "consent_id": f"k-{i}-{k}",
                    "contact_id": cid,
                    "purpose_id": PURPOSE if rng.random() < 0.85 else "other",
                    "channel": rng.choice(CHANNEL_NAMES),
                    "status": status,
                    "granted_at": granted,
                    "withdrawn_at": _at(rng) if status == "withdrawn" or rng.random() < 0.05 else None,
                    "requested_at": _at(rng),
                    "proof_present": rng.random() < 0.8,
                    "positive_act": rng.random() < 0.8,
                    "withdrawal_info_given": rng.random() < 0.8,
                    "explicit": rng.random() < 0.3,
                    "given_by": rng.choice(
                        ([], ["data_subject"], ["data_subject", "parental_authority_holder"])
                    ),
                    "out_of_hours_calls": rng.random() < 0.3,
                    # Issue 19: partners named as entered (case and spaces vary), categories, tracking;
                    # NULL as on rows projected before 0009.
                    "partners": rng.choice(
                        (None, [], ["Assur Plus SA"], [" assur plus  sa", "Voyages Soleil"], ["Autre"])
                    ),
                    "partner_categories": rng.choice((None, [], ["insurance"], ["travel", "insurance"])),
                    "email_tracking": rng.random() < 0.3,
                    "updated_at": NOW,
                }
            )
        if rng.random() < 0.1:
            oid = f"o-{i}"
            # Every scope as the gate stores it, and a channel's name as scope (rows from before 0008).
            scope, channel, purpose_id = rng.choice(
                (
                    ("all_direct_marketing", None, None),
                    ("email", None, None),
                    ("channel", "sms_mms", None),
                    ("channel", "email", None),
                    ("purpose", None, PURPOSE),
                    ("purpose", None, "other"),
                )
            )
            rows[orm.gate_objections].append(
                {
                    "objection_id": oid,
                    "contact_id": cid,
                    "scope": scope,
                    "channel": channel,
                    "purpose_id": purpose_id,
                    "at": _at(rng),
                }
            )
            for index in (email, phone):
                if index and rng.random() < 0.7:
                    rows[orm.gate_objection_indexes].append({"objection_id": oid, "blind_index": index})
        for index in (email, phone):
            if index and rng.random() < 0.15:
                import_id = rng.choice(imports)
                list_name = import_id.rsplit("-", 1)[0]
                entry = {"list_name": list_name, "blind_index": index, "import_id": import_id}
                if entry not in rows[orm.suppression_entries] and not any(
                    e["list_name"] == list_name and e["blind_index"] == index
                    for e in rows[orm.suppression_entries]
                ):
                    rows[orm.suppression_entries].append(entry)
        for notice in ("n13", "n14", "nx"):
            if rng.random() < 0.4:
                rows[orm.gate_notice_deliveries].append(
                    {
                        "delivery_id": f"d-{i}-{notice}",
                        "contact_id": cid,
                        "notice_id": notice,
                        "notice_version": 1,
                        "channel": "email",
                        "delivered_at": _at(rng),
                    }
                )
        if rng.random() < 0.2:
            rows[orm.checks].append(
                {
                    "id": f"chk-{i}",
                    "campaign_id": "x",
                    "campaign_version": 1,
                    "actor": "t",
                    "checked_at": NOW,
                    "ruleset_version": "r",
                    "stale": False,
                    "recipients": 1,
                    "summary": {},
                }
            )
            rows[orm.check_receipts].append(
                {
                    "check_id": f"chk-{i}",
                    "contact_id": cid,
                    "decision": rng.choice(("allow", "block")),
                    "reasons": [],
                    "evidence": [],
                }
            )
    # An objection recorded without a contact (an erasure's), found by its hash only.
    rows[orm.gate_objections].append(
        {
            "objection_id": "o-erased",
            "contact_id": None,
            "scope": "all_direct_marketing",
            "channel": None,
            "purpose_id": None,
            "at": _at(rng),
        }
    )
    rows[orm.gate_objection_indexes].append({"objection_id": "o-erased", "blind_index": "e7"})
    return rows


def _same(name: str, fast: np.ndarray, facts: np.ndarray) -> bool:
    if fast.dtype.kind == "M":
        return bool(np.array_equal(fast.view("i8"), facts.view("i8")))
    if fast.dtype == object:
        return fast.tolist() == facts.tolist()
    return bool(np.array_equal(fast, facts))


def _differences(fast: RecipientColumns, facts: RecipientColumns) -> list[str]:
    """Returns the names of the columns that differ (zones are codes into each column set's own table,
    whose order follows the rows read: compared by name)."""
    different = [
        n for n in COLUMN_NAMES if n != "timezone" and not _same(n, getattr(fast, n), getattr(facts, n))
    ]
    if [fast.timezones[z] for z in fast.timezone.tolist()] != [
        facts.timezones[z] for z in facts.timezone.tolist()
    ]:
        different.append("timezone")
    return different


async def test_the_columnar_read_equals_the_facts_read_then_resolve(postgres_admin_url: str) -> None:
    url = await migrated_database(postgres_admin_url, "campaign-gate")
    engine = make_engine(url)
    try:
        rng = random.Random(1407)
        async with engine.begin() as conn:
            for table, values in _rows(rng).items():
                if values:
                    await conn.execute(sa.insert(table), values)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        # The API's path: the contacts' columns from the in-memory view (loaded at its first refresh).
        view = ContactColumnsView(engine)
        ids = [f"c-{i}" for i in rng.sample(range(CONTACTS), CONTACTS)]
        ids[5:5] = ["never-seen", "c-3", f"unknown-{uuid.uuid4().hex[:6]}"]
        compared = 0
        for channel in Channel:
            for product, sender in (("shoes", SELLER), ("garden", "Other")):
                c = campaign(
                    channel,
                    product_category=product,
                    sender_entity=sender,
                    analogy_unclear_categories=frozenset({"bags"}),
                    complementary_categories=frozenset({"insurance"}),
                    # Issue 19: a rental to partners (RENT-01 reads the consent's partners) for one product.
                    study=_examples().renting() if product == "shoes" else _examples().STUDY,
                )
                uow = GateUnitOfWork(session_factory=sessions)
                async with uow:
                    fast: RecipientColumns = await uow.recipient_columns(ids, campaign=c, today=NOW.date())
                    facts: RecipientColumns = await AbstractGateUnitOfWork.recipient_columns(
                        uow, ids, campaign=c, today=NOW.date()
                    )
                viewed = GateUnitOfWork(session_factory=sessions, contact_view=view)
                async with viewed:
                    served: RecipientColumns = await viewed.recipient_columns(
                        ids, campaign=c, today=NOW.date()
                    )
                assert view.loaded and len(view) == CONTACTS
                assert len(fast) == len(facts) == len(served) == CONTACTS + 2
                assert _differences(served, facts) == [], (channel, product, "view")
                assert _differences(fast, facts) == [], (channel, product, "query")
                compared += len(fast)
        assert compared == len(Channel) * 2 * (CONTACTS + 2)
    finally:
        await engine.dispose()

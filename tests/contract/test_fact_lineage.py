"""The fact lineage holds: every fact the gate's rules read has a producer, as `docs/facts.md` says.

(a) the committed document is current; (b) no fact a rule reads is left without a producer, and the
gate's own code builds each one from a projected value, not a constant or a default; (c) every API
field a row names is in the producer's real OpenAPI schema, every event key in the producer's real
event (made by its own code, from its API), every column in the gate's tables; (d) every field of
`RecipientFacts` and `CampaignFacts` has a row and no row names a field that is gone.
"""

from __future__ import annotations

import ast
import inspect
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from campaign_gate.adapters import orm as gate_orm
from campaign_gate.adapters import projection
from campaign_gate.domain import lineage
from campaign_gate.domain import model as campaigns
from campaign_gate.main import create_app as gate_app
from campaign_gate.settings import CampaignGateSettings
from consent.entrypoints import consumer as consent_consumer

from infra import facts
from tests.lineage.world import ADMIN, BLIND_KEY, NO_KAFKA, World

READERS = facts.readers()
ROWS = {row.fact: row for row in lineage.LINEAGE}


def _read_by_rules(fact: str) -> set[str]:
    return facts.rule_ids_of(fact, READERS).conditions


# --- (a) -----------------------------------------------------------------------------------------


def test_the_committed_facts_document_is_current() -> None:
    assert facts.TARGET.read_text() == facts.render(), (
        "run `make facts` (python -m infra.facts) and commit it"
    )


# --- (d) -----------------------------------------------------------------------------------------


def test_every_fact_field_has_a_lineage_row() -> None:
    fields = facts.fact_fields()
    split = {r.fact.rsplit(".", 1)[0] for r in lineage.LINEAGE if r.fact.count(".") == 2}

    def covered(f: str) -> bool:
        if f in ROWS:
            return True
        if f.count(".") == 1:  # A field whose record is described field by field.
            return f in split
        # A nested field: its own row when its record has rows per field, else its record's row.
        parent = f.rsplit(".", 1)[0]
        return parent not in split and parent in ROWS

    missing = [f for f in fields if not covered(f)]
    assert not missing, f"facts without a lineage row: {missing}"


def test_no_lineage_row_names_a_field_that_is_gone() -> None:
    fields = set(facts.fact_fields())
    assert not [r.fact for r in lineage.LINEAGE if r.fact not in fields]


def test_the_derivation_sees_the_rules_read_the_facts() -> None:
    """Guards the derivation itself: a few readings any reader of rules.py can check by eye."""
    assert "TEL-03" in _read_by_rules("RecipientFacts.timezone")
    assert "INFO-04" in _read_by_rules("RecipientFacts.consents.withdrawal_info_given")
    assert {"ELEC-07", "ELEC-08"} <= _read_by_rules("CampaignFacts.professional_target")
    assert "TEL-04" in _read_by_rules("RecipientFacts.call_attempts_at")
    assert "UNI-09" in _read_by_rules("RecipientFacts.digital_consent_age_on")
    assert "MSG-03" in _read_by_rules("CampaignFacts.message.subject")


# --- (b) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fact", sorted(f for f in ROWS if _read_by_rules(f)))
def test_a_fact_the_rules_read_has_a_producer(fact: str) -> None:
    row = ROWS[fact]
    assert row.entered, f"{fact}: no API field where anyone enters it"
    assert row.carried or row.gate_owned, f"{fact}: no event carries it and the gate does not hold it"
    assert row.columns, f"{fact}: no column keeps it"


def _constructed(module: Any, function: str | None, class_name: str) -> dict[str, ast.expr]:
    """Returns the keywords of the `class_name(...)` call in a module (or one of its functions)."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    scope = (
        next(
            (
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function
            ),
            tree,
        )
        if function
        else tree
    )
    calls = [
        n
        for n in ast.walk(scope)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == class_name
    ]
    assert calls, f"no {class_name}(...) in {module.__name__}"
    # The call with the most keywords is the one that builds the facts (others build placeholders);
    # a `dataclasses.replace(record, field=…)` in the same module sets a field too.
    built = {kw.arg: kw.value for kw in max(calls, key=lambda c: len(c.keywords)).keywords if kw.arg}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("replace", "dataclasses.replace"):
            # A replace is conditional on what was projected: the value it sets is not the only one.
            built.update(
                {kw.arg: ast.Name(id="conditional") for kw in node.keywords if kw.arg and kw.arg not in built}
            )
    return built


_BUILT_BY = [
    ("RecipientFacts", projection, "_chunk", "RecipientFacts"),
    ("RecipientFacts.consents", projection, None, "ConsentRecord"),
    ("RecipientFacts.objections", projection, "_objection", "Objection"),
    ("RecipientFacts.suppression_hits", projection, "_chunk", "SuppressionHit"),
    ("CampaignFacts", campaigns, "campaign_facts", "CampaignFacts"),
    ("CampaignFacts.processor", campaigns, "_processor", "ProcessorFacts"),
    ("CampaignFacts.register", campaigns, "_register_entry", "RegisterEntryFacts"),
    ("CampaignFacts.parties", campaigns, "_party", "CampaignParty"),
]


@pytest.mark.parametrize(
    ("prefix", "module", "function", "class_name"), _BUILT_BY, ids=[b[0] for b in _BUILT_BY]
)
def test_the_gate_builds_each_fact_the_rules_read_from_a_producer_s_value(
    prefix: str, module: Any, function: str | None, class_name: str
) -> None:
    """A fact the rules read may not be left to its default nor set to a constant by the gate."""
    keywords = _constructed(module, function, class_name)
    depth = prefix.count(".") + 1
    read = sorted(
        {
            f.split(".")[depth]
            for f in facts.fact_fields()
            if f.startswith(prefix + ".") and f.count(".") == depth and _read_by_rules(f)
        }
    )
    defaulted = [name for name in read if name not in keywords]
    constant = [name for name in read if name in keywords and isinstance(keywords[name], ast.Constant)]
    assert not defaulted, f"{class_name}: fields the rules read left to their default: {defaulted}"
    assert not constant, f"{class_name}: fields the rules read set to a constant: {constant}"


# --- (c) API fields -------------------------------------------------------------------------------


def _openapi() -> dict[str, dict[str, Any]]:
    from consent.main import create_app as consent_app
    from consent.settings import ConsentSettings
    from contacts.main import create_app as contacts_app
    from contacts.settings import ContactsSettings

    db = "sqlite+aiosqlite:///:memory:"
    return {
        lineage.CONTACTS: contacts_app(ContactsSettings(database_url=db, **NO_KAFKA)).openapi(),
        lineage.CONSENT: consent_app(ConsentSettings(database_url=db, **NO_KAFKA)).openapi(),
        lineage.GATE: gate_app(
            CampaignGateSettings(database_url=db, VIGIE_BLIND_INDEX_KEY=BLIND_KEY, **NO_KAFKA)
        ).openapi(),
    }


OPENAPI = _openapi()


def _schema_at(document: dict[str, Any], schema: dict[str, Any], path: list[str]) -> bool:
    """Says whether a dotted field path (with `[]` for list items) exists in a JSON schema."""

    def deref(s: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in s:
            return deref(document["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]])
        options = s.get("anyOf") or s.get("oneOf") or s.get("allOf")
        return [x for o in options for x in deref(o)] if options else [s]

    if not path:
        return True
    head, rest = path[0], path[1:]
    for option in deref(schema):
        if head.endswith("[]"):
            name = head[:-2]
            if name in option.get("properties", {}):
                items = [o.get("items", {}) for o in deref(option["properties"][name])]
                if any(_schema_at(document, item, rest) for item in items):
                    return True
        elif head in option.get("properties", {}) and _schema_at(document, option["properties"][head], rest):
            return True
    return False


API_FIELDS = sorted({f for row in lineage.LINEAGE for f in row.entered}, key=str)


@pytest.mark.parametrize("api", API_FIELDS, ids=[f"{f.service}:{f}" for f in API_FIELDS])
def test_each_declared_api_field_is_in_the_producer_s_openapi(api: lineage.ApiField) -> None:
    document = OPENAPI[api.service]
    operation = document["paths"].get(api.path, {}).get(api.method.lower())
    assert operation is not None, f"{api.service} has no operation {api.method} {api.path}"
    if not api.field:
        return
    content = operation.get("requestBody", {}).get("content", {})
    schemas = [c["schema"] for c in content.values() if "schema" in c]
    assert any(_schema_at(document, s, api.field.split(".")) for s in schemas), (
        f"{api.service} {api.method} {api.path} has no request field `{api.field}`"
    )


# --- (c) columns ----------------------------------------------------------------------------------

COLUMNS = sorted({c for row in lineage.LINEAGE for c in row.columns})


@pytest.mark.parametrize("column", COLUMNS)
def test_each_declared_column_is_in_the_gate_s_tables(column: str) -> None:
    table, name = column.split(".")[:2]
    assert table in gate_orm.metadata.tables, f"the gate has no table {table}"
    assert name in gate_orm.metadata.tables[table].c, f"the gate's {table} has no column {name}"


# --- (c) event keys, made by the producers' own code ----------------------------------------------


def _has_key(value: Any, path: list[str]) -> bool:
    if not path:
        return True
    head, rest = path[0], path[1:]
    if head.endswith("[]"):
        items = value.get(head[:-2]) if isinstance(value, dict) else None
        return isinstance(items, list) and any(_has_key(item, rest) for item in items)
    return isinstance(value, dict) and head in value and _has_key(value[head], rest)


async def _every_event_the_gate_reads(world: World) -> None:
    """Drives contacts' and consent's APIs (and consent's consumer of contacts' bytes) so that each
    event type a lineage row names is produced, with its lists and objects filled."""
    t1 = "2026-09-01T09:00:00+00:00"
    now = datetime.now(UTC)
    contact_id = await world.contact(
        phone="+33612345678",
        birth_date="2001-05-05",
        profession="pharmacien",
        timezone="Europe/Paris",
        stop_pub=True,
        relationship="customer_sale_done",
        source="sale",
        phone_collection={
            "told_calls_need_consent": True,
            "during_contract": False,
            "contract_states_calls_need_consent": False,
        },
        purchases=[{"seller": "Acme SAS", "categories": ["chaussures"], "last_at": t1}],
    )
    await world.interaction(
        contact_id, "contract_start", t1, seller="Acme SAS", product_categories=["assurance"]
    )
    await world.interaction(
        contact_id, "contract_end", t1, seller="Acme SAS", product_categories=["assurance"]
    )
    await world.patch_contact(contact_id, profession="dentiste")
    await world.interaction(contact_id, "call_attempt", t1, outcome="refused")
    old = await world.contact(obtained_at=(now - timedelta(days=3 * 365 + 3)).isoformat())
    await world.post("contacts", "/v1/retention:sweep", headers=ADMIN)

    purpose_id = await world.purpose(
        art14_exemption_claimed=True, art14_exemption_ground="Effort disproportionné"
    )
    await world.post(
        "consent",
        f"/v1/purposes/{purpose_id}",
        {"description": "Offres commerciales par e-mail"},
        method="PATCH",
        headers=ADMIN,
    )
    notice_id = await world.notice(purpose_id)
    await world.deliver(notice_id, contact_id)
    pending = await world.consent_to(
        contact_id,
        purpose_id,
        double_opt_in=True,
        partners=["Assur Plus SA"],
        partner_categories=["insurance"],
        email_tracking=True,
    )
    await world.post("consent", f"/v1/consents/{pending['consent_id']}/confirmation")
    await world.post("consent", f"/v1/consents/{pending['consent_id']}/withdrawal")
    await world.consent_to(contact_id, purpose_id, channel="phone_human", out_of_hours_calls=True)
    await world.post("consent", "/v1/objections", {"contact_id": contact_id, "scope": "sms_mms"})
    await world.post(
        "consent", "/v1/objections", {"contact_id": contact_id, "scope": "purpose", "purpose_id": purpose_id}
    )
    restriction = await world.post(
        "contacts",
        "/v1/requests",
        {"kind": "restriction", "contact_id": contact_id, "grounds": "legal_claims"},
    )
    await world.post(
        "contacts",
        f"/v1/requests/{restriction['id']}/restriction-lifting",
        {"reason": "claim settled", "informed_at": datetime.now(UTC).isoformat(), "informed_by": "letter"},
    )
    party = await world.post(
        "consent",
        "/v1/parties",
        {"legal_name": "Fichiers SA", "roles": ["data_broker"], "broker_last_verified_at": now.isoformat()},
        headers=ADMIN,
    )
    await world.post(
        "consent",
        f"/v1/parties/{party['party_id']}",
        {"broker_last_verified_at": (now - timedelta(days=1)).isoformat()},
        method="PATCH",
        headers=ADMIN,
    )
    await world.post(
        "consent",
        f"/v1/parties/{party['party_id']}/contracts",
        {"reference": "CTR-1", "signed_at": now.isoformat(), "clauses": []},
        headers=ADMIN,
    )
    processor = await world.post(
        "consent",
        "/v1/processors",
        {
            "legal_name": "Routeur SA",
            "role": "processor",
            "locations": [{"country": "US"}],
            "transfer_mechanism": "scc_2021_914_module_2",
            "contract": {"reference": "DPA-1", "signed_at": now.isoformat(), "clauses": {}},
        },
        headers=ADMIN,
    )
    await world.post(
        "consent",
        f"/v1/processors/{processor['processor_id']}",
        {"status": "suspended"},
        method="PATCH",
        headers=ADMIN,
    )
    await world.post("consent", f"/v1/purposes/{purpose_id}/retirement", headers=ADMIN)

    # consent's consumer of contacts' events, fed with contacts' own bytes (its objections' blind indexes).
    await world.flush()
    for topic, value in [(t, v) for t, v in world.records if t == "contacts.events"]:
        await consent_consumer.handle_contacts_event(
            SimpleNamespace(topic=topic, value=value, key=None, partition=0, offset=0, headers=[]),
            world.apps["consent"].state.service.uow,
        )
    await world.post("consent", "/v1/objections", {"email": "someone.else@example.org"})
    assert old


async def test_each_declared_event_key_is_in_the_producer_s_real_event(world: World) -> None:
    await _every_event_the_gate_reads(world)
    await world.flush()
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for envelope in world.envelopes:
        seen[envelope.type].append(envelope.data)
    declared = sorted({k for row in lineage.LINEAGE for k in row.carried}, key=str)
    missing_types = sorted({k.event_type for k in declared if k.event_type not in seen})
    missing_keys = [
        str(k)
        for k in declared
        if k.event_type in seen and not any(_has_key(data, k.key.split(".")) for data in seen[k.event_type])
    ]
    assert not missing_types, f"event types the producers never made: {missing_types}"
    assert not missing_keys, f"event keys absent from the producers' real events: {missing_keys}"

"""Event contracts: every published type is documented, decodes as a CloudEvent and carries no identifier."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

import jsonschema
import pytest
from shared.events import EventEnvelope

from infra import asyncapi

#: Field names that would put a direct identifier of a person into an event (SPEC §2).
IDENTIFIER_FIELDS = {
    "email",
    "phone",
    "given_name",
    "family_name",
    "name_of_person",
    "postal_address",
    "birth_date",
    "address",
    "first_name",
    "last_name",
    "ip",
    "ip_address",
}

PUBLISHED = [
    (package, event_class, event_type)
    for _service, (package, _topic) in asyncapi.PRODUCERS.items()
    for event_class, event_type in asyncapi._event_types(package).items()
]  # noqa: SLF001
DOCUMENT = asyncapi.build()


def test_the_committed_asyncapi_document_is_current() -> None:
    assert asyncapi.TARGET.read_text() == asyncapi.render(), (
        "run `python -m infra.asyncapi` and commit the result"
    )


def test_every_event_type_is_versioned_and_unique() -> None:
    types = [event_type for _p, _c, event_type in PUBLISHED]
    assert len(types) == len(set(types))
    assert all(t.startswith("vigie.") and t.rsplit(".", 1)[-1].startswith("v") for t in types)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize(
    ("package", "event_class", "event_type"), PUBLISHED, ids=[event_type for _p, _c, event_type in PUBLISHED]
)
def test_an_event_round_trips_matches_its_schema_and_names_no_identifier(
    package: str, event_class: type, event_type: str
) -> None:
    outgoing = importlib.import_module(f"{package}.adapters.outgoing")
    message = DOCUMENT["components"]["messages"][asyncapi._name(event_type)]  # noqa: SLF001
    schema_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    # The data schema travels with the document's components so that its `$ref`s resolve.
    schema = {**DOCUMENT["components"]["schemas"][schema_ref], "components": DOCUMENT["components"]}

    event = _build(event_class)
    topic, envelope = outgoing.to_envelope(event, actor="contract-test/tester", correlation_id="c-1")
    decoded = EventEnvelope.decode(envelope.encode())
    assert decoded == envelope and decoded.type == event_type
    assert topic in DOCUMENT["channels"]
    jsonschema.validate(decoded.data, schema)
    assert not (_keys(decoded.data) & IDENTIFIER_FIELDS), f"{event_type} names an identifier field"


_AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def _sample(hint: Any, name: str = "") -> Any:
    """Returns a plausible value for a type hint (ids look like ids, times are aware)."""
    if hint is Any:
        return {"k": "v"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _sample(next(arg for arg in args if arg is not type(None)), name)
    if origin is typing.Literal:
        return args[0]
    if origin is dict:
        return {"key": _sample(args[1], name) if args else "v"}
    if origin in (list, tuple, set, frozenset):
        item = _sample(args[0], name) if args else "x"
        return origin([item])
    if dataclasses.is_dataclass(hint):
        return _build(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    if hint is datetime:
        return _AT
    if hint is date:
        return _AT.date()
    if hint is bool:
        return True
    if hint in (int, float):
        return hint(1)
    if hint is bytes:
        return b"x"
    return f"{name or 'value'}-0123"


def _build(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls) if f.init})


def test_every_published_type_is_declared_once_under_its_producers_topic_in_shared_contracts() -> None:
    from shared import contracts

    for _service, (package, topic_constant) in asyncapi.PRODUCERS.items():
        topic = getattr(importlib.import_module(f"{package}.contracts"), topic_constant)
        declared = contracts.event_types(contracts.TOPICS[topic])
        published = set(asyncapi._event_types(package).values())  # noqa: SLF001
        assert published == declared, f"{package} publishes {sorted(published ^ declared)} not as declared"


def test_every_event_type_a_service_names_comes_from_shared_contracts() -> None:
    from shared import contracts

    declared = {t for topic in contracts.TOPICS.values() for t in contracts.event_types(topic)}
    for package in ("contacts", "consent", "campaign_gate", "audit_log"):
        module = importlib.import_module(f"{package}.contracts")
        named = {
            v
            for k, v in vars(module).items()
            if k.isupper() and isinstance(v, str) and v.startswith("vigie.")
        }
        assert named <= declared, f"{package}.contracts names types no producer declares: {named - declared}"

"""The CloudEvents 1.0 envelope every Vigie event travels in, with canonical JSON bytes."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, date, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.tracing import current_trace

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


def event_data(event: Any) -> dict[str, Any]:
    """Returns a domain event dataclass as JSON-ready data: times as ISO text, enums as values,
    tuples as lists.

    Shallow on purpose (no `dataclasses.asdict`, which deep-copies every value): bulk paths create
    hundreds of thousands of events.
    """
    return {f.name: _json_value(getattr(event, f.name)) for f in dataclasses.fields(event)}


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list | set | frozenset):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return event_data(value)
    return value


class EventDecodeError(ValueError):
    """Bytes that are not a valid Vigie CloudEvent."""


def _now() -> datetime:
    return datetime.now(UTC)


class EventEnvelope(BaseModel):
    """A CloudEvents 1.0 event plus Vigie's `actor` and `correlationid` extensions.

    `subject` is the contact id for facts about a person, else the aggregate's own id; it is also
    the Kafka record key, so that all facts about one person stay ordered in one partition.
    `data` never holds a direct identifier of a person (name, e-mail, phone, postal address).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    specversion: str = "1.0"
    time: datetime = Field(default_factory=_now)
    subject: str
    datacontenttype: str = "application/json"
    actor: str
    correlationid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def encode(self) -> bytes:
        """Returns the canonical JSON bytes: sorted keys, no spaces, UTC times with microseconds."""
        return orjson.dumps(self.model_dump(mode="python"), option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)

    @classmethod
    def decode(cls, raw: bytes) -> EventEnvelope:
        """Parses canonical or foreign JSON bytes into an envelope or raises EventDecodeError."""
        try:
            return cls.model_validate_json(raw)
        except (ValidationError, TypeError, ValueError) as exc:
            raise EventDecodeError(str(exc)) from exc

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Returns the structured-mode headers (content type plus routing attributes)."""
        headers = [
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
        ]
        if self.correlationid:
            headers.append(("correlationid", self.correlationid.encode()))
        if trace := current_trace.get():
            headers.append(("traceparent", trace.header().encode()))
        return headers

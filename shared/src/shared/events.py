"""The CloudEvents 1.0 envelope every Vigie event travels in, with canonical JSON bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.tracing import current_trace

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


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
        headers = [("content-type", CONTENT_TYPE.encode()), ("ce_id", self.id.encode()),
                   ("ce_type", self.type.encode())]
        if self.correlationid:
            headers.append(("correlationid", self.correlationid.encode()))
        if trace := current_trace.get():
            headers.append(("traceparent", trace.header().encode()))
        return headers

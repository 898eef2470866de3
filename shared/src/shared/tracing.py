"""W3C Trace Context (`traceparent`) carried from HTTP through Kafka headers to every consumer.

One trace id follows a request from the API through the outbox, the topic and each consumer; the
JSON logs print it, so one grep shows the whole path of an event. Spans are not exported: this is
the propagation half of OpenTelemetry, with the same header format, so an OpenTelemetry SDK can
take over without changing what travels on the wire.
"""

from __future__ import annotations

import contextvars
import os
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    """A trace id and the id of the current span."""

    trace_id: str
    span_id: str
    flags: str = "01"

    def header(self) -> str:
        """Returns the `traceparent` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """Returns a new span in the same trace."""
        return TraceContext(self.trace_id, os.urandom(8).hex(), self.flags)


current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "current_trace", default=None
)


def new_trace() -> TraceContext:
    """Starts a new trace."""
    return TraceContext(os.urandom(16).hex(), os.urandom(8).hex())


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    """Reads a `traceparent` header; None when absent or malformed."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _TRACEPARENT.match(text.strip().lower())
    if match is None or match.group(1) == "0" * 32:
        return None
    return TraceContext(match.group(1), match.group(2), match.group(3))


def continue_or_start(value: str | bytes | None) -> TraceContext:
    """Returns a child of the incoming trace, or a new trace."""
    parent = parse_traceparent(value)
    return parent.child() if parent else new_trace()

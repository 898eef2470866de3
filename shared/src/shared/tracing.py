"""W3C Trace Context (`traceparent`) carried from HTTP through Kafka headers to every consumer, and
OpenTelemetry spans over the same path when an exporter is configured.

One trace id follows a request from the API through the outbox, the topic and each consumer; the
JSON logs print it, so one grep shows the whole path of an event. This propagation always runs and
its wire format never changes: one `traceparent` header on each request, response and Kafka record.

Spans are off by default. `setup_tracing` (called by every service's bootstrap) reads the standard
environment: `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`; a comma list), else OTLP when
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, else nothing. With
an exporter it installs the OpenTelemetry SDK (service.name from the service, `OTEL_SERVICE_NAME`
overriding it), the FastAPI instrumentation on each app (`shared.web`), the SQLAlchemy one on each
engine passed, the httpx one, and the spans `shared.outbox` (relay) and `shared.kafka` (consumers)
open themselves; the trace ids of those spans are the ones propagated. Without one, nothing is
installed and the per-request cost is one module-level test.

What leaves the process is redacted (`RedactingExporter`): no query string of a URL, no exception
message or stack (its type only), no status description, because those may quote personal data.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

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


# ----- OpenTelemetry spans (off unless an exporter is configured) -----------------------------------

#: The values `OTEL_TRACES_EXPORTER` may list.
TRACES_EXPORTERS = ("otlp", "console", "none")
#: The OTLP protocol this build exports with (the HTTP exporter is the one installed).
OTLP_PROTOCOL = "http/protobuf"
#: Routes never traced: probes and scrapes would drown the requests.
UNTRACED_ROUTES = "/healthz,/readyz,/metrics"


class TracingConfigError(ValueError):
    """The tracing environment asks for something this build cannot do (named in the message)."""


def exporter_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Returns the span exporters the environment asks for, in order; () means tracing is off.

    `OTEL_SDK_DISABLED=true` turns it off; `OTEL_TRACES_EXPORTER` lists `otlp`, `console` or `none`;
    without it, OTLP is chosen when an OTLP endpoint is set, else nothing (the default is off, not
    the SDK's default of OTLP to localhost).
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ("otlp",) if endpoint else ()
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in TRACES_EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(unknown)}; use {', '.join(TRACES_EXPORTERS)}"
        )
    if "none" in names and len(names) > 1:
        raise TracingConfigError("OTEL_TRACES_EXPORTER: `none` cannot be combined with another exporter")
    return tuple(name for name in names if name != "none")


def otlp_traces_endpoint(environ: Mapping[str, str]) -> str:
    """Returns the OTLP/HTTP traces URL: the traces endpoint as given, else the base endpoint + /v1/traces."""
    if endpoint := environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return endpoint
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return base.rstrip("/") + "/v1/traces"


def _check_protocol(environ: Mapping[str, str]) -> None:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip().lower() != OTLP_PROTOCOL:
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only {OTLP_PROTOCOL} is installed "
            "(point it at the collector's HTTP port, 4318)"
        )


def build_exporters(names: Sequence[str], environ: Mapping[str, str]) -> list[SpanExporter]:
    """Returns the exporters named (see `exporter_names`), configured from the environment."""
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            _check_protocol(environ)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Headers, timeout, compression and certificates come from the standard variables.
            exporters.append(OTLPSpanExporter(endpoint=otlp_traces_endpoint(environ)))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter(out=sys.stdout))
    return exporters


#: Span attributes holding a URL or its query string, which may carry an e-mail address or a phone.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_DROPPED_ATTRIBUTES = ("url.query",)
_EXCEPTION_KEPT = ("exception.type", "exception.escaped")


def redact(span: ReadableSpan) -> ReadableSpan:
    """Returns the span without what may quote personal data: URL query strings, exception messages
    and stacks (the type stays), and the status description."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    attributes = dict(span.attributes or {})
    for key in _DROPPED_ATTRIBUTES:
        attributes.pop(key, None)
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            attributes[key] = value.split("?", 1)[0]
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k in _EXCEPTION_KEPT}
            if event.name == "exception"
            else event.attributes,
            event.timestamp,
        )
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _redacting(exporter: SpanExporter) -> SpanExporter:
    from opentelemetry.sdk.trace.export import SpanExporter

    class RedactingExporter(SpanExporter):
        """Hands the wrapped exporter redacted copies of the spans (see `redact`)."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([redact(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return RedactingExporter()


def _sampler() -> Any:
    """Returns the environment's sampler (`OTEL_TRACES_SAMPLER`), minus client spans that start a trace.

    Because the relay's idle polls, the metric probes and the watchers query the database every
    second or so outside any request: each would be a trace of one span. A client call made inside a
    request, a consumed record or a relay batch has a parent and is sampled as the environment says.
    """
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, _get_from_env_or_default

    delegate = _get_from_env_or_default()

    class WithoutOrphanClientSpans(Sampler):
        def should_sample(
            self,
            parent_context: otel_context.Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Link] | None = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            return delegate.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"WithoutOrphanClientSpans{{{delegate.get_description()}}}"

    return WithoutOrphanClientSpans()


@dataclass
class Tracing:
    """The process's span pipeline: one SDK provider, its tracer, and what was instrumented."""

    service_name: str
    provider: TracerProvider
    tracer: trace.Tracer
    exporters: tuple[str, ...]
    engines: list[Any] = field(default_factory=list)

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        """Exports every finished span now."""
        return self.provider.force_flush(timeout_millis)


_active: Tracing | None = None


def active_tracing() -> Tracing | None:
    """Returns the process's span pipeline, or None when tracing is off (the default)."""
    return _active


def setup_tracing(
    service_name: str,
    *,
    engines: Iterable[AsyncEngine] = (),
    environ: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
    install_global: bool = True,
) -> Tracing | None:
    """Starts spans for this process if the environment configures an exporter; returns None otherwise.

    Called once by each service's bootstrap with its name and engine; the console calls it with its
    own name and no engine. An app built by `shared.web.create_app` is instrumented there; another
    app calls `instrument_app` itself. The first call that finds an exporter installs the pipeline
    for the process; later calls (several services in one test process) reuse it and instrument
    their engines. `exporter` (tests) replaces the environment's choice and exports each span as it
    ends. Raises TracingConfigError on an exporter or protocol this build cannot use, so that a
    misconfigured pod fails at start.
    """
    global _active
    if _active is None:
        env = os.environ if environ is None else environ
        names = exporter_names(env) if exporter is None else ("given",)
        if not names:
            return None
        _active = _start(service_name, names, env, exporter, install_global=install_global)
    for engine in engines:
        instrument_engine(engine)
    return _active


def _start(
    service_name: str,
    names: tuple[str, ...],
    environ: Mapping[str, str],
    given: SpanExporter | None,
    *,
    install_global: bool,
) -> Tracing:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({"service.name": name, "service.namespace": "vigie"})
    provider = TracerProvider(resource=resource, sampler=_sampler())
    if given is not None:
        provider.add_span_processor(SimpleSpanProcessor(_redacting(given)))
    else:
        for exporter in build_exporters(names, environ):
            provider.add_span_processor(BatchSpanProcessor(_redacting(exporter)))
    if install_global:
        trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    log.info("tracing on", extra={"exporters": list(names), "otel_service_name": name})
    return Tracing(name, provider, provider.get_tracer("vigie"), names)


def instrument_engine(engine: AsyncEngine) -> None:
    """Opens a client span per statement the engine runs (no-op when tracing is off)."""
    tracing = _active
    if tracing is None or engine in tracing.engines:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    usage = NoOpMeterProvider().get_meter("vigie").create_up_down_counter("db.client.connections.usage")
    EngineTracer(  # type: ignore[no-untyped-call, unused-ignore]
        tracing.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"), engine.sync_engine, usage
    )
    tracing.engines.append(engine)


def instrument_app(app: FastAPI) -> None:
    """Opens a server span per request of the app, probes excepted (no-op when tracing is off)."""
    tracing = _active
    if tracing is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider,
        meter_provider=NoOpMeterProvider(),
        excluded_urls=UNTRACED_ROUTES,
        exclude_spans=["receive", "send"],
    )


def shutdown_tracing() -> None:
    """Exports what is pending and removes the pipeline and the instrumentations (tests, shutdown)."""
    global _active
    tracing, _active = _active, None
    if tracing is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    HTTPXClientInstrumentor().uninstrument()
    EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call, unused-ignore]
    tracing.provider.shutdown()


def tracer() -> trace.Tracer | None:
    """Returns the tracer of the platform's own spans (relay, consumers), or None when tracing is off."""
    return _active.tracer if _active is not None else None


def span_context_of(value: str | bytes | None) -> SpanContext | None:
    """Returns the remote span context a `traceparent` names; None when absent or malformed."""
    parsed = parse_traceparent(value)
    if parsed is None:
        return None
    return SpanContext(
        int(parsed.trace_id, 16),
        int(parsed.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parsed.flags, 16)),
    )


def parent_context(value: str | bytes | None) -> otel_context.Context | None:
    """Returns a context whose current span is the one a `traceparent` names (a child's parent)."""
    remote = span_context_of(value)
    return trace.set_span_in_context(NonRecordingSpan(remote)) if remote is not None else None


def links_to(values: Iterable[str | bytes | None], *, limit: int = 128) -> list[Link]:
    """Returns links to the distinct spans the `traceparent` values name, at most `limit`."""
    links: dict[tuple[int, int], Link] = {}
    for value in values:
        remote = span_context_of(value)
        if remote is not None and (remote.trace_id, remote.span_id) not in links:
            links[(remote.trace_id, remote.span_id)] = Link(remote)
            if len(links) >= limit:
                break
    return list(links.values())


def trace_context_of(span: Span) -> TraceContext:
    """Returns the propagated form of a span: its trace id, its own id and its sampled flag."""
    ctx = span.get_span_context()
    # Because the SDK also sets Trace Context level 2's "random" bit (03); the headers stay level 1's.
    sampled = ctx.trace_flags & TraceFlags.SAMPLED
    return TraceContext(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), format(sampled, "02x"))


def current_span_trace() -> TraceContext | None:
    """Returns the propagated form of the current OpenTelemetry span, or None if there is none."""
    span = trace.get_current_span()
    return trace_context_of(span) if span.get_span_context().is_valid else None


@contextmanager
def started_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | bytes | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, Any] | None = None,
    propagate: bool = True,
) -> Iterator[Span | None]:
    """Runs the block in a new current span (None and nothing done when tracing is off).

    `parent` is a `traceparent` to continue (else the current context's span); with `propagate` the
    span also becomes `current_trace`, so that the block's log lines and the events it writes carry
    its ids. An exception leaving the block marks the span failed with the error's type alone.
    """
    tracing = _active
    if tracing is None:
        yield None
        return
    ctx = parent_context(parent) if parent is not None else None
    with tracing.tracer.start_as_current_span(
        name,
        context=ctx,
        kind=kind,
        links=links,
        attributes=dict(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        token = current_trace.set(trace_context_of(span)) if propagate else None
        try:
            yield span
        except BaseException as exc:
            mark_failed(span, exc)
            raise
        finally:
            if token is not None:
                current_trace.reset(token)


def mark_failed(span: Span | None, error: BaseException) -> None:
    """Marks a span failed, naming the error's type only (its message may quote personal data)."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", type(error).__name__)
    span.set_status(Status(StatusCode.ERROR))

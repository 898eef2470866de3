"""Tracing setup: the exporter chosen from the standard environment (off by default), the spans of
HTTP, the outbox relay and SQLAlchemy in one trace, and what leaves the process redacted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord, TopicPartition
from fastapi import APIRouter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from shared.auth import LocalTokenVerifier
from shared.events import EventEnvelope
from shared.kafka import ConsumerLoop, PoisonMessageError
from shared.outbox import OutboxRelay, add, outbox_table
from shared.settings import ServiceSettings
from shared.testing import InMemoryPublisher
from shared.tracing import (
    TracingConfigError,
    active_tracing,
    current_trace,
    exporter_names,
    otlp_traces_endpoint,
    setup_tracing,
    shutdown_tracing,
    started_span,
)
from shared.web import create_app
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from shared import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _tracing_off() -> Iterator[None]:
    """Starts and ends each test with spans off (a session run with OTEL_* set turns them on)."""
    shutdown_tracing()
    yield
    shutdown_tracing()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Turns spans on for one test, exported to memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    setup_tracing("svc", exporter=exporter, install_global=False, environ={})
    try:
        yield exporter
    finally:
        shutdown_tracing()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console,otlp"}, ("otlp", "console")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, ()),
    ],
)
def test_the_exporter_comes_from_the_standard_variables_and_is_none_by_default(
    environ: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert exporter_names(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "unknown exporter jaeger"),
        ({"OTEL_TRACES_EXPORTER": "none,otlp"}, "cannot be combined"),
    ],
)
def test_an_exporter_this_build_lacks_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TracingConfigError, match=message):
        exporter_names(environ)


def test_the_otlp_endpoint_is_the_traces_one_else_the_base_plus_v1_traces() -> None:
    assert otlp_traces_endpoint({}) == "http://localhost:4318/v1/traces"
    assert (
        otlp_traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == "http://c:4318/v1/traces"
    )
    assert (
        otlp_traces_endpoint(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x",
            }
        )
        == "http://t/x"
    )


def test_off_by_default_nothing_is_installed() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    assert setup_tracing("contacts", engines=[engine], environ={}) is None
    assert active_tracing() is None
    assert tracing.tracer() is None
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
    with started_span("nothing") as span:
        assert span is None


def test_grpc_is_refused_at_start_rather_than_exporting_nowhere() -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(TracingConfigError, match="only http/protobuf"):
        setup_tracing("contacts", environ=environ, install_global=False)
    assert active_tracing() is None


def test_otlp_and_console_exporters_take_the_service_name_unless_otel_service_name_says_otherwise() -> None:
    environ = {"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    try:
        configured = setup_tracing("consent", environ=environ, install_global=False)
        assert configured is not None
        assert configured.exporters == ("otlp", "console")
        assert configured.provider.resource.attributes["service.name"] == "consent"
        assert HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
        # A second service in the same process (tests) shares the pipeline.
        assert setup_tracing("audit-log", environ=environ, install_global=False) is configured
    finally:
        shutdown_tracing()
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
    try:
        renamed = setup_tracing(
            "consent",
            environ={"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "consent-eu"},
            install_global=False,
        )
        assert renamed is not None
        assert renamed.provider.resource.attributes["service.name"] == "consent-eu"
    finally:
        shutdown_tracing()


def _app() -> Any:
    router = APIRouter()

    @router.get("/v1/things")
    async def things() -> dict[str, Any]:
        trace = current_trace.get()
        return {"trace": trace.header() if trace else None}

    @router.get("/v1/boom")
    async def boom() -> None:
        raise ValueError("camille@example.org is not welcome")

    return create_app(
        title="t",
        routers=[router],
        lifespan=None,
        settings=ServiceSettings(VIGIE_PROFILE="test"),
        token_verifier=LocalTokenVerifier(secret="s" * 40, issuer="i", audience="a"),
    )


async def test_a_request_is_a_server_span_continuing_the_callers_trace_whose_ids_are_propagated(
    spans: InMemorySpanExporter,
) -> None:
    app = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get(
            "/v1/things", params={"email": "camille@example.org"}, headers={"traceparent": PARENT}
        )
        await client.get("/healthz")
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.context is not None and server.parent is not None
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    # The ids the handler saw (its logs, the events it writes) and the response header are the span's.
    own = f"00-{TRACE_ID}-{server.context.span_id:016x}-01"
    assert response.json()["trace"] == own
    assert response.headers["traceparent"] == own
    # No query string leaves the process; the probe is not traced.
    exported = str([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert "camille" not in exported and "example.org" not in exported
    assert "/healthz" not in exported


async def test_an_error_span_names_the_type_never_the_message(spans: InMemorySpanExporter) -> None:
    app = _app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        assert (await client.get("/v1/boom")).status_code == 500
    with pytest.raises(KeyError), started_span("apply"):
        raise KeyError("zoe@example.org")
    finished = spans.get_finished_spans()
    assert any(s.status.status_code.name == "ERROR" for s in finished if s.kind == SpanKind.SERVER)
    [applied] = [s for s in finished if s.name == "apply"]
    assert applied.attributes is not None and applied.attributes["error.type"] == "KeyError"
    for span in finished:
        assert "example.org" not in str(span.to_json())
    assert any(e.name == "exception" for s in finished for e in s.events)


async def test_the_relay_publishes_each_record_in_the_trace_of_the_request_that_wrote_it_headers_untouched(
    spans: InMemorySpanExporter,
) -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    table = outbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    tracing.instrument_engine(engine)
    token = current_trace.set(tracing.parse_traceparent(PARENT))
    try:
        async with engine.begin() as conn:
            async with AsyncSession(bind=conn) as session:
                envelope = EventEnvelope(source="t", type="t.v1", subject="c1", actor="a", data={})
                await add(session, table, envelope, topic="contacts.events")
    finally:
        current_trace.reset(token)
    publisher = InMemoryPublisher()
    relay = OutboxRelay(engine=engine, table=table, publisher=publisher)
    assert await relay.publish_pending() == 1
    await engine.dispose()

    [record] = publisher.records
    assert [k for k, _ in record.headers].count("traceparent") == 1
    assert dict(record.headers)["traceparent"] == PARENT.encode()
    finished = {s.name: s for s in spans.get_finished_spans()}
    publish, batch = finished["contacts.events publish"], finished["outbox publish"]
    assert publish.kind == SpanKind.PRODUCER
    assert _ids(publish)[0] == TRACE_ID and publish.parent is not None
    assert format(publish.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert [format(link.context.trace_id, "032x") for link in batch.links] == [TRACE_ID]
    assert publish.attributes is not None and publish.attributes["messaging.message.id"] == envelope.id
    # The UPDATE that marks the row published is a child of the batch; the idle poll is no trace.
    updates = [s for s in spans.get_finished_spans() if s.name.startswith("UPDATE")]
    assert updates and all(s.parent is not None and s.parent.span_id == _span_id(batch) for s in updates)
    assert not [s for s in spans.get_finished_spans() if s.name.startswith("SELECT")]


def _ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


class _OnceConsumer:
    """Hands out the records once, then stops the loop."""

    def __init__(self, loop: ConsumerLoop, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        self.loop, self.pending = loop, {TopicPartition("audit.events", 0): records}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        batches, self.pending = self.pending, {}
        if not batches:
            self.loop.stop()
        return batches

    async def commit(self, _offsets: dict[TopicPartition, int]) -> None:
        pass

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None


def _consumed(offset: int, traceparent: str) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="audit.events",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=1,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=[("ce_id", f"e{offset}".encode()), ("traceparent", traceparent.encode())],
    )


def _consumer_loop(records: list[ConsumerRecord[bytes, bytes]], **handlers: Any) -> tuple[ConsumerLoop, Any]:
    publisher = InMemoryPublisher()
    loop = ConsumerLoop(
        bootstrap_servers="localhost:1",
        topics=["audit.events"],
        group_id="audit-log",
        publisher=publisher,  # type: ignore[arg-type]
        **handlers,
    )
    loop._consumer._closed = True  # Never started: no "unclosed consumer" warning.
    loop._consumer = _OnceConsumer(loop, records)  # type: ignore[assignment]
    return loop, publisher


async def test_a_consumed_record_is_a_child_span_of_its_traceparent_and_a_dead_lettered_one_is_marked(
    spans: InMemorySpanExporter,
) -> None:
    seen: list[str | None] = []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        trace = current_trace.get()
        seen.append(trace.header() if trace else None)
        if record.offset == 2:
            raise PoisonMessageError("bad")

    loop, publisher = _consumer_loop([_consumed(1, PARENT), _consumed(2, PARENT)], handle=handle)
    await loop.run()

    first, second = sorted(
        (s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER),
        key=lambda s: (s.attributes or {})["messaging.kafka.offset"],
    )
    for span in (first, second):
        assert span.name == "audit.events process" and span.parent is not None
        assert _ids(span)[0] == TRACE_ID and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    # The handler ran in its span's trace: its logs and the events it writes carry the span's ids.
    assert seen == [f"00-{TRACE_ID}-{_ids(first)[1]}-01", f"00-{TRACE_ID}-{_ids(second)[1]}-01"]
    assert first.status.status_code.name == "UNSET"
    assert second.status.status_code.name == "ERROR"
    assert second.attributes is not None and second.attributes["vigie.dead_lettered"] is True
    assert second.attributes["error.type"] == "PoisonMessageError"
    # The dead-lettered record keeps the traceparent it came with.
    [dead] = publisher.records
    assert [v for k, v in dead.headers if k == "traceparent"] == [PARENT.encode()]


async def test_a_batch_is_one_span_linked_to_its_records_traces_and_each_record_a_span_in_its_own(
    spans: InMemorySpanExporter,
) -> None:
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    async def handle_batch(
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> list[tuple[ConsumerRecord[bytes, bytes], BaseException]]:
        return [(records[1], PoisonMessageError("refused"))]

    loop, _publisher = _consumer_loop([_consumed(1, PARENT), _consumed(2, other)], handle_batch=handle_batch)
    await loop.run()

    finished = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    [batch] = [s for s in finished if (s.attributes or {}).get("messaging.batch.message_count") == 2]
    assert batch.parent is None
    assert sorted(format(link.context.trace_id, "032x") for link in batch.links) == sorted(
        [TRACE_ID, "0af7651916cd43dd8448eb211c80319c"]
    )
    records = {_ids(s)[0]: s for s in finished if s is not batch}
    assert set(records) == {TRACE_ID, "0af7651916cd43dd8448eb211c80319c"}
    for span in records.values():
        assert [link.context.span_id for link in span.links] == [_span_id(batch)]
    assert records[TRACE_ID].status.status_code.name == "UNSET"
    refused = records["0af7651916cd43dd8448eb211c80319c"]
    assert refused.status.status_code.name == "ERROR"
    assert refused.attributes is not None and refused.attributes["vigie.dead_lettered"] is True

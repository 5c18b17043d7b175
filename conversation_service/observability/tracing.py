"""OpenTelemetry traces, an optional extra: `pip install 'conversation-service[otel]'`.

With `OTEL_ENABLED=true` a request is one trace: the HTTP / WebSocket server span (ASGI
instrumentation), the SQL statements under it (asyncpg instrumentation, PostgreSQL), the Redis publish
after commit (Redis instrumentation); a worker action is a span of its own that joins the
sender's trace when the nooble4 envelope's `trace_id` is a W3C trace id (32 hex digits) and
carries it as `nooble4.trace_id` otherwise. Spans go to the OTLP/HTTP exporter, configured by the
standard `OTEL_EXPORTER_OTLP_*` variables. With tracing off (the default), or the extra not
installed, nothing of OpenTelemetry is imported and `action_span` costs one attribute check.

OpenTelemetry is imported inside the functions on purpose: it is an optional dependency.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)
_W3C_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


class Tracing:
    """The process's tracer provider, or nothing when tracing is off."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self._tracer: Any = provider.get_tracer("conversation_service") if provider else None
        self._instrumented: list[Any] = []

    @classmethod
    def start(
        cls, enabled: bool, service_name: str, exporter: SpanExporter | None = None
    ) -> Tracing:
        """A provider exporting to OTLP (or to `exporter`, tests), or `Tracing()` when off."""
        if not enabled:
            return cls()
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError:
            log.warning("OTEL_ENABLED is set but the otel extra is not installed; no traces")
            return cls()
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def middleware(self) -> list[Middleware]:
        """The ASGI server span of every HTTP request and WebSocket connection."""
        if self.provider is None:
            return []
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return [Middleware(OpenTelemetryMiddleware, tracer_provider=self.provider)]

    def instrument(self) -> None:
        """Every PostgreSQL statement (asyncpg, so the raw-driver hot paths too) and every Redis
        command of the process become spans. (SQLAlchemy's own instrumentation refuses
        SQLAlchemy 2.1; SQLite statements are not traced.)"""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor()):  # type: ignore[no-untyped-call]
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=self.provider)
                self._instrumented.append(instrumentor)

    @contextlib.contextmanager
    def action_span(self, action_type: str, trace_id: str | None) -> Iterator[None]:
        """One span per worker action, in the sender's trace when its id allows it."""
        if self._tracer is None:
            yield
            return
        from opentelemetry import trace

        context = None
        if trace_id is not None and _W3C_TRACE_ID.match(trace_id):
            parent = trace.SpanContext(
                trace_id=int(trace_id, 16),
                span_id=int.from_bytes(secrets.token_bytes(8), "big") or 1,
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        attributes = {"nooble4.action_type": action_type}
        if trace_id is not None:
            attributes["nooble4.trace_id"] = trace_id[:128]
        with self._tracer.start_as_current_span(
            f"worker {action_type}",
            context=context,
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        ):
            yield

    def shutdown(self) -> None:
        """Flush spans and undo the process-wide instrumentation this instance installed."""
        for instrumentor in self._instrumented:
            instrumentor.uninstrument()
        self._instrumented.clear()
        if self.provider is not None:
            self.provider.shutdown()

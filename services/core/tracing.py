"""Traces (OpenTelemetry), off unless ``DUTYLEDGER_OTLP_ENDPOINT`` is set: an HTTP request, the
workflow it starts or updates, the activity that runs and the SQL it sends, as one trace, sent
to an OTLP/HTTP collector.

No global state: a process makes one ``Tracing`` and hands it to what it builds (the app, the
Temporal client whose interceptors the worker inherits, the engines), so a test can trace into
memory beside others that do not trace at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.core.settings import Settings

# OpenTelemetry is imported where it is used: a process that does not trace (the default) pays
# nothing for it at start (its instrumentations take about a third of a second to import).
if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.engine import Engine
    from temporalio.client import Interceptor

UNTRACED_URLS = "healthz,readyz,metrics"  # probes and scrapes would drown the traces


@dataclass(frozen=True)
class Tracing:
    provider: TracerProvider

    def interceptors(self) -> list[Interceptor]:
        """For the Temporal client; a worker built on that client traces workflows and
        activities with the same interceptor."""
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("dutyledger.temporal"))]

    def instrument_app(self, app: FastAPI) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=UNTRACED_URLS
        )

    def instrument_engine(self, engine: Engine) -> None:
        """The process's engine (the instrumentor is one per process: a second call is a
        no-op)."""
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged.
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=self.provider, skip_dep_check=True
        )


def tracing_from(settings: Settings, service: str) -> Tracing | None:
    """The process's tracing when an OTLP endpoint is configured (``http://collector:4318``)."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider)

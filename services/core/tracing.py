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

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.engine import Engine
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from services.core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

UNTRACED_URLS = "healthz,readyz,metrics"  # probes and scrapes would drown the traces


@dataclass(frozen=True)
class Tracing:
    provider: TracerProvider

    def interceptors(self) -> list[Interceptor]:
        """For the Temporal client; a worker built on that client traces workflows and
        activities with the same interceptor."""
        return [TracingInterceptor(self.provider.get_tracer("dutyledger.temporal"))]

    def instrument_app(self, app: FastAPI) -> None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=UNTRACED_URLS
        )

    def instrument_engine(self, engine: Engine) -> None:
        """The process's engine (the instrumentor is one per process: a second call is a
        no-op)."""
        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged.
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=self.provider, skip_dep_check=True
        )


def tracing_from(settings: Settings, service: str) -> Tracing | None:
    """The process's tracing when an OTLP endpoint is configured (``http://collector:4318``)."""
    if not settings.otlp_endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider)

"""The one place a Temporal client is made: pydantic converter, TLS or API key from settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from services.core.health import (
    PING_WORKFLOW,
    CheckDatabaseResult,
    PingInput,
)
from services.core.settings import Settings
from services.core.tracing import Tracing

DATA_CONVERTER = pydantic_data_converter


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=(
                settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
            ),
        )
    # An API key (Temporal Cloud) implies TLS.
    return settings.temporal_tls or settings.temporal_api_key is not None


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics to Prometheus on
    ``worker_metrics_address``; None when that is not set. Make one per process."""
    if not settings.worker_metrics_address:
        return None
    prometheus = PrometheusConfig(bind_address=settings.worker_metrics_address)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


async def connect(
    settings: Settings, runtime: Runtime | None = None, tracing: Tracing | None = None
) -> Client:
    return await Client.connect(
        settings.resolved_temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=(
            settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        ),
        data_converter=DATA_CONVERTER,
        runtime=runtime,
        interceptors=tracing.interceptors() if tracing is not None else [],
    )


async def connect_patiently(
    settings: Settings,
    on_failure: Callable[[int, Exception], None] | None = None,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
    runtime: Runtime | None = None,
    tracing: Tracing | None = None,
) -> Client:
    """Connect, retrying with exponential backoff for as long as it takes: a process started
    before Temporal is up (compose, a rolling restart, an outage) waits for it instead of dying.
    ``on_failure(attempt, error)`` hears every failed attempt."""
    delay, attempt = first_delay, 0
    while True:
        attempt += 1
        try:
            return await connect(settings, runtime, tracing)
        except Exception as exc:  # RPCError, OSError, TLS errors: all mean "not yet"
            if on_failure is not None:
                on_failure(attempt, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


async def ping_through_worker(client: Client, settings: Settings) -> CheckDatabaseResult:
    """A ping workflow through a worker and its database: proves the whole loop is up."""
    result: CheckDatabaseResult = await client.execute_workflow(
        PING_WORKFLOW,
        PingInput(probe="readyz"),
        id=f"ping:{uuid.uuid4()}",
        task_queue=settings.temporal_task_queue,
        execution_timeout=timedelta(seconds=10),
        result_type=CheckDatabaseResult,
    )
    return result

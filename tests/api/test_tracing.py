"""Traces through the real app, Temporal and database: flagging a problem over HTTP starts its
workflow, which runs its activity, which writes SQL — one trace, from the HTTP request to the
INSERT, each span under the one before it (spans kept in memory for the test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from services.core.tracing import Tracing
from tests.support.cycles import eventually
from tests.support.world import World, world


@pytest.fixture
async def traced(
    settings, sqlite_engine: Engine, ts_fresh: WorkflowEnvironment
) -> AsyncIterator[tuple[World, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing = Tracing(provider)
    tracing.instrument_engine(sqlite_engine)
    config = ts_fresh.client.config()
    config["interceptors"] = tracing.interceptors()
    client = Client(**config)
    async with world(settings, sqlite_engine, client, tracing=tracing) as w:
        yield w, spans


def _ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    cur: ReadableSpan | None = span
    while cur is not None:
        names.append(cur.name)
        parent = cur.parent
        cur = by_id.get(parent.span_id) if parent is not None else None
    return names


async def test_one_trace_from_the_request_to_the_sql(
    traced: tuple[World, InMemorySpanExporter],
) -> None:
    w, spans = traced
    pid = await w.flag()

    def written() -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.name.startswith("INSERT")
            and "problems" in str((s.attributes or {}).get("db.statement"))
        ]

    insert = (await eventually(written, what="the problem's INSERT traced"))[0]
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    chain = _ancestry(insert, by_id)
    request = next(s for s in finished if s.name == "POST /api/v1/problems")
    assert chain[-1] == request.name, chain  # the root of the INSERT's trace is the request
    assert insert.context.trace_id == request.context.trace_id
    assert any(n.startswith("StartWorkflow:") for n in chain), chain
    assert any(n.startswith("RunActivity:persist_rectification") for n in chain), chain
    assert pid  # the same problem the trace wrote

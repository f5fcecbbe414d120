"""``GET /metrics`` over the real app, database and Temporal: requests counted by route template
(never by id), latencies, and the work owed read from the read model, in Prometheus text that
prometheus-client's own parser reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from tests.support.cycles import launch
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


async def scrape(w: World) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    r = await w.call("GET", "/metrics", None)  # no token: counts only
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_requests_latencies_and_the_work_owed(w: World) -> None:
    pid = await w.flag()
    cid = await launch(w)
    for _ in range(3):
        assert (await w.call("GET", f"/api/v1/problems/{pid}", w.committee)).status_code == 200
    assert (await w.call("GET", "/api/v1/problems/P-NOPE", w.committee)).status_code == 404
    got = await scrape(w)

    requests = got["dutyledger_http_requests_total"]
    route = ("route", "/api/v1/problems/{problem_id}")
    assert requests[(("method", "GET"), route, ("status", "200"))] == 3
    assert requests[(("method", "GET"), route, ("status", "404"))] == 1
    assert not any(pid in str(labels) for labels in requests)  # a template, never an id
    assert got["dutyledger_http_request_duration_seconds_count"][(("method", "GET"), route)] == 4

    problems = got["dutyledger_problems_open"]
    assert problems[(("overdue_level", "0"), ("state", "identified"))] == 1
    # The cycle's sign_by lies ahead: nothing is late yet, and the gauge says so.
    assert got["dutyledger_letters_unsigned_past_due"][(("cycle_id", cid),)] == 0
    assert "dutyledger_notification_deliveries_failed" in {
        f.name for f in text_string_to_metric_families((await w.call("GET", "/metrics", None)).text)
    }

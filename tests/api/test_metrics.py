"""``GET /metrics`` over the real app, database and Temporal: requests counted by route template
(never by id), latencies, and the work owed read from the read model, in Prometheus text that
prometheus-client's own parser reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from services.core.clock import deadline_instant
from services.cycle.models import Letter
from tests.support.cycles import YEAR, launch
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
    # Late only once the cycle's sign_by has passed (its day's end, Shanghai time).
    late = datetime.now(UTC) > deadline_instant(date(YEAR, 1, 31), "Asia/Shanghai")
    with Session(w.stack.engine) as s:
        unsigned = s.exec(
            select(func.count()).where(Letter.cycle_id == cid, col(Letter.signed_version).is_(None))
        ).one()
    expected = unsigned if late else 0
    assert got["dutyledger_letters_unsigned_past_due"][(("cycle_id", cid),)] == expected
    assert "dutyledger_notification_deliveries_failed" in {
        f.name for f in text_string_to_metric_families((await w.call("GET", "/metrics", None)).text)
    }


async def test_a_metrics_token_keeps_the_counts_to_its_bearer(
    settings, engine, ts_env: WorkflowEnvironment
) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-secret")})
    async with world(guarded, engine, ts_env.client) as w:
        assert (await w.call("GET", "/metrics", None)).status_code == 401
        assert (await w.call("GET", "/metrics", "wrong")).status_code == 401
        r = await w.call("GET", "/metrics", "scrape-secret")
        assert r.status_code == 200 and "dutyledger_problems_open" in r.text

"""``flag_problem``, the entry point other workflows use to flag a problem (a missed item), run as
the real activity with the real client, worker and databases: retried, it starts one
rectification and records one problem."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import ActivityDeps
from activities.rectification import RectificationActivities
from services.audit.chain import AuditEvent
from services.core.clock import today_in
from services.rectification.contracts import (
    FlagProblemInput,
    ProblemIn,
    Severity,
    indicator_problem_id,
)
from services.rectification.models import Problem
from services.rectification.store import default_due
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_env.client) as w:
        yield w


@pytest.fixture
def activities(w: World) -> RectificationActivities:
    """The activities bound to the stack's database and client, as the worker builds them."""
    return RectificationActivities(
        ActivityDeps(engine=w.stack.engine, settings=w.stack.settings, client=w.stack.client)
    )


def missed_item(item_id: str, org_id: str = "gb-1-b1") -> ProblemIn:
    return ProblemIn.model_validate(
        {
            "org_id": org_id,
            "source": "indicator",
            "category": "organization",
            "severity": "minor",
            "title": "Monthly branch meetings: 9 of 12 held",
            "cycle_id": "city-2027",
            "item_id": item_id,
        }
    )


async def test_flag_problem_retried_starts_one_rectification(
    w: World, activities: RectificationActivities
) -> None:
    # Unique per test: the Temporal server is shared by the session and rect: ids are never reused.
    item_id = f"city-2027:gb-1-b1:{uuid.uuid4().hex[:8]}"
    pid = indicator_problem_id(item_id)
    assert pid == f"IND-{item_id}"
    w.problems.append(pid)
    inp = FlagProblemInput(
        problem_id=pid, problem=missed_item(item_id), created_by="cycle:city-2027"
    )
    env = ActivityEnvironment()
    results = [await env.run(activities.flag_problem, inp) for _ in range(3)]
    assert {(r.problem_id, r.state) for r in results} == {(pid, "identified")}

    with Session(w.stack.engine) as s:
        p = s.get(Problem, pid)
        assert p is not None
        assert (p.source, p.state, p.cycle_id, p.item_id) == (
            "indicator",
            "identified",
            "city-2027",
            item_id,
        )
        # No due given: the default for its severity.
        assert p.due == default_due(
            w.stack.settings, Severity.minor, today_in(w.stack.settings.timezone)
        )
        trail = s.exec(select(AuditEvent).where(col(AuditEvent.entity_id) == pid)).all()
        assert len(trail) == 1

    desc = await w.stack.client.get_workflow_handle(f"rect:{pid}").describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    # The API reads the same problem.
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    assert r.status_code == 200 and r.json()["source"] == "indicator"


async def test_flag_problem_unknown_org_is_not_retried(
    w: World, activities: RectificationActivities
) -> None:
    inp = FlagProblemInput(
        problem_id="IND-nowhere", problem=missed_item("x:1", "no-such-org"), created_by="cycle:x"
    )
    with pytest.raises(ApplicationError) as exc:
        await ActivityEnvironment().run(activities.flag_problem, inp)
    assert exc.value.non_retryable and exc.value.type == "NotFound"
    with Session(w.stack.engine) as s:
        assert s.get(Problem, "IND-nowhere") is None


def test_indicator_problem_id_fits_the_id_column() -> None:
    long_item = "city-2027:" + "x" * 190
    pid = indicator_problem_id(long_item)
    assert len(pid) == 40 and pid.startswith("IND-")
    assert pid == indicator_problem_id(long_item)  # deterministic
    assert pid != indicator_problem_id(long_item + "y")

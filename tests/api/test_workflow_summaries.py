"""What an operator reads in the Temporal UI beside the bare workflow ids: each workflow the
service starts carries a summary and details (on the dev server, which keeps them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.cycles import eventually
from tests.support.world import World, world


@pytest.fixture
async def w(settings, sqlite_engine, dev_env: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, dev_env.client) as w:
        yield w


async def test_workflows_say_what_they_are(w: World) -> None:
    pid = await w.flag(title="Minutes of branch meetings not filed")
    desc = await w.stack.client.get_workflow_handle(f"rect:{pid}").describe()
    summary = await desc.static_summary()
    details = await desc.static_details()
    assert summary == f"Rectification {pid} of gb-1-b1: Minutes of branch meetings not filed"
    assert details is not None and "severity major" in details and "/city/gb-1/gb-1-b1/" in details

    r = await w.call("PATCH", "/api/v1/orgs/gb-1-b2", w.admin, json={"name": "Branch 1.2 (new)"})
    assert r.status_code == 200, r.text

    async def change_summary() -> str | None:  # visibility lags the run a little
        async for found in w.stack.client.list_workflows("WorkflowType='ChangeWorkflow'"):
            change = await w.stack.client.get_workflow_handle(found.id).describe()
            if (await change.static_details() or "").startswith("name → Branch 1.2 (new)"):
                return await change.static_summary()
        return None

    summary = await eventually(change_summary, what="the change's workflow in visibility")
    assert summary.startswith("Change of org gb-1-b2 by ")

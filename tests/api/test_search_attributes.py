"""Search attributes on the dev server (which keeps them; the embedded server registers them at
start, ``dutyledger temporal-setup`` a cluster's): an operator finds a problem's workflow by org,
state and overdue level, and an org's letter by cycle and state, as the workflows move on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from services.core.namespace import ensure_namespace
from services.core.search import register
from services.core.settings import Settings, venv_binary
from services.core.temporal import DATA_CONVERTER
from tests.support.cycles import eventually, launch, small_plan
from tests.support.world import OWNER, World, world


@pytest.fixture
async def w(
    settings: Settings, sqlite_engine, dev_env: WorkflowEnvironment
) -> AsyncIterator[World]:
    searchable = settings.model_copy(update={"temporal_search_attributes": True})
    async with world(searchable, sqlite_engine, dev_env.client) as w:
        yield w


async def found(w: World, query: str) -> set[str]:
    return {x.id async for x in w.stack.client.list_workflows(query)}


async def test_workflows_are_found_by_what_they_are_about(w: World) -> None:
    assert await register(w.stack.client, "default") == []  # the dev server has them all

    pid = await w.flag()
    query = "DutyOrg='gb-1-b1' AND DutyState='identified' AND DutyOverdueLevel=0"
    await eventually(lambda: _has(w, query, f"rect:{pid}"), what="the flagged problem")
    r = await w.act(pid, "confirm", w.committee, {"owner_person_id": OWNER})
    assert r.status_code == 200, r.text
    query = "DutyOrg='gb-1-b1' AND DutyState='assigned'"
    await eventually(lambda: _has(w, query, f"rect:{pid}"), what="the problem's new state")
    assert f"rect:{pid}" not in await found(w, "DutyState='identified'")

    cid = await launch(w, small_plan(2031), year=2031)  # a year no other test launches here
    query = f"DutyCycle='{cid}' AND DutyOrg='city' AND DutyState='issued'"
    await eventually(lambda: _has(w, query, f"cycle:{cid}:org:city"), what="the root's letter")


async def _has(w: World, query: str, workflow_id: str) -> bool:
    return workflow_id in await found(w, query)


async def test_temporal_setup_registers_what_a_namespace_lacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bare = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(venv_binary("temporal")),
        dev_server_database_filename=str(tmp_path / "temporal.db"),
    )
    try:
        added = await register(bare.client, "default")
        assert added == ["DutyCycle", "DutyOrg", "DutyOverdueLevel", "DutyState"]
        assert await register(bare.client, "default") == []  # once

        # A cluster without the namespace (compose's bare server): made, then registered in.
        assert await ensure_namespace(bare.client, "province", timedelta(days=30))
        assert not await ensure_namespace(bare.client, "province", timedelta(days=30))
        described = await bare.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="province")
        )
        assert described.config.workflow_execution_retention_ttl.ToTimedelta().days == 30
        assert await register(bare.client, "province") == added
    finally:
        await bare.shutdown()

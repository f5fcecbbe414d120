"""The console's tests share one world per test: the demo tree, accounts and a time-skipping
Temporal server of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w

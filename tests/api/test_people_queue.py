"""A rectification runs on the task queue's people's twin, and each step's write is scheduled on
that same queue: the precondition of the SDK's eager activity dispatch, where the worker that
accepted the step runs its write at once instead of the server queueing it for a poller
(``services.core.queues``; ``bench/rectification.py`` measured the difference)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from services.core.queues import human_queue_of
from services.core.settings import Settings
from tests.support.world import OWNER, World, world


@pytest.fixture
async def w(
    settings: Settings, sqlite_engine, dev_env: WorkflowEnvironment
) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, dev_env.client) as w:
        yield w


def test_the_people_twin_of_a_people_queue_is_itself() -> None:
    assert human_queue_of("dutyledger") == "dutyledger-human"
    assert human_queue_of("dutyledger-human") == "dutyledger-human"


def test_the_configured_queue_is_never_a_twin_itself() -> None:
    # Else the main and the human worker would serve one queue with different workflows.
    with pytest.raises(ValidationError, match="temporal_task_queue"):
        Settings(temporal_task_queue="dutyledger-human", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="temporal_task_queue"):
        Settings(temporal_task_queue="dutyledger-waits", _env_file=None)  # type: ignore[call-arg]


async def test_a_rectification_and_its_writes_share_the_people_queue(w: World) -> None:
    pid = await w.flag()
    r = await w.act(pid, "confirm", w.committee, {"owner_person_id": OWNER})
    assert r.status_code == 200, r.text

    handle = w.stack.client.get_workflow_handle(f"rect:{pid}")
    queue = (await handle.describe()).task_queue
    assert queue == human_queue_of(w.stack.settings.temporal_task_queue)
    history = await handle.fetch_history()
    scheduled = [
        (
            e.activity_task_scheduled_event_attributes.activity_type.name,
            e.activity_task_scheduled_event_attributes.task_queue.name,
        )
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    # The flag's write and the confirmation's, each on the workflow's own queue.
    assert scheduled == [("persist_rectification", queue)] * 2

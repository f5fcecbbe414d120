"""Recorded workflow histories for replay tests.

A history recorded from a real run is replayed against the current workflow code; a change that
would break running workflows (a reordered command, a removed timer) fails the replay. Such a
change needs ``workflow.patched``. Record new histories with ``record()`` from a test that has just
completed a workflow, when ``DUTYLEDGER_RECORD_HISTORIES=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).resolve().parent.parent / "workflows" / "histories"


async def record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Save ``handle``'s history as ``histories/<name>.json`` when recording is switched on."""
    if os.environ.get("DUTYLEDGER_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORIES.mkdir(parents=True, exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())


async def activities_run(handle: WorkflowHandle[Any, Any]) -> tuple[list[str], list[str]]:
    """What ``handle``'s history ran: the activity types scheduled through the server and those
    run as local activities (from the SDK's marker of each), both in order."""
    scheduled: list[str] = []
    local: list[str] = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                data = json.loads(marker.details["data"].payloads[0].data)
                local.append(data["activity_type"])
    return scheduled, local


# The marker name the SDK's core records a local activity's result under.
LOCAL_ACTIVITY_MARKER = "core_local_activity"

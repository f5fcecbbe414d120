"""Recorded workflow histories for replay tests.

A history recorded from a real run is replayed against the current workflow code; a change that
would break running workflows (a reordered command, a removed timer) fails the replay. Such a
change needs ``workflow.patched``. Record new histories with ``record()`` from a test that has just
completed a workflow, when ``DUTYLEDGER_RECORD_HISTORIES=1``.
"""

from __future__ import annotations

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

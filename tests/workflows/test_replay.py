"""Every recorded history replays against today's workflow code (determinism across changes), in
the strict sandbox, where a non-deterministic call in a workflow module fails, and in the shared
one production workers run (api/workflow_runner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from api.worker import WORKFLOWS
from api.workflow_runner import workflow_runner
from services.core.settings import Settings
from services.core.temporal import DATA_CONVERTER
from tests.support.histories import HISTORIES

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert RECORDED, f"no recorded histories in {HISTORIES}"


@pytest.mark.parametrize("sandbox", ["strict", "shared"])
@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_replay(path: Path, sandbox: str) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    settings = Settings(worker_sandbox=sandbox, _env_file=None)  # type: ignore[call-arg]
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(settings),
    )
    await replayer.replay_workflow(history)

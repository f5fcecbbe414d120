"""api/workflow_runner: the compiled runner only on the SDK release its private parts were
checked against; any other runs the SDK's own sandbox."""

from __future__ import annotations

import pytest
import temporalio
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from api.workflow_runner import CHECKED_SDK, CompiledSandboxRunner, sandbox_runner


def test_the_checked_sdk_gets_the_compiled_runner() -> None:
    assert temporalio.__version__.startswith(CHECKED_SDK), "check api/workflow_runner.py again"
    assert isinstance(sandbox_runner(SandboxRestrictions.default), CompiledSandboxRunner)


def test_another_sdk_gets_the_sdks_own_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(temporalio, "__version__", "9.0.0")
    runner = sandbox_runner(SandboxRestrictions.default)
    assert type(runner) is SandboxedWorkflowRunner

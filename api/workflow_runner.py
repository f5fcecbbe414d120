"""The workflow runner the workers use: the SDK's sandbox, its code compiled once.

The sandbox enters a workflow by executing a short snippet of source inside the workflow's own
globals: one to activate it, and one each time the SDK asks it for a payload's serialization
context. The SDK 1.35 asks for every payload of every activation and completion, three passes
each, and ``exec`` of a string compiles it again every time: about 25 µs a call, the largest
single cost in a worker answering people's steps (py-spy on bench/rectification.py: a tenth of
the worker's interpreter time). The snippets are a handful of constant strings; compiled once
and executed as code objects, the sandbox runs exactly the same statements in the same globals.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance

from services.core.settings import Settings


@functools.cache
def compiled(source: str) -> CodeType:
    """A snippet compiled once (the sandbox's snippets are few; each workflow type adds one)."""
    return compile(source, "<string>", "exec")  # as exec() names it


class _CompiledInstance(_Instance):
    """The sandbox's workflow instance, executing its snippets as compiled code."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes code objects as well as source: same statements, no compile per call.
        super()._run_code(compiled(code), **extra_globals)  # type: ignore[arg-type]


class CompiledSandboxRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` whose instances compile their snippets once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledInstance(det, self.runner_class, self.restrictions)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox, with dutyledger's own workflow modules shared or not.

    The sandbox imports a workflow's modules again for every run, compiling their source where
    no bytecode is cached (``PYTHONDONTWRITEBYTECODE``, a read-only image): bench/cascade.py
    measured that a sixth of the worker's time and about 70 KiB per cached workflow. "shared"
    passes ``workflows`` through: imported once, each run still in its own sandboxed event loop,
    replay still checked command by command. What it gives up is the sandbox refusing a
    non-deterministic call inside those modules; the replay tests run both, and workers built
    in the test process run "strict", where every such call fails."""
    if settings.worker_sandbox == "strict":
        return CompiledSandboxRunner()
    shared = SandboxRestrictions.default.with_passthrough_modules("workflows")
    return CompiledSandboxRunner(restrictions=shared)

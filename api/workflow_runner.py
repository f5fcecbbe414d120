"""The workflow runner the workers use: the SDK's sandbox, entered only to run workflow code.

The sandbox enters a workflow by executing a short snippet of source inside the workflow's own
globals, under its import restrictions: to activate it, and each time the SDK asks it for a
payload's serialization or storage context. SDK 1.35 asks for every payload of every activation
and completion, in three passes each, and ``exec`` of a string compiles it again every time
(about 25 µs). py-spy on bench/rectification.py found the compiles a tenth of the worker's
interpreter time, and the restrictions put on and taken off for each context another 7%.

Here the activation snippets are compiled once and executed as code objects: the same statements
in the same globals. The contexts are asked of the sandboxed workflow instance directly: that is
the SDK's own bookkeeping (which command a payload belongs to), no workflow code runs in it and
nothing is imported, so there is nothing for the restrictions to guard.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

import temporalio
from temporalio.converter import SerializationContext, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance

from services.core.logging import get_logger
from services.core.settings import Settings

log = get_logger(__name__)


@functools.cache
def compiled(source: str) -> CodeType:
    """A snippet compiled once (the sandbox's snippets are few; each workflow type adds one)."""
    return compile(source, "<string>", "exec")  # as exec() names it


class _CompiledInstance(_Instance):
    """The sandbox's workflow instance: snippets run as compiled code, contexts asked directly."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes code objects as well as source: same statements, no compile per call.
        super()._run_code(compiled(code), **extra_globals)  # type: ignore[arg-type]

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        context: SerializationContext | None = self._in_sandbox().get_serialization_context(
            command_info
        )
        return context

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        context: StorageDriverStoreContext = self._in_sandbox().get_external_store_context(
            command_info
        )
        return context

    def _in_sandbox(self) -> Any:
        # The InSandbox object the sandbox made when it created the workflow instance.
        return self.globals_and_locals["__temporal_in_sandbox"]


class CompiledSandboxRunner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` whose instances compile their snippets once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledInstance(det, self.runner_class, self.restrictions)


# The SDK release whose private sandbox internals (``_Instance._run_code``, the
# ``__temporal_in_sandbox`` global) the runner above was written against; on any other the
# workers run the SDK's own runner, as fast as it is, until this module is checked again.
CHECKED_SDK = "1.35."


def sandbox_runner(restrictions: SandboxRestrictions) -> SandboxedWorkflowRunner:
    if temporalio.__version__.startswith(CHECKED_SDK):
        return CompiledSandboxRunner(restrictions=restrictions)
    log.warning("sandbox_runner_unchecked", sdk=temporalio.__version__, checked=CHECKED_SDK)
    return SandboxedWorkflowRunner(restrictions=restrictions)


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
        return sandbox_runner(SandboxRestrictions.default)
    return sandbox_runner(SandboxRestrictions.default.with_passthrough_modules("workflows"))

"""Where the write of a person's step runs: on the workflow's queue's ``-human`` twin
(``services.core.queues``), served by the same worker processes with slots of their own, so a
signature or a rectification step never waits behind a burst of the workflows' own work (a
cascade issuing a thousand letters queues a thousand activities). Workflow code."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core.queues import human_queue_of

# Runs recorded before the human queue existed keep scheduling on the workflow's own queue.
HUMAN_QUEUE_PATCH = "human-task-queue"


def human_queue() -> str | None:
    """The queue for a person's step's activity (None: the workflow's own, in older runs)."""
    if not workflow.patched(HUMAN_QUEUE_PATCH):
        return None
    return human_queue_of(workflow.info().task_queue)

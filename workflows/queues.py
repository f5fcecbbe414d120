"""Where the write of a person's step runs: on the workflow's queue's ``-human`` twin
(``services.core.queues``), served by the same worker processes with slots of their own, so a
signature or a rectification step never waits behind a burst of the workflows' own work (a
cascade issuing a thousand letters queues a thousand activities). Workflow code."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.queues import human_queue_of, waits_queue_of

# Runs recorded before the human queue existed keep scheduling on the workflow's own queue.
HUMAN_QUEUE_PATCH = "human-task-queue"

# The org's reads and writes when an admin's change tells its letter its parties changed: an
# admin's step, waited for (read-your-write). When the change waited in an activity on the main
# queue and these ran there too, two changes at once held every slot their own reads needed
# (the change now waits on the -waits twin, below). Older runs keep their own queue.
TOLD_ON_HUMAN_QUEUE_PATCH = "parties-on-human-queue"

# An activity that waits for other workflows' Updates runs on the ``-waits`` twin, with slots of
# its own: the Update it waits for may need the slot it would hold elsewhere (a letter's step
# behind the lock its run loop holds while writing on the main queue). Older runs: their own.
WAITS_QUEUE_PATCH = "waiting-activities-queue"

# A write takes milliseconds; a lost worker's attempt is retried after this long.
STEP_WRITE_TIMEOUT = timedelta(seconds=10)


async def write_persons_step(activity: str, change: BaseModel) -> None:
    """Run the activity writing one person's step (a signature, a commitment, a rectification
    step) on the human queue; it gives up after ``retries.PERSIST`` (the API answers 503 and
    nothing changed)."""
    await workflow.execute_activity(
        activity,
        change,
        start_to_close_timeout=STEP_WRITE_TIMEOUT,
        retry_policy=retries.PERSIST,
        task_queue=human_queue(),
    )


def human_queue() -> str | None:
    """The queue for a person's step's activity (None: the workflow's own, in older runs)."""
    if not workflow.patched(HUMAN_QUEUE_PATCH):
        return None
    return human_queue_of(workflow.info().task_queue)


def told_queue() -> str | None:
    """The queue for the activities of a step a waiting activity asked for (None: the
    workflow's own, in runs recorded before TOLD_ON_HUMAN_QUEUE_PATCH)."""
    if not workflow.patched(TOLD_ON_HUMAN_QUEUE_PATCH):
        return None
    return human_queue()


def waits_queue() -> str | None:
    """The queue for an activity that waits on other workflows (None: the workflow's own, in
    runs recorded before WAITS_QUEUE_PATCH)."""
    if not workflow.patched(WAITS_QUEUE_PATCH):
        return None
    return waits_queue_of(workflow.info().task_queue)

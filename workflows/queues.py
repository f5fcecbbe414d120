"""Where the write of a person's step runs (a signature, a commitment, a rectification step).

Now: a local activity, in the worker running the Update's workflow task, on the threads the
worker keeps for local activities (``api/worker.py``; deadline slots share them): no activity
task through the server and no second workflow task, so the Update answers in one round trip
and never queues behind a cascade's bulk activities.

Runs begun before that keep what they did: the write as an activity on the workflow's queue's
``-human`` twin (``services.core.queues``), or, older still, on the workflow's own queue.
Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.core import retries
    from services.core.queues import human_queue_of

# Runs recorded before the human queue existed keep scheduling on the workflow's own queue.
HUMAN_QUEUE_PATCH = "human-task-queue"
# Runs recorded before people's steps were local activities keep their activity tasks.
LOCAL_STEP_PATCH = "person-step-local"

# A write takes milliseconds; a lost worker's attempt is retried after this long. Runs begun
# before the local activities keep 10 s. A local one is given longer than SQLite's busy wait
# (30 s, ``services/core/db.py``): its attempt would otherwise time out while its thread still
# waits on the database, and the retry take another thread beside it.
STEP_WRITE_TIMEOUT = timedelta(seconds=10)
LOCAL_STEP_WRITE_TIMEOUT = timedelta(seconds=40)


async def write_persons_step(activity: str, change: BaseModel) -> None:
    """Run the activity writing one person's step; it gives up after ``retries.PERSIST`` (the
    API answers 503 and nothing changed)."""
    if workflow.patched(LOCAL_STEP_PATCH):
        await workflow.execute_local_activity(
            activity,
            change,
            start_to_close_timeout=LOCAL_STEP_WRITE_TIMEOUT,
            retry_policy=retries.PERSIST,
        )
        return
    await workflow.execute_activity(
        activity,
        change,
        start_to_close_timeout=STEP_WRITE_TIMEOUT,
        retry_policy=retries.PERSIST,
        task_queue=_human_queue(),
    )


def _human_queue() -> str | None:
    """The queue for a person's step's activity (None: the workflow's own, in older runs)."""
    if not workflow.patched(HUMAN_QUEUE_PATCH):
        return None
    return human_queue_of(workflow.info().task_queue)

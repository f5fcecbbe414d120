"""The task queues a worker serves: the configured one for the workflows and their own steps,
and its ``-human`` twin, which a worker serves with slots of their own so people's work never
queues behind bulk work (``workflows/queues.py``, ``api/worker.py``).

The twin carries the writes of people's steps (signatures, commitments) and the rectification
workflows themselves, whose every step is a person's (or a deadline's): there a step's write is
scheduled on the workflow's own queue, so the worker that accepted the Update runs it at once
(the SDK's eager activity dispatch) instead of the server queueing it for a poller.

The ``-waits`` twin carries the activities that wait for other workflows' Updates (a change
telling its letters, handing a leaver's work back): they hold a slot while they wait, and on
the queues whose slots those Updates' own activities need they could hold every one. A
verification of the audit trail runs there too: a long read in a thread of its own, which on
the main queue would hold one of the few threads the cascade's writes share."""

from __future__ import annotations

HUMAN_SUFFIX = "-human"


def human_queue_of(task_queue: str) -> str:
    """The people's twin of ``task_queue`` (itself when it is one already)."""
    if task_queue.endswith(HUMAN_SUFFIX):
        return task_queue
    return f"{task_queue}{HUMAN_SUFFIX}"


WAITS_SUFFIX = "-waits"


def waits_queue_of(task_queue: str) -> str:
    """The twin of ``task_queue`` for activities that wait on other workflows."""
    return f"{task_queue.removesuffix(HUMAN_SUFFIX)}{WAITS_SUFFIX}"

"""The task queues a worker serves: the configured one for the workflows and their own steps,
and its ``-human`` twin for the writes of people's steps (signatures, rectification steps,
commitments), which a worker serves with slots of their own so they never queue behind bulk
work (``workflows/queues.py``, ``api/worker.py``)."""

from __future__ import annotations


def human_queue_of(task_queue: str) -> str:
    return f"{task_queue}-human"

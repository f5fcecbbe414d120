"""The task queues a worker serves: the configured one for the workflows and their own steps,
and its ``-human`` twin, where runs begun before people's steps were local activities write
those steps (signatures, rectification steps, commitments) on slots of their own
(``workflows/queues.py``, ``api/worker.py``)."""

from __future__ import annotations


def human_queue_of(task_queue: str) -> str:
    return f"{task_queue}-human"

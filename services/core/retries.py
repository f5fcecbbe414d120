"""Retry policies of workflow steps, named once.

A human step's write (``PERSIST``) gives up after 12 attempts (about 75 s of backoff between
them), so the API answers 503 and nothing changed; a workflow's own steps (``STEP``: issuing,
deciding, closing) must not fail an org's year because the database was away for a while, so
they retry until it is back.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

PERSIST = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=12,
)
STEP = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=5),
)

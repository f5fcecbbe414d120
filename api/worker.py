"""The worker: every workflow and activity of dutyledger, registered on one task queue.

Stateless and horizontally scalable: run as many as the load needs against the same Temporal
namespace and database."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.context import ActivityDeps, DepsInterceptor
from activities.cycle_cascade import issue_child_letters, launch_cycle
from activities.cycles import issue_letter, persist_commitment, persist_letter, record_launch
from activities.deadlines import fire_deadline_slot
from activities.health import check_database
from activities.log_context import LogContextInterceptor
from activities.problems import flag_problem
from activities.rectification import persist_rectification, request_recheck
from workflows.annual_cycle import AnnualCycleWorkflow
from workflows.cycle_org import CycleOrgWorkflow
from workflows.ping import PingWorkflow
from workflows.rectification import RectificationWorkflow

WORKFLOWS: Sequence[type] = (
    PingWorkflow,
    RectificationWorkflow,
    CycleOrgWorkflow,
    AnnualCycleWorkflow,
)


ACTIVITIES: Sequence[Callable[..., Any]] = (
    check_database,
    persist_rectification,
    request_recheck,
    fire_deadline_slot,
    flag_problem,
    record_launch,
    issue_letter,
    persist_letter,
    persist_commitment,
    issue_child_letters,
    launch_cycle,
)


def build_worker(
    client: Client,
    deps: ActivityDeps,
    *,
    task_queue: str | None = None,
    max_activity_threads: int = 16,
) -> Worker:
    """A worker for all dutyledger workflows and activities; the caller runs and shuts it down."""
    if deps.client is None:
        deps.client = client
    return Worker(
        client,
        task_queue=task_queue or deps.settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=list(ACTIVITIES),
        interceptors=[DepsInterceptor(deps), LogContextInterceptor()],
        # Activities are synchronous (SQLAlchemy); they run on this pool.
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_activity_threads),
        max_concurrent_activities=max_activity_threads,
        # On SIGTERM, let in-flight activities finish before the worker lets go of them.
        graceful_shutdown_timeout=timedelta(seconds=20),
    )

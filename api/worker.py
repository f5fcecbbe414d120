"""The worker: every workflow and activity of dutyledger on one task queue, on its human twin
the rectification workflows and the activities again, where people's steps are written, and on
its waits twin the activities that wait on other workflows (``services.core.queues``).

Stateless and horizontally scalable: run as many as the load needs against the same Temporal
namespace and database."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.changes import ChangeActivities
from activities.cycles import CycleActivities
from activities.deadlines import SLOT_BATCH, DeadlineActivities
from activities.deps import ActivityDeps
from activities.evaluation import EvaluationActivities
from activities.health import HealthActivities
from activities.log_context import LogContextInterceptor
from activities.rectification import RectificationActivities
from activities.verification import VerificationActivities
from api.workflow_runner import workflow_runner
from services.core.queues import human_queue_of, waits_queue_of
from services.integrity.keys import signing_key
from workflows.annual_cycle import AnnualCycleWorkflow
from workflows.audit_verification import AuditVerificationWorkflow
from workflows.change import ChangeWorkflow
from workflows.cycle_org import CycleOrgWorkflow
from workflows.evaluation import EvaluationWorkflow
from workflows.ping import PingWorkflow
from workflows.rectification import RectificationWorkflow

WORKFLOWS: Sequence[type] = (
    PingWorkflow,
    RectificationWorkflow,
    CycleOrgWorkflow,
    AnnualCycleWorkflow,
    EvaluationWorkflow,
    ChangeWorkflow,
    AuditVerificationWorkflow,
)
# The workflows started on the human twin: every step of a rectification is a person's.
HUMAN_WORKFLOWS: Sequence[type] = (RectificationWorkflow,)


def activities(deps: ActivityDeps) -> list[Callable[..., Any]]:
    """Every activity, bound to one set of dependencies."""
    health = HealthActivities(deps)
    rect = RectificationActivities(deps)
    deadlines = DeadlineActivities(deps)
    cycle = CycleActivities(deps)
    evaluation = EvaluationActivities(deps)
    changes = ChangeActivities(deps)
    return [
        health.check_database,
        rect.persist_rectification,
        rect.request_recheck,
        rect.flag_problem,
        deadlines.fire_deadline_slot,
        cycle.record_launch,
        cycle.issue_letter,
        cycle.persist_letter,
        cycle.persist_commitment,
        cycle.issue_child_letters,
        cycle.read_letter_parties,
        cycle.launch_cycle,
        evaluation.set_evaluation_phase,
        evaluation.close_evaluation_rating,
        evaluation.publish_evaluation,
        evaluation.remind_evaluation_raters,
        evaluation.remind_evaluation_debriefing,
        changes.apply_change,
        changes.tell_letters,
        changes.hand_back,
    ]


class Workers:
    """The three workers of a process: every workflow and activity on the task queue; the
    rectification workflows and the activities again on its human twin (people's steps), with
    threads and a workflow cache of their own; and the activities that wait on other workflows
    on the ``-waits`` twin, with slots of their own. Run, shut down or entered together."""

    def __init__(self, main: Worker, human: Worker, waits: Worker) -> None:
        self.main = main
        self.human = human
        self.waits = waits
        self.all = (main, human, waits)
        self._entered = AsyncExitStack()

    async def run(self) -> None:
        await asyncio.gather(*(w.run() for w in self.all))

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.all))

    async def __aenter__(self) -> Workers:
        async with AsyncExitStack() as entered:  # one failing to start stops those started
            for w in self.all:
                await entered.enter_async_context(w)
            self._entered = entered.pop_all()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._entered.__aexit__(*exc)  # in reverse, each whatever the others raise


def activity_threads(deps: ActivityDeps) -> int:
    """The threads for the workflows' own activities (``worker_activity_threads``, or by the
    database when 0). bench/cascade.py measured both. On SQLite's one writer fewer threads were
    faster, down to one: against two, the same 14.6 orgs/s and a signature's p50 220 against
    330 ms. The signature's write itself took 8 against 12 ms at the median, so the gain is
    mostly the interpreter's lock, left to the loop that runs the workflows' tasks and the
    Updates. On PostgreSQL 4, 8 and 16 threads issued letters as fast (11.7, 12.4, 11.6 orgs/s)
    but a signature's p50 went 380, 662, 1,048 ms: the activities are mostly Python, and each
    thread more only takes the interpreter's lock from the loop that answers people's Updates
    (measured while people's steps were local activities, since reverted). Later, on the same
    machine: 2 threads against 4, 12.5 and 13.6 against 12.9 and 14.5 orgs/s, a signature's
    p50 339 and 344 against 558 and 562 ms; 1 thread 12.1 orgs/s and 227 ms. With one thread, a
    long activity (closing an evaluation's rating: 2.6 s at 1,000 subjects) holds up the others
    on this queue meanwhile; people's steps and the deadlines run on the human queue's own.
    Raise it for a database far away, where the threads wait on the network instead."""
    chosen = deps.settings.worker_activity_threads
    if chosen:
        return chosen
    return SQLITE_THREADS if deps.engine.dialect.name == "sqlite" else POSTGRES_THREADS


# Changes telling their letters or handing work back at once (each tells 16 letters at a time).
WAITING_SLOTS = 32
SQLITE_THREADS = 1
POSTGRES_THREADS = 2
# The human worker's activity polls. Each waiting poll holds one of the worker's activity slots,
# so these are counted on top of its threads (DUTYLEDGER_WORKER_HUMAN_THREADS): a rectification
# step's write then finds a slot free in the worker that accepted the step, which is what eager
# dispatch needs (with the SDK's 5 polls and as many slots as threads, 3 of 4 writes went
# through the server's matching).
ACTIVITY_POLLS = 2


def build_worker(
    client: Client,
    deps: ActivityDeps,
    *,
    task_queue: str | None = None,
) -> Workers:
    """The workers for all dutyledger workflows and activities; the caller runs and shuts them
    down. Without the audit signing key production settings refuse to start
    (MissingSigningKey)."""
    signing_key(deps.settings)
    if deps.client is None:
        deps.client = client
    queue = task_queue or deps.settings.temporal_task_queue
    max_activity_threads = activity_threads(deps)
    human_activity_threads = deps.settings.worker_human_threads
    human_slots = human_activity_threads + ACTIVITY_POLLS
    main = Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=activities(deps),
        interceptors=[LogContextInterceptor()],
        # Activities are synchronous (SQLAlchemy); they run on this pool.
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_activity_threads),
        max_concurrent_activities=max_activity_threads,
        # Deadline slots run as local activities, coroutines waiting for a group commit: let
        # a batch's worth wait at once (they hold no thread).
        max_concurrent_local_activities=SLOT_BATCH,
        max_cached_workflows=deps.settings.worker_cached_workflows,
        workflow_runner=workflow_runner(deps.settings),
        # On SIGTERM, let in-flight activities finish before the worker lets go of them.
        graceful_shutdown_timeout=timedelta(seconds=20),
    )
    human = Worker(
        client,
        task_queue=human_queue_of(queue),
        # Rectifications started since they moved here; older runs finish on the main queue.
        workflows=list(HUMAN_WORKFLOWS),
        activities=activities(deps),
        interceptors=[LogContextInterceptor()],
        # As many threads as slots: a poll that returns a task runs it at once.
        activity_executor=concurrent.futures.ThreadPoolExecutor(human_slots),
        max_concurrent_activities=human_slots,
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=ACTIVITY_POLLS),
        # A rectification's deadline slots run here as local activities, on no thread: a burst
        # of escalations leaves the threads to people's writes.
        max_concurrent_local_activities=SLOT_BATCH,
        max_cached_workflows=deps.settings.worker_cached_workflows,
        workflow_runner=workflow_runner(deps.settings),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )
    return Workers(main, human, waits_worker(client, deps, queue))


def waits_worker(client: Client, deps: ActivityDeps, queue: str) -> Worker:
    """The worker of the ``-waits`` twin: the activities that wait for other workflows'
    Updates (``services.core.queues``), coroutines holding no thread, a slot each; and a
    verification of the audit trail, which reads for a long while in a thread of its own."""
    changes = ChangeActivities(deps)
    verification = VerificationActivities(deps)
    return Worker(
        client,
        task_queue=waits_queue_of(queue),
        activities=[
            changes.tell_letters,
            changes.hand_back,
            verification.run_audit_verification,
            verification.record_audit_verification_failed,
        ],
        interceptors=[LogContextInterceptor()],
        max_concurrent_activities=WAITING_SLOTS,
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=ACTIVITY_POLLS),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )

"""Flagging a problem from inside another workflow (the annual cycle: a missed item).

A workflow cannot start another workflow by business key with a client, nor read the org tree, so
it calls the ``flag_problem`` activity, which does what ``POST /api/v1/problems`` does: build the
problem's snapshot from the org and start ``rect:{problem_id}``. The caller passes a
deterministic id (``indicator_problem_id(item_id)`` = ``IND-<item_id>``), so a retried activity,
or a replayed caller, finds the first rectification and starts nothing twice.

This lives apart from ``activities.rectification`` because it imports ``workflows.starters``,
which imports the rectification workflow, which imports ``activities.rectification``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import deps
from services.db import session_scope
from services.deadlines import ReminderPolicy, local_date
from services.errors import Invalid, NotFound
from services.orgs import get_org
from services.problems import ProblemIn, new_snapshot
from workflows.starters import start_rectification

log = structlog.get_logger(__name__)


PROBLEM_ID_MAX = 40  # services.problems.Problem.id


def indicator_problem_id(item_id: str) -> str:
    """The id of the problem a missed item flags: one problem per item, however often asked.

    ``IND-<item_id>`` when it fits the problem id column; a longer item id (items allow 200
    characters) is replaced by a digest of it, still deterministic.
    """
    pid = f"IND-{item_id}"
    if len(pid) <= PROBLEM_ID_MAX:
        return pid
    return "IND-" + hashlib.sha256(item_id.encode()).hexdigest()[: PROBLEM_ID_MAX - 4]


class FlagProblemInput(BaseModel):
    problem_id: str  # deterministic, chosen by the caller (e.g. indicator_problem_id)
    problem: ProblemIn
    created_by: str  # who flags: an account id, or the calling workflow's id
    # A calling workflow's clock and timezone: the problem opens then, its default due date
    # counts from that calendar day. Default: now, in the configured timezone.
    at: datetime | None = None
    timezone: str | None = None
    policy: ReminderPolicy | None = None  # the cycle's reminder policy; default the system's


class FlagProblemResult(BaseModel):
    problem_id: str
    state: str | None  # None: the rectification had finished long ago (see the read model)


@activity.defn
async def flag_problem(inp: FlagProblemInput) -> FlagProblemResult:
    """Start (or find) ``rect:{problem_id}``; idempotent, so safe to retry."""
    d = deps()
    if d.client is None:
        raise RuntimeError("flag_problem needs the worker's Temporal client")
    try:
        with session_scope(d.engine) as session:
            org = get_org(session, inp.problem.org_id)
            # The workflow records the problem (version 1) with this opened_at; a retry builds a
            # new snapshot, but starting is idempotent so only the first one is ever recorded.
            at = inp.at or datetime.now(UTC)
            today = local_date(at, inp.timezone or d.settings.timezone)
            snapshot = new_snapshot(
                d.settings, org, inp.problem, inp.problem_id, inp.created_by, at, today
            )
    except (NotFound, Invalid) as exc:
        # An unknown org or a due date in the past will not mend itself: do not retry.
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
    recorded = await start_rectification(
        d.client, d.settings, snapshot, timezone=inp.timezone, policy=inp.policy
    )
    log.info("problem_flagged", problem_id=inp.problem_id, source=inp.problem.source.value)
    return FlagProblemResult(
        problem_id=inp.problem_id, state=recorded.state.value if recorded else None
    )

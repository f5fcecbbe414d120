"""Flagging a problem from inside another workflow (the annual cycle: a missed item).

A workflow cannot start another workflow by business key with a client, nor read the org tree, so
it calls the ``flag_problem`` activity, which does what ``POST /api/v1/problems`` does: build the
problem's snapshot from the org and start ``rect:{problem_id}``. The caller passes a
deterministic id (``indicator_problem_id(item_id)`` = ``IND-<item_id>``), so a retried activity,
or a replayed caller, finds the first rectification and starts nothing twice.

This lives apart from ``activities.rectification`` because it imports ``workflows.starters``,
which imports the rectification workflow, which imports ``activities.rectification``."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import deps
from services.core.clock import local_date
from services.core.db import session_scope
from services.core.errors import Invalid, NotFound
from services.org.queries import get_org
from services.rectification.client import start_rectification
from services.rectification.contracts import FLAG_ACTIVITY, FlagProblemInput, FlagProblemResult
from services.rectification.store import new_snapshot

log = structlog.get_logger(__name__)


@activity.defn(name=FLAG_ACTIVITY)
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

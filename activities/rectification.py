"""Activities of rectifications: persist a transition, ask for a re-check, and flag a problem
from another workflow (the annual cycle's missed items).

``flag_problem`` does what ``POST /api/v1/problems`` does with an id the caller chooses
(``indicator_problem_id(item_id)`` = ``IND-<item_id>``), so a retried activity, or a replayed
caller, finds the first rectification and starts nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from activities.deps import ActivityDeps, write_activity
from services.core.clock import local_date
from services.core.db import session_scope
from services.core.errors import Invalid, NotFound
from services.core.failures import permanent
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import notify
from services.org.queries import get_org
from services.rectification.client import start_rectification
from services.rectification.contracts import (
    FLAG_ACTIVITY,
    PERSIST_ACTIVITY,
    RECHECK_ACTIVITY,
    FlagProblemInput,
    FlagProblemResult,
    RecheckRequest,
    Transition,
)
from services.rectification.rules import RectState
from services.rectification.store import new_snapshot, persist_transition

log = structlog.get_logger(__name__)


class RectificationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @write_activity(PERSIST_ACTIVITY)
    def persist_rectification(self, t: Transition) -> bool:
        """Row + audit event in one transaction; a retry after a commit finds its key."""
        with session_scope(self.deps.engine) as session:
            return persist_transition(session, t, self.deps.settings.timezone)

    @activity.defn(name=RECHECK_ACTIVITY)
    def request_recheck(self, inp: RecheckRequest) -> None:
        """Ask the verifier to confirm the fix held; one message per problem and re-check date."""
        message = texts.recheck_due(inp.problem_id, inp.title, inp.recheck_due)
        spec = NotificationIn(
            dedupe_key=f"problem:{inp.problem_id}:recheck={inp.recheck_due.isoformat()}",
            recipient_person_id=inp.verifier_person_id,
            kind="recheck",
            **message.fields(),
            entity_type="problem",
            entity_id=inp.problem_id,
            org_path=inp.org_path,
            scheduled_for=inp.fired_at,
            fired_at=inp.fired_at,
        )
        with session_scope(self.deps.engine) as session:
            notify(session, spec, self.deps.settings)

    @activity.defn(name=FLAG_ACTIVITY)
    async def flag_problem(self, inp: FlagProblemInput) -> FlagProblemResult:
        """Start (or find) ``rect:{problem_id}``; idempotent, so safe to retry."""
        return await flag(self.deps, inp)


async def flag(d: ActivityDeps, inp: FlagProblemInput) -> FlagProblemResult:
    """Open a problem found by the service itself (a missed item, a weak aspect): start (or find)
    its rectification workflow; idempotent by ``inp.problem_id``."""
    try:
        with session_scope(d.engine) as session:
            org = get_org(session, inp.problem.org_id)
            # The workflow records the problem (version 1) with this opened_at; a retry
            # builds a new snapshot, but starting is idempotent: only the first is recorded.
            at = inp.at or datetime.now(UTC)
            today = local_date(at, inp.timezone or d.settings.timezone)
            snapshot = new_snapshot(
                d.settings, org, inp.problem, inp.problem_id, inp.created_by, at, today
            )
            if inp.owner_person_id is not None:
                snapshot = snapshot.model_copy(
                    update={"state": RectState.assigned, "owner_person_id": inp.owner_person_id}
                )
    except (NotFound, Invalid) as exc:
        # An unknown org or a due date in the past will not mend itself: do not retry.
        raise permanent(exc) from exc
    recorded = await start_rectification(
        d.temporal(), d.settings, snapshot, timezone=inp.timezone, policy=inp.policy
    )
    log.info("problem_flagged", problem_id=inp.problem_id, source=inp.problem.source.value)
    return FlagProblemResult(
        problem_id=inp.problem_id, state=recorded.state.value if recorded else None
    )

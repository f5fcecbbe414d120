"""Activities of the rectification workflow: persist a transition, ask for a re-check, flag."""

from __future__ import annotations

from temporalio import activity

from activities.context import deps
from services.core.db import session_scope
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import notify
from services.rectification.contracts import (
    PERSIST_ACTIVITY,
    RECHECK_ACTIVITY,
    RecheckRequest,
    Transition,
)
from services.rectification.store import persist_transition


@activity.defn(name=PERSIST_ACTIVITY)
def persist_rectification(t: Transition) -> bool:
    """Row + audit event in one transaction; a retry after a commit finds its key, does nothing."""
    with session_scope(deps().engine) as session:
        return persist_transition(session, t)


@activity.defn(name=RECHECK_ACTIVITY)
def request_recheck(inp: RecheckRequest) -> None:
    """Ask the verifier to confirm the fix held; one message per problem and re-check date."""
    d = deps()
    subject, body = texts.recheck_due(inp.problem_id, inp.title, inp.recheck_due)
    spec = NotificationIn(
        dedupe_key=f"problem:{inp.problem_id}:recheck={inp.recheck_due.isoformat()}",
        recipient_person_id=inp.verifier_person_id,
        kind="recheck",
        subject=subject,
        body=body,
        entity_type="problem",
        entity_id=inp.problem_id,
        org_path=inp.org_path,
        scheduled_for=inp.fired_at,
        fired_at=inp.fired_at,
    )
    with session_scope(d.engine) as session:
        notify(session, spec, d.settings)

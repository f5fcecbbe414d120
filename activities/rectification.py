"""Activities of the rectification workflow: persist a transition, ask for a re-check, flag."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from temporalio import activity

from activities.context import deps
from services.db import session_scope
from services.notifications import NotificationIn, notify
from services.problems import persist_transition
from services.rectification_models import Transition


@activity.defn
def persist_rectification(t: Transition) -> bool:
    """Row + audit event in one transaction; a retry after a commit finds its key, does nothing."""
    with session_scope(deps().engine) as session:
        return persist_transition(session, t)


class RecheckRequest(BaseModel):
    problem_id: str
    title: str
    org_path: str
    verifier_person_id: str | None
    recheck_due: date
    fired_at: datetime


@activity.defn
def request_recheck(inp: RecheckRequest) -> None:
    """Ask the verifier to confirm the fix held; one message per problem and re-check date."""
    d = deps()
    spec = NotificationIn(
        dedupe_key=f"problem:{inp.problem_id}:recheck={inp.recheck_due.isoformat()}",
        recipient_person_id=inp.verifier_person_id,
        kind="recheck",
        subject=f"Re-check due: did the fix hold? — {inp.title}",
        body=(
            f"Rectification {inp.problem_id} (“{inp.title}”) was closed; its re-check is due "
            f"{inp.recheck_due.isoformat()}. Confirm that the fix held, or reopen it."
        ),
        entity_type="problem",
        entity_id=inp.problem_id,
        org_path=inp.org_path,
        scheduled_for=inp.fired_at,
        fired_at=inp.fired_at,
    )
    with session_scope(d.engine) as session:
        notify(session, spec, d.settings)

"""Activities of a change to the org tree or its people: the write, telling the running letters,
handing a leaver's rectifications back.

The write is idempotent by the change's key (its audit event); a signal sent twice only makes a
letter read its parties twice; a rectification is handed back by an Update whose id is the
change's key and the problem's, so a retried activity assigns it once, with one notice.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from services.changes.contracts import (
    APPLY_ACTIVITY,
    HAND_BACK_ACTIVITY,
    TELL_LETTERS_ACTIVITY,
    Applied,
    ChangeInput,
    HandBackInput,
    Subject,
    TellLetters,
)
from services.changes.orgs import apply_org_change
from services.changes.people import apply_person_change, hand_back_target, problem_title
from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.core.failures import permanent, to_failure
from services.cycle.contracts import PARTIES_UPDATE
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import notify
from services.org.queries import names_of
from services.rectification.client import act
from services.rectification.contracts import ActionRequest, AssignIn
from services.rectification.rules import Action

log = structlog.get_logger(__name__)

HANDED_BACK_BY = "system:people"
IN_FLIGHT = 16  # letters told at once (a committee's change of head tells all its children)


class ChangeActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=APPLY_ACTIVITY)
    def apply_change(self, inp: ChangeInput) -> Applied:
        apply = apply_org_change if inp.subject is Subject.org else apply_person_change
        try:
            with session_scope(self.deps.engine) as session:
                return apply(session, inp)
        except (Conflict, Forbidden, Invalid) as exc:  # the tree changed since the API checked
            raise to_failure(exc) from None
        except NotFound as exc:
            raise permanent(exc) from None

    @activity.defn(name=TELL_LETTERS_ACTIVITY)
    async def tell_letters(self, inp: TellLetters) -> int:
        """Have each org workflow read its parties again and wait until its letter shows them
        (so the API's answer to the change is read-your-write: the new head can sign at once).
        One already finished (its year closed) has nothing to learn. The Update's id is the
        change's key: a retried activity does not run it twice."""
        client = self.deps.temporal()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def tell(wid: str) -> bool:
            async with gate:
                try:
                    await client.get_workflow_handle(wid).execute_update(
                        PARTIES_UPDATE, id=f"{inp.key}:{wid}"
                    )
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                    return False
                activity.heartbeat(wid)
                return True

        return sum(await asyncio.gather(*(tell(w) for w in inp.workflow_ids)))

    @activity.defn(name=HAND_BACK_ACTIVITY)
    async def hand_back(self, inp: HandBackInput) -> int:
        handed = 0
        for pid in inp.problem_ids:
            if await self._hand_back_one(inp, pid):
                handed += 1
            activity.heartbeat(pid)
        return handed

    async def _hand_back_one(self, inp: HandBackInput, problem_id: str) -> bool:
        d = self.deps
        with session_scope(d.engine) as session:
            owner, head, path = hand_back_target(session, problem_id)
            leaver = names_of(session, [inp.person_id]).get(inp.person_id, inp.person_id)
        if head is None or head == inp.person_id or owner not in (inp.person_id, head):
            log.info("rectification_not_handed_back", problem_id=problem_id, owner=owner, head=head)
            return False
        if owner == head:  # handed back by an earlier attempt: its notice, once
            self._notify_head(inp, problem_id, head, path, leaver)
            return True
        message = f"{leaver} left on {inp.left_on.isoformat()}: handed back to the org's head"
        try:
            await act(
                d.temporal(),
                problem_id,
                ActionRequest(
                    action=Action.assign,
                    actor=HANDED_BACK_BY,
                    actor_person_id=None,
                    actor_role="admin",
                    body=AssignIn(owner_person_id=head, comment=message),
                ),
                update_id=f"{inp.key}:{problem_id}",
            )
        except Conflict:  # closed or moved on meanwhile: nothing to hand back
            return False
        self._notify_head(inp, problem_id, head, path, leaver)
        return True

    def _notify_head(
        self, inp: HandBackInput, problem_id: str, head: str, path: str, leaver: str
    ) -> None:
        at = utcnow()
        with session_scope(self.deps.engine) as session:
            title = problem_title(session, problem_id)
            notify(
                session,
                NotificationIn(
                    dedupe_key=f"{inp.key}:{problem_id}:handed-back",
                    recipient_person_id=head,
                    kind="rectification",
                    **texts.rectification_handed_back(
                        title, problem_id, leaver, inp.left_on
                    ).fields(),
                    entity_type="problem",
                    entity_id=problem_id,
                    org_path=path,
                    scheduled_for=at,
                    fired_at=at,
                ),
                self.deps.settings,
            )

"""What one legal action does to a rectification's snapshot: pure, so the workflow stays small
and every transition can be tested without a server.

``apply_action`` returns the new snapshot (version + 1, the next state) and the payload of the
audit event; the workflow persists both. The payload is the action's body plus what the event
needs to be read on its own (the previous owner or due date).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from services.core.clock import local_date
from services.rectification.contracts import (
    ActionRequest,
    AssignIn,
    ConfirmIn,
    ExtensionIn,
    PlanIn,
    ProblemSnapshot,
    ProgressReportIn,
    ReasonIn,
    RecheckIn,
    VerifyIn,
)
from services.rectification.rules import Action, next_state


class Clock(BaseModel):
    """The workflow's view of time: its clock, the org's timezone, the re-check window."""

    now: datetime
    timezone: str
    recheck_days: int


Changes = tuple[dict[str, Any], dict[str, Any], bool | None]  # (fields, payload extras, passed)
_Apply = Callable[[ProblemSnapshot, ActionRequest, Clock], Changes]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _confirm(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, ConfirmIn)
    return {"owner_person_id": req.body.owner_person_id}, {}, None


def _dismiss(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    return {"closed_at": c.now}, {}, None


def _assign(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, AssignIn)
    fields = {"owner_person_id": req.body.owner_person_id}
    return fields, {"previous_owner": s.owner_person_id}, None


def _plan(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, PlanIn)
    plan = {
        "measures": req.body.measures,
        "target_date": req.body.target_date.isoformat(),
        "status": "submitted",
    }
    return {"plan": plan}, {}, None


def _approve_plan(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    return {"plan": {**(s.plan or {}), "status": "approved", "approved_by": req.actor}}, {}, None


def _return_plan(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, ReasonIn)
    plan = {**(s.plan or {}), "status": "returned", "return_reason": req.body.reason}
    return {"plan": plan}, {}, None


def _progress(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, ProgressReportIn)
    return {"progress_percent": req.body.percent}, {}, None


def _extension(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, ExtensionIn)
    fields = {"extension_pending": True, "requested_due": req.body.new_due}
    return fields, {"current_due": _iso(s.due)}, None


def _approve_extension(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    fields = {
        "due": s.requested_due,
        "extension_pending": False,
        "requested_due": None,
        "overdue_level": 0,
    }
    return fields, {"previous_due": _iso(s.due)}, None


def _deny_extension(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    return {"extension_pending": False, "requested_due": None}, {}, None


def _completion(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    return {"progress_percent": 100}, {}, None


def _verify(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    assert isinstance(req.body, VerifyIn)
    if req.body.result != "pass":
        return {}, {}, False
    today = local_date(c.now, c.timezone)  # the org's calendar day, not UTC's
    fields = {
        "closed_at": c.now,
        "verifier_person_id": req.actor_person_id,
        "recheck_due": today + timedelta(days=c.recheck_days),
        "recheck_open": True,
    }
    return fields, {}, True


def _reopen(s: ProblemSnapshot, req: ActionRequest, c: Clock) -> Changes:
    """``reopen``, or a ``recheck`` that found the fix did not hold: back to work, a new due."""
    held = isinstance(req.body, RecheckIn) and req.body.held
    if held:
        return {"recheck_open": False}, {}, True
    fields = {
        "closed_at": None,
        "recheck_open": False,
        "recheck_due": None,
        "overdue_level": 0,
        "due": req.reopen_due,
    }
    return fields, {"due": _iso(req.reopen_due), "previous_due": _iso(s.due)}, False


_APPLY: dict[Action, _Apply] = {
    Action.confirm: _confirm,
    Action.dismiss: _dismiss,
    Action.assign: _assign,
    Action.plan: _plan,
    Action.approve_plan: _approve_plan,
    Action.return_plan: _return_plan,
    Action.progress: _progress,
    Action.extension: _extension,
    Action.approve_extension: _approve_extension,
    Action.deny_extension: _deny_extension,
    Action.completion: _completion,
    Action.verify: _verify,
    Action.reopen: _reopen,
    Action.recheck: _reopen,
}


def apply_action(
    s: ProblemSnapshot, req: ActionRequest, clock: Clock
) -> tuple[ProblemSnapshot, dict[str, Any]]:
    """The snapshot after the (already checked) action, and its audit event's payload."""
    fields, extras, passed = _APPLY[req.action](s, req, clock)
    fields["version"] = s.version + 1
    fields["state"] = next_state(req.action, s.state, passed)
    payload = {**req.body.model_dump(mode="json"), **extras}
    return s.model_copy(update=fields), payload

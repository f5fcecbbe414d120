"""Turning a person's action body into the workflow's ``ActionRequest``, with the checks that
need the read model (the default owner, people and evidence that exist, a later due date)."""

from __future__ import annotations

from sqlmodel import Session

from services.accounts.principal import Principal
from services.core.clock import today_in
from services.core.errors import Invalid
from services.core.parsing import parsed
from services.core.settings import Settings
from services.evidence.store import evidence_errors
from services.org.models import Org, Person
from services.rectification.contracts import (
    ACTION_BODIES,
    ActionBody,
    ActionRequest,
    AssignIn,
    CompletionIn,
    ConfirmIn,
    ExtensionIn,
    ProgressReportIn,
    Severity,
)
from services.rectification.models import Problem
from services.rectification.rules import Action
from services.rectification.store import default_due, due_date_error


def parse_body(action: Action, raw: object) -> ActionBody:
    """The action's typed body, or 422 naming each bad field."""
    return parsed(ACTION_BODIES[action], raw, action.value)


def _owner_errors(
    session: Session, p: Problem, body: ConfirmIn | AssignIn, scope_path: str
) -> list[dict[str, str]]:
    """Name the owner: the given person, or by default the head of the problem's org. A person
    outside the caller's scope is answered as unknown (never named owner, never told of)."""
    if body.owner_person_id is None:
        org = session.get(Org, p.org_id)
        body.owner_person_id = org.head_person_id if org else None
        if body.owner_person_id is None:
            return [{"field": "owner_person_id", "message": "the org has no head; name the owner"}]
    else:
        person = session.get(Person, body.owner_person_id)
        org = session.get(Org, person.org_id) if person is not None and person.org_id else None
        if org is None or not org.path.startswith(scope_path):
            message = f"unknown person {body.owner_person_id!r}"
            return [{"field": "owner_person_id", "message": message}]
    return []


def action_request(
    session: Session,
    settings: Settings,
    action: Action,
    p: Problem,
    body: ActionBody,
    principal: Principal,
) -> ActionRequest:
    """The request for the workflow's ``act`` Update; 422 naming the field if the body names a
    person or evidence that does not exist, or asks for an earlier due date."""
    errors: list[dict[str, str]] = []
    if isinstance(body, ConfirmIn | AssignIn):
        errors.extend(_owner_errors(session, p, body, principal.scope_path))
    if isinstance(body, ProgressReportIn | CompletionIn):
        errors.extend(evidence_errors(session, body.evidence, p.org_path))
    if isinstance(body, ExtensionIn):
        if p.due is not None and body.new_due <= p.due:
            errors.append(
                {"field": "new_due", "message": f"must be after the current due date {p.due}"}
            )
        elif (why := due_date_error(body.new_due, today_in(settings.timezone))) is not None:
            errors.append({"field": "new_due", "message": why})
    if errors:
        raise Invalid(f"invalid {action.value}", errors=errors)
    reopen_due = None
    if action in (Action.reopen, Action.recheck):
        reopen_due = default_due(settings, Severity(p.severity), today_in(settings.timezone))
    return ActionRequest(
        action=action,
        actor=principal.account_id,
        actor_person_id=principal.person_id,
        actor_role=principal.role.value,
        body=body,
        reopen_due=reopen_due,
    )

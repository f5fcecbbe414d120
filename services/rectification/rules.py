"""The rectification state machine (docs/design.md §2), as pure rules shared by workflow and API.

```
 identified ─confirm─► assigned ─plan─► plan_submitted ─approve-plan─► in_progress
     │                    ▲                   │ return-plan                 │ progress (loop)
     └─dismiss─► dismissed └───────────────────┘                            │ completion
                                                                            ▼
 closed ◄─verify(pass)─ completion_submitted ─verify(fail)─► in_progress
   └─reopen / recheck(not held), within the re-check window─► in_progress
```

Reading of the diagram: there is no separate "confirmed" state. ``confirm`` accepts the problem
and names its owner (default: the head of the responsible org), so it lands in ``assigned``.
``assign`` hands an open rectification to another owner without changing its state (reminders
follow the new owner). ``extension`` / ``approve-extension`` / ``deny-extension`` and the overdue
level are flags beside the state, never states. After closure the re-check window stays open
until the verifier confirms the fix held (``recheck`` with held=true), which ends the workflow.

Who may act: the owner plans, reports progress, asks for extensions and submits completion;
a committee member or admin whose scope covers the org does the rest. Segregation of duties: the
owner of a rectification can never verify or re-check it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from services.core.errors import Conflict, Forbidden


class RectState(StrEnum):
    identified = "identified"
    assigned = "assigned"
    plan_submitted = "plan_submitted"
    in_progress = "in_progress"
    completion_submitted = "completion_submitted"
    closed = "closed"
    dismissed = "dismissed"


class Action(StrEnum):
    confirm = "confirm"
    dismiss = "dismiss"
    assign = "assign"
    plan = "plan"
    approve_plan = "approve-plan"
    return_plan = "return-plan"
    progress = "progress"
    extension = "extension"
    approve_extension = "approve-extension"
    deny_extension = "deny-extension"
    completion = "completion"
    verify = "verify"
    reopen = "reopen"
    recheck = "recheck"


class Party(StrEnum):
    """Who does an action: the rectification's owner, or an overseer."""

    owner = "owner"  # the rectification's owner
    overseer = "overseer"  # committee or admin in scope


OPEN_STATES = frozenset(
    {
        RectState.identified,
        RectState.assigned,
        RectState.plan_submitted,
        RectState.in_progress,
        RectState.completion_submitted,
    }
)


# States in which the owner still owes work, so the due date's reminders run.
WORKING_STATES = frozenset({RectState.assigned, RectState.plan_submitted, RectState.in_progress})


# A problem's audit events that are not transitions: they carry no snapshot of the problem, so
# whoever rebuilds it from the chain skips them for its state, due date and owner. An
# escalation raises the overdue level of one due date; a carry only records the problem's move
# into the next year (its payload names the state it was in, not a new one).
NOT_TRANSITIONS = frozenset({"escalate", "carry"})


# action -> (states it is allowed in, who may do it)
RULES: dict[Action, tuple[frozenset[RectState], Party]] = {
    Action.confirm: (frozenset({RectState.identified}), Party.overseer),
    Action.dismiss: (frozenset({RectState.identified}), Party.overseer),
    Action.assign: (WORKING_STATES, Party.overseer),
    Action.plan: (frozenset({RectState.assigned}), Party.owner),
    Action.approve_plan: (frozenset({RectState.plan_submitted}), Party.overseer),
    Action.return_plan: (frozenset({RectState.plan_submitted}), Party.overseer),
    Action.progress: (frozenset({RectState.in_progress}), Party.owner),
    Action.extension: (WORKING_STATES, Party.owner),
    Action.approve_extension: (WORKING_STATES, Party.overseer),
    Action.deny_extension: (WORKING_STATES, Party.overseer),
    Action.completion: (frozenset({RectState.in_progress}), Party.owner),
    Action.verify: (frozenset({RectState.completion_submitted}), Party.overseer),
    Action.reopen: (frozenset({RectState.closed}), Party.overseer),
    Action.recheck: (frozenset({RectState.closed}), Party.overseer),
}


# Roles that oversee rectifications (accounts' ``Role`` values); auditors and members do not.
OVERSEER_ROLES = frozenset({"committee", "admin"})
# Actions the owner of a rectification may never do, whatever their role.
SEGREGATED = frozenset({Action.verify, Action.recheck})


class Flags(BaseModel):
    extension_pending: bool = False
    recheck_open: bool = False  # closed and the fix not yet confirmed to hold


def allowed_actions(state: RectState, flags: Flags) -> list[Action]:
    out = []
    for action, (states, _) in RULES.items():
        if state not in states:
            continue
        if action is Action.extension and flags.extension_pending:
            continue
        if (
            action in (Action.approve_extension, Action.deny_extension)
            and not flags.extension_pending
        ):
            continue
        if action in (Action.reopen, Action.recheck) and not flags.recheck_open:
            continue
        out.append(action)
    return out


def illegal_reason(action: Action, state: RectState, flags: Flags) -> str | None:
    """None when ``action`` is allowed now; otherwise a sentence naming the state and what is."""
    if action in allowed_actions(state, flags):
        return None
    allowed = ", ".join(a.value for a in allowed_actions(state, flags)) or "none"
    why = f"{action.value!r} is not allowed in state {state.value!r}"
    if action is Action.extension and flags.extension_pending:
        why += " (an extension request is already pending)"
    elif (
        action in (Action.approve_extension, Action.deny_extension) and not flags.extension_pending
    ):
        why += " (no extension request is pending)"
    elif action in (Action.reopen, Action.recheck) and state is RectState.closed:
        why += " (the re-check window is over)"
    return f"{why}; allowed now: {allowed}"


def next_state(action: Action, state: RectState, passed: bool | None = None) -> RectState:
    """The state after a legal ``action`` (``passed``: verify's or recheck's verdict)."""
    match action:
        case Action.confirm:
            return RectState.assigned
        case Action.dismiss:
            return RectState.dismissed
        case Action.plan:
            return RectState.plan_submitted
        case Action.approve_plan:
            return RectState.in_progress
        case Action.return_plan:
            return RectState.assigned
        case Action.completion:
            return RectState.completion_submitted
        case Action.verify:
            return RectState.closed if passed else RectState.in_progress
        case Action.reopen:
            return RectState.in_progress
        case Action.recheck:
            return RectState.closed if passed else RectState.in_progress
        case _:
            return state  # assign, progress and the extension actions keep the state


def check_action(
    action: Action,
    state: RectState,
    flags: Flags,
    owner_person_id: str | None,
    actor_person_id: str | None,
    actor_role: str | None,
) -> None:
    """Refuse ``action`` now: ``Conflict`` naming the state and what is allowed, or ``Forbidden``
    naming who may. The API calls this before the round trip, the workflow again under its lock.

    ``actor_role`` None: the role was checked by a caller that did not send it (old requests).
    """
    reason = illegal_reason(action, state, flags)
    if reason is not None:
        allowed = [a.value for a in allowed_actions(state, flags)]
        raise Conflict(reason, state=state.value, allowed_actions=allowed)
    _, party = RULES[action]
    if party is Party.owner:
        if owner_person_id is None or actor_person_id != owner_person_id:
            raise Forbidden(
                f"only the owner ({owner_person_id or 'not yet assigned'}) may {action.value}"
            )
        return
    if actor_role is not None and actor_role not in OVERSEER_ROLES:
        raise Forbidden(f"role {actor_role!r} may not {action.value}; committee or admin may")
    if action in SEGREGATED and actor_person_id is not None and actor_person_id == owner_person_id:
        raise Forbidden("the owner of a rectification can never verify it (segregation of duties)")

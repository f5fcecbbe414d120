"""The human steps both the API and the console take, written once: find what the step is on
within the caller's scope, check the shared rules early, then hand it to the domain client with
no database connection held. A route or a page calls one of these and renders the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session
from temporalio.client import Client

from api.bodies import AmendIn, CommitmentIn, ItemEdit
from api.deps import released
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.clock import today_in, utcnow
from services.core.errors import Conflict, Invalid, NotFound
from services.core.ids import keyed_id
from services.core.settings import Settings
from services.cycle import client as cycle_client
from services.cycle.access import (
    actor_for,
    commitment_in_scope,
    item_in_scope,
    letter_in_scope,
    new_commitment_id,
)
from services.cycle.client import CycleAlreadyLaunched, start_cycle
from services.cycle.contracts import (
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    Confirmation,
    ConfirmRequest,
    CycleRecord,
    ItemChange,
    LetterSnapshot,
    ProgressRequest,
    ReturnRequest,
    SignRequest,
    cycle_id_for,
)
from services.cycle.models import Cycle
from services.cycle.plan import ItemTemplate, Responsibility, item_text_errors
from services.cycle.rules import (
    require_author,
    require_head,
    require_issuer,
    require_member,
    require_reporter,
)
from services.cycle.store import CycleIn, checked_plan
from services.evaluation import client as evaluations
from services.evaluation.contracts import EvaluationIn, EvaluationPlan
from services.evaluation.defaults import plan_rubric_errors
from services.evaluation.models import Evaluation
from services.evaluation.store import create_evaluation
from services.evidence.store import evidence_errors
from services.org.models import Person
from services.org.queries import get_org
from services.rectification import client as rectification
from services.rectification.models import Problem
from services.rectification.requests import action_request, parse_body
from services.rectification.rules import Action, Flags, RectState, check_action
from services.rectification.store import get_problem


async def sign_letter(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    content_hash: str,
) -> None:
    """The head signs the version whose hash they read."""
    step = cycle_client.sign
    await _as_head(session, temporal, principal, cycle_id, org_id, content_hash, "sign", step)


async def acknowledge_letter(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    content_hash: str,
) -> None:
    """A head who took over acknowledges the letter the former head signed."""
    step = cycle_client.acknowledge
    await _as_head(
        session, temporal, principal, cycle_id, org_id, content_hash, "acknowledge", step
    )


HeadStep = Callable[[Client, str, str, SignRequest], Awaitable[LetterSnapshot]]


async def _as_head(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    content_hash: str,
    doing: str,
    step: HeadStep,
) -> None:
    """A head's step on the text they read (its hash): sign it, or acknowledge it."""
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_head(row, actor, f"{doing} its letter")
    req = SignRequest(actor=actor, content_hash=content_hash)
    await released(session, step(temporal, cycle_id, org_id, req))


async def return_letter(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    reason: str,
) -> None:
    """The head asks the issuer (the parent's head) for a revision."""
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_head(row, actor, "return its letter")
    req = ReturnRequest(actor=actor, reason=reason)
    await released(session, cycle_client.return_letter(temporal, cycle_id, org_id, req))


def _in_charge(it: ItemEdit, deputy_person_id: str | None) -> ItemTemplate:
    """The template as sent; a direct item naming nobody goes to the org's deputy, as at issue."""
    t = ItemTemplate.model_validate(it.model_dump(exclude={"item_id"}))
    if t.responsibility is Responsibility.direct and t.assignee_person_id is None:
        t.assignee_person_id = deputy_person_id
    return t


async def amend_letter(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    body: AmendIn,
) -> None:
    """The issuer adds or changes items: a new version, which the head signs again."""
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_issuer(row, actor, "change its items")
    errors = [e for n, it in enumerate(body.items) for e in item_text_errors(f"items.{n}", it)]
    errors += [
        {"field": f"items.{n}.assignee_person_id", "message": f"unknown person {person!r}"}
        for n, it in enumerate(body.items)
        if (person := it.assignee_person_id) is not None and session.get(Person, person) is None
    ]
    if errors:
        raise Invalid("invalid items", errors=errors)
    deputy = get_org(session, org_id).deputy_person_id
    changes = [ItemChange(id=it.item_id, template=_in_charge(it, deputy)) for it in body.items]
    req = AmendRequest(actor=actor, changes=changes, reason=body.reason)
    await released(session, cycle_client.amend(temporal, cycle_id, org_id, req))


async def pledge(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    body: CommitmentIn,
    idempotency_key: str | None,
) -> str:
    """A member pledges on the org's items; returns the commitment's id (the same one for a
    retry with the same ``idempotency_key``)."""
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_member(row, actor, "pledge on its items")
    cid = new_commitment_id(principal, idempotency_key)
    req = CommitmentRequest(actor=actor, commitment_id=cid, text=body.text, item_ids=body.item_ids)
    await released(session, cycle_client.submit_commitment(temporal, cycle_id, org_id, req))
    return cid


async def decide_commitment(
    session: Session,
    temporal: Client,
    principal: Principal,
    commitment_id: str,
    decision: str,
    body: BaseModel | None = None,
) -> None:
    """The issuer approves (published on the board) or returns it; the author resubmits."""
    c = commitment_in_scope(session, principal, commitment_id)
    row = letter_in_scope(session, principal, c.cycle_id, c.org_id)
    actor = actor_for(session, principal, row)
    if decision == "resubmit":
        require_author(c.person_id, actor)
    else:
        require_issuer(row, actor, f"{decision} a commitment")
    fields = body.model_dump() if body is not None else {}
    req = CommitmentDecision(actor=actor, commitment_id=commitment_id, decision=decision, **fields)
    await released(session, cycle_client.decide_commitment(temporal, c.cycle_id, c.org_id, req))


async def report_progress(
    session: Session,
    temporal: Client,
    principal: Principal,
    item_id: str,
    actual: float,
    note: str,
    evidence: list[str],
) -> None:
    """The assignee reports the figure reached so far (for a collective item: any member)."""
    item = item_in_scope(session, principal, item_id)
    letter = letter_in_scope(session, principal, item.cycle_id, item.org_id)
    actor = actor_for(session, principal, letter)
    require_reporter(letter, item, actor)
    errors = evidence_errors(session, evidence, item.org_path)
    if errors:
        raise Invalid("invalid progress", errors=errors)
    req = ProgressRequest(actor=actor, item_id=item_id, actual=actual, note=note, evidence=evidence)
    step = cycle_client.report_progress(temporal, item.cycle_id, item.org_id, req)
    await released(session, step)


async def confirm_achievement(
    session: Session,
    temporal: Client,
    principal: Principal,
    item_id: str,
    decision: Confirmation,
    reason: str,
) -> None:
    """The issuer (the parent org's head; the committee for the root) confirms or rejects an
    achievement reported on an item."""
    item = item_in_scope(session, principal, item_id)
    letter = letter_in_scope(session, principal, item.cycle_id, item.org_id)
    actor = actor_for(session, principal, letter)
    require_issuer(letter, actor, "confirm the achievements of its items")
    req = ConfirmRequest(actor=actor, item_id=item_id, decision=decision, reason=reason)
    await released(
        session, cycle_client.confirm_achievement(temporal, item.cycle_id, item.org_id, req)
    )


def visible_problem(session: Session, principal: Principal, problem_id: str) -> Problem:
    p = get_problem(session, problem_id)
    principal.require_path(p.org_path, f"problem {problem_id!r}", "problem_id")
    return p


def action_named(action: str) -> Action:
    try:
        return Action(action)
    except ValueError:
        raise NotFound(
            f"unknown action {action!r}; one of {', '.join(a.value for a in Action)}",
            field="action",
        ) from None


async def act_on_problem(
    session: Session,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    problem_id: str,
    action: str,
    body: Any,
) -> None:
    """One step of a rectification: scope, then the state (409 whoever asks), then the role and
    the body; the workflow checks the state and role again under its lock."""
    act = action_named(action)
    p = visible_problem(session, principal, problem_id)
    check_action(
        act,
        RectState(p.state),
        Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open),
        p.owner_person_id,
        principal.person_id,
        principal.role.value,
    )
    req = action_request(session, settings, act, p, parse_body(act, body), principal)
    try:
        await released(session, rectification.act(temporal, problem_id, req))
    except Conflict as exc:
        exc.extra.setdefault("state", p.state)  # a finished workflow: the state it ended in
        raise


def _already(cycle: Cycle | None, cycle_id: str) -> Conflict:
    if cycle is None:
        return Conflict(f"cycle {cycle_id!r} was launched already", cycle_id=cycle_id)
    return Conflict(
        f"cycle {cycle.id!r} is already {cycle.state} (launched {cycle.launched_at:%Y-%m-%d} by "
        f"{cycle.launched_by}); the same root and year are launched once",
        cycle_id=cycle.id,
        state=cycle.state,
    )


async def launch_cycle(
    session: Session, temporal: Client, settings: Settings, principal: Principal, body: CycleIn
) -> LetterSnapshot:
    """Launch the year's cycle for a root org; returns the root's letter once issued. The same
    root and year are launched once (409 naming the cycle)."""
    principal.require_role(Role.committee, Role.admin)
    principal.require_scope(get_org(session, body.root_org_id))  # 403 before judging the plan
    root, plan = checked_plan(session, body)
    errors = plan_rubric_errors(plan)
    if plan.calendar.sign_by.year != body.year:
        errors.append(
            {"field": "plan.calendar.sign_by", "message": f"must fall in the year {body.year}"}
        )
    if plan.calendar.closes_on < today_in(settings.timezone):
        errors.append({"field": "plan.calendar.closes_on", "message": "is already past"})
    if errors:
        raise Invalid("the plan's rubric or calendar does not fit the cycle", errors=errors)
    cycle_id = cycle_id_for(root.id, body.year)
    existing = session.get(Cycle, cycle_id)
    if existing is not None:
        raise _already(existing, cycle_id)
    record = CycleRecord(
        cycle_id=cycle_id,
        root_org_id=root.id,
        year=body.year,
        title=body.title,
        plan=plan,
        launched_by=principal.account_id,
        launched_at=utcnow(),
    )
    try:
        return await released(session, start_cycle(temporal, settings, record))
    except CycleAlreadyLaunched:
        session.expire_all()
        raise _already(session.get(Cycle, cycle_id), cycle_id) from None


async def begin_evaluation(
    session: Session,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: EvaluationIn,
    idempotency_key: str | None,
) -> Evaluation:
    """The evaluation and its subjects written, then its workflow started (a retry with the
    same key finds both)."""
    evaluation_id = keyed_id("E", principal.account_id, idempotency_key)
    row, _ = create_evaluation(session, body, principal, evaluation_id, today_in(settings.timezone))
    session.flush()
    plan = EvaluationPlan(
        evaluation_id=row.id,
        opens_on=row.opens_on,
        rating_deadline=row.rating_deadline,
        timezone=settings.timezone,
        debriefing_due=row.debriefing_due,
    )
    await evaluations.start(temporal, settings, plan)
    return row

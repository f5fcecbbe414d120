"""Rectification's writes and lookups: a new problem's snapshot and due date, ids, persisting
each transition (row + audit event in one transaction, idempotent by version), overdue levels.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.audit.chain import AuditEventOut, append_event, entity_timeline, lock_chain
from services.core.clock import as_utc, deadline_instant, today_in
from services.core.db import expire_loaded, rows_changed
from services.core.errors import Invalid, absent
from services.core.ids import keyed_id
from services.core.settings import Settings
from services.org.models import Org
from services.rectification.contracts import (
    SEVERITY_RANK,
    ProblemIn,
    ProblemSnapshot,
    Severity,
    Transition,
)
from services.rectification.history import record_period
from services.rectification.models import Problem
from services.rectification.rules import RectState


def default_due(settings: Settings, severity: Severity, today: date) -> date:
    """Due date by severity when the flagger gives none (configured days from today)."""
    days = {
        Severity.critical: settings.due_days_critical,
        Severity.major: settings.due_days_major,
        Severity.minor: settings.due_days_minor,
    }[severity]
    return today + timedelta(days=days)


# A due date further out than this starts no meaningful timer: it is a typo.
MAX_DUE_YEARS = 5


def due_date_error(due: date | None, today: date) -> str | None:
    """Why ``due`` cannot be a rectification's due date (past, or years away), or None."""
    if due is None:
        return None
    if due < today:
        return "must not be in the past"
    if due > today + timedelta(days=365 * MAX_DUE_YEARS):
        return f"must be within {MAX_DUE_YEARS} years"
    return None


def same_request(p: Problem, body: ProblemIn) -> bool:
    """Whether a retried flag (same ``Idempotency-Key``) asks for the problem it made."""
    asked = (body.org_id, body.source, body.category, body.severity, body.title, body.description)
    stored = (p.org_id, p.source, p.category, p.severity, p.title, p.description)
    links = (body.cycle_id, body.item_id) == (p.cycle_id, p.item_id)
    return asked == stored and links and (body.due is None or body.due == p.due)


def new_snapshot(
    settings: Settings,
    org: Org,
    body: ProblemIn,
    problem_id: str,
    created_by: str,
    now: datetime,
    today: date | None = None,
) -> ProblemSnapshot:
    """The not-yet-recorded problem handed to its workflow (version 0: the workflow records it).

    ``today`` is the flagger's calendar day (a workflow passes its own clock's), default the
    configured timezone's today.
    """
    today = today or today_in(settings.timezone)
    due_error = due_date_error(body.due, today)
    if due_error is not None:
        raise Invalid(f"due {due_error}", errors=[{"field": "due", "message": due_error}])
    return ProblemSnapshot(
        problem_id=problem_id,
        org_id=org.id,
        org_path=org.path,
        cycle_id=body.cycle_id,
        item_id=body.item_id,
        source=body.source.value,
        category=body.category.value,
        severity=body.severity.value,
        title=body.title,
        description=body.description,
        state=RectState.identified,
        owner_person_id=None,
        verifier_person_id=None,
        due=body.due or default_due(settings, body.severity, today),
        opened_at=now,
        closed_at=None,
        extension_pending=False,
        requested_due=None,
        recheck_due=None,
        recheck_open=False,
        progress_percent=0,
        plan=None,
        version=0,
        created_by=created_by,
    )


def new_problem_id(account_id: str, idempotency_key: str | None) -> str:
    return keyed_id("P", account_id, idempotency_key)


def get_problem(session: Session, problem_id: str) -> Problem:
    p = session.get(Problem, problem_id)
    if p is None:
        raise absent(f"problem {problem_id!r}", "problem_id")
    return p


def timeline(session: Session, problem_id: str) -> list[AuditEventOut]:
    return entity_timeline(session, "problem", problem_id)


def closing_figures(
    state: str, opened: datetime, closed: datetime | None, due: date | None, timezone: str
) -> tuple[float | None, bool | None]:
    """What the statistics read of a closed rectification, kept on its row so they need not
    compute it per row: days from opening to closing, and whether it closed by the end of its
    due day in ``timezone`` (None without a due date). (None, None) unless closed."""
    if state != RectState.closed.value or closed is None:
        return None, None
    closed_utc, opened_utc = as_utc(closed), as_utc(opened)
    days = (closed_utc - opened_utc).total_seconds() / 86400
    return days, None if due is None else closed_utc <= deadline_instant(due, timezone)


def persist_transition(session: Session, t: Transition, timezone: str) -> bool:
    """Write the snapshot and its audit event in the caller's transaction; False if already done.
    ``timezone`` is the installation's, in which a due day ends.

    Plain statements rather than loaded objects (a step's write runs at every step of every
    rectification): the org's path alone, and the row updated in place, inserted only when the
    update found none (the flag's write)."""
    s = t.snapshot
    key = f"rect:{s.problem_id}:v{s.version}"
    # Where the org is now: the workflow's snapshot keeps the path it started with, and the org
    # may have moved since (services/changes); read under the chain's lock, which a move takes
    # to append its event before it commits (``audit.chain.lock_chain``).
    lock_chain(session)
    org_path = session.execute(select(Org.path).where(col(Org.id) == s.org_id)).scalar()
    path = org_path if org_path is not None else s.org_path
    payload = {
        **t.payload,
        "state": s.state.value,
        "due": s.due.isoformat() if s.due else None,
        "owner": s.owner_person_id,
        "extension_pending": s.extension_pending,
    }
    _, created = append_event(
        session,
        idempotency_key=key,
        actor=t.actor,
        action=t.action,
        entity_type="problem",
        entity_id=s.problem_id,
        payload=payload,
        at=t.at,
        org_path=path,
    )
    if not created:
        return False
    values = s.model_dump(exclude={"problem_id", "overdue_level"})
    values["org_path"] = path
    values["state"] = s.state.value
    values["severity_rank"] = SEVERITY_RANK.get(Severity(s.severity), 1)
    values["updated_at"] = t.at
    values["close_days"], values["closed_on_time"] = closing_figures(
        values["state"], s.opened_at, s.closed_at, s.due, timezone
    )
    if s.overdue_level is not None:  # else the level stays what the escalations raised it to
        values["overdue_level"] = s.overdue_level
    updated = session.execute(
        update(Problem)
        .where(col(Problem.id) == s.problem_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(updated) == 0:
        session.add(Problem(id=s.problem_id, **{"overdue_level": 0, **values}))
    expire_loaded(session, Problem, s.problem_id)
    session.flush()
    level = {} if s.overdue_level is None else {"overdue_level": s.overdue_level}
    kept = s.model_dump(include={"due", "owner_person_id", "extension_pending"})
    record_period(session, s.problem_id, t.at, state=values["state"], **kept, **level)
    return True


def existing_problem_ids(session: Session, ids: list[str]) -> set[str]:
    from sqlmodel import col

    return set(session.exec(select(Problem.id).where(col(Problem.id).in_(ids))).all())


def raise_overdue(session: Session, problem_id: str, level: int, at: datetime, due: date) -> None:
    """An escalation of the due date ``due``, fired at ``at``, raised the problem's overdue level
    (never lowers it: retries are no-ops), and so began a period of its history. Not when the
    due date has changed meanwhile: an extension approved while the escalation's write waited
    for its batch restarted the level, and the old date's escalations no longer count (as the
    drift check reads the chain)."""
    raised = session.execute(
        update(Problem)
        .where(
            col(Problem.id) == problem_id,
            col(Problem.due) == due,
            col(Problem.overdue_level) < level,
        )
        .values(overdue_level=level)
    )
    if rows_changed(raised):
        record_period(session, problem_id, at, overdue_level=level)

"""Evaluations in the read model: creating one (subjects and default raters, all or nothing),
moving its phase (the workflow's activities), and reading it back in a caller's scope.

Ballots are in ``ballots.py``; results in ``results.py``.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from services.accounts.models import Role
from services.accounts.principal import Principal
from services.audit.chain import append_event
from services.core.errors import Forbidden, Invalid, absent
from services.cycle.models import Cycle
from services.evaluation.contracts import EvaluationIn, GroupName, Phase, PhaseChange
from services.evaluation.defaults import cycle_rubric
from services.evaluation.models import (
    Evaluation,
    EvaluationBallot,
    EvaluationInvitation,
    EvaluationResult,
    EvaluationSubject,
)
from services.evaluation.raters import default_raters
from services.org.models import Org
from services.org.queries import under_path


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"invalid evaluation: {message}", errors=[{"field": field, "message": message}])


def subjects_of(session: Session, cycle: Cycle, body: EvaluationIn) -> list[Org]:
    """The orgs under ``subjects.under`` at the asked levels (counted from the cycle's root);
    a level with no org is refused, naming it."""
    under = session.get(Org, body.subjects.under)
    if under is None or not under.path.startswith(cycle.root_path):
        raise _invalid("subjects.under", f"org {body.subjects.under!r} is not in {cycle.id}")
    root = session.get(Org, cycle.root_org_id)
    assert root is not None
    found = session.exec(
        select(Org)
        .where(
            under_path(col(Org.path), under.path),
            col(Org.depth).in_([root.depth + lv for lv in body.subjects.levels]),
        )
        .order_by(col(Org.depth), col(Org.path))
    ).all()
    present = {o.depth - root.depth for o in found}
    for n, level in enumerate(body.subjects.levels):
        if level not in present:
            raise _invalid(f"subjects.levels.{n}", f"no org at level {level} under {under.id}")
    return list(found)


def create_evaluation(
    session: Session, body: EvaluationIn, principal: Principal, evaluation_id: str, today: date
) -> tuple[Evaluation, bool]:
    """The evaluation with its subjects and their default raters, in the caller's transaction;
    (row, False) when this id exists already (a retried request)."""
    existing = session.get(Evaluation, evaluation_id)
    if existing is not None:
        return existing, False
    cycle = session.get(Cycle, body.cycle_id)
    scope = principal.scope_path
    if cycle is None or not (
        cycle.root_path.startswith(scope) or scope.startswith(cycle.root_path)
    ):  # another tree's cycle reads as an unknown one
        raise _invalid("cycle_id", f"unknown cycle {body.cycle_id!r}")
    require_root_committee(principal, cycle)
    if body.rating_deadline < today:
        raise _invalid("rating_deadline", f"{body.rating_deadline} is already past")
    subjects = subjects_of(session, cycle, body)
    under = session.get(Org, body.subjects.under)
    assert under is not None
    row = Evaluation(
        id=evaluation_id,
        cycle_id=cycle.id,
        kind=body.kind.value,
        title=body.title,
        under_org_id=under.id,
        under_path=under.path,
        levels=body.subjects.levels,
        rubric=(body.rubric or cycle_rubric(cycle.plan)).model_dump(mode="json"),
        groups=[g.model_dump(mode="json") for g in body.groups],
        weights=body.weights.model_dump(mode="json"),
        opens_on=body.opens_on,
        rating_deadline=body.rating_deadline,
        debriefing_due=body.debriefing_due,
        organizer_account_id=principal.account_id,
        organizer_person_id=principal.person_id,
    )
    session.add(row)
    session.flush()
    _add_subjects(session, row, cycle, subjects, {GroupName(g.name) for g in body.groups})
    append_event(
        session,
        idempotency_key=f"evaluation:{row.id}:create",
        actor=principal.account_id,
        action="evaluation_create",
        entity_type="evaluation",
        entity_id=row.id,
        payload={"cycle_id": cycle.id, "title": body.title, "subjects": len(subjects)},
        at=row.created_at,
        org_path=under.path,
    )
    return row, True


def _add_subjects(
    session: Session, row: Evaluation, cycle: Cycle, subjects: list[Org], groups: set[GroupName]
) -> None:
    """Each subject with its public link code, and its default raters in the chosen groups."""
    cycle_root = session.get(Org, cycle.root_org_id)
    assert cycle_root is not None
    for org in subjects:
        session.add(
            EvaluationSubject(
                evaluation_id=row.id,
                org_id=org.id,
                org_name=org.name,
                org_path=org.path,
                level=org.depth - cycle_root.depth,
                head_person_id=org.head_person_id,
                public_code=secrets.token_urlsafe(12),
            )
        )
        for group, people in default_raters(session, org).items():
            if group not in groups:
                continue
            for person_id in people:
                session.add(
                    EvaluationInvitation(
                        evaluation_id=row.id,
                        subject_org_id=org.id,
                        group=group.value,
                        person_id=person_id,
                    )
                )


def get_evaluation(session: Session, principal: Principal, evaluation_id: str) -> Evaluation:
    """The evaluation when its subjects' subtree and the caller's scope overlap (a sibling
    subtree's reader gets the 404 of an unknown id)."""
    row = session.get(Evaluation, evaluation_id)
    if row is None:
        raise absent(f"evaluation {evaluation_id!r}", "evaluation_id")
    scope = principal.scope_path
    if not (row.under_path.startswith(scope) or scope.startswith(row.under_path)):
        raise absent(f"evaluation {evaluation_id!r}", "evaluation_id")
    return row


def set_phase(session: Session, change: PhaseChange) -> bool:
    """Move the phase (idempotent: the same change again writes nothing)."""
    row = session.get(Evaluation, change.evaluation_id)
    assert row is not None
    if row.phase == change.phase.value:
        return False
    row.phase = change.phase.value
    if change.phase is Phase.calibration:
        row.rating_closed_at = change.at
    if change.phase is Phase.published:
        row.published_at = change.at
    session.add(row)
    append_event(
        session,
        idempotency_key=f"evaluation:{row.id}:phase={change.phase.value}",
        actor=change.by,
        action=f"evaluation_{change.phase.value}",
        entity_type="evaluation",
        entity_id=row.id,
        payload={"phase": change.phase.value},
        at=change.at,
        org_path=row.under_path,
    )
    return True


class GroupProgress(BaseModel):
    invited: int
    voted: int


class SubjectProgress(BaseModel):
    org_id: str
    org_name: str
    level: int
    groups: dict[str, GroupProgress]
    debriefing_submitted: bool


class EvaluationOut(BaseModel):
    evaluation_id: str
    cycle_id: str
    kind: str
    title: str
    phase: str
    under_org_id: str
    levels: list[int]
    opens_on: date
    rating_deadline: date
    debriefing_due: date | None
    rubric: dict[str, Any]
    groups: list[dict[str, Any]]
    weights: dict[str, Any]
    created_at: datetime
    published_at: datetime | None
    subjects: list[SubjectProgress]


def progress(session: Session, row: Evaluation, scope_path: str) -> EvaluationOut:
    """The evaluation and, per subject in the caller's scope, invited and voted per group
    (counts only: never who)."""
    subjects = session.exec(
        select(EvaluationSubject)
        .where(
            EvaluationSubject.evaluation_id == row.id,
            under_path(col(EvaluationSubject.org_path), scope_path),
        )
        .order_by(col(EvaluationSubject.level), col(EvaluationSubject.org_path))
    ).all()
    counts: dict[tuple[str, str], GroupProgress] = {}
    inv = EvaluationInvitation
    for org_id, group, voted, n in session.exec(
        select(inv.subject_org_id, inv.group, inv.voted, func.count())
        .where(inv.evaluation_id == row.id)
        .group_by(col(inv.subject_org_id), col(inv.group), col(inv.voted))
    ).all():
        gp = counts.setdefault((org_id, group), GroupProgress(invited=0, voted=0))
        gp.invited += int(n)
        gp.voted += int(n) if voted else 0
    public = EvaluationBallot  # the public is not invited by name: count its ballots
    for org_id, n in session.exec(
        select(public.subject_org_id, func.count())
        .where(public.evaluation_id == row.id, public.group == "public")
        .group_by(col(public.subject_org_id))
    ).all():
        counts[(org_id, "public")] = GroupProgress(invited=0, voted=int(n))
    names = [g["name"] for g in row.groups]
    out = [
        SubjectProgress(
            org_id=s.org_id,
            org_name=s.org_name,
            level=s.level,
            groups={g: counts.get((s.org_id, g), GroupProgress(invited=0, voted=0)) for g in names},
            debriefing_submitted=s.debriefing_at is not None,
        )
        for s in subjects
    ]
    return EvaluationOut(
        evaluation_id=row.id,
        cycle_id=row.cycle_id,
        kind=row.kind,
        title=row.title,
        phase=row.phase,
        under_org_id=row.under_org_id,
        levels=row.levels,
        opens_on=row.opens_on,
        rating_deadline=row.rating_deadline,
        debriefing_due=row.debriefing_due,
        rubric=row.rubric,
        groups=row.groups,
        weights=row.weights,
        created_at=row.created_at,
        published_at=row.published_at,
        subjects=out,
    )


def visible_evaluations(session: Session, principal: Principal) -> list[Evaluation]:
    """Evaluations whose subjects' subtree and the caller's scope overlap, newest first."""
    scope = principal.scope_path
    rows = session.exec(select(Evaluation).order_by(col(Evaluation.created_at).desc())).all()
    return [r for r in rows if r.under_path.startswith(scope) or scope.startswith(r.under_path)]


def organized_by(session: Session, principal: Principal, evaluation_id: str) -> Evaluation:
    """The evaluation, for the committee of its cycle's root (the organizer) only."""
    row = get_evaluation(session, principal, evaluation_id)
    cycle = session.get(Cycle, row.cycle_id)
    assert cycle is not None  # an evaluation is created for an existing cycle
    require_root_committee(principal, cycle)
    return row


def cycles_to_evaluate(session: Session, principal: Principal) -> list[Cycle]:
    """The cycles whose evaluations this account may organize, newest first."""
    if principal.role not in (Role.committee, Role.admin):
        return []
    rows = session.exec(select(Cycle).order_by(col(Cycle.year).desc(), col(Cycle.id))).all()
    return [c for c in rows if principal.in_scope(c.root_path)]


def require_root_committee(principal: Principal, cycle: Cycle) -> None:
    """Evaluations are the business of the committee of the cycle's root (or an admin above)."""
    if not (principal.role in (Role.committee, Role.admin) and principal.in_scope(cycle.root_path)):
        raise Forbidden(f"only the committee of {cycle.root_org_id!r} organizes its evaluations")


def results_in_scope(
    session: Session,
    row: Evaluation,
    scope_path: str,
    level: int | None = None,
    org_id: str | None = None,
) -> list[tuple[EvaluationResult, EvaluationSubject]]:
    """The results of the subjects within ``scope_path``, by level and rank (who may see them at
    all is the caller's to check: the organizer before publication, any reader after)."""
    res, subj = EvaluationResult, EvaluationSubject
    q = (
        select(res, subj)
        .join(
            subj,
            (col(subj.evaluation_id) == col(res.evaluation_id))
            & (col(subj.org_id) == col(res.org_id)),
        )
        .where(res.evaluation_id == row.id, under_path(col(subj.org_path), scope_path))
        .order_by(col(res.level), col(res.rank), col(res.org_id))
    )
    if level is not None:
        q = q.where(res.level == level)
    if org_id is not None:
        q = q.where(res.org_id == org_id)
    return [(r, s) for r, s in session.exec(q).all()]

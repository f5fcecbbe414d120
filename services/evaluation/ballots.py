"""Casting ballots, anonymously: the rater's invitation is marked voted and the ballot is written
without the rater, in one transaction. A retry with the same Idempotency-Key is recognised from
a hash kept on the invitation, so it creates nothing and still names nobody."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.clock import deadline_instant, local_date
from services.core.db import rows_changed
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.evaluation.contracts import BallotIn, Method, Phase, Rubric
from services.evaluation.models import (
    Evaluation,
    EvaluationBallot,
    EvaluationInvitation,
    EvaluationSubject,
)


class MyBallot(BaseModel):
    subject_org_id: str
    org_name: str
    group: str
    voted: bool


def my_ballots(session: Session, row: Evaluation, person_id: str | None) -> list[MyBallot]:
    """What this person is asked to rate, by subject and group, and whether they have."""
    if person_id is None:
        return []
    inv, subj = EvaluationInvitation, EvaluationSubject
    rows = session.exec(
        select(inv.subject_org_id, subj.org_name, inv.group, inv.voted)
        .join(
            subj,
            (col(subj.evaluation_id) == col(inv.evaluation_id))
            & (col(subj.org_id) == col(inv.subject_org_id)),
        )
        .where(inv.evaluation_id == row.id, inv.person_id == person_id)
        .order_by(col(subj.level), col(subj.org_path), col(inv.group))
    ).all()
    return [MyBallot(subject_org_id=o, org_name=n, group=g, voted=v) for o, n, g, v in rows]


def score_errors(rubric: Rubric, body: BallotIn) -> list[dict[str, str]]:
    """Every rating indicator scored within 0..max_points; nothing else."""
    rated = rubric.indicators(Method.rating)
    errors = [
        {"field": f"scores.{k}", "message": "not a rating indicator of this rubric"}
        for k in body.scores
        if k not in rated
    ]
    for k, ind in rated.items():
        if k not in body.scores:
            errors.append({"field": f"scores.{k}", "message": "missing"})
        elif not 0 <= body.scores[k] <= ind.max_points:
            errors.append(
                {"field": f"scores.{k}", "message": f"must be within 0..{ind.max_points:g}"}
            )
    return errors


def _request_hash(person_id: str, key: str | None) -> str | None:
    return hashlib.sha256(f"{person_id}\0{key}".encode()).hexdigest() if key else None


def cast_ballot(
    session: Session,
    row: Evaluation,
    person_id: str | None,
    body: BallotIn,
    idempotency_key: str | None,
    now: datetime,
    timezone: str,
) -> bool:
    """Record one ballot (in the caller's transaction); False for a recognised retry. Refusals:
    not rating now or past the deadline (409), not invited (403), voted already (409), scores
    outside the rubric (422 naming each)."""
    if row.phase != Phase.rating.value or now > deadline_instant(row.rating_deadline, timezone):
        closed = row.phase if row.phase != Phase.rating.value else "past its deadline"
        raise Conflict(f"rating is not open ({closed})", state=row.phase)
    inv = session.exec(
        select(EvaluationInvitation).where(
            EvaluationInvitation.evaluation_id == row.id,
            EvaluationInvitation.subject_org_id == body.subject_org_id,
            EvaluationInvitation.group == body.group.value,
            EvaluationInvitation.person_id == (person_id or ""),
        )
    ).first()
    if inv is None:
        raise Forbidden(
            f"you are not invited to rate {body.subject_org_id!r} in the {body.group.value} group"
        )
    asked = _request_hash(inv.person_id, idempotency_key)
    if inv.voted:
        if asked is not None and asked == inv.request_hash:
            return False
        raise Conflict("you have rated this subject in this group already", state="voted")
    errors = score_errors(Rubric.model_validate(row.rubric), body)
    if errors:
        raise Invalid("invalid ballot", errors=errors)
    # Mark voted only if still unvoted: two concurrent ballots cannot both pass.
    marked = session.execute(
        update(EvaluationInvitation)
        .where(col(EvaluationInvitation.id) == inv.id, col(EvaluationInvitation.voted).is_(False))
        .values(voted=True, request_hash=asked)
    )
    if not rows_changed(marked):
        raise Conflict("you have rated this subject in this group already", state="voted")
    session.add(
        EvaluationBallot(
            id="B-" + secrets.token_hex(10).upper(),
            evaluation_id=row.id,
            subject_org_id=body.subject_org_id,
            group=body.group.value,
            scores=body.scores,
            debriefing_rating=body.debriefing_rating.value if body.debriefing_rating else None,
            comment=body.comment,
            cast_on=local_date(now, timezone),
        )
    )
    return True


class PublicBallotForm(BaseModel):
    """What the public sees through a subject's link code: enough to rate, nothing more."""

    evaluation_title: str
    org_name: str
    rating_deadline: str
    open: bool
    indicators: list[dict[str, object]]  # id, title, max_points, aspect
    debriefing: str


def public_subject(session: Session, code: str) -> tuple[Evaluation, EvaluationSubject]:
    subject = session.exec(
        select(EvaluationSubject).where(EvaluationSubject.public_code == code)
    ).first()
    row = session.get(Evaluation, subject.evaluation_id) if subject is not None else None
    if subject is None or row is None:
        raise NotFound("no evaluation has this link", field="code")
    groups = {g["name"] for g in row.groups}
    if "public" not in groups:
        raise NotFound("this evaluation takes no ballots from the public", field="code")
    return row, subject


def public_form(row: Evaluation, subject: EvaluationSubject, open_now: bool) -> PublicBallotForm:
    rubric = Rubric.model_validate(row.rubric)
    return PublicBallotForm(
        evaluation_title=row.title,
        org_name=subject.org_name,
        rating_deadline=row.rating_deadline.isoformat(),
        open=open_now,
        indicators=[
            {"id": i.id, "title": i.title, "max_points": i.max_points, "aspect": a.value}
            for a, spec in rubric.aspects.items()
            for i in spec.indicators
            if i.method is Method.rating
        ],
        debriefing=subject.debriefing,
    )


def rating_open(row: Evaluation, now: datetime, timezone: str) -> bool:
    return row.phase == Phase.rating.value and now <= deadline_instant(
        row.rating_deadline, timezone
    )


def cast_public_ballot(
    session: Session,
    row: Evaluation,
    subject: EvaluationSubject,
    body: BallotIn,
    now: datetime,
    timezone: str,
) -> None:
    """A ballot in the ``public`` group: nobody is invited or recorded (the address is only
    rate-limited, never stored)."""
    if not rating_open(row, now, timezone):
        raise Conflict("rating is not open", state=row.phase)
    errors = score_errors(Rubric.model_validate(row.rubric), body)
    if errors:
        raise Invalid("invalid ballot", errors=errors)
    session.add(
        EvaluationBallot(
            id="B-" + secrets.token_hex(10).upper(),
            evaluation_id=row.id,
            subject_org_id=subject.org_id,
            group="public",
            scores=body.scores,
            debriefing_rating=body.debriefing_rating.value if body.debriefing_rating else None,
            comment=body.comment,
            cast_on=local_date(now, timezone),
        )
    )

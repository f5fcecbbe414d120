"""Around rating: the organizer names raters until rating opens; the subjects' heads hand in
their debriefing reports; between rating and publication the organizer calibrates — bonus and
penalty entries with reasons, or a veto — which recomputes the results (published results never
change)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from services.audit.chain import append_event
from services.core.clock import deadline_instant
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.evaluation.contracts import AdjustmentsIn, DebriefingIn, Phase, RatersIn
from services.evaluation.models import Evaluation, EvaluationInvitation, EvaluationSubject
from services.evaluation.results import compute_results
from services.evidence.store import evidence_errors
from services.org.models import Person


def subject_of(session: Session, row: Evaluation, org_id: str) -> EvaluationSubject:
    subject = session.exec(
        select(EvaluationSubject).where(
            EvaluationSubject.evaluation_id == row.id, EvaluationSubject.org_id == org_id
        )
    ).first()
    if subject is None:
        raise NotFound(f"{org_id!r} is not a subject of evaluation {row.id}", field="org_id")
    return subject


def calibrate(
    session: Session, row: Evaluation, org_id: str, body: AdjustmentsIn, actor: str, at: datetime
) -> EvaluationSubject:
    """Replace a subject's calibration entries and recompute every result (ranks move too)."""
    if row.phase != Phase.calibration.value:
        raise Conflict(f"calibration is closed (the evaluation is {row.phase})", state=row.phase)
    subject = subject_of(session, row, org_id)
    subject.adjustments = [e.model_dump(mode="json") for e in body.entries]
    session.add(subject)
    append_event(
        session,
        idempotency_key=f"evaluation:{row.id}:calibrate:{org_id}:{at.isoformat()}",
        actor=actor,
        action="evaluation_calibrate",
        entity_type="evaluation",
        entity_id=row.id,
        payload={"org_id": org_id, "entries": subject.adjustments},
        at=at,
        org_path=subject.org_path,
    )
    session.flush()
    compute_results(session, row, at)
    return subject


def submit_debriefing(
    session: Session,
    row: Evaluation,
    person_id: str | None,
    body: DebriefingIn,
    at: datetime,
    timezone: str,
) -> EvaluationSubject:
    """The subject's head hands in (or replaces) the debriefing report until it is due and while
    raters can still rate it."""
    subject = subject_of(session, row, body.org_id)
    if person_id is None or person_id != subject.head_person_id:
        raise Forbidden(f"only the head of {subject.org_name} hands in its debriefing")
    due = row.debriefing_due or row.rating_deadline
    if row.phase not in (Phase.open.value, Phase.rating.value) or at > deadline_instant(
        due, timezone
    ):
        raise Conflict(f"debriefing reports were due {due.isoformat()}", state=row.phase)
    errors = evidence_errors(session, body.evidence, subject.org_path)
    if errors:
        raise Invalid("invalid debriefing", errors=errors)
    subject.debriefing, subject.debriefing_evidence = body.text, body.evidence
    subject.debriefing_at = at
    session.add(subject)
    append_event(
        session,
        idempotency_key=f"evaluation:{row.id}:debriefing:{body.org_id}:{at.isoformat()}",
        actor=person_id,
        action="evaluation_debriefing",
        entity_type="evaluation",
        entity_id=row.id,
        payload={"org_id": body.org_id, "chars": len(body.text), "evidence": body.evidence},
        at=at,
        org_path=subject.org_path,
    )
    return subject


def change_raters(
    session: Session, row: Evaluation, org_id: str, body: RatersIn, actor: str, at: datetime
) -> list[str]:
    """Replace one group's raters of a subject, until rating opens (409 after); the public is
    never named (422), nor anyone unknown."""
    if row.phase != Phase.open.value:
        raise Conflict(f"raters are fixed once rating opens ({row.phase})", state=row.phase)
    if body.group.value == "public":
        raise Invalid(
            "the public is not named", errors=[{"field": "group", "message": "not public"}]
        )
    if body.group.value not in {g["name"] for g in row.groups}:
        message = f"{body.group.value!r} is not a group of this evaluation"
        raise Invalid("unknown group", errors=[{"field": "group", "message": message}])
    subject = subject_of(session, row, org_id)
    unknown = [
        {"field": f"person_ids.{n}", "message": f"unknown person {p!r}"}
        for n, p in enumerate(body.person_ids)
        if session.get(Person, p) is None
    ]
    if unknown:
        raise Invalid("unknown raters", errors=unknown)
    old = session.exec(
        select(EvaluationInvitation).where(
            EvaluationInvitation.evaluation_id == row.id,
            EvaluationInvitation.subject_org_id == org_id,
            EvaluationInvitation.group == body.group.value,
        )
    ).all()
    for inv in old:
        session.delete(inv)
    session.flush()
    for person_id in body.person_ids:
        session.add(
            EvaluationInvitation(
                evaluation_id=row.id,
                subject_org_id=org_id,
                group=body.group.value,
                person_id=person_id,
            )
        )
    append_event(
        session,
        idempotency_key=f"evaluation:{row.id}:raters:{org_id}:{body.group.value}:{at.isoformat()}",
        actor=actor,
        action="evaluation_raters",
        entity_type="evaluation",
        entity_id=row.id,
        payload={"org_id": org_id, "group": body.group.value, "raters": len(body.person_ids)},
        at=at,
        org_path=subject.org_path,
    )
    return body.person_ids

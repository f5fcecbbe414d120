"""What a published evaluation sets in motion, once each (every id and key is derived from the
evaluation, the subject and the aspect, so a retried publication repeats nothing):

- every aspect of a subject below 60 % becomes a problem (source ``evaluation``, category the
  aspect, in the subject's org), assigned at once to whoever heads the org then (the published
  verdict is the committee's finding; an org without a head, or whose head has left, leaves it
  for a committee to confirm),
  rectified like any other;
- a ``poor`` grade becomes an accountability record for the subject's head.

An aspect's figure is the mean of what it has: the achievement rate of its decided items and the
valid groups' mean rating share, in percent.
"""

from __future__ import annotations

from datetime import datetime
from statistics import fmean

from sqlmodel import Session, col, select

from services.core.ids import keyed_id
from services.core.labels import label
from services.core.text import as_line, as_text
from services.deadlines.accountability import AccountabilityIn, record_accountability
from services.evaluation.contracts import Grade
from services.evaluation.models import Evaluation, EvaluationResult, EvaluationSubject
from services.evaluation.results import in_chunks
from services.org.models import Org, Person
from services.rectification.contracts import (
    EVALUATION_FLAGGER,
    Category,
    FlagProblemInput,
    ProblemIn,
    Severity,
    Source,
)

WEAK_BELOW = 60.0
POOR_GRADE_KIND = "evaluation_poor"


def aspect_figure(figures: dict[str, float | None]) -> float | None:
    present = [v for v in figures.values() if v is not None]
    return fmean(present) if present else None


def evaluation_problem_id(evaluation_id: str, org_id: str, aspect: str) -> str:
    """The same id every time for the same evaluation, subject and aspect."""
    return keyed_id("P", f"evaluation:{evaluation_id}", f"{org_id}:{aspect}")


def current_heads(session: Session, org_ids: list[str]) -> dict[str, str]:
    """Who heads each org now and has not left: a head may have changed since the evaluation
    started, and a problem goes to whoever answers for the org when it opens."""
    out: dict[str, str] = {}
    for chunk in in_chunks(org_ids):
        for org_id, head in session.exec(
            select(Org.id, Org.head_person_id)
            .join(Person, col(Person.id) == col(Org.head_person_id))
            .where(col(Org.id).in_(chunk), col(Person.left_on).is_(None))
        ).all():
            out[org_id] = str(head)
    return out


def weak_aspects(session: Session, row: Evaluation, at: datetime) -> list[FlagProblemInput]:
    """A problem to flag for every aspect below 60 % of every subject of the published results."""
    subjects = {
        s.org_id: s
        for s in session.exec(
            select(EvaluationSubject).where(EvaluationSubject.evaluation_id == row.id)
        )
    }
    heads = current_heads(session, list(subjects))
    out = []
    for r in session.exec(select(EvaluationResult).where(EvaluationResult.evaluation_id == row.id)):
        for aspect, figures in sorted(r.detail.get("aspects", {}).items()):
            figure = aspect_figure(figures)
            if figure is None or figure >= WEAK_BELOW:
                continue
            subject = subjects[r.org_id]
            name = label("category", aspect, "en")
            out.append(
                FlagProblemInput(
                    problem_id=evaluation_problem_id(row.id, r.org_id, aspect),
                    problem=ProblemIn(
                        org_id=r.org_id,
                        source=Source.evaluation,
                        category=Category(aspect),
                        severity=Severity.major,
                        title=as_line(f"Weak link: {name} at {figure:.0f}% — {row.title}")[:300],
                        description=as_text(
                            f"{subject.org_name} scored {figure:.1f}% on {name} in “{row.title}” "
                            f"(evaluation {row.id}); below {WEAK_BELOW:.0f}% an aspect is "
                            "rectified."
                        ),
                        cycle_id=row.cycle_id,
                    ),
                    created_by=f"{EVALUATION_FLAGGER}{row.id}",
                    at=at,
                    owner_person_id=heads.get(r.org_id),
                )
            )
    return out


def record_poor_grades(session: Session, row: Evaluation) -> int:
    """An accountability record for the head of every subject graded poor; returns how many
    were new."""
    created = 0
    for r, s in session.exec(
        select(EvaluationResult, EvaluationSubject)
        .join(
            EvaluationSubject,
            (EvaluationSubject.evaluation_id == EvaluationResult.evaluation_id)  # type: ignore[arg-type]
            & (EvaluationSubject.org_id == EvaluationResult.org_id),
        )
        .where(EvaluationResult.evaluation_id == row.id, EvaluationResult.grade == Grade.poor.value)
    ):
        _, new = record_accountability(
            session,
            AccountabilityIn(
                dedupe_key=f"evaluation:{row.id}:poor:{r.org_id}",
                kind=POOR_GRADE_KIND,
                org_id=r.org_id,
                org_path=s.org_path,
                person_id=s.head_person_id,
                reason=f"graded poor ({r.final}) in {row.title}",
                entity_type="evaluation",
                entity_id=row.id,
            ),
        )
        created += int(new)
    return created

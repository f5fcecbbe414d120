"""Results from the read model: ballots, the cycle's decided items and the deduction events,
put through the formula (``formula.py``) for every subject, ranked per level, and stored with
every figure they stand on, so an auditor recomputes the same number from the ballots.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import fmean
from typing import Any

from sqlmodel import Session, col, func, select

from services.cycle.contracts import Confirmation
from services.cycle.models import Cycle, Item
from services.deadlines.accountability import Accountability
from services.evaluation import formula
from services.evaluation.contracts import (
    Adjustment,
    DebriefingRating,
    DeductionEvent,
    GroupSpec,
    PartWeights,
    Rubric,
)
from services.evaluation.models import (
    Evaluation,
    EvaluationBallot,
    EvaluationResult,
    EvaluationSubject,
)
from services.notify.models import Notification
from services.reports.models import PublicReport

DECIDED = ("achieved", "missed")
LOW_AGREEMENT = 0.5


def decided_items(session: Session, cycle_id: str, org_id: str) -> dict[str, tuple[int, int]]:
    """aspect → (achieved, decided) of the org's own items in the cycle; an achievement counts
    only once the issuer confirmed it (reported figures alone are not trusted)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for category, state, confirmation, n in session.exec(
        select(Item.category, Item.state, Item.confirmation, func.count())
        .where(Item.cycle_id == cycle_id, Item.org_id == org_id, col(Item.state).in_(DECIDED))
        .group_by(col(Item.category), col(Item.state), col(Item.confirmation))
    ).all():
        out[category][1] += int(n)
        if state == "achieved" and confirmation == Confirmation.confirmed:
            out[category][0] += int(n)
    return {k: (v[0], v[1]) for k, v in out.items()}


def deduction_events(
    session: Session, org_id: str, org_path: str, since: datetime
) -> dict[Any, int]:
    """Deduction events of the org itself since the cycle was launched."""
    escalations = session.exec(
        select(func.count()).where(
            Notification.kind == "escalation",
            Notification.org_path == org_path,
            col(Notification.created_at) >= since,
        )
    ).one()
    records = session.exec(
        select(func.count()).where(
            Accountability.org_id == org_id, col(Accountability.created_at) >= since
        )
    ).one()
    flagged = session.exec(
        select(func.count()).where(
            PublicReport.org_id == org_id,
            PublicReport.status == "flagged",
            col(PublicReport.created_at) >= since,
        )
    ).one()
    return {
        DeductionEvent.escalation: int(escalations),
        DeductionEvent.accountability: int(records),
        DeductionEvent.flagged_report: int(flagged),
    }


def achievement_rate(decided: dict[str, tuple[int, int]], aspect: str) -> float | None:
    """The percentage of the aspect's decided items that were achieved; None when none was."""
    achieved, count = decided.get(aspect, (0, 0))
    return 100 * achieved / count if count else None


def _aspects(
    rubric: Rubric, decided: dict[str, tuple[int, int]], valid: list[EvaluationBallot]
) -> dict[str, dict[str, float | None]]:
    """Per aspect, in percent: the achievement rate of decided items, and the mean rating share
    over the valid groups' ballots (what "weak aspects" are judged on)."""
    shares = [formula.aspect_shares(rubric, b.scores) for b in valid]
    out: dict[str, dict[str, float | None]] = {}
    for aspect in rubric.aspects:
        rated = [100 * s[aspect.value] for s in shares if aspect.value in s]
        out[aspect.value] = {
            "ledger": achievement_rate(decided, aspect.value),
            "rating": fmean(rated) if rated else None,
        }
    return out


def subject_result(
    row: Evaluation,
    subject: EvaluationSubject,
    ballots: list[EvaluationBallot],
    decided: dict[str, tuple[int, int]],
    events: dict[Any, int],
) -> dict[str, Any]:
    """Every figure of one subject's result (``final`` and ``grade`` included), unrounded but
    for the final score."""
    rubric = Rubric.model_validate(row.rubric)
    groups = [GroupSpec.model_validate(g) for g in row.groups]
    by_group: dict[str, list[EvaluationBallot]] = defaultdict(list)
    for b in ballots:
        by_group[b.group].append(b)
    scores = {
        g: [s for b in bs if (s := formula.rater_score(rubric, b.scores)) is not None]
        for g, bs in by_group.items()
    }
    rating = formula.rating_part(groups, scores)
    valid = [b for g in rating.valid_groups for b in by_group[g]]
    off = formula.deductions(rubric, events)
    ledger = formula.ledger_part(rubric, decided, off)
    debriefing = formula.debriefing_part(
        [DebriefingRating(b.debriefing_rating) for b in valid if b.debriefing_rating]
    )
    entries = [Adjustment.model_validate(a) for a in subject.adjustments]
    weights = PartWeights.model_validate(row.weights)
    final = formula.final_score(
        {"ledger": ledger, "rating": rating.score, "debriefing": debriefing}, weights, entries
    )
    aspects = _aspects(rubric, decided, valid)
    return {
        "rubric_version": rubric.version,
        "parts": {"ledger": ledger, "rating": rating.score, "debriefing": debriefing},
        "weights_used": final.weights_used,
        "valid_groups": rating.valid_groups,
        "groups": {
            g: {
                "raters": len(scores.get(g, [])),
                "score": formula.group_score(scores.get(g, [])),
                "agreement": formula.agreement(scores.get(g, [])),
            }
            for g in rating.valid_groups
        },
        "provisional": rating.provisional,
        # groups whose raters disagree (rwg < 0.5): flagged to auditors, the score unchanged
        "low_agreement": [
            g
            for g in rating.valid_groups
            if (a := formula.agreement(scores.get(g, []))) is not None and a < LOW_AGREEMENT
        ],
        "deductions": off,
        "events": {k.value: v for k, v in events.items()},
        "aspects": aspects,
        "adjustment": final.adjustment,
        "veto": final.veto,
        "final": final.score,
        "grade": final.grade.value if final.grade else None,
    }


def compute_results(session: Session, row: Evaluation, at: datetime) -> int:
    """(Re)compute and store every subject's result, ranked within its level; returns how many.
    Published results are never recomputed."""
    if row.published_at is not None:
        return 0
    cycle = session.get(Cycle, row.cycle_id)
    assert cycle is not None
    subjects = session.exec(
        select(EvaluationSubject).where(EvaluationSubject.evaluation_id == row.id)
    ).all()
    ballots: dict[str, list[EvaluationBallot]] = defaultdict(list)
    for b in session.exec(select(EvaluationBallot).where(EvaluationBallot.evaluation_id == row.id)):
        ballots[b.subject_org_id].append(b)
    computed = {
        s.org_id: subject_result(
            row,
            s,
            ballots[s.org_id],
            decided_items(session, row.cycle_id, s.org_id),
            deduction_events(session, s.org_id, s.org_path, cycle.launched_at),
        )
        for s in subjects
    }
    by_level: dict[int, dict[str, float | None]] = defaultdict(dict)
    for s in subjects:
        by_level[s.level][s.org_id] = computed[s.org_id]["final"]
    level_ranks = {level: formula.ranks(finals) for level, finals in by_level.items()}
    stored = {
        r.org_id: r
        for r in session.exec(
            select(EvaluationResult).where(EvaluationResult.evaluation_id == row.id)
        )
    }
    for s in subjects:
        detail = computed[s.org_id]
        result = stored.get(s.org_id) or EvaluationResult(
            evaluation_id=row.id, org_id=s.org_id, level=s.level
        )
        result.final = detail["final"]
        result.grade = detail["grade"]
        result.rank = level_ranks[s.level][s.org_id]
        result.provisional = detail["provisional"]
        result.detail = detail
        result.computed_at = at
        session.add(result)
    return len(subjects)

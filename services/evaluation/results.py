"""Results from the read model: ballots, the cycle's decided items and the deduction events,
put through the formula (``formula.py``) for every subject, ranked per level, and stored with
every figure they stand on, so an auditor recomputes the same number from the ballots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import fmean
from typing import Any

from sqlalchemy import ColumnElement, case
from sqlmodel import Session, col, func, select

from services.core.clock import as_utc, deadline_instant
from services.cycle.contracts import Confirmation
from services.cycle.models import Cycle, Item
from services.cycle.plan import Calendar
from services.deadlines.accountability import Accountability
from services.evaluation import formula
from services.evaluation.contracts import (
    Adjustment,
    DebriefingRating,
    DeductionEvent,
    GroupSpec,
    Kind,
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
IN_CHUNK = 500  # org ids per IN (...) list


def in_chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` a bounded IN (...) list at a time."""
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i : i + IN_CHUNK]


def decided_items(session: Session, cycle_id: str, org_id: str) -> dict[str, tuple[int, int]]:
    """aspect → (achieved, decided) of the org's own items in the cycle."""
    return decided_items_of(session, cycle_id, [org_id]).get(org_id, {})


@dataclass(frozen=True)
class LedgerCut:
    """Where a result's ledger figures stop counting. ``until``: deduction events, confirmations
    and (without ``due_by``) decisions recorded by then. ``due_by``: a day's view instead counts
    the items due by that day once decided, as each is decided when its due day has ended, just
    after ``until``."""

    until: datetime
    due_by: date | None = None


def day_cut(day: date, timezone: str) -> LedgerCut:
    """The view of ``day``: what was recorded by its end in ``timezone``."""
    return LedgerCut(until=deadline_instant(day, timezone), due_by=day)


def cut_off(row: Evaluation, cycle: Cycle) -> LedgerCut | None:
    """A mid-year evaluation is the live view frozen on the cycle's ``midyear`` day (or at the
    close of rating, if that came first); the others count what was recorded when rating
    closed, so that calibrating and publishing recompute the very figures the organizer
    reviewed (None: not closed yet, everything so far)."""
    closed = as_utc(row.rating_closed_at) if row.rating_closed_at is not None else None
    if row.kind == Kind.midyear.value:
        midyear = day_cut(Calendar.model_validate(cycle.plan["calendar"]).midyear, cycle.timezone)
        if closed is None or closed >= midyear.until:
            return midyear
    return LedgerCut(until=closed) if closed is not None else None


def decided_items_of(
    session: Session, cycle_id: str, org_ids: Sequence[str], cut: LedgerCut | None = None
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per org, aspect → (achieved, decided) of its own items in the cycle, in one grouped query
    per chunk of orgs; an achievement counts only once the issuer confirmed it (reported figures
    alone are not trusted). ``cut``: only items decided by then (``LedgerCut``), and
    achievements confirmed by then (one confirmed before confirmations were recorded counts)."""
    achieved = (col(Item.state) == "achieved") & (col(Item.confirmation) == Confirmation.confirmed)
    wanted: list[ColumnElement[bool]] = [
        col(Item.cycle_id) == cycle_id,
        col(Item.state).in_(DECIDED),
    ]
    if cut is not None:
        achieved = achieved & (
            col(Item.confirmed_at).is_(None) | (col(Item.confirmed_at) <= cut.until)
        )
        if cut.due_by is not None:
            wanted.append(col(Item.due) <= cut.due_by)
        else:
            wanted.append(col(Item.decided_at) <= cut.until)
    confirmed = case((achieved, 1), else_=0)
    out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for chunk in in_chunks(org_ids):
        for org_id, category, n_achieved, decided in session.exec(
            select(Item.org_id, Item.category, func.sum(confirmed), func.count())
            .where(*wanted, col(Item.org_id).in_(chunk))
            .group_by(col(Item.org_id), col(Item.category))
        ).all():
            out[org_id][category] = (int(n_achieved or 0), int(decided))
    return dict(out)


def deduction_events_of(
    session: Session,
    orgs: Sequence[tuple[str, str]],
    since: datetime,
    until: datetime | None = None,
) -> dict[str, dict[Any, int]]:
    """Per org (``(id, path)`` pairs), the deduction events of the org itself since the cycle
    was launched (and up to ``until``, when given): escalations, accountability records, public
    reports flagged as problems."""

    def between(at: Any) -> list[Any]:
        return [at >= since] if until is None else [at >= since, at <= until]

    by_path = {path: org_id for org_id, path in orgs}
    out: dict[str, dict[Any, int]] = {
        org_id: dict.fromkeys(DeductionEvent, 0) for org_id, _ in orgs
    }
    for chunk in in_chunks(list(by_path)):
        for path, n in session.exec(
            select(Notification.org_path, func.count())
            .where(
                Notification.kind == "escalation",
                col(Notification.org_path).in_(chunk),
                *between(col(Notification.created_at)),
            )
            .group_by(col(Notification.org_path))
        ).all():
            out[by_path[path]][DeductionEvent.escalation] = int(n)
    for chunk in in_chunks([o for o, _ in orgs]):
        for org_id, n in session.exec(
            select(Accountability.org_id, func.count())
            .where(
                col(Accountability.org_id).in_(chunk),
                *between(col(Accountability.created_at)),
                col(Accountability.overturned).is_(False),
            )
            .group_by(col(Accountability.org_id))
        ).all():
            out[org_id][DeductionEvent.accountability] = int(n)
        for org_id, n in session.exec(
            select(PublicReport.org_id, func.count())
            .where(
                col(PublicReport.org_id).in_(chunk),
                PublicReport.status == "flagged",
                *between(col(PublicReport.created_at)),
            )
            .group_by(col(PublicReport.org_id))
        ).all():
            out[str(org_id)][DeductionEvent.flagged_report] = int(n)
    return out


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


def _group_figures(
    valid: list[str], scores: dict[str, list[float]], by_group: dict[str, list[EvaluationBallot]]
) -> dict[str, Any]:
    """Per valid group: raters, score and agreement; their comments; the groups whose raters
    disagree. A dropped group shows nothing, its comments included."""
    return {
        "groups": {
            g: {
                "raters": len(scores.get(g, [])),
                "score": formula.group_score(scores.get(g, [])),
                "agreement": formula.agreement(scores.get(g, [])),
            }
            for g in valid
        },
        # sorted, so that their order tells nothing of who wrote them
        "comments": {
            g: sorted(b.comment for b in by_group[g] if b.comment)
            for g in valid
            if any(b.comment for b in by_group[g])
        },
        # rwg < 0.5: flagged to auditors, the score unchanged
        "low_agreement": [
            g
            for g in valid
            if (a := formula.agreement(scores.get(g, []))) is not None and a < LOW_AGREEMENT
        ],
    }


def subject_result(
    row: Evaluation,
    subject: EvaluationSubject,
    ballots: list[EvaluationBallot],
    decided: dict[str, tuple[int, int]],
    events: dict[Any, int],
    rubric: Rubric | None = None,
) -> dict[str, Any]:
    """Every figure of one subject's result (``final`` and ``grade`` included), unrounded but
    for the final score. ``rubric``: the row's, already read (saves reading it per subject)."""
    rubric = rubric or Rubric.model_validate(row.rubric)
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
        **_group_figures(rating.valid_groups, scores, by_group),
        "provisional": rating.provisional,
        "deductions": off,
        "events": {k.value: v for k, v in events.items()},
        "aspects": aspects,
        "adjustment": final.adjustment,
        "veto": final.veto,
        "final": final.score,
        "grade": final.grade.value if final.grade else None,
    }


def compute_results(
    session: Session, row: Evaluation, at: datetime, tick: Callable[[], None] = lambda: None
) -> int:
    """(Re)compute and store every subject's result, ranked within its level; returns how many.
    Published results are never recomputed. ``tick`` is called as subjects are done (an
    activity heartbeats with it)."""
    if row.published_at is not None:
        return 0
    cycle = session.get(Cycle, row.cycle_id)
    assert cycle is not None
    subjects = session.exec(
        select(EvaluationSubject).where(EvaluationSubject.evaluation_id == row.id)
    ).all()
    ballots: dict[str, list[EvaluationBallot]] = defaultdict(list)
    tick()
    for b in session.exec(select(EvaluationBallot).where(EvaluationBallot.evaluation_id == row.id)):
        ballots[b.subject_org_id].append(b)
    tick()
    cut = cut_off(row, cycle)
    decided = decided_items_of(session, row.cycle_id, [s.org_id for s in subjects], cut)
    events = deduction_events_of(
        session,
        [(s.org_id, s.org_path) for s in subjects],
        cycle.launched_at,
        cut.until if cut else None,
    )
    rubric = Rubric.model_validate(row.rubric)
    computed: dict[str, dict[str, Any]] = {}
    for n, s in enumerate(subjects, start=1):
        computed[s.org_id] = subject_result(
            row, s, ballots[s.org_id], decided.get(s.org_id, {}), events[s.org_id], rubric
        )
        # what the ledger figures counted up to (a mid-year evaluation's frozen day)
        computed[s.org_id]["ledger_until"] = cut.until.isoformat() if cut else None
        if n % 100 == 0:
            tick()
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

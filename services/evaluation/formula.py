"""The evaluation's formula, stated once (docs/architecture.md repeats it) and computed here only.

Pure functions of plain numbers: the API, the results export and an auditor's recomputation all
call these, so the same ballots always give the same score. Nothing is rounded until the final
score (two decimals).

1. A rater's score for a subject: ``100 × Σ_a w_a × share_a / Σ_a w_a`` over the aspects that
   have rating indicators, where ``share_a`` is the points given over the points possible in the
   aspect, each indicator weighted by the weak-link factor when it is a weak link.
2. A group's score: the mean of its raters' scores; with 5 or more raters one highest and one
   lowest are dropped first.
3. The rating part ``R``: the weighted mean of the valid groups' scores (a group below its
   minimum size is left out of every figure), weights rescaled to the groups present;
   provisional when a group of weight ≥ 20 is missing.
4. The ledger part ``L``: ``100 × Σ_a w_a × rate_a / Σ_a w_a`` over the aspects with a ledger
   indicator and decided items (rate = achieved / decided), minus the deductions (each deduction
   indicator: events × points per event, at most its max_points), never below 0.
5. The debriefing part ``B``: the mean of excellent 100, good 80, fair 60, poor 0 over its
   ratings, when there are at least 3.
6. Final: the weighted mean of the parts present (a part with nothing to compute is absent, not
   zero) plus the bonus/penalty entries (±10 in all); grade excellent ≥ 90, good ≥ 80, fair ≥ 60,
   else poor; a veto caps the grade at fair. Ranks among subjects of the same level; ties share a
   rank (1, 1, 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean, variance

from pydantic import BaseModel

from services.cycle.plan import Aspect
from services.evaluation.contracts import (
    DEBRIEFING_POINTS,
    Adjustment,
    AdjustmentKind,
    DebriefingRating,
    DeductionEvent,
    Grade,
    GroupSpec,
    IndicatorSpec,
    Method,
    PartWeights,
    Rubric,
)

TRIM_FROM = 5  # raters in a group from which the highest and lowest are dropped
PROVISIONAL_WEIGHT = 20  # a missing group this heavy makes the rating part provisional
MIN_DEBRIEFING_RATINGS = 3
ADJUSTMENT_CAP = 10.0
UNIFORM_VARIANCE = 100.0**2 / 12  # of a score drawn uniformly from 0..100 (for rwg)
GRADE_FLOORS = [(90.0, Grade.excellent), (80.0, Grade.good), (60.0, Grade.fair)]


def aspect_shares(rubric: Rubric, points: Mapping[str, float]) -> dict[str, float]:
    """Per aspect with rating indicators: the points given over the points possible, each
    weak-link indicator weighted by the rubric's factor (0..1)."""
    out = {}
    for aspect, spec in rubric.aspects.items():
        rated = [i for i in spec.indicators if i.method is Method.rating]
        if not rated:
            continue
        got = possible = 0.0
        for ind in rated:
            factor = rubric.weak_link_factor if ind.weak_link else 1.0
            got += factor * points.get(ind.id, 0.0)
            possible += factor * ind.max_points
        out[aspect.value] = got / possible
    return out


def rater_score(rubric: Rubric, points: Mapping[str, float]) -> float | None:
    """Step 1. ``points``: indicator id → points given (0..max_points, checked before)."""
    weighted = total_weight = 0.0
    for aspect, share in aspect_shares(rubric, points).items():
        weight = rubric.aspects[Aspect(aspect)].weight
        weighted += weight * share
        total_weight += weight
    return 100 * weighted / total_weight if total_weight else None


def group_score(scores: Sequence[float]) -> float | None:
    """Step 2: the mean, trimmed of one highest and one lowest from 5 raters on."""
    if not scores:
        return None
    ordered = sorted(scores)
    if len(ordered) >= TRIM_FROM:
        ordered = ordered[1:-1]
    return fmean(ordered)


class RatingPart(BaseModel):
    score: float | None
    valid_groups: list[str]
    provisional: bool


def rating_part(groups: Sequence[GroupSpec], scores: Mapping[str, Sequence[float]]) -> RatingPart:
    """Step 3. ``scores``: group name → its raters' scores for the subject."""
    valid = [g for g in groups if len(scores.get(g.name, ())) >= g.min_size]
    provisional = any(g.weight >= PROVISIONAL_WEIGHT for g in groups if g not in valid)
    if not valid:
        return RatingPart(score=None, valid_groups=[], provisional=provisional)
    weight = sum(g.weight for g in valid)
    total = 0.0
    for g in valid:
        gs = group_score(scores[g.name])
        assert gs is not None
        total += g.weight * gs
    return RatingPart(
        score=total / weight, valid_groups=[g.name for g in valid], provisional=provisional
    )


def deductions(rubric: Rubric, events: Mapping[DeductionEvent, int]) -> float:
    """Points off the ledger part: per deduction indicator, its events × points, capped."""
    off = 0.0
    for ind in rubric.indicators(Method.deduction).values():
        off += _indicator_off(ind, events)
    return off


def deductions_by_aspect(rubric: Rubric, events: Mapping[DeductionEvent, int]) -> dict[str, float]:
    """The same points off, per aspect that has deduction indicators (the live view's detail)."""
    out: dict[str, float] = {}
    for aspect, spec in rubric.aspects.items():
        inds = [i for i in spec.indicators if i.method is Method.deduction]
        if inds:
            out[aspect.value] = sum(_indicator_off(i, events) for i in inds)
    return out


def _indicator_off(ind: IndicatorSpec, events: Mapping[DeductionEvent, int]) -> float:
    count = sum(events.get(e, 0) for e in ind.events)
    return min(count * ind.per_event, ind.max_points)


def ledger_part(rubric: Rubric, decided: Mapping[str, tuple[int, int]], off: float) -> float | None:
    """Step 4. ``decided``: aspect → (achieved, decided) items of the subject; ``off``: the
    deductions. None when no aspect with a ledger indicator has a decided item."""
    weighted = total_weight = 0.0
    for aspect, spec in rubric.aspects.items():
        if not any(i.method is Method.ledger for i in spec.indicators):
            continue
        achieved, count = decided.get(aspect.value, (0, 0))
        if count == 0 or spec.weight == 0:
            continue
        weighted += spec.weight * achieved / count
        total_weight += spec.weight
    if total_weight == 0:
        return None
    return max(100 * weighted / total_weight - off, 0.0)


def debriefing_part(ratings: Sequence[DebriefingRating]) -> float | None:
    """Step 5."""
    if len(ratings) < MIN_DEBRIEFING_RATINGS:
        return None
    return fmean(DEBRIEFING_POINTS[r] for r in ratings)


def grade_of(score: float, veto: bool) -> Grade:
    grade = next((g for floor, g in GRADE_FLOORS if score >= floor), Grade.poor)
    if veto and grade in (Grade.excellent, Grade.good):
        return Grade.fair
    return grade


class Final(BaseModel):
    score: float | None  # rounded to two decimals
    grade: Grade | None
    weights_used: dict[str, float]  # the parts present, rescaled to sum to 1
    adjustment: float  # bonus − penalty, capped at ±10
    veto: bool


def final_score(
    parts: Mapping[str, float | None], weights: PartWeights, entries: Sequence[Adjustment]
) -> Final:
    """Step 6. ``parts``: ledger, rating, debriefing (None: absent)."""
    present = {
        name: float(getattr(weights, name))
        for name, value in parts.items()
        if value is not None and getattr(weights, name) > 0
    }
    bonus = sum(e.points for e in entries if e.kind is AdjustmentKind.bonus)
    penalty = sum(e.points for e in entries if e.kind is AdjustmentKind.penalty)
    adjustment = max(-ADJUSTMENT_CAP, min(ADJUSTMENT_CAP, bonus - penalty))
    veto = any(e.kind is AdjustmentKind.veto for e in entries)
    total = sum(present.values())
    if total == 0:
        return Final(score=None, grade=None, weights_used={}, adjustment=adjustment, veto=veto)
    raw = sum(w * float(parts[name] or 0.0) for name, w in present.items()) / total + adjustment
    score = round(raw, 2)
    return Final(
        score=score,
        grade=grade_of(score, veto),
        weights_used={name: w / total for name, w in present.items()},
        adjustment=adjustment,
        veto=veto,
    )


def ranks(scores: Mapping[str, float | None]) -> dict[str, int | None]:
    """Competition ranking, highest first: ties share a rank and the next rank skips (1, 1, 3);
    a subject without a score has no rank."""
    ordered = sorted((s for s in scores.values() if s is not None), reverse=True)
    first: dict[float, int] = {}
    for n, s in enumerate(ordered, start=1):
        first.setdefault(s, n)
    return {k: (first[s] if s is not None else None) for k, s in scores.items()}


def agreement(scores: Sequence[float]) -> float | None:
    """rwg: 1 − observed variance / the variance of a uniform answer on 0..100, within [0, 1];
    None under 2 raters. Below 0.5 it is flagged to auditors; it never changes a score."""
    if len(scores) < 2:
        return None
    return max(0.0, min(1.0, 1 - variance(scores) / UNIFORM_VARIANCE))

"""The evaluation formula against values computed by hand (docs/architecture.md states it)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.evaluation.contracts import (
    DEFAULT_GROUPS,
    Adjustment,
    DebriefingRating,
    DeductionEvent,
    EvaluationIn,
    Grade,
    PartWeights,
    Rubric,
)
from services.evaluation.formula import (
    agreement,
    debriefing_part,
    deductions,
    final_score,
    grade_of,
    group_score,
    ledger_part,
    ranks,
    rater_score,
    rating_part,
)

RUBRIC = Rubric.model_validate(
    {
        "aspects": {
            "ideology": {
                "weight": 20,
                "indicators": [
                    {"id": "i1", "title": "Study sessions", "max_points": 10},
                    {"id": "i2", "title": "Theory tests", "max_points": 10, "weak_link": True},
                ],
            },
            "organization": {
                "weight": 30,
                "indicators": [
                    {"id": "o1", "title": "Items achieved", "max_points": 10, "method": "ledger"},
                    {"id": "o2", "title": "Branch life", "max_points": 20},
                ],
            },
            "conduct": {
                "weight": 20,
                "indicators": [
                    {
                        "id": "c1",
                        "title": "Escalations",
                        "max_points": 5,
                        "method": "deduction",
                        "events": ["escalation"],
                        "per_event": 2,
                    },
                    {"id": "c2", "title": "Style", "max_points": 10},
                ],
            },
            "integrity": {
                "weight": 20,
                "indicators": [{"id": "g1", "title": "Clean conduct", "max_points": 10}],
            },
            "institutions": {
                "weight": 10,
                "indicators": [
                    {"id": "s1", "title": "Rules kept", "max_points": 10, "method": "ledger"}
                ],
            },
        }
    }
)


def test_a_raters_score_weighs_weak_links_and_skips_aspects_without_ratings() -> None:
    # ideology (8 + 1.5·5) / (10 + 1.5·10) = 0.62; organization 10/20; conduct 10/10;
    # integrity 6/10; institutions has no rating indicator: 100·(20·.62 + 30·.5 + 20 + 20·.6)/90
    points = {"i1": 8, "i2": 5, "o2": 10, "c2": 10, "g1": 6}
    assert rater_score(RUBRIC, points) == pytest.approx(66.0)


def test_a_group_of_five_or_more_drops_its_highest_and_lowest() -> None:
    assert group_score([60, 70, 80, 90, 100]) == pytest.approx(80.0)
    assert group_score([60, 70, 80, 90]) == pytest.approx(75.0)
    assert group_score([]) is None


def test_small_groups_are_dropped_and_weights_rescaled_and_provisional_when_heavy() -> None:
    scores = {"superior": [90], "peers": [80, 70], "members": [60, 70, 80], "external": [100]}
    part = rating_part(DEFAULT_GROUPS, scores)
    assert part.valid_groups == ["superior", "members", "external"]
    assert part.score == pytest.approx(6000 / 70)  # (40·90 + 20·70 + 10·100) / 70
    assert part.provisional  # peers (20) are missing
    light = rating_part(DEFAULT_GROUPS, {**scores, "peers": [80, 70, 75]})
    assert not light.provisional  # only public (10) is missing


def test_the_ledger_part_rates_aspects_with_decided_items_minus_capped_deductions() -> None:
    decided = {"organization": (3, 4), "institutions": (1, 2), "ideology": (5, 5)}
    two = deductions(RUBRIC, {DeductionEvent.escalation: 2, DeductionEvent.accountability: 9})
    assert two == 4  # 2 × 2; accountability events do not count for c1
    assert deductions(RUBRIC, {DeductionEvent.escalation: 4}) == 5  # capped at max_points
    # 100·(30·0.75 + 10·0.5)/40 − 4; ideology has no ledger indicator
    assert ledger_part(RUBRIC, decided, two) == pytest.approx(64.75)
    assert ledger_part(RUBRIC, {"ideology": (1, 1)}, 0) is None
    assert ledger_part(RUBRIC, {"organization": (0, 3)}, 7) == 0  # never below 0


def test_the_debriefing_part_needs_three_ratings() -> None:
    rated = [DebriefingRating.excellent, DebriefingRating.good, DebriefingRating.fair]
    assert debriefing_part(rated) == pytest.approx(80.0)
    assert debriefing_part(rated[:2]) is None


def test_the_final_score_rescales_to_parts_present_and_caps_adjustments() -> None:
    rating = 6000 / 70
    bonus = Adjustment(kind="bonus", points=3, reason="model branch")
    penalty = Adjustment(kind="penalty", points=1, reason="late report")
    full = final_score({"ledger": 64.75, "rating": rating, "debriefing": 80}, PartWeights(), [])
    assert full.score == 74.09 and full.grade is Grade.fair  # (50·64.75 + 30·R + 20·80)/100
    adjusted = final_score(
        {"ledger": 64.75, "rating": rating, "debriefing": 80}, PartWeights(), [bonus, penalty]
    )
    assert adjusted.score == 76.09 and adjusted.adjustment == 2
    absent = final_score({"ledger": 64.75, "rating": rating, "debriefing": None}, PartWeights(), [])
    assert absent.score == 72.61 and absent.weights_used == {"ledger": 0.625, "rating": 0.375}
    big = [
        Adjustment(kind="bonus", points=8, reason="a"),
        Adjustment(kind="bonus", points=7, reason="b"),
    ]
    assert final_score({"ledger": 50.0}, PartWeights(), big).adjustment == 10
    nothing = final_score({"ledger": None, "rating": None}, PartWeights(), [])
    assert nothing.score is None and nothing.grade is None


def test_grades_and_the_veto() -> None:
    assert [grade_of(s, False) for s in (90, 89.99, 80, 60, 59.99)] == [
        Grade.excellent,
        Grade.good,
        Grade.good,
        Grade.fair,
        Grade.poor,
    ]
    assert grade_of(95, True) is Grade.fair and grade_of(50, True) is Grade.poor
    vetoed = final_score(
        {"ledger": 95.0}, PartWeights(), [Adjustment(kind="veto", reason="a serious breach")]
    )
    assert vetoed.score == 95 and vetoed.grade is Grade.fair and vetoed.veto


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    assert ranks({"a": 90, "b": 85, "c": 90, "d": None, "e": 80}) == {
        "a": 1,
        "b": 3,
        "c": 1,
        "d": None,
        "e": 4,
    }


def test_agreement_is_rwg_within_zero_and_one() -> None:
    assert agreement([70, 80, 90]) == pytest.approx(1 - 100 / (100**2 / 12))
    assert agreement([0, 100]) == 0
    assert agreement([80]) is None


def test_an_evaluation_refuses_weights_that_do_not_sum_to_100_naming_them() -> None:
    good: dict[str, Any] = {
        "cycle_id": "city-2027",
        "kind": "yearend",
        "title": "Year-end evaluation",
        "subjects": {"under": "city", "levels": [1]},
        "rubric": RUBRIC.model_dump(mode="json"),
        "opens_on": "2027-12-01",
        "rating_deadline": "2027-12-20",
    }
    EvaluationIn.model_validate(good)
    bad_rubric = {**good["rubric"], "aspects": {"ideology": {"weight": 90, "indicators": [
        {"id": "x", "title": "x", "max_points": 1}]}}}  # fmt: skip
    cases = {
        "rubric": {**good, "rubric": bad_rubric},
        "groups": {**good, "groups": [{"name": "superior", "weight": 50, "min_size": 1}]},
        "weights": {**good, "weights": {"ledger": 50, "rating": 30, "debriefing": 30}},
        "rating_deadline": {**good, "rating_deadline": "2027-11-01"},
    }
    for what, body in cases.items():
        with pytest.raises(ValidationError) as exc:
            EvaluationIn.model_validate(body)
        assert "sum to" in str(exc.value) or what in str(exc.value), what

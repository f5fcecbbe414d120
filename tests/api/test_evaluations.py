"""An evaluation over the API on the real app, database and Temporal: the committee starts it,
invited raters cast anonymous ballots (every refusal answered, nothing written), the organizer
closes rating and the results are what the formula gives from the ballots; published, every
scoped reader sees them and a sibling subtree sees only its own."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.core.clock import as_utc, deadline_instant, today_in
from services.core.errors import Conflict
from services.cycle.models import Cycle, Item
from services.deadlines.accountability import Accountability
from services.evaluation.ballots import cast_ballot
from services.evaluation.contracts import BallotIn, DeductionEvent, GroupName
from services.evaluation.models import (
    Evaluation,
    EvaluationBallot,
    EvaluationInvitation,
    EvaluationSubject,
)
from services.evaluation.results import (
    LedgerCut,
    cut_off,
    day_cut,
    decided_items,
    decided_items_of,
    deduction_events_of,
    subject_result,
)
from services.notify.models import Notification
from services.rectification.models import Problem
from tests.support.console import signed_in
from tests.support.cycles import YEAR, eventually, launch, small_plan
from tests.support.histories import record
from tests.support.world import World, world

RUBRIC: dict[str, Any] = {
    "aspects": {
        "ideology": {
            "weight": 40,
            "indicators": [
                {"id": "study", "title": "Study", "max_points": 10},
                {"id": "tests", "title": "Tests", "max_points": 10, "weak_link": True},
            ],
        },
        "organization": {
            "weight": 60,
            "indicators": [
                {"id": "items", "title": "Items", "max_points": 10, "method": "ledger"},
                {"id": "life", "title": "Branch life", "max_points": 20},
            ],
        },
    }
}
GROUPS = [
    {"name": "superior", "weight": 40, "min_size": 1},
    {"name": "peers", "weight": 30, "min_size": 2},
    {"name": "members", "weight": 30, "min_size": 2},
]


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def body(cycle_id: str, w: World, **over: Any) -> dict[str, Any]:
    today = today_in(w.stack.settings.timezone)
    return {
        "cycle_id": cycle_id,
        "kind": "midyear",
        "title": "Mid-year evaluation",
        "subjects": {"under": "city", "levels": [1]},
        "rubric": RUBRIC,
        "groups": GROUPS,
        "opens_on": today.isoformat(),
        "rating_deadline": (today + timedelta(days=20)).isoformat(),
        **over,
    }


def phase(w: World, eid: str) -> str:
    with Session(w.stack.engine) as s:
        row = s.get(Evaluation, eid)
        return row.phase if row else ""


async def test_refusals_name_the_field_and_write_nothing(w: World) -> None:
    cid = await launch(w)
    cases = {
        "cycle_id": body("no-such-cycle", w),
        "subjects.levels.0": body(cid, w, subjects={"under": "city", "levels": [7]}),
        "subjects.under": body(cid, w, subjects={"under": "nowhere", "levels": [1]}),
        "rubric": body(
            cid, w, rubric={**RUBRIC, "aspects": {"ideology": RUBRIC["aspects"]["ideology"]}}
        ),
        "groups": body(cid, w, groups=GROUPS[:2]),
        "rating_deadline": body(cid, w, rating_deadline="2020-01-01"),
        "debriefing_due": body(
            cid,
            w,
            debriefing_due=(today_in(w.stack.settings.timezone) + timedelta(days=90)).isoformat(),
        ),
    }
    for field, bad in cases.items():
        r = await w.call("POST", "/api/v1/evaluations", w.committee, json=bad)
        assert r.status_code == 422, (field, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.text)
    r = await w.call("POST", "/api/v1/evaluations", w.owner, json=body(cid, w))
    assert r.status_code == 403
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Evaluation)).one() == 0
        assert s.exec(select(func.count()).select_from(EvaluationSubject)).one() == 0


async def test_an_evaluation_from_ballots_to_published_results(w: World) -> None:
    cid = await launch(w)
    r = await w.call(
        "POST",
        "/api/v1/evaluations",
        w.committee,
        json=body(cid, w),
        headers={"Idempotency-Key": "e1"},
    )
    assert r.status_code == 202, r.text
    eid = r.json()["evaluation_id"]
    again = await w.call(
        "POST",
        "/api/v1/evaluations",
        w.committee,
        json=body(cid, w),
        headers={"Idempotency-Key": "e1"},
    )
    assert again.json()["evaluation_id"] == eid  # a retry starts nothing new
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    fixed = await w.call(
        "PUT",
        f"/api/v1/evaluations/{eid}/subjects/gb-1/raters",
        w.committee,
        json={"group": "peers", "person_ids": []},
    )
    assert fixed.status_code == 409  # raters are fixed once rating opens

    stack = w.stack
    tokens = {p: stack.token(Role.member, "city", p) for p in ("p-006", "p-007", "p-014", "p-023")}
    mine = await w.call("GET", f"/api/v1/evaluations/{eid}/ballots/mine", tokens["p-014"])
    assert {(b["subject_org_id"], b["group"]) for b in mine.json()} == {
        ("gb-1", "peers"),
        ("gb-3", "peers"),
    }

    def ballot(
        subject: str, group: str, study: float, tests: float, life: float, comment: str = ""
    ) -> dict[str, Any]:
        return {
            "subject_org_id": subject,
            "group": group,
            "scores": {"study": study, "tests": tests, "life": life},
            "comment": comment,
        }

    url = f"/api/v1/evaluations/{eid}/ballots"
    bad = await w.call("POST", url, tokens["p-014"], json=ballot("gb-1", "peers", 11, 5, 10))
    assert bad.status_code == 422 and "scores.study" in bad.text
    missing = {**ballot("gb-1", "peers", 5, 5, 10), "scores": {"study": 5}}
    r = await w.call("POST", url, tokens["p-014"], json=missing)
    assert r.status_code == 422 and "scores.tests" in r.text and "scores.life" in r.text
    r = await w.call("POST", url, w.owner, json=ballot("gb-1", "superior", 5, 5, 5))
    assert r.status_code == 403  # not invited
    cast = [
        ("p-001", w.committee, "gb-1", "superior", (9, 8, 18), ""),
        ("p-014", tokens["p-014"], "gb-1", "peers", (8, 6, 16), "Zeal in study sessions"),
        ("p-023", tokens["p-023"], "gb-1", "peers", (6, 4, 12), "Branch life is thin"),
        ("p-006", tokens["p-006"], "gb-1", "members", (10, 10, 20), "A lone member's remark"),
    ]
    for person, token, subject, group, (a, b, c), said in cast:
        key = {"Idempotency-Key": f"{person}-{subject}-{group}"}
        sent = ballot(subject, group, a, b, c, said)
        r = await w.call("POST", url, token, json=sent, headers=key)
        assert r.status_code == 201 and r.json()["recorded"], r.text
        retry = await w.call("POST", url, token, json=sent, headers=key)
        assert retry.status_code == 201 and not retry.json()["recorded"]
    twice = await w.call("POST", url, tokens["p-014"], json=ballot("gb-1", "peers", 1, 1, 1))
    assert twice.status_code == 409
    with Session(stack.engine) as s:
        assert s.exec(select(func.count()).select_from(EvaluationBallot)).one() == 4
        columns = set(EvaluationBallot.model_fields)
        assert not columns & {"person_id", "account_id", "rater", "created_at"}  # anonymous

    progress = (await w.call("GET", f"/api/v1/evaluations/{eid}", w.committee)).json()
    gb1 = next(s for s in progress["subjects"] if s["org_id"] == "gb-1")
    assert gb1["groups"]["peers"] == {"invited": 2, "voted": 2}
    assert gb1["groups"]["members"] == {"invited": 2, "voted": 1}
    early = await w.call("GET", f"/api/v1/evaluations/{eid}/results", tokens["p-006"])
    assert early.status_code == 403  # before publication only the organizer sees results

    r = await w.call("POST", f"/api/v1/evaluations/{eid}/close-rating", w.committee)
    assert r.status_code == 200 and r.json()["phase"] == "calibration", r.text
    late = await w.call("POST", url, tokens["p-007"], json=ballot("gb-1", "members", 5, 5, 5))
    assert late.status_code == 409
    results = (await w.call("GET", f"/api/v1/evaluations/{eid}/results", w.committee)).json()
    first = next(x for x in results if x["org_id"] == "gb-1")
    # superior: ideology (9 + 1.5·8)/25 = .84, organization 18/20 = .9 → 87.6; peers
    # (8, 6, 16) → 75.2 and (6, 4, 12) → 55.2, mean 65.2; members: 1 ballot < 2, dropped.
    # R = (40·87.6 + 30·65.2)/70 = 78; no decided items, no debriefing: the final is R.
    assert first["detail"]["valid_groups"] == ["superior", "peers"]
    assert first["detail"]["provisional"]  # members (30) missing
    assert first["detail"]["low_agreement"] == []  # peers 75.2 and 55.2: rwg 0.76
    assert first["final"] == 78.0 and first["grade"] == "fair"
    # the valid groups' comments, sorted; the members' group (1 ballot < 2) is dropped, its
    # comment too, and nothing in the results or the progress names a rater
    assert first["detail"]["comments"] == {
        "peers": ["Branch life is thin", "Zeal in study sessions"]
    }
    said = json.dumps(results) + json.dumps(progress)
    assert "A lone member" not in said
    assert not any(p in said for p in ("p-001", "p-014", "p-023", "p-006"))
    with Session(stack.engine) as s:  # an auditor's recomputation from the stored ballots
        row = s.get(Evaluation, eid)
        gb1_subject = s.exec(
            select(EvaluationSubject).where(
                EvaluationSubject.evaluation_id == eid, EvaluationSubject.org_id == "gb-1"
            )
        ).one()
        ballots = list(
            s.exec(
                select(EvaluationBallot).where(col(EvaluationBallot.subject_org_id) == "gb-1")
            ).all()
        )
        assert row is not None
        again_detail = subject_result(row, gb1_subject, ballots, {}, {})
    assert again_detail["final"] == first["final"]

    r = await w.call("POST", f"/api/v1/evaluations/{eid}/publish", w.committee)
    # Where it stands once published: the run loop may already have closed it (every result
    # applied) before the API reads it back, so published or closed, never earlier.
    assert r.status_code == 200 and r.json()["phase"] in ("published", "closed"), r.text
    assert r.json()["published_at"] is not None
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/publish", w.committee)
    assert r.status_code == 409
    handle = w.stack.client.get_workflow_handle(f"eval:{eid}")
    assert await handle.result() == "closed"  # published, then every result applied
    assert phase(w, eid) == "closed"
    await record(handle, "evaluation-closed-early")
    seen = (await w.call("GET", f"/api/v1/evaluations/{eid}/results", tokens["p-006"])).json()
    assert {x["org_id"] for x in seen} == {"gb-1", "gb-2", "gb-3"}  # scoped at the city
    sibling = (await w.call("GET", f"/api/v1/evaluations/{eid}/results", w.committee_gb2)).json()
    assert {x["org_id"] for x in sibling} == {"gb-2"}
    with Session(stack.engine) as s:
        voted = s.exec(select(func.count()).where(col(EvaluationInvitation.voted).is_(True))).one()
    assert voted == 4


async def test_non_voters_are_reminded_and_rating_closes_at_the_deadline(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    cid = await launch(w)
    today = today_in(w.stack.settings.timezone)
    deadline = today + timedelta(days=8)
    over = {
        "subjects": {"under": "gb-1", "levels": [1]},
        "rating_deadline": deadline.isoformat(),
        "debriefing_due": deadline.isoformat(),
    }
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **over))
    assert r.status_code == 202, r.text
    eid = r.json()["evaluation_id"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    with Session(w.stack.engine) as s:
        invited = s.exec(
            select(func.count(func.distinct(EvaluationInvitation.person_id))).where(
                EvaluationInvitation.evaluation_id == eid
            )
        ).one()
    assert invited > 0
    await ts_fresh.sleep(timedelta(days=9))  # past the deadline, in skipped time
    await eventually(lambda: phase(w, eid) == "calibration", what="rating to close")
    with Session(w.stack.engine) as s:
        keys = s.exec(
            select(Notification.dedupe_key).where(col(Notification.entity_id) == eid)
        ).all()
        links = set(s.exec(select(Notification.link).where(col(Notification.entity_id) == eid)))
    assert links == {f"/evaluations/{eid}"}  # every message leads to the evaluation's page
    reminders = [k for k in keys if ":remind:" in k]
    assert len(reminders) == 3 * invited  # 7, 3 and 1 days before, once per rater who owes
    owed = [k for k in keys if ":debriefing:" in k]
    assert sorted(owed) == [f"evaluation:{eid}:debriefing:{d}:gb-1" for d in (1, 3, 7)]
    end = deadline_instant(deadline, w.stack.settings.timezone)
    with Session(w.stack.engine) as s:
        instants = {
            as_utc(n.scheduled_for)
            for n in s.exec(select(Notification).where(col(Notification.entity_id) == eid))
            if n.scheduled_for is not None and ":remind:" in n.dedupe_key
        }
        told = s.exec(
            select(Notification).where(Notification.dedupe_key == f"evaluation:{eid}:rating-closed")
        ).one()
        owing = s.exec(
            select(EvaluationInvitation.group, func.count())
            .where(EvaluationInvitation.evaluation_id == eid)
            .group_by(col(EvaluationInvitation.group))
        ).all()
    # each reminder at its instant: 7, 3 and 1 days before the end of the deadline's day
    assert instants == {end - timedelta(days=d) for d in (7, 3, 1)}
    # the organizer is told who is missing, by group, in counts only (nobody voted here)
    assert told.recipient_person_id == "p-001"
    missing = ", ".join(f"{g}: {n}" for g, n in sorted(owing))
    assert f"Ballots missing by group: {missing}." in told.body
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/publish", w.committee)
    assert r.status_code == 200, r.text
    handle = w.stack.client.get_workflow_handle(f"eval:{eid}")
    assert await handle.result() == "closed"
    await record(handle, "evaluation-reminders-debriefing-deadline")


async def test_published_results_act_once_weak_aspects_and_a_poor_grade(w: World) -> None:
    cid = await launch(w)
    over = {"subjects": {"under": "gb-1", "levels": [1]}}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **over))
    eid = r.json()["evaluation_id"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    low = {
        "subject_org_id": "gb-1",
        "group": "superior",
        "scores": {"study": 2, "tests": 2, "life": 4},
    }
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/ballots", w.committee, json=low)
    assert r.status_code == 201, r.text
    await w.call("POST", f"/api/v1/evaluations/{eid}/close-rating", w.committee)
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/publish", w.committee)
    assert r.status_code == 200, r.text
    handle = w.stack.client.get_workflow_handle(f"eval:{eid}")
    assert await handle.result() == "closed"
    with Session(w.stack.engine) as s:
        problems = s.exec(select(Problem).where(Problem.source == "evaluation")).all()
        records = s.exec(select(Accountability).where(Accountability.entity_id == eid)).all()
    # ideology (2 + 1.5·2)/25 = 20 %, organization 4/20 = 20 %: both rectified; final 20: poor
    assert sorted(p.category for p in problems) == ["ideology", "organization"]
    assert {p.org_id for p in problems} == {"gb-1"} and all(p.cycle_id == cid for p in problems)
    # the published verdict is the finding: assigned to the head (p-005), not left to confirm
    assert {(p.state, p.owner_person_id) for p in problems} == {("assigned", "p-005")}
    seen = await w.call("GET", f"/api/v1/problems/{problems[0].id}", w.committee)
    assert seen.json()["evaluation_id"] == eid  # linked to the evaluation that found it
    head, _ = await signed_in(w, w.committee_gb1)
    page = (await head.get(f"/problems/{problems[0].id}")).text
    assert f'id="evaluation-link" href="/evaluations/{eid}"' in page
    w.problems.extend(p.id for p in problems)
    assert [(a.kind, a.person_id) for a in records] == [("evaluation_poor", "p-005")]
    record = (await w.call("GET", "/api/v1/people/p-005/record", w.committee)).json()
    assert record["evaluations"][0]["grade"] == "poor" and record["evaluations"][0]["of"] == 1
    assert record["accountability"][0]["kind"] == "evaluation_poor"
    sibling = await w.call("GET", "/api/v1/people/p-005/record", w.committee_gb2)
    unknown = await w.call("GET", "/api/v1/people/p-nobody/record", w.committee_gb2)
    assert sibling.status_code == unknown.status_code == 404
    assert sibling.json()["detail"] == "no person 'p-005' in this account's scope"


async def test_debriefing_public_ballots_and_calibration(w: World) -> None:
    cid = await launch(w)
    groups = [
        {"name": "superior", "weight": 60, "min_size": 1},
        {"name": "public", "weight": 40, "min_size": 3},
    ]
    over = {"subjects": {"under": "gb-1", "levels": [1]}, "groups": groups}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **over))
    eid = r.json()["evaluation_id"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    report = {"org_id": "gb-1", "text": "We held twelve branch meetings."}
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/debriefing", w.owner, json=report)
    assert r.status_code == 403  # only gb-1's head
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/debriefing", w.committee_gb1, json=report)
    assert r.status_code == 201, r.text
    with Session(w.stack.engine) as s:
        code = s.exec(
            select(EvaluationSubject.public_code).where(EvaluationSubject.evaluation_id == eid)
        ).one()
    form = await w.call("GET", f"/public/v1/evaluations/ballot/{code}", None)
    assert form.status_code == 200 and form.json()["open"]
    assert form.json()["debriefing"] == "We held twelve branch meetings."
    vote = {"scores": {"study": 10, "tests": 10, "life": 20}, "debriefing_rating": "excellent"}
    for _ in range(3):
        r = await w.call("POST", f"/public/v1/evaluations/ballot/{code}", None, json=vote)
        assert r.status_code == 201, r.text
    bad = await w.call("POST", f"/public/v1/evaluations/ballot/{code}", None, json={"scores": {}})
    assert bad.status_code == 422 and "scores.study" in bad.text
    limit = w.stack.settings.public_report_rate_per_minute  # per address and minute
    for _ in range(limit - 4):  # refused ballots count among the minute's attempts too
        r = await w.call("POST", f"/public/v1/evaluations/ballot/{code}", None, json={"scores": {}})
        assert r.status_code == 422, r.text
    flood = await w.call("POST", f"/public/v1/evaluations/ballot/{code}", None, json=vote)
    assert flood.status_code == 429 and int(flood.headers["retry-after"]) >= 1
    assert (await w.call("GET", "/public/v1/evaluations/ballot/nope", None)).status_code == 404
    superior = {
        "subject_org_id": "gb-1",
        "group": "superior",
        "scores": {"study": 5, "tests": 5, "life": 10},
        "debriefing_rating": "good",
    }
    r = await w.call("POST", f"/api/v1/evaluations/{eid}/ballots", w.committee, json=superior)
    assert r.status_code == 201, r.text
    progress = (await w.call("GET", f"/api/v1/evaluations/{eid}", w.committee)).json()
    assert progress["subjects"][0]["groups"]["public"] == {"invited": 0, "voted": 3}
    assert progress["subjects"][0]["debriefing_submitted"]
    await w.call("POST", f"/api/v1/evaluations/{eid}/close-rating", w.committee)
    results = (await w.call("GET", f"/api/v1/evaluations/{eid}/results", w.committee)).json()
    # R = (60·50 + 40·100)/100 = 70; B = (100·3 + 80)/4 = 95; no ledger: (30·70 + 20·95)/50 = 80
    assert results[0]["final"] == 80.0 and results[0]["grade"] == "good"
    url = f"/api/v1/evaluations/{eid}/subjects/gb-1/adjustments"
    entries = {"entries": [{"kind": "bonus", "points": 4, "reason": "model branch"}]}
    r = await w.call("PUT", url, w.committee, json=entries)
    assert r.status_code == 200 and r.json()["final"] == 84.0, r.text
    veto = {"entries": [{"kind": "veto", "reason": "a serious breach"}]}
    r = await w.call("PUT", url, w.committee, json=veto)
    assert r.json()["final"] == 80.0 and r.json()["grade"] == "fair"
    assert (await w.call("PUT", url, w.committee_gb1, json=veto)).status_code == 403


async def test_the_live_view_and_the_results_workbook(w: World) -> None:
    cid = await launch(w)
    live = await w.call("GET", f"/api/v1/evaluations/live?cycle={cid}&org=city", w.committee)
    assert live.status_code == 200, live.text
    rows = live.json()["rows"]
    assert rows[0]["org_id"] == "city" and {r["org_id"] for r in rows[1:]} == {
        "gb-1",
        "gb-2",
        "gb-3",
    }
    assert all(r["ledger"] is None for r in rows)  # nothing decided yet: no ledger part
    assert set(rows[0]["deductions_by_aspect"]) == {"integrity", "conduct"}
    out = await w.call("GET", f"/api/v1/evaluations/live?cycle={cid}&org=gb-1", w.committee_gb2)
    assert out.status_code == 404
    today = today_in(w.stack.settings.timezone)
    url = f"/api/v1/evaluations/live?cycle={cid}&org=city&as_of="
    past = await w.call("GET", url + (today - timedelta(days=3)).isoformat(), w.committee)
    assert past.status_code == 200 and past.json()["as_of"] == str(today - timedelta(days=3))
    future = await w.call("GET", url + (today + timedelta(days=3)).isoformat(), w.committee)
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "as_of"
    over = {"subjects": {"under": "gb-1", "levels": [1]}}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **over))
    eid = r.json()["evaluation_id"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    vote = {
        "subject_org_id": "gb-1",
        "group": "superior",
        "scores": {"study": 9, "tests": 8, "life": 18},
    }
    await w.call("POST", f"/api/v1/evaluations/{eid}/ballots", w.committee, json=vote)
    await w.call("POST", f"/api/v1/evaluations/{eid}/close-rating", w.committee)
    xlsx = await w.call("GET", f"/api/v1/evaluations/{eid}/results.xlsx", w.committee)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header, first = list(sheet.iter_rows(values_only=True))[:2]
    assert header[:4] == ("单位编号", "单位名称", "层级", "得分")
    assert first[0] == "gb-1" and first[3] == 87.6 and first[4] == "较好"
    en = await w.call("GET", f"/api/v1/evaluations/{eid}/results.xlsx?lang=en", w.committee)
    sheet = load_workbook(io.BytesIO(en.content)).active
    assert sheet is not None
    header, first = list(sheet.iter_rows(values_only=True))[:2]
    assert header[:4] == ("Org", "Org name", "Level", "Score") and first[4] == "Good"
    # a sibling subtree's committee sees neither the evaluation nor what to rate in it
    for path in (f"/api/v1/evaluations/{eid}", f"/api/v1/evaluations/{eid}/ballots/mine"):
        assert (await w.call("GET", path, w.committee_gb2)).status_code == 404, path


async def test_the_organizer_names_raters_until_rating_opens(w: World) -> None:
    cid = await launch(w)
    today = today_in(w.stack.settings.timezone)
    groups = [
        {"name": "superior", "weight": 60, "min_size": 1},
        {"name": "external", "weight": 40, "min_size": 1},
    ]
    later = {
        "subjects": {"under": "gb-1", "levels": [1]},
        "groups": groups,
        "opens_on": (today + timedelta(days=5)).isoformat(),
    }
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **later))
    eid = r.json()["evaluation_id"]
    url = f"/api/v1/evaluations/{eid}/subjects/gb-1/raters"
    r = await w.call("PUT", url, w.committee, json={"group": "external", "person_ids": ["p-030"]})
    assert r.status_code == 200, r.text
    bad = await w.call("PUT", url, w.committee, json={"group": "external", "person_ids": ["x-1"]})
    assert bad.status_code == 422 and "person_ids.0" in bad.text
    public = await w.call("PUT", url, w.committee, json={"group": "public", "person_ids": []})
    assert public.status_code == 422
    assert (
        await w.call("PUT", url, w.owner, json={"group": "external", "person_ids": []})
    ).status_code == 403
    progress = (await w.call("GET", f"/api/v1/evaluations/{eid}", w.committee)).json()
    assert progress["subjects"][0]["groups"]["external"] == {"invited": 1, "voted": 0}


def item_row(seq: int, **over: Any) -> Item:
    """An item of org ``o`` in cycle ``c-2027`` as the read model holds it."""
    fields: dict[str, Any] = {
        "id": f"c-2027:o:{seq}",
        "cycle_id": "c-2027",
        "org_id": "o",
        "org_path": "/o/",
        "letter_id": "c-2027:o",
        "seq": seq,
        "category": "ideology",
        "responsibility": "primary",
        "title": f"item {seq}",
        "metric": "m",
        "target": 1,
        "unit": "u",
        "due": date(2027, 6, 30),
        **over,
    }
    return Item(**fields)


def test_only_confirmed_achievements_count_in_the_ledger_part(engine: Engine) -> None:
    """Achieved items count once the issuer confirmed them; rejected or unconfirmed ones count
    as decided but not achieved."""

    def row(seq: int, state: str, confirmation: str | None, category: str = "ideology") -> Item:
        return item_row(seq, state=state, confirmation=confirmation, category=category)

    with Session(engine) as s:
        s.add_all(
            [
                row(1, "achieved", "confirmed"),
                row(2, "achieved", "rejected"),
                row(3, "achieved", None),
                row(4, "missed", None),
                row(5, "in_progress", None),
                row(6, "achieved", "confirmed", "integrity"),
            ]
        )
        s.commit()
        assert decided_items(s, "c-2027", "o") == {"ideology": (1, 4), "integrity": (1, 1)}


def test_a_day_counts_what_was_recorded_by_its_end(engine: Engine) -> None:
    """A day's view (the live view of a day, a mid-year evaluation) counts the items due by then
    once decided (each is decided just after its due day ends), an achievement only once
    confirmed by then (one confirmed before confirmations were recorded, always), and deduction
    events until then. Cut at an instant instead (rating closed), only decisions made by then."""
    day = date(2027, 6, 30)
    cut = day_cut(day, "Asia/Shanghai")
    assert cut.until == datetime(2027, 6, 30, 15, 59, 59, tzinfo=UTC)
    before, after = cut.until - timedelta(days=1), cut.until + timedelta(seconds=1)

    def row(seq: int, due: date, decided: datetime, confirmed: datetime | None) -> Item:
        state = "achieved" if seq != 5 else "missed"
        confirmation = "confirmed" if state == "achieved" else None
        return item_row(
            seq,
            due=due,
            state=state,
            decided_at=decided,
            confirmation=confirmation,
            confirmed_at=confirmed,
        )

    def escalation(n: int, at: datetime) -> Notification:
        return Notification(
            dedupe_key=f"esc-{n}",
            kind="escalation",
            subject="s",
            body="b",
            org_path="/o/",
            created_at=at,
        )

    with Session(engine) as s:
        s.add_all(
            [
                row(1, date(2027, 6, 29), before, before),  # achieved
                row(2, date(2027, 6, 29), before, after),  # confirmed only after: not achieved
                row(3, date(2027, 6, 29), before, None),  # confirmed before records: achieved
                row(4, day, after, before),  # due that day, decided as it ended: achieved
                row(5, date(2027, 6, 28), before, None),  # missed
                row(6, date(2027, 7, 1), after, before),  # due after the day: not counted
                escalation(1, before),
                escalation(2, after),
            ]
        )
        s.commit()
        assert decided_items_of(s, "c-2027", ["o"], cut) == {"o": {"ideology": (3, 5)}}
        at_instant = LedgerCut(until=cut.until)  # rating closed then: decisions made by then
        assert decided_items_of(s, "c-2027", ["o"], at_instant) == {"o": {"ideology": (2, 4)}}
        assert decided_items_of(s, "c-2027", ["o"]) == {"o": {"ideology": (5, 6)}}
        since = before - timedelta(days=1)
        at_cut = deduction_events_of(s, [("o", "/o/")], since, cut.until)["o"]
        assert at_cut[DeductionEvent.escalation] == 1
        assert deduction_events_of(s, [("o", "/o/")], since)["o"][DeductionEvent.escalation] == 2


def test_a_midyear_evaluation_is_frozen_on_midyear_and_the_others_when_rating_closed() -> None:
    plan = small_plan(YEAR)  # midyear 2027-06-30, in Asia/Shanghai
    cycle = Cycle(
        id="c",
        root_org_id="city",
        root_path="/city/",
        year=2027,
        title="t",
        plan=plan,
        timezone="Asia/Shanghai",
        launched_by="a",
        launched_at=datetime(2027, 1, 1, tzinfo=UTC),
    )

    def evaluation(kind: str) -> Evaluation:
        return Evaluation(
            id="e",
            cycle_id="c",
            kind=kind,
            title="t",
            under_org_id="city",
            under_path="/city/",
            opens_on=date(2027, 7, 1),
            rating_deadline=date(2027, 7, 20),
            organizer_account_id="a",
        )

    assert cut_off(evaluation("midyear"), cycle) == day_cut(date(2027, 6, 30), "Asia/Shanghai")
    assert cut_off(evaluation("yearend"), cycle) is None  # rating not closed: everything so far
    closed = evaluation("adhoc")
    closed.rating_closed_at = datetime(2027, 7, 20, 16, 0, tzinfo=UTC)
    # what the organizer reviewed at calibration is what publishing recomputes
    assert cut_off(closed, cycle) == LedgerCut(until=closed.rating_closed_at)
    early = evaluation("midyear")  # rating closed before the mid-year day was over
    early.rating_closed_at = datetime(2027, 6, 20, tzinfo=UTC)
    assert cut_off(early, cycle) == LedgerCut(until=early.rating_closed_at)
    late = evaluation("midyear")
    late.rating_closed_at = datetime(2027, 7, 20, tzinfo=UTC)
    assert cut_off(late, cycle) == day_cut(date(2027, 6, 30), "Asia/Shanghai")


def test_a_ballot_after_the_deadline_is_refused_even_before_rating_closes(engine: Engine) -> None:
    """The deadline is the end of its day: a ballot a second later is 409 while the workflow has
    not yet moved the phase on, and nothing is written."""
    row = Evaluation(
        id="e",
        cycle_id="c",
        kind="yearend",
        title="t",
        under_org_id="city",
        under_path="/city/",
        opens_on=date(2027, 1, 5),
        rating_deadline=date(2027, 1, 20),
        organizer_account_id="a",
        phase="rating",
    )
    vote = BallotIn(subject_org_id="gb-1", group=GroupName.superior, scores={"study": 1})
    late = deadline_instant(date(2027, 1, 20), "Asia/Shanghai") + timedelta(seconds=1)
    with Session(engine) as s, pytest.raises(Conflict, match="past its deadline"):
        cast_ballot(s, row, "p-001", vote, None, late, "Asia/Shanghai")
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(EvaluationBallot)).one() == 0


async def test_the_cycles_plan_carries_the_rubric_its_evaluations_use(w: World) -> None:
    bad = {
        **small_plan(YEAR),
        "rubric": {**RUBRIC, "aspects": {"ideology": RUBRIC["aspects"]["ideology"]}},
    }
    r = await w.call(
        "POST",
        "/api/v1/cycles",
        w.committee,
        json={"root_org_id": "city", "year": YEAR, "title": "t", "plan": bad},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("plan.rubric"), r.text
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Cycle)).one() == 0  # nothing launched
    cid = await launch(w, {**small_plan(YEAR), "rubric": {**RUBRIC, "version": 7}})
    live = await w.call("GET", f"/api/v1/evaluations/live?cycle={cid}&org=city", w.committee)
    assert live.json()["rubric_version"] == 7  # no evaluation yet: the plan's rubric
    named_none = {k: v for k, v in body(cid, w).items() if k != "rubric"}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=named_none)
    assert r.status_code == 202, r.text
    with Session(w.stack.engine) as s:
        row = s.get(Evaluation, r.json()["evaluation_id"])
        assert row is not None and row.rubric["version"] == 7
        assert set(row.rubric["aspects"]) == {"ideology", "organization"}

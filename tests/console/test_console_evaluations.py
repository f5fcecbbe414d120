"""Evaluations in the console over the real app, database and Temporal: a rater sees what to
rate and casts a ballot from the page (a refusal shown beside the form, typed scores kept), a
head hands in the debriefing, the organizer closes rating and publishes, results appear."""

from __future__ import annotations

import re

from tests.api.test_evaluations import body, phase
from tests.support.console import signed_in
from tests.support.cycles import eventually, launch
from tests.support.world import World


async def test_rating_and_publishing_in_the_console(w: World) -> None:
    cid = await launch(w)
    over = {"subjects": {"under": "gb-1", "levels": [1]}}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w, **over))
    eid = r.json()["evaluation_id"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    committee, c_csrf = await signed_in(w, w.committee)
    assert f"/evaluations/{eid}" in (await committee.get("/evaluations")).text
    page = (await committee.get(f"/evaluations/{eid}")).text
    assert 'id="cast-gb-1-superior"' in page and 'id="close-rating"' in page
    ballot = {
        "csrf": c_csrf,
        "subject_org_id": "gb-1",
        "group": "superior",
        "ballot_key": "gb-1-superior",
        "score:study": "12",
        "score:tests": "5",
        "score:life": "10",
    }
    bad = await committee.post(f"/evaluations/{eid}/ballot", data=ballot)
    assert bad.status_code == 422 and "scores.study" in bad.text
    assert 'value="12"' in bad.text  # what was typed is kept
    said = {"score:study": "9", "comment": "Meetings well prepared"}
    ok = await committee.post(f"/evaluations/{eid}/ballot", data={**ballot, **said})
    assert ok.status_code == 303, ok.text
    page = (await committee.get(f"/evaluations/{eid}")).text
    assert 'id="cast-gb-1-superior"' not in page  # voted: no second form

    head, h_csrf = await signed_in(w, w.committee_gb1)  # p-005 heads gb-1
    r = await head.post(
        f"/evaluations/{eid}/debriefing",
        data={"csrf": h_csrf, "org_id": "gb-1", "text": "Twelve meetings held."},
    )
    assert r.status_code == 303, r.text
    assert 'id="close-rating"' not in (await head.get(f"/evaluations/{eid}")).text

    r = await committee.post(f"/evaluations/{eid}/close-rating", data={"csrf": c_csrf})
    assert r.status_code == 303, r.text
    page = (await committee.get(f"/evaluations/{eid}?lang=en")).text
    assert "Calibration" in page and 'id="results"' in page and 'id="publish"' in page
    assert 'id="results"' not in (await head.get(f"/evaluations/{eid}")).text  # not yet
    r = await committee.post(f"/evaluations/{eid}/publish", data={"csrf": c_csrf})
    assert r.status_code == 303, r.text
    seen = (await head.get(f"/evaluations/{eid}")).text
    assert 'id="results"' in seen and re.search(
        r"<td>General Branch 1</td><td>1</td><td>[\d.]+", seen
    )
    assert 'id="comments-gb-1"' in seen and "Meetings well prepared" in seen


async def test_published_results_show_only_the_readers_subtree(w: World) -> None:
    cid = await launch(w)
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=body(cid, w))
    eid = r.json()["evaluation_id"]  # gb-1, gb-2 and gb-3 under the city
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    for url in ("close-rating", "publish"):
        r = await w.call("POST", f"/api/v1/evaluations/{eid}/{url}", w.committee)
        assert r.status_code == 200, r.text
    sibling, _ = await signed_in(w, w.committee_gb2)
    page = (await sibling.get(f"/evaluations/{eid}")).text
    shown = page.split('id="results"')[1].split("</section>")[0]
    assert "General Branch 2" in shown and shown.count("<tr>") == 2  # header and gb-2 alone


async def test_a_year_end_evaluation_started_from_the_page_with_the_shipped_rubric(
    w: World,
) -> None:
    """On the demo tree: the committee of the root starts a year-end evaluation of the root's
    children from the form (the shipped rubric, no file); a bad level is refused with the input
    kept; a double submit starts one evaluation; a member sees no form."""
    from sqlmodel import Session, col, func, select

    from services.evaluation.defaults import DEFAULT_RUBRIC
    from services.evaluation.models import Evaluation, EvaluationSubject

    cid = await launch(w)
    committee, c_csrf = await signed_in(w, w.committee)
    page = (await committee.get("/evaluations?lang=en")).text
    assert 'id="start-evaluation"' in page and 'value="yearend" selected' in page
    key = re.search(r'name="form_key" value="([0-9a-f]+)"', page)
    assert key is not None
    form = {
        "csrf": c_csrf,
        "form_key": key.group(1),
        "cycle_id": cid,
        "kind": "yearend",
        "title": "Year-end evaluation",
        "levels": "7",
        "opens_on": re.search(r'name="opens_on" type="date" value="([\d-]+)"', page).group(1),  # type: ignore[union-attr]
        "rating_deadline": re.search(  # type: ignore[union-attr]
            r'name="rating_deadline" type="date" value="([\d-]+)"', page
        ).group(1),
    }
    bad = await committee.post("/evaluations", data=form)
    assert bad.status_code == 422 and "subjects.levels.0" in bad.text
    assert 'value="Year-end evaluation"' in bad.text
    for _ in range(2):
        r = await committee.post("/evaluations", data={**form, "levels": "1"})
        assert r.status_code == 303, r.text
    eid = r.headers["location"].rsplit("/", 1)[1]
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Evaluation)).one() == 1
        row = s.get(Evaluation, eid)
        assert row is not None and row.rubric == DEFAULT_RUBRIC.model_dump(mode="json")
        subjects = s.exec(
            select(EvaluationSubject.org_id)
            .where(EvaluationSubject.evaluation_id == eid)
            .order_by(col(EvaluationSubject.org_id))
        ).all()
    assert subjects == ["gb-1", "gb-2", "gb-3"]
    await eventually(lambda: phase(w, eid) == "rating", what="rating to open")
    member, _ = await signed_in(w, w.owner)
    assert 'id="start-evaluation"' not in (await member.get("/evaluations")).text

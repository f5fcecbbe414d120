"""The console's evaluation pages: the evaluations in scope; one evaluation with what the visitor
must rate (a form per subject and group), the debriefing form for a subject's head, the
organizer's buttons (close rating, publish), progress per subject and group (counts only) and
the results once the visitor may see them.

Ballots and debriefings go through the same store functions as the API; closing and publishing
through the same domain client, so every rule and refusal is the API's.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select

from api.console.signin import (
    Visitor,
    error_of,
    kept_input,
    posting,
    show,
    to_signin,
    uploaded_json,
)
from api.deps import get_temporal, released
from api.steps import begin_evaluation
from services.core.clock import today_in, utcnow
from services.core.errors import DomainError, NotFound
from services.core.parsing import parsed
from services.cycle.models import Cycle
from services.evaluation import client as evaluations
from services.evaluation.ballots import cast_ballot, my_ballots
from services.evaluation.calibration import submit_debriefing
from services.evaluation.contracts import (
    BallotIn,
    DebriefingIn,
    EvaluationIn,
    Method,
    OrganizerStep,
    Rubric,
)
from services.evaluation.models import EvaluationSubject
from services.evaluation.store import (
    cycles_to_evaluate,
    get_evaluation,
    organized_by,
    progress,
    results_in_scope,
    visible_evaluations,
)

router = APIRouter(include_in_schema=False)


@router.get("/evaluations", response_model=None)
def evaluation_list(request: Request) -> Response:
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    return _list_page(request, who)


def _list_page(request: Request, who: Visitor, status_code: int = 200, **extra: Any) -> Response:
    """The evaluations in scope, and the form to start one for a committee of a cycle's root
    (filled with a year-end evaluation of the root's children under the shipped rubric)."""
    pr = who.principal
    assert pr is not None
    today = today_in(who.state.settings.timezone)
    with Session(who.state.engine) as s:
        rows = visible_evaluations(s, pr)
        cycles = cycles_to_evaluate(s, pr)
    defaults = {
        "opens_on": today.isoformat(),
        "rating_deadline": (today + timedelta(days=14)).isoformat(),
        "debriefing_due": (today + timedelta(days=7)).isoformat(),
        "levels": "1",
        "kind": "yearend",
        "form_key": secrets.token_hex(8),
    }
    extra["form"] = {**defaults, **extra.get("form", {})}
    return who.render(
        request, "evaluations.html", status_code, evaluations=rows, cycles=cycles, **extra
    )


async def _evaluation_body(form: Any, s: Session) -> EvaluationIn:
    """The start form as the API's body (422 naming the field when it is not one)."""
    rubric = await uploaded_json(form, "rubric")
    cycle = s.get(Cycle, str(form.get("cycle_id") or ""))
    levels = [x.strip() for x in str(form.get("levels") or "").split(",") if x.strip()]
    raw = {
        "cycle_id": form.get("cycle_id"),
        "kind": form.get("kind"),
        "title": form.get("title"),
        "subjects": {
            "under": form.get("under") or (cycle.root_org_id if cycle else ""),
            "levels": levels,
        },
        "rubric": rubric,
        "opens_on": form.get("opens_on"),
        "rating_deadline": form.get("rating_deadline"),
        "debriefing_due": form.get("debriefing_due") or None,
    }
    return parsed(EvaluationIn, raw, "evaluation")


@router.post("/evaluations", response_model=None)
async def start(request: Request) -> Response:
    """Start an evaluation from the form: the API's body, rules and refusals."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            body = await _evaluation_body(form, s)
            key = str(form.get("form_key") or "") or None  # a double submit starts one
            temporal = get_temporal(who.state)
            row = await begin_evaluation(s, temporal, who.state.settings, pr, body, key)
            evaluation_id = row.id
            s.commit()
    except DomainError as exc:
        return _list_page(request, who, exc.status, error=error_of(exc), form=kept_input(form))
    return RedirectResponse(f"/evaluations/{evaluation_id}", status_code=303)


def _page(
    request: Request, who: Visitor, evaluation_id: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        row = get_evaluation(s, pr, evaluation_id)
        rubric = Rubric.model_validate(row.rubric)
        headed = s.exec(
            select(EvaluationSubject).where(
                EvaluationSubject.evaluation_id == row.id,
                EvaluationSubject.head_person_id == (pr.person_id or ""),
            )
        ).all()
        try:
            organized_by(s, pr, row.id)
            organizer = True
        except DomainError:
            organizer = False
        # The organizer's before publication, every reader's (in their scope) after.
        visible = organizer or row.published_at is not None
        results = results_in_scope(s, row, pr.scope_path) if visible else []
        view = progress(s, row, pr.scope_path)
        mine = my_ballots(s, row, pr.person_id)
    return who.render(
        request,
        "evaluation.html",
        status_code,
        ev=view,
        rated=[
            (a.value, i)
            for a, spec in rubric.aspects.items()
            for i in spec.indicators
            if i.method is Method.rating
        ],
        mine=sorted(mine, key=lambda b: b.voted),
        headed=headed,
        results=results,
        organizer=organizer,
        **extra,
    )


@router.get("/evaluations/{evaluation_id}", response_model=None)
def evaluation(request: Request, evaluation_id: str) -> Response:
    return show(request, lambda who: _page(request, who, evaluation_id))


def _ballot(form: Any) -> BallotIn:
    """The ballot form's fields as the API's ballot: ``score:<indicator>`` inputs are scores."""
    scores: dict[str, Any] = {
        k.removeprefix("score:"): v for k, v in form.items() if k.startswith("score:")
    }
    raw = {
        "subject_org_id": form.get("subject_org_id"),
        "group": form.get("group"),
        "scores": scores,
        "debriefing_rating": form.get("debriefing_rating") or None,
        "comment": form.get("comment") or "",
    }
    return parsed(BallotIn, raw, "ballot")


@router.post("/evaluations/{evaluation_id}/{step}", response_model=None)
async def evaluation_step(request: Request, evaluation_id: str, step: str) -> Response:
    """Cast a ballot, hand in the debriefing, close rating early or publish."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    tz = who.state.settings.timezone
    try:
        with Session(who.state.engine) as s:
            row = get_evaluation(s, pr, evaluation_id)
            if step == "ballot":
                key = str(form.get("ballot_key") or "") or None
                cast_ballot(s, row, pr.person_id, _ballot(form), key, utcnow(), tz)
            elif step == "debriefing":
                raw = {"org_id": form.get("org_id"), "text": form.get("text")}
                body = parsed(DebriefingIn, raw, "debriefing")
                submit_debriefing(s, row, pr.person_id, body, utcnow(), tz)
            elif step in ("close-rating", "publish"):
                organized_by(s, pr, evaluation_id)
                act = evaluations.close_rating if step == "close-rating" else evaluations.publish
                call = act(
                    get_temporal(who.state), evaluation_id, OrganizerStep(account_id=pr.account_id)
                )
                await released(s, call)
            else:
                raise NotFound(f"no step {step!r} on an evaluation", field="step")
            s.commit()
    except DomainError as exc:
        return _page(
            request,
            who,
            evaluation_id,
            exc.status,
            error=error_of(exc),
            form=kept_input(form),
            form_step=f"{step}:{form.get('subject_org_id', '')}:{form.get('group', '')}",
        )
    return RedirectResponse(f"/evaluations/{evaluation_id}?done=1", status_code=303)

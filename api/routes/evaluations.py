"""Evaluations: the committee of a cycle's root starts one; invited raters cast anonymous
ballots; rating closes at the deadline (or early); the organizer calibrates and publishes.

The evaluation's rows are written in the request's transaction and committed only once its
workflow has started, so a refused or failed start leaves nothing behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import (
    PrincipalDep,
    SessionDep,
    StateDep,
    TemporalClient,
    TemporalDep,
    released,
)
from api.limits import throttle_public_ballots
from api.steps import begin_evaluation
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.clock import today_in, utcnow
from services.core.errors import Invalid, NotFound, absent
from services.core.labels import Lang
from services.cycle.access import visible_cycle
from services.evaluation import client as evaluations
from services.evaluation.ballots import (
    MyBallot,
    PublicBallotForm,
    cast_ballot,
    cast_public_ballot,
    my_ballots,
    public_form,
    public_subject,
    rating_open,
)
from services.evaluation.calibration import calibrate, change_raters, submit_debriefing
from services.evaluation.contracts import (
    AdjustmentsIn,
    BallotIn,
    DebriefingIn,
    EvaluationIn,
    GroupName,
    OrganizerStep,
    PublicBallotIn,
    RatersIn,
    Rubric,
)
from services.evaluation.defaults import DEFAULT_RUBRIC
from services.evaluation.live import LiveView, live_view, rubric_for
from services.evaluation.models import EvaluationResult
from services.evaluation.record import PersonRecord, person_record
from services.evaluation.store import (
    EvaluationOut,
    get_evaluation,
    organized_by,
    progress,
    results_in_scope,
)
from services.ledger.export import Column, xlsx_stream
from services.org.models import Org, Person
from services.org.queries import get_org

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"])


class EvaluationStarted(BaseModel):
    evaluation_id: str
    phase: str


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_evaluation(
    body: EvaluationIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> EvaluationStarted:
    """The committee of the cycle's root evaluates orgs of its tree at the given levels (the
    cycle plan's rubric, else the shipped one, when none is given). Send ``Idempotency-Key`` to
    retry safely."""
    row = await begin_evaluation(
        session, temporal, state.settings, principal, body, idempotency_key
    )
    return EvaluationStarted(evaluation_id=row.id, phase=row.phase)


@router.get("/rubric-template")
def rubric_template(_: PrincipalDep) -> Rubric:
    """The shipped rubric (five aspects, their indicators and weights), to edit and send back."""
    return DEFAULT_RUBRIC


@router.get("/live")
def live(
    session: SessionDep,
    principal: PrincipalDep,
    cycle: Annotated[str, Query(min_length=1, max_length=80)],
    org: Annotated[str, Query(min_length=1, max_length=64)],
    as_of: date | None = None,
) -> LiveView:
    """The dynamic evaluation, any day (``as_of``, default today in the cycle's timezone): for
    ``org`` and its children (ranked), the ledger part and the deductions by the end of that
    day, per aspect, by the rubric of the cycle's latest evaluation (else the plan's, else the
    shipped one)."""
    c = visible_cycle(session, principal, cycle)
    o = get_org(session, org)
    principal.require_scope(o)
    if not o.path.startswith(c.root_path):
        raise NotFound(f"org {org!r} is not in cycle {cycle!r}", field="org")
    today = today_in(c.timezone)
    if as_of is not None and as_of > today:
        message = f"as_of {as_of} is after today ({today}) in the cycle's timezone"
        raise Invalid(message, errors=[{"field": "as_of", "message": message}])
    rubric = rubric_for(session, c)
    return live_view(session, c, o, rubric, as_of or today)


@router.get("/{evaluation_id}")
def get_progress(evaluation_id: str, session: SessionDep, principal: PrincipalDep) -> EvaluationOut:
    """Phase, and per subject in your scope: invited and voted per group, debriefing."""
    row = get_evaluation(session, principal, evaluation_id)
    return progress(session, row, principal.scope_path)


@router.get("/{evaluation_id}/ballots/mine")
def ballots_mine(
    evaluation_id: str, session: SessionDep, principal: PrincipalDep
) -> list[MyBallot]:
    """What you are asked to rate, by subject and group, and whether you have."""
    row = get_evaluation(session, principal, evaluation_id)
    return my_ballots(session, row, principal.person_id)


class BallotReceipt(BaseModel):
    evaluation_id: str
    subject_org_id: str
    group: str
    recorded: bool  # False: a retry of a ballot already recorded


@router.post("/{evaluation_id}/ballots", status_code=status.HTTP_201_CREATED)
def post_ballot(
    evaluation_id: str,
    body: BallotIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> BallotReceipt:
    """One ballot per invited rater, subject and group, while rating is open. Anonymous: the
    ballot is stored without you; only that you voted is kept, apart."""
    row = get_evaluation(session, principal, evaluation_id)
    recorded = cast_ballot(
        session,
        row,
        principal.person_id,
        body,
        idempotency_key,
        utcnow(),
        state.settings.timezone,
    )
    return BallotReceipt(
        evaluation_id=row.id,
        subject_org_id=body.subject_org_id,
        group=body.group.value,
        recorded=recorded,
    )


@router.post("/{evaluation_id}/close-rating")
async def close_rating(
    evaluation_id: str, session: SessionDep, principal: PrincipalDep, temporal: TemporalDep
) -> EvaluationOut:
    """Close rating before the deadline: calibration starts and results are computed."""
    return await _organizer_step(
        evaluations.close_rating, evaluation_id, session, principal, temporal
    )


@router.post("/{evaluation_id}/publish")
async def publish(
    evaluation_id: str, session: SessionDep, principal: PrincipalDep, temporal: TemporalDep
) -> EvaluationOut:
    """Publish the calibrated results to every scoped reader; they never change afterwards."""
    return await _organizer_step(evaluations.publish, evaluation_id, session, principal, temporal)


async def _organizer_step(
    update: Callable[[TemporalClient, str, OrganizerStep], Awaitable[str]],
    evaluation_id: str,
    session: Session,
    principal: Principal,
    temporal: TemporalClient,
) -> EvaluationOut:
    """The organizer's Update on the evaluation's workflow, then where the evaluation stands."""
    organized_by(session, principal, evaluation_id)
    step = OrganizerStep(account_id=principal.account_id)
    await released(session, update(temporal, evaluation_id, step))
    return progress(session, get_evaluation(session, principal, evaluation_id), "/")


class SubjectResult(BaseModel):
    org_id: str
    org_name: str
    level: int
    final: float | None
    grade: str | None
    rank: int | None
    provisional: bool
    detail: dict[str, object]

    @classmethod
    def of(cls, r: EvaluationResult, org_name: str) -> SubjectResult:
        return cls(
            org_id=r.org_id,
            org_name=org_name,
            level=r.level,
            final=r.final,
            grade=r.grade,
            rank=r.rank,
            provisional=r.provisional,
            detail=r.detail,
        )


@router.get("/{evaluation_id}/results")
def results(
    evaluation_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    level: Annotated[int | None, Query(ge=0)] = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SubjectResult]:
    """Per subject: the parts, aspects, valid groups, final, grade, rank, provisional,
    agreement. Before publication only the organizing committee sees them."""
    row = get_evaluation(session, principal, evaluation_id)
    if row.published_at is None:
        organized_by(session, principal, evaluation_id)
    found = results_in_scope(session, row, principal.scope_path, level, org)
    return [SubjectResult.of(r, s.org_name) for r, s in found]


people = APIRouter(prefix="/api/v1/people", tags=["evaluations"])


@people.get("/{person_id}/record")
def record(person_id: str, session: SessionDep, principal: PrincipalDep) -> PersonRecord:
    """A head's published evaluations (final, grade, rank of how many) and accountability
    records over the years; readable within the person's org's scope."""
    person = session.get(Person, person_id)
    org = session.get(Org, person.org_id) if person is not None and person.org_id else None
    # An unknown person and one outside the caller's scope read alike (one with no org: "/").
    principal.require_path(org.path if org else "/", f"person {person_id!r}", "person_id")
    if person is None:
        raise absent(f"person {person_id!r}", "person_id")
    if org is None:
        principal.require_role(Role.admin)  # a person in no org: the admins' business
    return person_record(session, person_id)


@router.put("/{evaluation_id}/subjects/{org_id}/adjustments")
def calibrate_subject(
    evaluation_id: str,
    org_id: str,
    body: AdjustmentsIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> SubjectResult:
    """Calibration (before publication): bonus/penalty entries with reasons (±10 in all) or a
    veto (caps the grade at fair); the results are recomputed at once."""
    row = organized_by(session, principal, evaluation_id)
    subject = calibrate(session, row, org_id, body, principal.account_id, utcnow())
    [(result, _)] = results_in_scope(session, row, "/", org_id=org_id)
    return SubjectResult.of(result, subject.org_name)


class RatersOut(BaseModel):
    org_id: str
    group: str
    person_ids: list[str]


@router.put("/{evaluation_id}/subjects/{org_id}/raters")
def set_raters(
    evaluation_id: str, org_id: str, body: RatersIn, session: SessionDep, principal: PrincipalDep
) -> RatersOut:
    """Name a subject's raters in one group (e.g. an entrusted body's people as ``external``),
    replacing the defaults, until rating opens."""
    row = organized_by(session, principal, evaluation_id)
    people = change_raters(session, row, org_id, body, principal.account_id, utcnow())
    return RatersOut(org_id=org_id, group=body.group.value, person_ids=people)


class DebriefingReceipt(BaseModel):
    evaluation_id: str
    org_id: str
    submitted_at: datetime


@router.post("/{evaluation_id}/debriefing", status_code=status.HTTP_201_CREATED)
def debriefing(
    evaluation_id: str,
    body: DebriefingIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> DebriefingReceipt:
    """The subject's head hands in the debriefing report (text and evidence) by
    ``debriefing_due``; raters rate it in their ballots. Handing it in again replaces it."""
    row = get_evaluation(session, principal, evaluation_id)
    now = utcnow()
    submit_debriefing(session, row, principal.person_id, body, now, state.settings.timezone)
    return DebriefingReceipt(evaluation_id=row.id, org_id=body.org_id, submitted_at=now)


public = APIRouter(prefix="/public/v1/evaluations", tags=["public"])


@public.get("/ballot/{code}")
def public_ballot_form(code: str, session: SessionDep, state: StateDep) -> PublicBallotForm:
    """No sign-in: what a subject's public link shows — the evaluation, the org, the indicators
    to rate, the debriefing report, and whether rating is open."""
    row, subject = public_subject(session, code)
    return public_form(row, subject, rating_open(row, utcnow(), state.settings.timezone))


@public.post("/ballot/{code}", status_code=status.HTTP_201_CREATED)
def public_ballot(
    code: str, body: PublicBallotIn, request: Request, session: SessionDep, state: StateDep
) -> dict[str, str]:
    """No sign-in: a ballot in the ``public`` group, rate-limited per address like reports."""
    throttle_public_ballots(request, state.settings.public_report_rate_per_minute)
    row, subject = public_subject(session, code)
    ballot = BallotIn(subject_org_id=subject.org_id, group=GroupName.public, **body.model_dump())
    cast_public_ballot(session, row, subject, ballot, utcnow(), state.settings.timezone)
    return {"status": "recorded"}


RESULT_COLUMNS = [
    Column("org_id", "Org", "单位编号"),
    Column("org_name", "Org name", "单位名称", width=24),
    Column("level", "Level", "层级", kind="int"),
    Column("final", "Score", "得分", kind="float"),
    Column("grade", "Grade", "等次", labels="grade"),
    Column("rank", "Rank", "排名", kind="int"),
    Column("provisional", "Provisional", "暂定", kind="bool"),
    Column("ledger", "Ledger part", "台账得分", kind="float"),
    Column("rating", "Rating part", "评议得分", kind="float"),
    Column("debriefing", "Debriefing part", "述职得分", kind="float"),
    Column("valid_groups", "Groups counted", "计入的评议组", width=30),
]


def _sheet_row(r: SubjectResult) -> dict[str, Any]:
    parts, groups = r.detail.get("parts"), r.detail.get("valid_groups")
    return {
        **r.model_dump(exclude={"detail"}),
        **(parts if isinstance(parts, dict) else {}),
        "valid_groups": ", ".join(map(str, groups)) if isinstance(groups, list) else "",
    }


@router.get("/{evaluation_id}/results.xlsx", response_class=StreamingResponse)
def results_xlsx(
    evaluation_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    lang: Annotated[str, Query(pattern="^(en|zh)$")] = "zh",
) -> StreamingResponse:
    """The results you may see, as a workbook (Chinese headers by default)."""
    data = [_sheet_row(r) for r in results(evaluation_id, session, principal)]
    language: Lang = "en" if lang == "en" else "zh"
    title = "考核结果" if language == "zh" else "Results"
    return StreamingResponse(
        xlsx_stream(RESULT_COLUMNS, iter(data), language, title),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{evaluation_id}.xlsx"'},
    )

"""The console's cycle pages: the cycles in scope with a launch form, and a cycle's dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.console.charts import Chart, cascade_bars, proportion_bar
from api.console.render import language
from api.console.signin import Visitor, error_of, kept_input, posting, to_signin, uploaded_json
from api.deps import get_temporal
from api.steps import launch_cycle
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.clock import today_in
from services.core.errors import DomainError, Invalid, NotFound
from services.core.labels import label
from services.core.parsing import parsed
from services.cycle.access import progress_in_scope, visible_cycle, visible_cycles
from services.cycle.carryover import earlier_cycles
from services.cycle.models import Cycle
from services.cycle.plan import default_plan
from services.cycle.store import CycleIn
from services.cycle.tree import tree_level
from services.evaluation.defaults import DEFAULT_RUBRIC
from services.org.queries import get_org, kinds_under
from services.years.compare import compare

router = APIRouter(include_in_schema=False)


def _cycles_page(
    request: Request, who: Visitor, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        cycles = visible_cycles(s, pr)
    return who.render(
        request,
        "cycles.html",
        status_code,
        cycles=cycles,
        may_launch=pr.role in (Role.committee, Role.admin) and pr.scope_org_id is not None,
        root=pr.scope_org_id or "",
        year=today_in(who.state.settings.timezone).year + 1,
        **extra,
    )


@router.get("/cycles", response_model=None)
def cycles(request: Request) -> Response:
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    return _cycles_page(request, who)


async def _plan_of(form: Any, root_path: str, year: int, s: Session) -> dict[str, Any]:
    """The uploaded plan (JSON), or the shipped default for the year and the tree's org kinds."""
    plan = await uploaded_json(form, "plan")
    if plan is not None:
        return plan  # type: ignore[no-any-return]
    shipped = default_plan(year, kinds_under(s, root_path))
    shipped.rubric = DEFAULT_RUBRIC.model_dump(mode="json")  # the evaluations' rubric, to edit
    return shipped.model_dump(mode="json")


async def _cycle_body(form: Any, s: Session) -> CycleIn:
    """The launch form as the API's body (422 naming the field when it is not one)."""
    try:
        year = int(str(form.get("year") or ""))
    except ValueError:
        raise Invalid("invalid year", errors=[{"field": "year", "message": "a year"}]) from None
    root = get_org(s, str(form.get("root_org_id") or ""))
    plan = await _plan_of(form, root.path, year, s)
    body = {
        "root_org_id": root.id,
        "year": year,
        "title": str(form.get("title") or ""),
        "plan": plan,
    }
    return parsed(CycleIn, body, "cycle")


@router.post("/cycles", response_model=None)
async def launch(request: Request) -> Response:
    """Launch the year's cycle: the root's letter goes to its head at once."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            body = await _cycle_body(form, s)
            temporal = get_temporal(who.state)
            letter = await launch_cycle(s, temporal, who.state.settings, pr, body)
    except DomainError as exc:
        kept = kept_input(form)
        return _cycles_page(request, who, exc.status, error=error_of(exc), form=kept)
    return RedirectResponse(f"/cycles/{letter.cycle_id}", status_code=303)


@router.get("/cycles/{cycle_id}", response_model=None)
def dashboard(request: Request, cycle_id: str) -> Response:
    """Cascade progress per level as a chart, items, commitments and problems by state."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    pr = who.principal
    try:
        with Session(who.state.engine) as s:
            prog = progress_in_scope(s, pr, cycle_id)
            cycle = visible_cycle(s, pr, cycle_id)
            under = request.query_params.get("under") or _tree_top(cycle, pr)
            org = get_org(s, under)
            pr.require_scope(org)
            if not org.path.startswith(cycle.root_path):
                raise NotFound(f"org {under!r} is not in cycle {cycle_id!r}", field="under")
            tree = tree_level(s, cycle, under, pr.scope_path)
            earlier = earlier_cycles(s, cycle)
            # A page, not a report: the first children only (the API gives them all).
            years = compare(s, earlier[0], cycle, org, children_at_most=30) if earlier else None
    except DomainError as exc:
        return who.refused(request, exc)
    bars, height = cascade_bars(prog.levels, label("ui", "level", language(request)))
    return who.render(
        request,
        "cycle.html",
        prog=prog,
        cascade=Chart(bars, height),
        tree=tree,
        years=years,
        minibar=lambda n: proportion_bar(n.parts()),
    )


def _tree_top(cycle: Cycle, pr: Principal) -> str:
    """Where the tree starts: the cycle's root, or the visitor's own org when it lies below."""
    if pr.scope_org_id is not None and pr.scope_path.startswith(cycle.root_path):
        return pr.scope_org_id
    return cycle.root_org_id

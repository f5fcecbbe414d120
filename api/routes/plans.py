"""Plans as workbooks: read a plan workbook into the plan JSON (to look at, edit and launch), and
the template to fill in. ``POST /api/v1/cycles`` takes the JSON; the console's launch form and
``dutyledger schedule annual --plan`` take the workbook directly."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from api.deps import PrincipalDep
from api.uploads import uploaded
from services.accounts.models import Role
from services.core.errors import Invalid
from services.core.sheets import XLSX_TYPE
from services.cycle.plan_workbook import parse_plan_workbook, plan_template

router = APIRouter(prefix="/api/v1", tags=["cycles"])

MAX_PLAN_BYTES = 5 * 1024 * 1024
LAUNCHERS = (Role.committee, Role.admin)


@router.post("/plans/parse")
async def parse_plan(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """The plan JSON of a plan workbook (sheets ``calendar``, ``templates``, ``extra_items``;
    English or Chinese headers), or 422 naming each wrong cell (``templates!I4``)."""
    principal.require_role(*LAUNCHERS)
    kind, raw = await uploaded(request, MAX_PLAN_BYTES)
    if kind != "xlsx":
        raise Invalid(
            "send the plan workbook (XLSX); JSON plans go straight to POST /api/v1/cycles",
            errors=[{"field": "content-type", "message": "must be an XLSX workbook"}],
        )
    return parse_plan_workbook(raw)


@router.get("/plans/template.xlsx", response_class=Response)
def get_plan_template(
    principal: PrincipalDep, lang: Annotated[Literal["en", "zh"], Query()] = "en"
) -> Response:
    """A plan workbook to fill in: the calendar, template rows per org kind, an extra item."""
    principal.require_role(*LAUNCHERS)
    return Response(
        plan_template(lang),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="plan-template.xlsx"'},
    )

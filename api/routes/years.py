"""One year to the next: next year's plan from this year's (with what came of each item), and
two years side by side per org. Rectifications carried into a new year show in its progress
(``GET /cycles/{id}``) and ledger (``?cycle=``) beside its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from services.accounts.models import Role
from services.core.errors import Forbidden
from services.cycle.access import visible_cycle
from services.org.contracts import ID_PATTERN
from services.org.queries import get_org
from services.years.compare import Comparison, compare
from services.years.next_plan import NextPlan, next_plan

router = APIRouter(prefix="/api/v1", tags=["cycles"])


@router.get("/cycles/compare")
def get_comparison(
    session: SessionDep,
    principal: PrincipalDep,
    a: Annotated[str, Query(min_length=1, description="one cycle (e.g. last year's)")],
    b: Annotated[str, Query(min_length=1, description="another cycle of the same root")],
    org: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="default: the cycles' root")
    ] = None,
) -> Comparison:
    """Per org (the org, then each direct child, each over its subtree), the two years side by
    side: letters signed on time, items achieved by aspect, problems opened, closed on time and
    carried in, accountability records, evaluation grade and rank."""
    first, second = visible_cycle(session, principal, a), visible_cycle(session, principal, b)
    target = get_org(session, org or first.root_org_id)
    principal.require_scope(target, "org")
    return compare(session, first, second, target)


@router.get("/cycles/{cycle_id}/next-plan")
def get_next_plan(cycle_id: str, session: SessionDep, principal: PrincipalDep) -> NextPlan:
    """This cycle's plan moved one year, with per template (across the orgs of its kind) and per
    extra item what was achieved: edit it and launch it with ``POST /api/v1/cycles``."""
    principal.require_role(Role.committee, Role.admin)
    cycle = visible_cycle(session, principal, cycle_id)
    if not principal.in_scope(cycle.root_path):
        raise Forbidden("the next plan is for the committee of the cycle's root")
    return next_plan(session, cycle)

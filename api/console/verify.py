"""Verifying the audit trail in the console (auditors, admins): ask for a run, watch it finish,
read its verdict; every earlier run listed, newest first.

The verification runs in a worker (``workflows/audit_verification.py``): at 100,000
rectifications it reads for about 40 s, longer than a page should keep a browser (or a proxy)
waiting. The run's page refreshes itself until the verdict is in.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.console.signin import Visitor, posting, showing
from api.deps import get_temporal
from services.accounts.models import Role
from services.accounts.store import actor_names
from services.core.errors import DomainError
from services.integrity.verification_client import request_verification, settle_cut_short
from services.integrity.verifications import as_out, get_verification, list_verifications

router = APIRouter(include_in_schema=False)

# Runs listed on the page; the API pages through all of them.
LISTED = 20


@router.get("/ledger/verify", response_model=None)
async def verifications(request: Request) -> Response:
    """The button that starts a run and the latest runs with their verdicts."""

    async def build(who: Visitor) -> Response:
        pr = who.principal
        assert pr is not None  # showing() sends anyone else to sign in
        pr.require_role(Role.auditor, Role.admin)
        with Session(who.state.engine, expire_on_commit=False) as s:
            rows, total = list_verifications(s, 0, LISTED)
            await settle_cut_short(s, who.state.temporal, rows)
            names = actor_names(s, [r.requested_by for r in rows])
            runs = [as_out(r, pr.scope_path, with_report=False) for r in rows]
        return who.render(request, "verifications.html", runs=runs, total=total, names=names)

    return await showing(request, build)


@router.post("/ledger/verify", response_model=None)
async def verify_now(request: Request) -> Response:
    """Start a run (or, while one goes on, join it) and go to its page."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, _ = got
    try:
        with Session(who.state.engine, expire_on_commit=False) as s:
            temporal = get_temporal(who.state)
            row, _ = await request_verification(s, temporal, who.state.settings, pr, None)
            run_id = row.id
    except DomainError as exc:
        return who.refused(request, exc)
    return RedirectResponse(f"/ledger/verify/{run_id}", status_code=303)


@router.get("/ledger/verify/{verification_id}", response_model=None)
async def verification(request: Request, verification_id: str) -> Response:
    """One run: still running (the page refreshes itself), its verdict, or why it gave up."""

    async def build(who: Visitor) -> Response:
        pr = who.principal
        assert pr is not None
        pr.require_role(Role.auditor, Role.admin)
        with Session(who.state.engine, expire_on_commit=False) as s:
            row = get_verification(s, verification_id)
            await settle_cut_short(s, who.state.temporal, [row])
            run = as_out(row, pr.scope_path)
            names = actor_names(s, [run.requested_by])
        return who.render(request, "verify.html", run=run, names=names)

    return await showing(request, build)

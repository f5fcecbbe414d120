"""The audit trail's integrity: verification (chain, signed checkpoints, read model), the signed
checkpoints themselves and the public key that verifies them."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep, TemporalDep
from api.pagination import Page
from services.accounts.models import Role
from services.integrity.checkpoints import CheckpointOut, list_checkpoints, sign_now
from services.integrity.drift import IntegrityReport, for_reader, integrity_report
from services.integrity.keys import raw_public, signing_key, trusted_keys
from services.integrity.verification_client import request_verification, settle_cut_short
from services.integrity.verifications import (
    VerificationOut,
    as_out,
    get_verification,
    list_verifications,
)

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify")
def audit_verify(session: SessionDep, principal: PrincipalDep, state: StateDep) -> IntegrityReport:
    """Recompute the whole hash chain (naming the first modified, inserted or deleted event);
    check every signed checkpoint (signature by a trusted key, and the chain still carrying the
    signed hash); rebuild every row the chain describes from its events and name each stored
    field that differs (``drift``)."""
    principal.require_role(Role.auditor, Role.admin)
    report = integrity_report(session, trusted_keys(state.settings))
    return for_reader(report, principal.scope_path)


@router.post("/verifications", status_code=202)
async def verify_in_background(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    temporal: TemporalDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> VerificationOut:
    """The same verification as ``GET /verify``, run by a worker: answered at once (202) with
    the run (``state: running``); read it back at ``Location`` until it is ``done`` (or
    ``failed``, when the worker gave up: ``failure`` says why). While a run goes on, asking
    again answers 200 with that run. Send ``Idempotency-Key`` to retry safely: a retry answers
    200 with the run the key first started."""
    row, started = await request_verification(
        session, temporal, state.settings, principal, idempotency_key
    )
    if not started:
        response.status_code = 200
    response.headers["Location"] = f"{router.prefix}/verifications/{row.id}"
    return as_out(row, principal.scope_path)


@router.get("/verifications")
async def verifications(
    session: SessionDep, principal: PrincipalDep, state: StateDep, page: PageDep
) -> Page[VerificationOut]:
    """Every verification run in the background, newest first, without their reports. A run
    whose workflow ended without its verdict (terminated, say) is shown ``failed``, saying so."""
    principal.require_role(Role.auditor, Role.admin)
    rows, total = list_verifications(session, page.offset, page.page_size)
    await settle_cut_short(session, state.temporal, rows)
    return Page.of([as_out(r, principal.scope_path, with_report=False) for r in rows], total, page)


@router.get("/verifications/{verification_id}")
async def verification(
    verification_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> VerificationOut:
    """One run, with its report once done (a reader scoped to a subtree: verdict and counts);
    ``failed`` if its workflow ended without its verdict."""
    principal.require_role(Role.auditor, Role.admin)
    row = get_verification(session, verification_id)
    await settle_cut_short(session, state.temporal, [row])
    return as_out(row, principal.scope_path)


class PublicKeyOut(BaseModel):
    key_id: str
    public_key: str  # base64 of the 32 raw bytes (Ed25519)
    pem: str
    trusted: list[str]  # key ids accepted on checkpoints: this one and retired ones


@router.get("/public-key")
def public_key(state: StateDep) -> PublicKeyOut:
    """The key checkpoints are signed with now (no sign-in: it is public by design)."""
    key = signing_key(state.settings)
    pem = key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return PublicKeyOut(
        key_id=key.id,
        public_key=base64.b64encode(raw_public(key.public)).decode(),
        pem=pem,
        trusted=sorted(trusted_keys(state.settings)),
    )


@router.get("/checkpoints")
def checkpoints(session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[CheckpointOut]:
    """Every signed checkpoint, oldest first: keep a copy anywhere; `dutyledger audit verify`
    checks it offline with the public key."""
    principal.require_role(Role.auditor, Role.admin)
    rows, total = list_checkpoints(session, page.offset, page.page_size)
    return Page.of(rows, total, page)


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=CheckpointOut,
    responses={204: {"description": "the chain is empty: nothing to sign"}},
)
def checkpoint_now(session: SessionDep, principal: PrincipalDep, state: StateDep) -> Any:
    """Sign the chain's head now (admin); the head signed already answers that checkpoint."""
    principal.require_role(Role.admin)
    cp = sign_now(session, state.settings, principal.account_id)
    return cp if cp is not None else Response(status_code=204)

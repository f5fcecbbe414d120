"""The console's letter page: the letter as a person reads it, its history, its commitments,
and the steps each party may take there — the head signs or returns it, the issuer amends or adds
items and decides commitments, members pledge, an author resubmits a returned pledge.

Every step goes through the step the API route takes (``api.steps``) with the body read into the
API's own model (``api.bodies``), so a form cannot do what a JSON body may not.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.bodies import (
    AmendIn,
    CarriedDecisionIn,
    CommitmentIn,
    CommitmentReturnIn,
    ResubmitIn,
    ReturnIn,
)
from api.carry_steps import decide_carried
from api.console.signin import Visitor, error_of, kept_input, posting, show
from api.deps import get_temporal
from api.steps import (
    acknowledge_letter,
    amend_letter,
    decide_commitment,
    pledge,
    return_letter,
    sign_letter,
)
from services.accounts.store import actor_names
from services.audit.chain import entity_timeline
from services.core.errors import DomainError, NotFound
from services.core.parsing import parsed
from services.cycle.access import actor_for, commitment_in_scope, letter_in_scope
from services.cycle.carried_items import carried_items
from services.cycle.plan import Aspect, Responsibility
from services.cycle.queries import commitments_page
from services.cycle.rules import commitment_steps, item_changeable, letter_steps
from services.cycle.store import get_cycle
from services.cycle.views import CommitmentOut, ItemOut, LetterOut, letter_items
from services.org.queries import names_of

router = APIRouter(include_in_schema=False)

COMMITMENTS_SHOWN = 200  # a letter's pledges on one page; members of one org pledge a few each


def _letter_page(
    request: Request,
    who: Visitor,
    cycle_id: str,
    org_id: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        row = letter_in_scope(s, pr, cycle_id, org_id, acting=False)
        letter = LetterOut.of(row, letter_items(s, row.id))
        actor = actor_for(s, pr, row)
        pledges, _ = commitments_page(
            s, pr.scope_path, 0, COMMITMENTS_SHOWN, cycle_id=cycle_id, org_id=org_id
        )
        history = entity_timeline(s, "letter", row.id)
        carried = carried_items(s, get_cycle(s, cycle_id), org_id)
        people = [letter.head_person_id, letter.issuer_person_id, letter.signed_by]
        people += [letter.handover_to, letter.acknowledged_by]
        people += [i.assignee_person_id for i in letter.items or []]
        names = names_of(s, people + [c.person_id for c in pledges])
        names |= actor_names(s, [e.actor for e in history])
    return who.render(
        request,
        "letter.html",
        status_code,
        letter=letter,
        names=names,
        history=history,
        commitments=[
            (CommitmentOut.of(c), commitment_steps(c.state, c.person_id, row, actor))
            for c in pledges
        ],
        item_titles={i.item_id: i.title for i in letter.items or []},
        carried=carried,
        steps=letter_steps(row, actor),
        changeable=item_changeable,
        person_id=pr.person_id,
        editing=_editing(request, letter, extra.pop("editing", None)),
        categories=[c.value for c in Aspect],
        responsibilities=[r.value for r in Responsibility],
        pledge_key=secrets.token_urlsafe(12),  # one per rendered form: a double submit pledges once
        **extra,
    )


def _editing(request: Request, letter: LetterOut, kept: Any) -> ItemOut | str | None:
    """The item the issuer asked to edit (``?edit=<item id>``), "new" for an added one."""
    asked = kept if kept is not None else request.query_params.get("edit")
    if asked == "new":
        return "new"
    found = next((i for i in letter.items or [] if i.item_id == asked), None)
    if found is None and kept is not None:
        return "new"  # a refused change to an unknown item: the typed values stay on the form
    return found


@router.get("/letters/{cycle_id}/{org_id}", response_model=None)
def letter(request: Request, cycle_id: str, org_id: str) -> Response:
    return show(request, lambda who: _letter_page(request, who, cycle_id, org_id))


def _amend_body(form: Any) -> AmendIn:
    """One item added or replaced, as the API's amendment body."""
    item: dict[str, Any] = {
        "category": form.get("category"),
        "responsibility": form.get("responsibility"),
        "title": form.get("title"),
        "indicator": {
            "metric": form.get("metric"),
            "target": form.get("target"),
            "unit": form.get("unit"),
            "standard": form.get("standard") or "",
        },
        "due": form.get("due"),
        "assignee_person_id": form.get("assignee_person_id") or None,
    }
    if form.get("item_id"):
        item["item_id"] = form.get("item_id")
    return parsed(AmendIn, {"items": [item], "reason": form.get("reason") or ""}, "amendment")


@router.post("/letters/{cycle_id}/{org_id}/{step}", response_model=None)
async def letter_step(request: Request, cycle_id: str, org_id: str, step: str) -> Response:
    """Sign (the hash shown on the page), return with a reason, amend an item, or pledge."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            temporal = get_temporal(who.state)
            if step in ("sign", "acknowledge"):
                act = sign_letter if step == "sign" else acknowledge_letter
                await act(s, temporal, pr, cycle_id, org_id, str(form.get("content_hash")))
            elif step == "return":
                body = parsed(ReturnIn, {"reason": form.get("reason")}, "return")
                await return_letter(s, temporal, pr, cycle_id, org_id, body.reason)
            elif step == "amend":
                await amend_letter(s, temporal, pr, cycle_id, org_id, _amend_body(form))
            elif step == "carried":
                raw = {"decision": form.get("decision")}
                decided = parsed(CarriedDecisionIn, raw, "carried").decision
                item_id = str(form.get("item_id") or "")
                await decide_carried(s, temporal, pr, cycle_id, org_id, item_id, decided)
            elif step == "pledge":
                raw = {"text": form.get("text"), "item_ids": form.getlist("item_ids")}
                key = str(form.get("pledge_key") or "") or None  # a double submit pledges once
                await pledge(
                    s, temporal, pr, cycle_id, org_id, parsed(CommitmentIn, raw, "pledge"), key
                )
            else:
                raise NotFound(f"no step {step!r} on a letter", field="step")
            s.commit()
    except DomainError as exc:
        kept = kept_input(form)
        editing = str(form.get("item_id") or "new") if step == "amend" else None
        return _letter_page(
            request,
            who,
            cycle_id,
            org_id,
            exc.status,
            error=error_of(exc),
            form=kept,
            form_items=form.getlist("item_ids"),
            form_step=step,
            editing=editing,
        )
    return RedirectResponse(f"/letters/{cycle_id}/{org_id}?done=1", status_code=303)


@router.post("/commitments/{commitment_id}/{decision}", response_model=None)
async def commitment_step(request: Request, commitment_id: str, decision: str) -> Response:
    """The issuer approves or returns a pledge; its author resubmits a returned one."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    with Session(who.state.engine) as s:
        try:
            c = commitment_in_scope(s, pr, commitment_id)
        except DomainError as exc:
            return who.refused(request, exc)
    try:
        with Session(who.state.engine) as s:
            body: Any = None
            if decision == "return":
                body = parsed(CommitmentReturnIn, {"reason": form.get("reason")}, "return")
            elif decision == "resubmit":
                body = parsed(ResubmitIn, {"text": form.get("text") or None}, "resubmission")
            elif decision != "approve":
                raise NotFound(f"no decision {decision!r} on a commitment", field="decision")
            await decide_commitment(s, get_temporal(who.state), pr, commitment_id, decision, body)
    except DomainError as exc:
        return _letter_page(
            request,
            who,
            c.cycle_id,
            c.org_id,
            exc.status,
            error=error_of(exc),
            form=kept_input(form),
            form_step=f"{decision}:{commitment_id}",
        )
    return RedirectResponse(f"/letters/{c.cycle_id}/{c.org_id}?done=1", status_code=303)

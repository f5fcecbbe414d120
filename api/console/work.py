"""The console's work pages: a person's own work, a rectification, an item.

A handler finds who is signed in, authorizes through the same rules, calls the same step
(``api.steps``) or service the API route calls, and renders. A refused action shows the
problem+json detail next to its form, with what the person typed kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.bodies import ConfirmationIn
from api.console.signin import Visitor, error_of, kept_input, posting, show, to_signin
from api.deps import get_temporal
from api.downloads import evidence_download
from api.steps import (
    act_on_problem,
    confirm_achievement,
    report_progress,
    visible_problem,
)
from services.accountability.records import about, appeals_to_decide
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.accounts.store import actor_names
from services.core.clock import utcnow
from services.core.errors import DomainError, Invalid
from services.core.parsing import parsed
from services.cycle.access import actor_for, item_in_scope, letter_in_scope
from services.cycle.queries import (
    achievements_to_confirm,
    commitments_returned_to,
    commitments_to_decide,
    letters_to_pledge_on,
    letters_to_sign,
    open_items_of,
)
from services.cycle.rules import answerable, require_issuer, require_reporter
from services.cycle.views import ItemOut
from services.evidence.files import store_upload
from services.notify.store import inbox, mark_read, unread_count
from services.org.models import Org, Person
from services.org.queries import names_of
from services.rectification.rules import Action, Flags, RectState, check_action
from services.rectification.store import timeline
from services.rectification.views import problem_out
from services.rectification.worklist import awaiting_decision, owned_by

router = APIRouter(include_in_schema=False)
INBOX_SHOWN = 30

# The fields of each rectification action's form (name, input kind), in the API's body names.
ACTION_FORMS: dict[str, list[tuple[str, str]]] = {
    "confirm": [("owner_person_id", "text"), ("comment", "textarea")],
    "dismiss": [("reason", "textarea")],
    "assign": [("owner_person_id", "text"), ("comment", "textarea")],
    "plan": [("measures", "textarea"), ("target_date", "date")],
    "approve-plan": [("comment", "textarea")],
    "return-plan": [("reason", "textarea")],
    "progress": [("note", "textarea"), ("percent", "number"), ("evidence", "file")],
    "extension": [("new_due", "date"), ("reason", "textarea")],
    "approve-extension": [("comment", "textarea")],
    "deny-extension": [("reason", "textarea")],
    "completion": [("summary", "textarea"), ("evidence", "file")],
    "verify": [("result", "verdict"), ("comment", "textarea")],
    "reopen": [("reason", "textarea")],
    "recheck": [("held", "held"), ("comment", "textarea")],
}


@router.get("/", response_model=None)
def home() -> Response:
    return RedirectResponse("/me", status_code=303)


@router.get("/me", response_model=None)
def me(request: Request) -> Response:
    """The signed-in person's own work, with counts."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    return me_page(request, who)


def me_page(request: Request, who: Visitor, status_code: int = 200, **extra: Any) -> Response:
    """``/me``; a refused form posted from it is shown here with its error."""
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        person = s.get(Person, pr.person_id) if pr.person_id else None
        notes, _ = (
            inbox(s, pr.person_id, pr.scope_path, 0, INBOX_SHOWN) if pr.person_id else ([], 0)
        )
        committee = pr.role in (Role.committee, Role.admin)
        to_decide = commitments_to_decide(s, pr.person_id, pr.scope_path, committee)
        returned = commitments_returned_to(s, pr.person_id)
        appeals = appeals_to_decide(s, pr)
        confirm = achievements_to_confirm(s, pr.person_id, pr.scope_path, committee)
        names = names_of(s, [c.person_id for c in to_decide] + [a.person_id for a in appeals])
        return who.render(
            request,
            "me.html",
            status_code,
            accountability=about(s, pr.person_id),
            to_confirm=[ItemOut.of(i) for i in confirm],
            appeals=appeals,
            person_name=person.name if person else pr.role.value,
            letters=letters_to_sign(s, pr.person_id, pr.scope_path),
            items=[ItemOut.of(i) for i in open_items_of(s, pr.person_id, pr.scope_path)],
            to_pledge=letters_to_pledge_on(s, pr.person_id, pr.scope_path),
            to_decide=to_decide,
            returned=returned,
            names=names,
            owned=owned_by(s, pr.person_id),
            deciding=awaiting_decision(s, pr.role.value, pr.scope_path),
            notifications=notes,
            unread=unread_count(s, pr.person_id),
            **extra,
        )


@router.post("/notifications/read", response_model=None)
async def notifications_read(request: Request) -> Response:
    """Mark one notification (``id``) or all of the visitor's own read."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    raw = str(form.get("id") or "")
    if pr.person_id is not None:
        with Session(who.state.engine) as s:
            one = int(raw) if raw.isdigit() and len(raw) < 19 else None  # a 64-bit row id
            if one is not None or not raw:
                mark_read(s, pr.person_id, [one] if one is not None else None)
            s.commit()
    return RedirectResponse("/me#notifications", status_code=303)


# --- rectifications -------------------------------------------------------------------------


def _forms_for(pr: Principal, p: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The actions this person may take now, each with its form: only those."""
    out = []
    flags = Flags(extension_pending=p.extension_pending, recheck_open=p.recheck_open)
    for action in p.allowed_actions:
        try:
            check_action(
                Action(action),
                RectState(p.state),
                flags,
                p.owner_person_id,
                pr.person_id,
                pr.role.value,
            )
        except (DomainError, ValueError):
            continue
        out.append((action, ACTION_FORMS[action]))
    return out


def _problem_page(
    request: Request, who: Visitor, problem_id: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        p = problem_out(visible_problem(s, pr, problem_id), utcnow())
        events = timeline(s, problem_id)
        names = names_of(s, [p.owner_person_id, p.verifier_person_id])
        org = s.get(Org, p.org_id)
        names[p.org_id] = org.name if org is not None else p.org_id
        names |= actor_names(s, [e.actor for e in events])
    return who.render(
        request,
        "problem.html",
        status_code,
        p=p,
        names=names,
        forms=_forms_for(pr, p),
        events=events,
        form_action=extra.pop("form_action", None),
        **extra,
    )


@router.get("/problems/{problem_id}", response_model=None)
def problem(request: Request, problem_id: str) -> Response:
    return show(request, lambda who: _problem_page(request, who, problem_id))


async def _action_body(form: Any, who: Visitor, s: Session) -> dict[str, Any]:
    """The API body of an action form: its filled fields, an uploaded file as evidence."""
    assert who.principal is not None
    body: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key == "csrf" or key == "evidence":
            continue
        if isinstance(value, str) and value.strip():
            body[key] = value
    upload = form.get("evidence")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        row = store_upload(
            s,
            who.state.settings,
            upload.file,
            upload.filename,
            upload.content_type,
            who.principal.scope_path,
            who.principal.account_id,
        )
        s.flush()
        body["evidence"] = [row.id]
    return body


@router.post("/problems/{problem_id}/{action}", response_model=None)
async def problem_action(request: Request, problem_id: str, action: str) -> Response:
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            visible_problem(s, pr, problem_id)  # scope first: no file kept otherwise
            body = await _action_body(form, who, s)
            s.commit()  # the evidence is kept even if the step is refused (upload, then act)
            temporal = get_temporal(who.state)
            await act_on_problem(s, temporal, who.state.settings, pr, problem_id, action, body)
    except DomainError as exc:
        kept = kept_input(form)
        return _problem_page(
            request, who, problem_id, exc.status, error=error_of(exc), form=kept, form_action=action
        )
    return RedirectResponse(f"/problems/{problem_id}?done=1", status_code=303)


@router.get("/evidence/{evidence_id}", response_model=None)
def evidence(request: Request, evidence_id: str) -> Response:
    """An evidence file for a signed-in visitor in whose scope it lies."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    try:
        with Session(who.state.engine) as s:
            return evidence_download(s, who.state.settings, who.principal, evidence_id)
    except DomainError as exc:
        return who.refused(request, exc)


# --- items ----------------------------------------------------------------------------------


def _item_page(
    request: Request, who: Visitor, item_id: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        item = item_in_scope(s, pr, item_id)
        row = letter_in_scope(s, pr, item.cycle_id, item.org_id, acting=False)
        actor = actor_for(s, pr, row)
        try:
            require_reporter(row, item, actor)
            may_report = row.signed_version is not None and item.state in ("pending", "in_progress")
        except DomainError:
            may_report = False
        try:
            require_issuer(row, actor, "confirm")
            reached = item.actual is not None and item.actual >= item.target
            may_confirm = reached and item.confirmation != "confirmed" and row.closed_at is None
        except DomainError:
            may_confirm = False
        answers = answerable(row, item)  # a primary item: whoever heads the org now
        names = names_of(s, [answers, item.confirmed_by])
        out = ItemOut.of(item)
    return who.render(
        request,
        "item.html",
        status_code,
        item=out,
        org_name=row.org_name,
        names=names,
        answers=answers,
        may_report=may_report,
        may_confirm=may_confirm,
        **extra,
    )


@router.get("/items/{item_id}", response_model=None)
def item_page(request: Request, item_id: str) -> Response:
    return show(request, lambda who: _item_page(request, who, item_id))


@router.post("/items/{item_id}/progress", response_model=None)
async def item_progress(request: Request, item_id: str) -> Response:
    """Report the figure reached so far, with a note and optionally a file as evidence."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            item_in_scope(s, pr, item_id)  # scope first: no file kept otherwise
            body = await _action_body(form, who, s)
            s.commit()
            actual = parse_figure(str(body.get("actual", "")))
            await report_progress(
                s,
                get_temporal(who.state),
                pr,
                item_id,
                actual,
                str(body.get("note", "")),
                list(body.get("evidence", [])),
            )
    except DomainError as exc:
        kept = kept_input(form)
        return _item_page(request, who, item_id, exc.status, error=error_of(exc), form=kept)
    return RedirectResponse(f"/items/{item_id}?done=1", status_code=303)


@router.post("/items/{item_id}/confirmation", response_model=None)
async def item_confirmation(request: Request, item_id: str) -> Response:
    """The issuer confirms or rejects (with a reason) an achievement reported on the item."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        raw = {"decision": form.get("decision"), "reason": form.get("reason") or ""}
        body = parsed(ConfirmationIn, raw, "confirmation")
        with Session(who.state.engine) as s:
            await confirm_achievement(
                s, get_temporal(who.state), pr, item_id, body.decision, body.reason
            )
    except DomainError as exc:
        kept = kept_input(form)
        return _item_page(request, who, item_id, exc.status, error=error_of(exc), form=kept)
    return RedirectResponse(f"/items/{item_id}?done=1", status_code=303)


def parse_figure(text: str) -> float:
    """A non-negative finite number, or 422 naming ``actual``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise Invalid(
            "invalid progress", errors=[{"field": "actual", "message": "a number ≥ 0, please"}]
        )
    return value

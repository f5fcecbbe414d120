"""The console's org page: an org, its place in the tree, its people and the history of its
heads; for an admin over it, the forms that change it (a new head takes over the running
letters) and record that a person left. The same steps as ``PATCH /api/v1/orgs/{id}`` and
``PATCH /api/v1/people/{id}`` (``api/org_steps.py``)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.console.signin import Visitor, error_of, kept_input, posting, to_signin
from api.deps import get_temporal
from api.org_steps import change_org, change_person, person_in_scope
from services.accounts.models import Role
from services.changes.contracts import OrgPatch, PersonPatch
from services.changes.orgs import heads_of
from services.core.errors import DomainError, Invalid
from services.core.parsing import parsed
from services.org.models import Org, Person
from services.org.queries import get_org, names_of

router = APIRouter(include_in_schema=False)
CHANGEABLE = ("name", "kind", "head_person_id", "deputy_person_id", "parent_id")


def _org_page(
    request: Request, who: Visitor, org_id: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    pr = who.principal
    assert pr is not None
    with Session(who.state.engine) as s:
        org = get_org(s, org_id)
        pr.require_scope(org)
        above = [p for p in org.path.strip("/").split("/")[:-1] if p]
        ancestors = [
            (o.id, o.name)
            for o in s.exec(select(Org).where(col(Org.id).in_(above))).all()
            if pr.in_scope(o.path)
        ]
        ancestors.sort(key=lambda a: above.index(a[0]))
        children = s.exec(select(Org).where(Org.parent_id == org.id).order_by(col(Org.id))).all()
        people = s.exec(
            select(Person).where(Person.org_id == org.id).order_by(col(Person.id))
        ).all()
        heads = heads_of(s, org.id)
        names = names_of(s, [org.head_person_id, org.deputy_person_id])
    return who.render(
        request,
        "org.html",
        status_code,
        org=org,
        ancestors=ancestors,
        children=children,
        people=people,
        heads=heads,
        names=names,
        admin=pr.role is Role.admin,
        change_key=secrets.token_urlsafe(12),  # one per rendered form: a double submit is one
        **extra,
    )


@router.get("/orgs/{org_id}", response_model=None)
def org_page(request: Request, org_id: str) -> Response:
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    try:
        return _org_page(request, who, org_id)
    except DomainError as exc:
        return who.refused(request, exc)


@router.post("/orgs/{org_id}/change", response_model=None)
async def org_change(request: Request, org_id: str) -> Response:
    """The fields the admin changed (the form shows the current values)."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    try:
        with Session(who.state.engine) as s:
            org = get_org(s, org_id)
            pr.require_scope(org)
            # What the admin changed on the page, against what the page showed: a field left as
            # shown never undoes another admin's change made since.
            changed = {}
            for f in CHANGEABLE:
                value = str(form.get(f) or "").strip() or None
                shown = str(form.get(f"was_{f}") or "").strip() or None
                if value is not None and value != shown:
                    changed[f] = value
            body = parsed(OrgPatch, changed, "org")
            key = str(form.get("change_key") or "") or None
            await change_org(s, get_temporal(who.state), who.state.settings, pr, org_id, body, key)
            s.commit()
    except DomainError as exc:
        return _refused(request, who, org_id, exc, form)
    return RedirectResponse(f"/orgs/{org_id}?done=1", status_code=303)


@router.post("/people/{person_id}/leave", response_model=None)
async def person_leaves(request: Request, person_id: str) -> Response:
    """Record the day a person left: their rectifications go back to their orgs' heads."""
    got = await posting(request)
    if isinstance(got, Response):
        return got
    who, pr, form = got
    org_id = ""
    try:
        with Session(who.state.engine) as s:
            org_id = person_in_scope(s, pr, person_id).org_id or ""
            if not form.get("left_on"):
                raise Invalid(
                    "say the day they left", errors=[{"field": "left_on", "message": "empty"}]
                )
            body = parsed(PersonPatch, {"left_on": form.get("left_on")}, "person")
            key = str(form.get("change_key") or "") or None
            await change_person(
                s, get_temporal(who.state), who.state.settings, pr, person_id, body, key
            )
            s.commit()
    except DomainError as exc:
        if not org_id:
            return who.refused(request, exc)
        return _refused(request, who, org_id, exc, form)
    return RedirectResponse(f"/orgs/{org_id}?done=1", status_code=303)


def _refused(
    request: Request, who: Visitor, org_id: str, exc: DomainError, form: Any
) -> HTMLResponse:
    try:
        return _org_page(
            request, who, org_id, exc.status, error=error_of(exc), form=kept_input(form)
        )
    except DomainError as again:
        return who.refused(request, again)

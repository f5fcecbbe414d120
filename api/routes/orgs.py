"""The org tree and people: create, import, read."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import Session

from api.deps import PageDep, PrincipalDep, SessionDep, subtree_path
from api.pagination import Page
from api.uploads import uploaded
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.errors import Forbidden, Invalid
from services.core.sheets import XLSX_TYPE
from services.org.contracts import ImportResult, OrgIn, OrgOut, OrgTreeIn, PersonIn, PersonOut
from services.org.models import Org
from services.org.queries import get_org, list_subtree
from services.org.store import create_org, create_person, import_tree, parse_csv, parse_json
from services.org.workbook import import_workbook, named_cells, parse_workbook, template

router = APIRouter(prefix="/api/v1", tags=["orgs"])

MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _require_admin_over(session: Session, principal: Principal, tree: OrgTreeIn) -> None:
    """Admins may create orgs only under their scope; new roots need an installation-wide admin."""
    principal.require_role(Role.admin)
    if principal.scope_path == "/":
        return
    in_file = {o.id for o in tree.orgs}
    for n, o in enumerate(tree.orgs, start=1):
        if o.parent_id is None:
            raise Forbidden(f"org {o.id!r}: only an installation-wide admin may create a root org")
        if o.parent_id not in in_file:
            parent = session.get(Org, o.parent_id)
            if parent is not None and not principal.in_scope(parent.path):
                # the import's very answer for a parent that does not exist
                error = {
                    "section": "orgs",
                    "row": n,
                    "field": "parent_id",
                    "message": f"unknown parent {o.parent_id!r}",
                }
                raise Invalid("the org tree was refused; nothing was imported", errors=[error])


@router.post("/orgs", status_code=status.HTTP_201_CREATED)
def post_org(body: OrgIn, session: SessionDep, principal: PrincipalDep) -> OrgOut:
    _require_admin_over(session, principal, OrgTreeIn(orgs=[body]))
    return OrgOut.of(create_org(session, body, principal.account_id))


@router.post("/orgs/import", status_code=status.HTTP_201_CREATED)
async def post_import(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> ImportResult:
    """Import a tree, all or nothing: JSON `{people, orgs}`, CSV (`text/csv`, one org per row)
    or an XLSX workbook with `orgs` and `people` sheets (its content type, or a multipart upload
    named `file`); a refusal names each row and field (a workbook's: its cells)."""
    principal.require_role(Role.admin)
    kind, raw = await uploaded(request, MAX_IMPORT_BYTES)
    if kind == "xlsx":
        book = parse_workbook(raw)
        try:
            _require_admin_over(session, principal, book.tree)
        except Invalid as exc:
            raise Invalid(exc.detail, errors=named_cells(book, exc.extra["errors"])) from None
        return import_workbook(session, book, principal.account_id)
    tree = _parsed_text(kind, raw)
    _require_admin_over(session, principal, tree)
    return import_tree(session, tree, principal.account_id)


def _parsed_text(kind: str, raw: bytes) -> OrgTreeIn:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(
            "the body is not UTF-8", errors=[{"field": "body", "message": "not UTF-8"}]
        ) from None
    if kind == "csv":
        return parse_csv(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}",
            errors=[{"field": "body", "message": exc.msg, "line": exc.lineno}],
        ) from None
    return parse_json(data)


@router.get("/orgs/import-template.xlsx", response_class=Response)
def get_import_template(
    principal: PrincipalDep, lang: Annotated[Literal["en", "zh"], Query()] = "en"
) -> Response:
    """The workbook to fill in for ``POST /orgs/import``: sheets, headers (``lang=zh``: Chinese),
    an example row and notes."""
    principal.require_role(Role.admin)
    return Response(
        template(lang),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="orgs-import-template.xlsx"'},
    )


@router.get("/orgs/{org_id}")
def get_one(org_id: str, session: SessionDep, principal: PrincipalDep) -> OrgOut:
    org = get_org(session, org_id)
    principal.require_scope(org)
    return OrgOut.of(org)


@router.get("/orgs")
def get_subtree(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    under: Annotated[
        str | None, Query(description="org id whose subtree to list; default: the caller's scope")
    ] = None,
) -> Page[OrgOut]:
    path = subtree_path(session, principal, under)
    rows, total = list_subtree(session, path, page.offset, page.page_size)
    return Page(
        items=[OrgOut.of(o) for o in rows], total=total, page=page.page, page_size=page.page_size
    )


@router.post("/people", status_code=status.HTTP_201_CREATED)
def post_person(body: PersonIn, session: SessionDep, principal: PrincipalDep) -> PersonOut:
    principal.require_role(Role.admin)
    if body.org_id is not None:
        principal.require_scope(get_org(session, body.org_id))
    elif principal.scope_path != "/":
        raise Forbidden("a scoped admin must attach people to an org in scope")
    person = create_person(session, body)
    return PersonOut.model_validate(person, from_attributes=True)

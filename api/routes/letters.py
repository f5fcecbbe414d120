"""Letters, items and commitments of the annual cycle: reads from the read model, every change
an Update on the org's workflow (``cycle:{cycle}:org:{org}``), which validates it (409/403/422
naming the state or field), persists it and only then answers — so the next read sees it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from api.deps import PageDep, PrincipalDep, SessionDep, TemporalClient, TemporalDep
from api.pagination import Page
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.cycle import client as cycle_client
from services.cycle.contracts import (
    Actor,
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    CommitmentState,
    ItemChange,
    ItemState,
    LetterState,
    ProgressRequest,
    ReturnRequest,
    SignRequest,
    letter_id_for,
)
from services.cycle.models import Commitment, Item, Letter
from services.cycle.plan import ItemTemplate
from services.cycle.store import get_cycle
from services.cycle.views import CommitmentOut, ItemOut, LetterOut, PublicCommitment, letter_items
from services.evidence.store import evidence_errors
from services.org.contracts import ID_PATTERN
from services.org.models import Org, Person
from services.org.queries import get_org, under_path

T = TypeVar("T")
router = APIRouter(prefix="/api/v1", tags=["letters"])
public = APIRouter(prefix="/public/v1", tags=["public"])


# --- bodies ----------------------------------------------------------------------------------


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=4000)


class ItemEdit(ItemTemplate):
    """An item as in the plan; with ``item_id`` it replaces that item, without it it is added."""

    item_id: str | None = Field(default=None, max_length=200)


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemEdit] = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=4000)


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actual: float = Field(ge=0, allow_inf_nan=False)
    note: str = Field(default="", max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=50)


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)
    item_ids: list[str] = Field(min_length=1, max_length=200)


class ResubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, min_length=1, max_length=4000)
    item_ids: list[str] | None = Field(default=None, min_length=1, max_length=200)


# --- helpers ---------------------------------------------------------------------------------


def _actor(session: Session, principal: Principal, letter: Letter) -> Actor:
    person = session.get(Person, principal.person_id) if principal.person_id else None
    cycle = get_cycle(session, letter.cycle_id)
    return Actor(
        account_id=principal.account_id,
        person_id=principal.person_id,
        root_committee=principal.role in (Role.committee, Role.admin)
        and principal.in_scope(cycle.root_path),
        org_member=person is not None and person.org_id == letter.org_id,
    )


def _letter(
    session: Session, principal: Principal, cycle_id: str, org_id: str, acting: bool = True
) -> Letter:
    """The letter in scope. When its org is in the cycle but its parent has not signed: 409 for
    an action on it, 404 for a read, both saying why."""
    cycle = get_cycle(session, cycle_id)
    row = session.get(Letter, letter_id_for(cycle_id, org_id))
    if row is None:
        org = get_org(session, org_id)
        if not org.path.startswith(cycle.root_path):
            raise NotFound(f"org {org_id!r} is not in cycle {cycle_id!r}", field="org_id")
        principal.require_scope(org)
        parent = session.get(Letter, letter_id_for(cycle_id, org.parent_id or ""))
        why = (
            f"its parent {org.parent_id!r} has not signed its own letter yet"
            if parent is None or parent.signed_version is None
            else f"its parent {org.parent_id!r} signed; the letter is being issued, retry"
        )
        detail = (
            f"the letter of {org_id!r} is not issued yet: {why}; letters go down level by level"
        )
        if not acting:
            raise NotFound(detail, field="org_id")
        raise Conflict(detail, state="not_issued")
    if not principal.in_scope(row.org_path):
        raise Forbidden(f"the letter of {org_id!r} is outside this account's scope")
    return row


def _is_issuer(principal: Principal, actor: Actor, letter: Letter) -> bool:
    if letter.issuer_person_id is None:
        return actor.root_committee
    return principal.person_id == letter.issuer_person_id


async def _run(session: Session, step: Awaitable[T]) -> T:
    """Await one of the cycle client's steps with no DB connection held, then read afresh."""
    session.commit()  # give the connection back to the pool while Temporal works
    result = await step
    session.expire_all()
    return result


# --- letters ---------------------------------------------------------------------------------


@router.get("/letters")
def list_letters(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str, Query(min_length=1)],
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    subtree: bool = False,
    status: LetterState | None = None,
    level: Annotated[int | None, Query(ge=0)] = None,
) -> Page[LetterOut]:
    """Letters of a cycle: one org's (``org``), its subtree's (``subtree``), or all in scope."""
    get_cycle(session, cycle)
    where: list[Any] = [Letter.cycle_id == cycle, under_path(Letter.org_path, principal.scope_path)]
    if org is not None:
        o = get_org(session, org)
        principal.require_scope(o)
        where.append(under_path(Letter.org_path, o.path) if subtree else Letter.org_id == org)
    if status is not None:
        where.append(Letter.state == status.value)
    if level is not None:
        where.append(Letter.level == level)
    total = session.exec(select(func.count()).select_from(Letter).where(*where)).one()
    rows = session.exec(
        select(Letter)
        .where(*where)
        .order_by(col(Letter.level), col(Letter.org_path))
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return Page(
        items=[LetterOut.of(r) for r in rows],
        total=int(total),
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/letters/{cycle_id}/{org_id}")
def get_letter(
    cycle_id: str, org_id: str, session: SessionDep, principal: PrincipalDep
) -> LetterOut:
    """The letter with its items: what the head reads, and the ``content_hash`` to sign."""
    row = _letter(session, principal, cycle_id, org_id, acting=False)
    return LetterOut.of(row, letter_items(session, row.id))


@router.post("/letters/{cycle_id}/{org_id}/sign")
async def sign(
    cycle_id: str,
    org_id: str,
    body: SignIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    row = _letter(session, principal, cycle_id, org_id)
    if principal.person_id is None or principal.person_id != row.head_person_id:
        raise Forbidden(f"only the head of {row.org_name} ({row.head_person_id}) may sign")
    req = SignRequest(actor=_actor(session, principal, row), content_hash=body.content_hash)
    await _run(session, cycle_client.sign(temporal, cycle_id, org_id, req))
    return get_letter(cycle_id, org_id, session, principal)


@router.post("/letters/{cycle_id}/{org_id}/return")
async def return_letter(
    cycle_id: str,
    org_id: str,
    body: ReasonIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    """The head asks the issuer (the parent's head) for a revision."""
    row = _letter(session, principal, cycle_id, org_id)
    if principal.person_id is None or principal.person_id != row.head_person_id:
        raise Forbidden(f"only the head of {row.org_name} ({row.head_person_id}) may return it")
    req = ReturnRequest(actor=_actor(session, principal, row), reason=body.reason)
    await _run(session, cycle_client.return_letter(temporal, cycle_id, org_id, req))
    return get_letter(cycle_id, org_id, session, principal)


@router.post("/letters/{cycle_id}/{org_id}/items")
async def amend_items(
    cycle_id: str,
    org_id: str,
    body: AmendIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> LetterOut:
    """The issuer adds or changes items: a new version, which the head signs again."""
    row = _letter(session, principal, cycle_id, org_id)
    actor = _actor(session, principal, row)
    if not _is_issuer(principal, actor, row):
        who = row.issuer_person_id or "the committee of the cycle's root"
        raise Forbidden(f"only the issuer of this letter ({who}) may change its items")
    errors = []
    for n, it in enumerate(body.items):
        person = it.assignee_person_id
        if person is not None and session.get(Person, person) is None:
            errors.append(
                {"field": f"items.{n}.assignee_person_id", "message": f"unknown person {person!r}"}
            )
    if errors:
        raise Invalid("invalid items", errors=errors)
    changes = [
        ItemChange(
            id=it.item_id, template=ItemTemplate.model_validate(it.model_dump(exclude={"item_id"}))
        )
        for it in body.items
    ]
    req = AmendRequest(actor=actor, changes=changes, reason=body.reason)
    await _run(session, cycle_client.amend(temporal, cycle_id, org_id, req))
    return get_letter(cycle_id, org_id, session, principal)


# --- items -----------------------------------------------------------------------------------


@router.get("/items")
def list_items(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str, Query(min_length=1)],
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: ItemState | None = None,
    assignee: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    due_before: date | None = None,
) -> Page[ItemOut]:
    """The responsibility list: one org's items, or every item in scope, filtered."""
    get_cycle(session, cycle)
    where: list[Any] = [Item.cycle_id == cycle, under_path(Item.org_path, principal.scope_path)]
    if org is not None:
        principal.require_scope(get_org(session, org))
        where.append(Item.org_id == org)
    if state is not None:
        where.append(Item.state == state.value)
    if assignee is not None:
        where.append(Item.assignee_person_id == assignee)
    if due_before is not None:
        where.append(col(Item.due) < due_before)
    total = session.exec(select(func.count()).select_from(Item).where(*where)).one()
    rows = session.exec(
        select(Item)
        .where(*where)
        .order_by(col(Item.org_path), col(Item.seq))
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return Page(
        items=[ItemOut.of(r) for r in rows],
        total=int(total),
        page=page.page,
        page_size=page.page_size,
    )


def _item(session: Session, principal: Principal, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id!r} does not exist", field="item_id")
    if not principal.in_scope(item.org_path):
        raise Forbidden(f"item {item_id!r} belongs to an org outside this account's scope")
    return item


@router.get("/items/{item_id}")
def get_item(item_id: str, session: SessionDep, principal: PrincipalDep) -> ItemOut:
    return ItemOut.of(_item(session, principal, item_id))


@router.post("/items/{item_id}/progress")
async def report_progress(
    item_id: str,
    body: ProgressIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> ItemOut:
    """The assignee reports the actual figure so far (for a collective item: any member)."""
    item = _item(session, principal, item_id)
    letter = _letter(session, principal, item.cycle_id, item.org_id)
    actor = _actor(session, principal, letter)
    if item.assignee_person_id is None:
        if not (actor.org_member or principal.person_id == letter.head_person_id):
            raise Forbidden(f"item {item_id!r} is collective: members of {letter.org_name} report")
    elif principal.person_id != item.assignee_person_id:
        raise Forbidden(f"only the assignee ({item.assignee_person_id}) reports on {item_id!r}")
    errors = evidence_errors(session, body.evidence, item.org_path)
    if errors:
        raise Invalid("invalid progress", errors=errors)
    req = ProgressRequest(
        actor=actor, item_id=item_id, actual=body.actual, note=body.note, evidence=body.evidence
    )
    await _run(session, cycle_client.report_progress(temporal, item.cycle_id, item.org_id, req))
    return ItemOut.of(_item(session, principal, item_id))


# --- commitments -----------------------------------------------------------------------------


def _commitment_id(principal: Principal, idempotency_key: str | None) -> str:
    if idempotency_key:
        digest = hashlib.sha256(f"{principal.account_id}\0{idempotency_key}".encode()).hexdigest()
        return "C-" + digest[:12].upper()
    return "C-" + secrets.token_hex(6).upper()


@router.post("/letters/{cycle_id}/{org_id}/commitments", status_code=201)
async def submit_commitment(
    cycle_id: str,
    org_id: str,
    body: CommitmentIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CommitmentOut:
    """A member of the org pledges on its items; the issuer approves (published) or returns it.
    Send ``Idempotency-Key`` to retry safely."""
    row = _letter(session, principal, cycle_id, org_id)
    actor = _actor(session, principal, row)
    if not (actor.org_member or principal.person_id == row.head_person_id):
        raise Forbidden(f"only members of {row.org_name} pledge on its items")
    cid = _commitment_id(principal, idempotency_key)
    req = CommitmentRequest(actor=actor, commitment_id=cid, text=body.text, item_ids=body.item_ids)
    await _run(session, cycle_client.submit_commitment(temporal, cycle_id, org_id, req))
    return CommitmentOut.of(_commitment(session, principal, cid))


def _commitment(session: Session, principal: Principal, commitment_id: str) -> Commitment:
    c = session.get(Commitment, commitment_id)
    if c is None:
        raise NotFound(f"commitment {commitment_id!r} does not exist", field="commitment_id")
    if not principal.in_scope(c.org_path):
        raise Forbidden(f"commitment {commitment_id!r} is outside this account's scope")
    return c


@router.get("/commitments")
def list_commitments(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    cycle: Annotated[str | None, Query(min_length=1)] = None,
    org: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: CommitmentState | None = None,
) -> Page[CommitmentOut]:
    where: list[Any] = [under_path(Commitment.org_path, principal.scope_path)]
    if cycle is not None:
        where.append(Commitment.cycle_id == cycle)
    if org is not None:
        principal.require_scope(get_org(session, org))
        where.append(Commitment.org_id == org)
    if state is not None:
        where.append(Commitment.state == state.value)
    total = session.exec(select(func.count()).select_from(Commitment).where(*where)).one()
    rows = session.exec(
        select(Commitment)
        .where(*where)
        .order_by(col(Commitment.submitted_at), col(Commitment.id))
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return Page(
        items=[CommitmentOut.of(c) for c in rows],
        total=int(total),
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/commitments/{commitment_id}")
def get_commitment(
    commitment_id: str, session: SessionDep, principal: PrincipalDep
) -> CommitmentOut:
    return CommitmentOut.of(_commitment(session, principal, commitment_id))


async def _decide(
    session: Session,
    principal: Principal,
    temporal: TemporalClient,
    commitment_id: str,
    decision: str,
    **body: Any,
) -> CommitmentOut:
    c = _commitment(session, principal, commitment_id)
    row = _letter(session, principal, c.cycle_id, c.org_id)
    actor = _actor(session, principal, row)
    if decision in ("approve", "return") and not _is_issuer(principal, actor, row):
        who = row.issuer_person_id or "the committee of the cycle's root"
        raise Forbidden(f"only the issuer of {row.org_name}'s letter ({who}) may {decision} it")
    if decision == "resubmit" and principal.person_id != c.person_id:
        raise Forbidden(f"only {c.person_id} may resubmit this commitment")
    req = CommitmentDecision(actor=actor, commitment_id=commitment_id, decision=decision, **body)
    await _run(session, cycle_client.decide_commitment(temporal, c.cycle_id, c.org_id, req))
    return CommitmentOut.of(_commitment(session, principal, commitment_id))


@router.post("/commitments/{commitment_id}/approve")
async def approve_commitment(
    commitment_id: str, session: SessionDep, principal: PrincipalDep, temporal: TemporalDep
) -> CommitmentOut:
    """Publish it on the public board."""
    return await _decide(session, principal, temporal, commitment_id, "approve")


@router.post("/commitments/{commitment_id}/return")
async def return_commitment(
    commitment_id: str,
    body: ReasonIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CommitmentOut:
    return await _decide(session, principal, temporal, commitment_id, "return", reason=body.reason)


@router.post("/commitments/{commitment_id}/resubmit")
async def resubmit_commitment(
    commitment_id: str,
    body: ResubmitIn,
    session: SessionDep,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> CommitmentOut:
    return await _decide(
        session,
        principal,
        temporal,
        commitment_id,
        "resubmit",
        text=body.text,
        item_ids=body.item_ids,
    )


# --- the public board ------------------------------------------------------------------------


@public.get("/commitments")
def public_commitments(
    session: SessionDep,
    page: PageDep,
    org: Annotated[str, Query(pattern=ID_PATTERN)],
    cycle: Annotated[str | None, Query(min_length=1)] = None,
    subtree: bool = False,
) -> Page[PublicCommitment]:
    """Approved commitments only: the pledge, who made it (name and title) and on which items."""
    o = get_org(session, org)
    where: list[Any] = [Commitment.state == CommitmentState.approved.value]
    where.append(under_path(Commitment.org_path, o.path) if subtree else Commitment.org_id == org)
    if cycle is not None:
        where.append(Commitment.cycle_id == cycle)
    total = session.exec(select(func.count()).select_from(Commitment).where(*where)).one()
    rows = session.exec(
        select(Commitment, Person, Org)
        .join(Person, col(Person.id) == Commitment.person_id)
        .join(Org, col(Org.id) == Commitment.org_id)
        .where(*where)
        .order_by(col(Commitment.decided_at), col(Commitment.id))
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    titles = {
        i.id: i.title
        for i in session.exec(
            select(Item).where(col(Item.id).in_([x for c, _, _ in rows for x in c.item_ids]))
        ).all()
    }
    return Page(
        items=[
            PublicCommitment(
                commitment_id=c.id,
                cycle_id=c.cycle_id,
                org_id=c.org_id,
                org_name=o_.name,
                person_name=p.name,
                person_title=p.title,
                text=c.text,
                items=[titles.get(x, x) for x in c.item_ids],
                published_at=c.decided_at,
            )
            for c, p, o_ in rows
        ],
        total=int(total),
        page=page.page,
        page_size=page.page_size,
    )

"""Finding a letter, item or commitment for a person: scope, existence, and who they are to it.

Used by the API before it asks a workflow anything, so a refusal costs no round trip (the
workflow checks the rules again). 404 for what does not exist or is out of scope (one answer:
``errors.absent``), and for a letter not issued yet the reason (its parent has not signed).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.accounts.models import Role
from services.accounts.principal import Principal
from services.core.errors import Conflict, Invalid, NotFound, absent
from services.core.ids import keyed_id
from services.cycle.contracts import Actor, letter_id_for
from services.cycle.models import Commitment, Cycle, Item, Letter
from services.cycle.progress import CycleProgress, cycle_progress
from services.cycle.store import get_cycle
from services.org.models import Org, Person
from services.org.queries import get_org
from services.rectification.contracts import ProblemIn


def actor_for(session: Session, principal: Principal, letter: Letter) -> Actor:
    """Who the caller is to this letter: their person, the root's committee, a member."""
    person = session.get(Person, principal.person_id) if principal.person_id else None
    cycle = get_cycle(session, letter.cycle_id)
    return Actor(
        account_id=principal.account_id,
        person_id=principal.person_id,
        root_committee=principal.role in (Role.committee, Role.admin)
        and principal.in_scope(cycle.root_path),
        org_member=person is not None and person.org_id == letter.org_id,
    )


def visible_cycle(session: Session, principal: Principal, cycle_id: str) -> Cycle:
    """The cycle when its tree and the caller's scope overlap (its scope lies within the tree
    or above it); another tree's cycle reads as an unknown one (ids are guessable)."""
    cycle = session.get(Cycle, cycle_id)
    scope = principal.scope_path
    if cycle is None or not (
        cycle.root_path.startswith(scope) or scope.startswith(cycle.root_path)
    ):
        raise absent(f"cycle {cycle_id!r}", "cycle_id")
    return cycle


def letter_in_scope(
    session: Session, principal: Principal, cycle_id: str, org_id: str, acting: bool = True
) -> Letter:
    """The letter in scope. When its org is in the cycle but its parent has not signed: 409 for
    an action on it, 404 for a read, both saying why."""
    cycle = visible_cycle(session, principal, cycle_id)
    row = session.get(Letter, letter_id_for(cycle_id, org_id))
    if row is None:
        org = get_org(session, org_id)
        principal.require_scope(org)  # before anything that tells about an org out of scope
        if not org.path.startswith(cycle.root_path):
            raise NotFound(f"org {org_id!r} is not in cycle {cycle_id!r}", field="org_id")
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
    principal.require_path(row.org_path, f"org {org_id!r}", "org_id")
    return row


def item_in_scope(session: Session, principal: Principal, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise absent(f"item {item_id!r}", "item_id")
    principal.require_path(item.org_path, f"item {item_id!r}", "item_id")
    return item


def commitment_in_scope(session: Session, principal: Principal, commitment_id: str) -> Commitment:
    c = session.get(Commitment, commitment_id)
    if c is None:
        raise absent(f"commitment {commitment_id!r}", "commitment_id")
    principal.require_path(c.org_path, f"commitment {commitment_id!r}", "commitment_id")
    return c


def new_commitment_id(principal: Principal, idempotency_key: str | None) -> str:
    return keyed_id("C", principal.account_id, idempotency_key)


def check_problem_links(session: Session, body: ProblemIn) -> None:
    """A problem names its cycle and item only if they exist and concern its org (422)."""
    errors: list[dict[str, str]] = []
    if body.cycle_id is not None:
        cycle = session.get(Cycle, body.cycle_id)
        org = session.get(Org, body.org_id)
        if cycle is None or (org is not None and not org.path.startswith(cycle.root_path)):
            # one answer: a cycle that does not exist and one over another tree read alike
            message = f"no cycle {body.cycle_id!r} over org {body.org_id!r}"
            errors.append({"field": "cycle_id", "message": message})
    if body.item_id is not None:
        item = session.get(Item, body.item_id)
        if body.cycle_id is None:
            errors.append({"field": "item_id", "message": "an item needs its cycle_id"})
        elif item is None or item.cycle_id != body.cycle_id or item.org_id != body.org_id:
            message = f"no item {body.item_id!r} of {body.org_id!r} in {body.cycle_id!r}"
            errors.append({"field": "item_id", "message": message})
    if errors:
        raise Invalid("the problem names a cycle or item that does not exist", errors=errors)


def visible_cycles(session: Session, principal: Principal, year: int | None = None) -> list[Cycle]:
    """Cycles whose tree the caller can see (its scope is within or above the root), newest
    first."""
    scope = principal.scope_path
    rows = session.exec(select(Cycle).order_by(col(Cycle.year).desc(), col(Cycle.id))).all()
    return [
        c
        for c in rows
        if (year is None or c.year == year)
        and (c.root_path.startswith(scope) or scope.startswith(c.root_path))
    ]


def progress_in_scope(session: Session, principal: Principal, cycle_id: str) -> CycleProgress:
    """The progress of the whole tree, or of the caller's part when its scope lies below."""
    cycle = get_cycle(session, cycle_id)
    scope = principal.scope_path
    if cycle.root_path.startswith(scope):
        under = cycle.root_path
    elif scope.startswith(cycle.root_path):
        under = scope
    else:
        raise absent(f"cycle {cycle_id!r}", "cycle_id")
    return cycle_progress(session, cycle, under)

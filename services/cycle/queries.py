"""The cycle's lists, as the API pages them: letters, items, commitments, the public board.

Every list is limited to a subtree path (the caller's scope) and ordered with a unique tie-break,
so pages are stable.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from services.core.paging import page_of
from services.cycle.contracts import CommitmentState, ItemState, LetterState
from services.cycle.models import Commitment, Cycle, Item, Letter
from services.cycle.views import PublicCommitment
from services.org.models import Org, Person
from services.org.queries import under_path


def letters_page(
    session: Session,
    cycle_id: str,
    under: str,
    offset: int,
    limit: int,
    *,
    org_id: str | None = None,
    status: LetterState | None = None,
    level: int | None = None,
) -> tuple[list[Letter], int]:
    """Letters of a cycle under the path ``under`` (or only ``org_id``'s), level by level."""
    where: list[Any] = [Letter.cycle_id == cycle_id, under_path(Letter.org_path, under)]
    if org_id is not None:
        where.append(Letter.org_id == org_id)
    if status is not None:
        where.append(Letter.state == status.value)
    if level is not None:
        where.append(Letter.level == level)
    order = [col(Letter.level), col(Letter.org_path)]
    return page_of(session, select(Letter), where, order, offset, limit)


def items_page(
    session: Session,
    cycle_id: str,
    under: str,
    offset: int,
    limit: int,
    *,
    org_id: str | None = None,
    state: ItemState | None = None,
    assignee: str | None = None,
    due_before: date | None = None,
) -> tuple[list[Item], int]:
    where: list[Any] = [Item.cycle_id == cycle_id, under_path(Item.org_path, under)]
    if org_id is not None:
        where.append(Item.org_id == org_id)
    if state is not None:
        where.append(Item.state == state.value)
    if assignee is not None:
        where.append(Item.assignee_person_id == assignee)
    if due_before is not None:
        where.append(col(Item.due) < due_before)
    order = [col(Item.org_path), col(Item.seq)]
    return page_of(session, select(Item), where, order, offset, limit)


def commitments_page(
    session: Session,
    under: str,
    offset: int,
    limit: int,
    *,
    cycle_id: str | None = None,
    org_id: str | None = None,
    state: CommitmentState | None = None,
) -> tuple[list[Commitment], int]:
    where: list[Any] = [under_path(Commitment.org_path, under)]
    if cycle_id is not None:
        where.append(Commitment.cycle_id == cycle_id)
    if org_id is not None:
        where.append(Commitment.org_id == org_id)
    if state is not None:
        where.append(Commitment.state == state.value)
    order = [col(Commitment.submitted_at), col(Commitment.id)]
    return page_of(session, select(Commitment), where, order, offset, limit)


def public_board_page(
    session: Session,
    org: Org,
    subtree: bool,
    cycle_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[PublicCommitment], int]:
    """Approved commitments only: the pledge, who made it (name and title), on which items —
    no e-mail, no ids of people."""
    where: list[Any] = [Commitment.state == CommitmentState.approved.value]
    where.append(
        under_path(Commitment.org_path, org.path) if subtree else Commitment.org_id == org.id
    )
    if cycle_id is not None:
        where.append(Commitment.cycle_id == cycle_id)
    order = [col(Commitment.decided_at), col(Commitment.id)]
    rows, total = page_of(session, select(Commitment), where, order, offset, limit)
    people = _by_id(session, Person, {c.person_id for c in rows})
    orgs = _by_id(session, Org, {c.org_id for c in rows})
    items = _by_id(session, Item, {x for c in rows for x in c.item_ids})
    board = [
        PublicCommitment(
            commitment_id=c.id,
            cycle_id=c.cycle_id,
            org_id=c.org_id,
            org_name=orgs[c.org_id].name,
            person_name=people[c.person_id].name,
            person_title=people[c.person_id].title,
            text=c.text,
            items=[items[x].title if x in items else x for x in c.item_ids],
            published_at=c.decided_at,
        )
        for c in rows
        if c.person_id in people and c.org_id in orgs
    ]
    return board, total


def _by_id(session: Session, model: Any, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    return {r.id: r for r in session.exec(select(model).where(col(model.id).in_(ids))).all()}


def letters_to_sign(session: Session, person_id: str | None, under: str) -> list[Letter]:
    """Letters whose head is this person and which wait for a signature."""
    if person_id is None:
        return []
    rows = session.exec(
        select(Letter)
        .where(
            Letter.head_person_id == person_id,
            Letter.state == LetterState.issued.value,
            under_path(Letter.org_path, under),
        )
        .order_by(col(Letter.cycle_id), col(Letter.org_path))
    ).all()
    return list(rows)


def open_items_of(session: Session, person_id: str | None, under: str) -> list[Item]:
    """Items this person answers for and not decided yet, earliest due first: assigned to
    them, or primary items of a letter they head now (a head who took over answers for them)."""
    if person_id is None:
        return []
    headed = select(Letter.id).where(Letter.head_person_id == person_id)
    primary = col(Item.responsibility) == "primary"
    rows = session.exec(
        select(Item)
        .where(
            ((col(Item.assignee_person_id) == person_id) & ~primary)
            | (primary & col(Item.letter_id).in_(headed)),
            col(Item.state).in_([ItemState.pending.value, ItemState.in_progress.value]),
            under_path(Item.org_path, under),
        )
        .order_by(col(Item.due), col(Item.id))
        .limit(200)
    ).all()
    return list(rows)


def _issued_by(person_id: str | None, committee: bool) -> list[Any]:
    """Conditions on ``Letter`` for the letters this person issues (the parent org's head) and,
    for a committee, the root letters (issued by the committee); empty: none."""
    issuers: list[Any] = []
    if person_id is not None:
        issuers.append(Letter.issuer_person_id == person_id)
    if committee:
        issuers.append(col(Letter.issuer_person_id).is_(None))
    return issuers


def achievements_to_confirm(
    session: Session, person_id: str | None, under: str, committee: bool = False
) -> list[Item]:
    """Items that reached their target on letters this person issued (for a committee, the
    root letters of its subtree too), waiting for a confirmation, while the year is open."""
    issuers = _issued_by(person_id, committee)
    if not issuers:
        return []
    rows = session.exec(
        select(Item)
        .join(Letter, col(Letter.id) == col(Item.letter_id))
        .where(
            or_(*issuers),
            col(Letter.closed_at).is_(None),
            col(Item.actual) >= col(Item.target),
            col(Item.confirmation).is_(None),
            under_path(Item.org_path, under),
        )
        .order_by(col(Item.due), col(Item.id))
        .limit(200)
    ).all()
    return list(rows)


def commitments_to_decide(
    session: Session, person_id: str | None, under: str, committee: bool = False
) -> list[Commitment]:
    """Pledges waiting for this person's decision: submitted on letters they issued, and for a
    committee, on the root letters of its subtree (the committee issues those)."""
    issuers = _issued_by(person_id, committee)
    if not issuers:
        return []
    rows = session.exec(
        select(Commitment)
        .join(
            Letter,
            and_(
                col(Letter.cycle_id) == col(Commitment.cycle_id),
                col(Letter.org_id) == col(Commitment.org_id),
            ),
        )
        .where(
            or_(*issuers),
            Commitment.state == CommitmentState.submitted.value,
            under_path(Commitment.org_path, under),
        )
        .order_by(col(Commitment.submitted_at), col(Commitment.id))
        .limit(200)
    ).all()
    return list(rows)


def letters_to_pledge_on(session: Session, person_id: str | None, under: str) -> list[Letter]:
    """Signed letters of the person's own org, in running cycles, they have not pledged on."""
    person = session.get(Person, person_id) if person_id else None
    if person is None or person.org_id is None:
        return []
    pledged = select(Commitment.cycle_id).where(
        Commitment.person_id == person.id, Commitment.org_id == person.org_id
    )
    rows = session.exec(
        select(Letter)
        .join(Cycle, col(Cycle.id) == Letter.cycle_id)
        .where(
            Letter.org_id == person.org_id,
            col(Letter.signed_version).is_not(None),
            Cycle.state == "running",
            col(Letter.cycle_id).not_in(pledged),
            under_path(Letter.org_path, under),
        )
        .order_by(col(Letter.cycle_id))
    ).all()
    return list(rows)


def commitments_returned_to(session: Session, person_id: str | None) -> list[Commitment]:
    """This person's pledges returned for revision, waiting for them to resubmit."""
    if person_id is None:
        return []
    rows = session.exec(
        select(Commitment)
        .where(
            Commitment.person_id == person_id,
            Commitment.state == CommitmentState.returned.value,
        )
        .order_by(col(Commitment.submitted_at))
        .limit(200)
    ).all()
    return list(rows)

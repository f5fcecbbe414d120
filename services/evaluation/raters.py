"""Who rates a subject by default, group by group, from the org tree:

- ``superior``: the parent org's head and the people behind committee accounts of the parent;
- ``peers``: the heads of the sibling orgs;
- ``members``: the org's own people, its head excepted;
- ``public``: nobody by name — anonymous ballots through the subject's link code;
- ``external``: nobody by default — the organizer names an entrusted body's accounts.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.accounts.models import Account, Role
from services.evaluation.contracts import GroupName
from services.org.models import Org, Person


def default_raters(session: Session, subject: Org) -> dict[GroupName, list[str]]:
    """Person ids per group; nobody rates their own org in the superior or peer groups."""
    out: dict[GroupName, list[str]] = {g: [] for g in GroupName}
    if subject.parent_id is not None:
        parent = session.get(Org, subject.parent_id)
        superiors = {parent.head_person_id} if parent and parent.head_person_id else set()
        superiors |= {
            pid
            for pid in session.exec(
                select(Account.person_id).where(
                    Account.scope_org_id == subject.parent_id,
                    Account.role == Role.committee.value,
                    col(Account.disabled).is_(False),
                )
            ).all()
            if pid is not None
        }
        out[GroupName.superior] = sorted(superiors - {subject.head_person_id, None})
        siblings = session.exec(
            select(Org.head_person_id).where(
                Org.parent_id == subject.parent_id, Org.id != subject.id
            )
        ).all()
        out[GroupName.peers] = sorted({h for h in siblings if h and h != subject.head_person_id})
    members = session.exec(select(Person.id).where(Person.org_id == subject.id)).all()
    out[GroupName.members] = sorted(set(members) - {subject.head_person_id})
    return out

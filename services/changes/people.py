"""Changing a person: name, title, e-mail, org, and the day they left.

A person who leaves may not still head an org (name the new head first: the org's letters must
have someone to sign them); their accounts are disabled, and the rectifications they own and
still work on go back to the head of each rectification's org (``Applied.rectifications``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from services.accounts.models import Account
from services.changes.contracts import Applied, ChangeInput, PersonPatch
from services.changes.trail import Diff, record_change, recorded_diff
from services.core.errors import Conflict, Invalid, absent
from services.org.models import Org, Person
from services.rectification.models import Problem
from services.rectification.rules import WORKING_STATES


def get_person(session: Session, person_id: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise absent(f"person {person_id!r}", "person_id")
    return person


def check_person_patch(session: Session, person: Person, patch: PersonPatch) -> Diff:
    sent = patch.sent()
    for field in ("name", "title"):
        if field in sent and sent[field] is None:
            raise Invalid(f"{field} cannot be empty", errors=[{"field": field, "message": "null"}])
    diff: Diff = {
        k: [_json(getattr(person, k)), _json(v)] for k, v in sent.items() if v != getattr(person, k)
    }
    org_id = sent.get("org_id")
    if "org_id" in diff and org_id is not None and session.get(Org, org_id) is None:
        raise Invalid(
            f"unknown org {org_id!r}", errors=[{"field": "org_id", "message": "unknown org"}]
        )
    if "left_on" in diff and sent["left_on"] is not None:
        heading = session.exec(select(Org.id).where(Org.head_person_id == person.id)).first()
        if heading is not None:
            raise Conflict(
                f"{person.id!r} heads {heading!r}: name its new head first "
                f"(PATCH /api/v1/orgs/{heading})",
                state="head",
                field="left_on",
            )
    return diff


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def apply_person_change(session: Session, inp: ChangeInput) -> Applied:
    person = session.get(Person, inp.subject_id, with_for_update=True)
    if person is None:
        person = get_person(session, inp.subject_id)  # the 404
    diff = recorded_diff(session, inp)
    if diff is None:
        patch = PersonPatch.model_validate(inp.fields)
        diff = check_person_patch(session, person, patch)
        if diff:
            for field in diff:
                setattr(person, field, getattr(patch, field))
            session.add(person)
            org = session.get(Org, person.org_id) if person.org_id else None
            record_change(session, inp, diff, org.path if org else "")
            if person.left_on is not None:
                _disable_accounts(session, person.id)
    left = "left_on" in diff and diff["left_on"][1] is not None
    problems = _still_owned(session, person.id) if left else []
    return Applied(changed=diff, rectifications=problems)


def _disable_accounts(session: Session, person_id: str) -> None:
    for account in session.exec(
        select(Account).where(Account.person_id == person_id, col(Account.disabled).is_(False))
    ).all():
        account.disabled = True
        session.add(account)


def _still_owned(session: Session, person_id: str) -> list[str]:
    """The open rectifications the person owns and still works on, oldest first."""
    return list(
        session.exec(
            select(Problem.id)
            .where(
                Problem.owner_person_id == person_id,
                col(Problem.state).in_([s.value for s in WORKING_STATES]),
            )
            .order_by(col(Problem.opened_at), col(Problem.id))
        ).all()
    )


def hand_back_target(session: Session, problem_id: str) -> tuple[str | None, str | None, str]:
    """(the problem's owner now, the head of its org, the org's path): whom to hand it to."""
    problem = session.get(Problem, problem_id)
    if problem is None:
        return None, None, ""
    org = session.get(Org, problem.org_id)
    head = org.head_person_id if org else None
    return problem.owner_person_id, head, org.path if org else problem.org_path


def problem_title(session: Session, problem_id: str) -> str:
    problem = session.get(Problem, problem_id)
    return problem.title if problem is not None else problem_id

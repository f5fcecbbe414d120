"""Changing an org: its name, kind, deputy, head (kept as a history of heads) or parent (its
subtree's paths follow), checked first and written with one audit event.

``check_org_patch`` is what the API runs before it starts the change (a clear 4xx at once) and
what the change's activity runs again under the org's row lock before writing.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from services.changes.contracts import Applied, ChangeInput, HeadSpan, OrgPatch
from services.changes.paths import move_subtree
from services.changes.trail import Diff, record_change, recorded_diff
from services.core.errors import Conflict, Invalid
from services.cycle.contracts import org_workflow_id
from services.cycle.models import Cycle, Letter
from services.org.models import Org, OrgHead, Person
from services.org.queries import get_org, names_of


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field, "message": message}])


def check_org_patch(session: Session, org: Org, patch: OrgPatch) -> Diff:
    """The fields that would change, or the 422/409 that refuses the patch (nothing written)."""
    sent = patch.sent()
    diff: Diff = {
        k: [getattr(org, k), v]
        for k, v in sent.items()
        if k in ("name", "kind", "deputy_person_id") and v != getattr(org, k)
    }
    if sent.get("kind", "") is None or sent.get("name", "") is None:
        field = "kind" if "kind" in sent and sent["kind"] is None else "name"
        raise _invalid(field, f"{field} cannot be empty")
    if "head_person_id" in sent and sent["head_person_id"] != org.head_person_id:
        _check_head(session, sent["head_person_id"])
        diff["head_person_id"] = [org.head_person_id, sent["head_person_id"]]
    deputy = diff.get("deputy_person_id", [None, None])[1]
    if deputy is not None:
        person = session.get(Person, deputy)
        if person is None:
            raise _invalid("deputy_person_id", f"unknown person {deputy!r}")
        if person.org_id != org.id:
            raise _invalid("deputy_person_id", f"{deputy!r} is not in {org.id!r}")
    if "parent_id" in sent and sent["parent_id"] != org.parent_id:
        new_path = _check_move(session, org, sent["parent_id"])
        diff["parent_id"] = [org.parent_id, sent["parent_id"]]
        diff["path"] = [org.path, new_path]
    return diff


def _check_head(session: Session, person_id: str | None) -> None:
    if person_id is None:
        return  # the post falls vacant
    person = session.get(Person, person_id)
    if person is None:
        raise _invalid("head_person_id", f"unknown person {person_id!r}")
    if person.left_on is not None:
        raise _invalid("head_person_id", f"{person_id!r} left on {person.left_on.isoformat()}")


def _check_move(session: Session, org: Org, parent_id: str | None) -> str:
    """The org's path under its new parent; 422 for a parent that cannot be, 409 while a cycle
    runs over the org, over its subtree or over the place it would go."""
    if parent_id is None:
        raise _invalid("parent_id", "an org cannot become a root (create a new root instead)")
    # Locked too: two moves at once (X under Y, Y under X) cannot both pass the cycle check.
    parent = session.get(Org, parent_id, with_for_update=True)
    if parent is None:
        raise _invalid("parent_id", f"unknown parent {parent_id!r}")
    if parent.path.startswith(org.path):
        raise _invalid("parent_id", f"{parent_id!r} lies under {org.id!r}: that would be a cycle")
    # A cycle still closing (its root closed, some letters not yet) counts as running: its
    # workflows would write the old paths back.
    closing = select(Letter.cycle_id).where(col(Letter.closed_at).is_(None))
    running = (col(Cycle.state) == "running") | col(Cycle.id).in_(closing)
    for cycle in session.exec(select(Cycle).where(running)).all():
        if (
            org.path.startswith(cycle.root_path)
            or cycle.root_path.startswith(org.path)
            or parent.path.startswith(cycle.root_path)
        ):
            raise Conflict(
                f"cycle {cycle.id!r} is running over {org.id!r} or its new place; "
                "move it between cycles",
                state="running",
                cycle_id=cycle.id,
            )
    return f"{parent.path}{org.id}/"


def apply_org_change(session: Session, inp: ChangeInput) -> Applied:
    """Check and write the change once (a retry finds its audit event and writes nothing), and
    say which running letters must learn of it."""
    org = session.get(Org, inp.subject_id, with_for_update=True)
    if org is None:
        org = get_org(session, inp.subject_id)  # the 404
    diff = recorded_diff(session, inp)
    if diff is None:
        diff = check_org_patch(session, org, OrgPatch.model_validate(inp.fields))
        if diff:
            _write(session, org, diff, inp)
    letters = _letters_to_tell(session, org.id) if "head_person_id" in diff else []
    return Applied(changed=diff, letters=letters)


def _write(session: Session, org: Org, diff: Diff, inp: ChangeInput) -> None:
    if "path" in diff:
        move_subtree(session, diff["path"][0], diff["path"][1])
        session.refresh(org)
    for field in ("name", "kind", "deputy_person_id", "parent_id"):
        if field in diff:
            setattr(org, field, diff[field][1])
    if "head_person_id" in diff:
        org.head_person_id = diff["head_person_id"][1]
        _next_head(session, org.id, org.head_person_id, inp.at, inp.actor)
    session.add(org)
    record_change(session, inp, diff, org.path)


def _next_head(session: Session, org_id: str, person_id: str | None, at: datetime, by: str) -> None:
    """Close the current line of the org's history of heads and open the next."""
    for line in session.exec(
        select(OrgHead).where(OrgHead.org_id == org_id, col(OrgHead.until).is_(None))
    ).all():
        line.until = at
        session.add(line)
    session.add(OrgHead(org_id=org_id, person_id=person_id, since=at, changed_by=by))


def _letters_to_tell(session: Session, org_id: str) -> list[str]:
    """The org workflows of running cycles whose letter names this org's head: its own letter
    (the signer) and its children's (the issuer)."""
    rows = session.exec(
        select(Letter.cycle_id, Letter.org_id)
        .join(Cycle, col(Cycle.id) == col(Letter.cycle_id))
        .where(
            Cycle.state == "running",
            col(Letter.closed_at).is_(None),
            (col(Letter.org_id) == org_id) | (col(Letter.parent_org_id) == org_id),
        )
        .order_by(col(Letter.org_id))
    ).all()
    return [org_workflow_id(c, o) for c, o in rows]


def heads_of(session: Session, org_id: str, on: datetime | None = None) -> list[HeadSpan]:
    """The org's history of heads, oldest first; ``on``: only the line covering that instant."""
    q = select(OrgHead).where(OrgHead.org_id == org_id)
    if on is not None:
        q = q.where(col(OrgHead.since) <= on).where(
            col(OrgHead.until).is_(None) | (col(OrgHead.until) > on)
        )
    lines = session.exec(q.order_by(col(OrgHead.since), col(OrgHead.id))).all()
    names = names_of(session, (h.person_id for h in lines))
    return [
        HeadSpan(
            person_id=h.person_id,
            person_name=names.get(h.person_id or ""),
            since=h.since,
            until=h.until,
            changed_by=h.changed_by,
        )
        for h in lines
    ]

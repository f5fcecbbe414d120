"""Which evidence may be cited where: known ids, uploaded on the same line of the tree."""

from __future__ import annotations

from sqlmodel import Session, select

from services.evidence.models import Evidence


def evidence_errors(session: Session, ids: list[str], org_path: str) -> list[dict[str, str]]:
    """Errors naming ``evidence.{i}`` for unknown ids or evidence uploaded outside the org's line
    (evidence is shared up and down one branch of the tree, never across)."""
    from sqlmodel import col

    rows = {e.id: e for e in session.exec(select(Evidence).where(col(Evidence.id).in_(ids))).all()}
    errors: list[dict[str, str]] = []
    for i, eid in enumerate(ids):
        e = rows.get(eid)
        if e is None or not (e.org_path.startswith(org_path) or org_path.startswith(e.org_path)):
            # one answer for unknown evidence and another branch's: nothing told of the other
            message = f"no evidence {eid!r} on this branch"
            errors.append({"field": f"evidence.{i}", "message": message})
    return errors

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
        if e is None:
            errors.append({"field": f"evidence.{i}", "message": f"unknown evidence {eid!r}"})
        elif not (e.org_path.startswith(org_path) or org_path.startswith(e.org_path)):
            errors.append(
                {"field": f"evidence.{i}", "message": f"evidence {eid!r} belongs elsewhere"}
            )
    return errors

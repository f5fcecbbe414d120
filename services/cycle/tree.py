"""A cycle's org tree one level at a time, coloured by letter state: an org and its children,
each child with how its whole subtree stands (letters signed, waiting, returned, not issued,
overdue), so a committee drills down from the root to the branch that lags."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session, col, select

from services.cycle.models import Cycle, Letter
from services.org.models import Org
from services.org.queries import get_org, under_path


class TreeNode(BaseModel):
    org_id: str
    org_name: str
    letter_state: str  # issued, signed, returned, or "unissued"
    overdue_level: int
    has_children: bool
    # The subtree rooted here (this org included): orgs, and letters by state.
    orgs: int
    signed: int
    waiting: int
    returned: int
    overdue: int

    @property
    def unissued(self) -> int:
        return max(self.orgs - self.signed - self.waiting - self.returned, 0)

    def parts(self) -> list[tuple[str, int]]:
        """The subtree's letters by state, in the cascade chart's order."""
        done = [("signed", self.signed), ("waiting", self.waiting), ("returned", self.returned)]
        return [*done, ("unissued", self.unissued)]


class TreeLevel(BaseModel):
    cycle_id: str
    top: TreeNode
    parents: list[tuple[str, str]]  # (org id, name) from the cycle's root down to ``top``'s parent
    children: list[TreeNode]


def _segment(path: str, depth: int) -> str:
    """The id of the ancestor at ``depth`` in a materialized path ``/a/b/c/``."""
    return path.strip("/").split("/")[depth]


def tree_level(session: Session, cycle: Cycle, org_id: str, scope_path: str) -> TreeLevel:
    """``org_id`` (within the cycle's tree and ``scope_path``, the caller's to check) and its
    children; the way back up stops at the caller's scope."""
    top_org = get_org(session, org_id)
    orgs = session.exec(
        select(Org.id, Org.path, Org.depth).where(under_path(col(Org.path), top_org.path))
    ).all()
    letters = {
        org: (state, level)
        for org, state, level in session.exec(
            select(Letter.org_id, Letter.state, Letter.overdue_level).where(
                Letter.cycle_id == cycle.id, under_path(col(Letter.org_path), top_org.path)
            )
        ).all()
    }
    tallies: dict[str, dict[str, int]] = {}
    child_depth = top_org.depth + 1
    for oid, path, depth in orgs:
        keys = [top_org.id] + ([_segment(path, child_depth)] if depth >= child_depth else [])
        state, level = letters.get(oid, ("unissued", 0))
        for key in keys:
            t = tallies.setdefault(
                key, {"orgs": 0, "signed": 0, "issued": 0, "returned": 0, "overdue": 0}
            )
            t["orgs"] += 1
            if state in t:
                t[state] += 1
            t["overdue"] += 1 if level else 0
    names = {o.id: o for o in session.exec(select(Org).where(col(Org.parent_id) == org_id)).all()}
    with_children: set[str | None] = set()
    if names:  # which children have children of their own (to drill into)
        parent = col(Org.parent_id)
        with_children = set(session.exec(select(parent).where(parent.in_(names)).distinct()))

    def node(org: Org) -> TreeNode:
        t = tallies.get(org.id, {})
        state, level = letters.get(org.id, ("unissued", 0))
        return TreeNode(
            org_id=org.id,
            org_name=org.name,
            letter_state=state,
            overdue_level=level,
            has_children=org.id in with_children or org.id == top_org.id,
            orgs=t.get("orgs", 1),
            signed=t.get("signed", 0),
            waiting=t.get("issued", 0),
            returned=t.get("returned", 0),
            overdue=t.get("overdue", 0),
        )

    chain = [get_org(session, a) for a in top_org.path.strip("/").split("/")[:-1]]
    parents = [
        (o.id, o.name)
        for o in chain
        if o.path.startswith(cycle.root_path) and o.path.startswith(scope_path)
    ]
    children = sorted(names.values(), key=lambda o: o.path)
    return TreeLevel(
        cycle_id=cycle.id, top=node(top_org), parents=parents, children=[node(c) for c in children]
    )

"""One year to the next: when a root launches year N+1, the rectifications still open from its
earlier years are carried into it (``Carryover``), each with an audit event on its own trail.

They keep their own workflows, deadlines and history; year N+1's progress and ledger show them
beside its own, with their origin (the cycle they were opened in). As one row serves both years,
closing one in year N+1 shows in both years' ledgers at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from services.audit.chain import append_event
from services.cycle.models import Cycle
from services.rectification.models import OPEN_STATES, Carryover, Problem


def earlier_cycles(session: Session, cycle: Cycle) -> list[Cycle]:
    """The same root's cycles of earlier years, latest first."""
    return list(
        session.exec(
            select(Cycle)
            .where(Cycle.root_org_id == cycle.root_org_id, col(Cycle.year) < cycle.year)
            .order_by(col(Cycle.year).desc())
        ).all()
    )


def carry_open_rectifications(session: Session, cycle: Cycle, at: datetime) -> int:
    """Carry every rectification still open from the root's earlier years (opened in one, or
    carried into one) into ``cycle``; returns how many. Run once, as the cycle is recorded."""
    earlier = [c.id for c in earlier_cycles(session, cycle)]
    if not earlier:
        return 0
    carried_before = select(Carryover.problem_id).where(col(Carryover.cycle_id).in_(earlier))
    problems = session.exec(
        select(Problem)
        .where(
            col(Problem.state).in_(sorted(OPEN_STATES)),
            col(Problem.cycle_id).in_(earlier) | col(Problem.id).in_(carried_before),
        )
        .order_by(col(Problem.opened_at), col(Problem.id))
    ).all()
    for p in problems:
        session.add(Carryover(cycle_id=cycle.id, problem_id=p.id, carried_at=at))
        append_event(
            session,
            idempotency_key=f"carry:{cycle.id}:{p.id}",
            actor=f"system:cycle:{cycle.id}",
            action="carry",
            entity_type="problem",
            entity_id=p.id,
            payload={"into": cycle.id, "origin": p.cycle_id, "state": p.state},
            at=at,
            org_path=p.org_path,
        )
    session.flush()
    return len(problems)

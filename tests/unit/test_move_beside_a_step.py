"""An org moved while a step of one of its rectifications, or an accountability record of one
of its people, is being written: either lands under the org's new path. They used to read the
path before waiting for the move to commit, and wrote the old one back over the row the move had
just rebased (or next to the rows it had): the problem or the record stayed under its old parent
(seen by that parent's readers, hidden from the new one's) for good."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.accountability.records import AccountabilityRecordIn, ManualKind, record_by_hand
from services.accounts.models import Role
from services.accounts.principal import Principal
from services.audit.chain import AuditEvent
from services.changes.contracts import ChangeInput, Subject
from services.changes.orgs import apply_org_change
from services.core.clock import DEFAULT_TIMEZONE
from services.core.db import session_scope
from services.deadlines.accountability import Accountability
from services.demo import demo_tree
from services.org.store import import_tree
from services.rectification.contracts import ProblemSnapshot, Transition
from services.rectification.models import Problem
from services.rectification.rules import RectState
from services.rectification.store import persist_transition

AT = datetime(2026, 3, 2, 4, tzinfo=UTC)
MOVED = "/city/gb-2/gb-1-b1/"  # gb-1-b1's path once under gb-2


def _step(version: int, state: RectState) -> Transition:
    snap = ProblemSnapshot(
        problem_id="P-MOVE",
        org_id="gb-1-b1",
        org_path="/city/gb-1/gb-1-b1/",  # where the workflow started: it never reads it again
        cycle_id=None,
        item_id=None,
        source="inspection",
        category="conduct",
        severity="major",
        title="A problem in a branch that moves",
        description="",
        state=state,
        owner_person_id="p-009" if state is not RectState.identified else None,
        verifier_person_id=None,
        due=date(2026, 4, 1),
        opened_at=AT,
        closed_at=None,
        extension_pending=False,
        requested_due=None,
        recheck_due=None,
        recheck_open=False,
        progress_percent=0,
        plan=None,
        version=version,
        created_by="acc-test",
    )
    action = "flag" if version == 1 else "confirm"
    return Transition(snapshot=snap, action=action, actor="acc-test", at=AT, payload={})


def _beside_a_move(engine: Engine, write: Callable[[Session], object]) -> None:
    """``write`` in a transaction of its own, begun while the move of gb-1-b1 under gb-2 is
    written and not yet committed; both must go through."""
    move = ChangeInput(
        key="chg-move",
        subject=Subject.org,
        subject_id="gb-1-b1",
        fields={"parent_id": "gb-2"},
        actor="acc-test",
        at=AT,
    )
    errors: list[BaseException] = []

    def beside() -> None:
        try:
            with session_scope(engine) as s:
                write(s)
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    with Session(engine) as mover:
        applied = apply_org_change(mover, move)  # written, not committed yet
        assert applied.changed["path"][1] == MOVED
        writer = threading.Thread(target=beside)
        writer.start()
        time.sleep(0.5)  # the write is under way, waiting for the move
        assert writer.is_alive(), "the write did not wait for the move"
        mover.commit()
    writer.join(timeout=60)
    assert not writer.is_alive() and errors == []


def test_a_step_written_beside_a_move_lands_under_the_new_path(engine: Engine) -> None:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
        persist_transition(s, _step(1, RectState.identified), DEFAULT_TIMEZONE)
    _beside_a_move(
        engine, lambda s: persist_transition(s, _step(2, RectState.assigned), DEFAULT_TIMEZONE)
    )
    with Session(engine) as s:
        row = s.get(Problem, "P-MOVE")
        assert row is not None and row.state == "assigned"
        assert row.org_path == MOVED


def test_a_record_written_beside_a_move_is_filed_under_the_new_path(engine: Engine) -> None:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
    admin = Principal(
        account_id="acc-admin", role=Role.admin, scope_org_id=None, scope_path="/", person_id=None
    )
    body = AccountabilityRecordIn(
        kind=ManualKind.reminder_talk, person_id="p-009", reason="late on the rectification"
    )
    _beside_a_move(engine, lambda s: record_by_hand(s, admin, body, "rec-1", AT))
    with Session(engine) as s:
        rows = s.exec(select(Accountability)).all()
        assert [(r.person_id, r.org_path) for r in rows] == [("p-009", MOVED)]
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == "accountability_recorded")
        ).one()
        assert event.org_path == MOVED

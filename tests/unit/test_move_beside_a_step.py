"""An org moved while a step of one of its rectifications is being written: the step lands
under the org's new path. It used to read the path before waiting for the move to commit, and
wrote the old one back over the row the move had just rebased: the problem stayed listed under
its old parent (seen by that parent's readers, hidden from the new one's) for good."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.changes.contracts import ChangeInput, Subject
from services.changes.orgs import apply_org_change
from services.core.clock import DEFAULT_TIMEZONE
from services.core.db import session_scope
from services.demo import demo_tree
from services.org.store import import_tree
from services.rectification.contracts import ProblemSnapshot, Transition
from services.rectification.models import Problem
from services.rectification.rules import RectState
from services.rectification.store import persist_transition

AT = datetime(2026, 3, 2, 4, tzinfo=UTC)


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


def test_a_step_written_beside_a_move_lands_under_the_new_path(engine: Engine) -> None:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
        persist_transition(s, _step(1, RectState.identified), DEFAULT_TIMEZONE)
    move = ChangeInput(
        key="chg-move",
        subject=Subject.org,
        subject_id="gb-1-b1",
        fields={"parent_id": "gb-2"},
        actor="acc-test",
        at=AT,
    )
    errors: list[BaseException] = []

    def confirm() -> None:
        try:
            with session_scope(engine) as s:
                persist_transition(s, _step(2, RectState.assigned), DEFAULT_TIMEZONE)
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    with Session(engine) as mover:
        applied = apply_org_change(mover, move)  # written, not committed yet
        assert applied.changed["path"][1] == "/city/gb-2/gb-1-b1/"
        step = threading.Thread(target=confirm)
        step.start()
        time.sleep(0.5)  # the step is under way, waiting for the move
        assert step.is_alive(), "the step did not wait for the move"
        mover.commit()
    step.join(timeout=60)
    assert not step.is_alive() and errors == []
    with Session(engine) as s:
        row = s.get(Problem, "P-MOVE")
        assert row is not None and row.state == "assigned"
        assert row.org_path == "/city/gb-2/gb-1-b1/"

"""A fixed ledger for statistics and point-in-time tests, written through the real persistence
path: every transition a row update plus an audit event at a chosen time, every escalation an
audit event plus the raised overdue level, as the deadline activity records them.

On the demo tree (city > gb-1..gb-3 > branches); all times at 04:00 UTC (noon in Shanghai):

| id | org     | opened | due   | history                                                     |
|----|---------|--------|-------|-------------------------------------------------------------|
| P1 | gb-1-b1 | 01-05  | 02-04 | confirm 01-06 … verify pass 02-01: closed on time (27 days)  |
| P2 | gb-1-b2 | 01-10  | 02-09 | confirm 01-11 … verify pass 03-01: closed late (50 days)     |
| P3 | gb-2-b1 | 02-01  | 03-03 | in progress; escalated 03-03, 03-06, 03-10 (level 3)         |
| P4 | gb-2-b1 | 03-01  | 04-30 | dismissed 03-02                                              |
| P5 | gb-3-b1 | 05-01  | 06-15 | assigned 05-02, never escalated                              |
| P6 | gb-1-b1 | 06-01  | 06-28 | identified                                                   |
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.audit.chain import append_event
from services.core.clock import DEFAULT_TIMEZONE as TIMEZONE
from services.core.db import session_scope
from services.rectification.contracts import ProblemSnapshot, Transition
from services.rectification.rules import RectState
from services.rectification.store import persist_transition, raise_overdue

Y = 2026


def t(month: int, day: int) -> datetime:
    return datetime(Y, month, day, 4, 0, tzinfo=UTC)


def d(month: int, day: int) -> date:
    return date(Y, month, day)


SPECS: list[dict[str, Any]] = [
    dict(
        id="P1",
        org="gb-1-b1",
        path="/city/gb-1/gb-1-b1/",
        opened=t(1, 5),
        due=d(2, 4),
        source="inspection",
        category="conduct",
        severity="major",
        title="Minutes of branch meetings not filed",
        steps=[
            ("confirm", t(1, 6), "assigned"),
            ("plan", t(1, 10), "plan_submitted"),
            ("approve-plan", t(1, 12), "in_progress"),
            ("completion", t(1, 30), "completion_submitted"),
            ("verify", t(2, 1), "closed"),
        ],
    ),
    dict(
        id="P2",
        org="gb-1-b2",
        path="/city/gb-1/gb-1-b2/",
        opened=t(1, 10),
        due=d(2, 9),
        source="self_check",
        category="organization",
        severity="minor",
        title="Dues ledger incomplete",
        steps=[
            ("confirm", t(1, 11), "assigned"),
            ("plan", t(1, 20), "plan_submitted"),
            ("approve-plan", t(1, 21), "in_progress"),
            ("completion", t(2, 25), "completion_submitted"),
            ("verify", t(3, 1), "closed"),
        ],
    ),
    dict(
        id="P3",
        org="gb-2-b1",
        path="/city/gb-2/gb-2-b1/",
        opened=t(2, 1),
        due=d(3, 3),
        source="audit",
        category="integrity",
        severity="critical",
        title="Unreceipted spending on events",
        description="Receipts missing for three banquets.",
        steps=[
            ("confirm", t(2, 2), "assigned"),
            ("plan", t(2, 5), "plan_submitted"),
            ("approve-plan", t(2, 6), "in_progress"),
        ],
        escalations=[(t(3, 3), 1), (t(3, 6), 2), (t(3, 10), 3)],
    ),
    dict(
        id="P4",
        org="gb-2-b1",
        path="/city/gb-2/gb-2-b1/",
        opened=t(3, 1),
        due=d(4, 30),
        source="supervision",
        category="conduct",
        severity="minor",
        title="Office closed during hours",
        steps=[("dismiss", t(3, 2), "dismissed")],
    ),
    dict(
        id="P5",
        org="gb-3-b1",
        path="/city/gb-3/gb-3-b1/",
        opened=t(5, 1),
        due=d(6, 15),
        source="evaluation",
        category="ideology",
        severity="major",
        title="Study sessions skipped",
        steps=[("confirm", t(5, 2), "assigned")],
    ),
    dict(
        id="P6",
        org="gb-1-b1",
        path="/city/gb-1/gb-1-b1/",
        opened=t(6, 1),
        due=d(6, 28),
        source="indicator",
        category="institutions",
        severity="major",
        title="Letters not signed by sign_by",
        steps=[],
    ),
]


def load_fixed_ledger(engine: Engine) -> None:
    for spec in SPECS:
        snap = ProblemSnapshot(
            problem_id=spec["id"],
            org_id=spec["org"],
            org_path=spec["path"],
            cycle_id=f"city-{Y}",
            item_id=None,
            source=spec["source"],
            category=spec["category"],
            severity=spec["severity"],
            title=spec["title"],
            description=spec.get("description", ""),
            state=RectState.identified,
            owner_person_id=None,
            verifier_person_id=None,
            due=spec["due"],
            opened_at=spec["opened"],
            closed_at=None,
            extension_pending=False,
            requested_due=None,
            recheck_due=None,
            recheck_open=False,
            progress_percent=0,
            plan=None,
            version=1,
            created_by="acc-test",
        )
        with session_scope(engine) as s:
            persist_transition(
                s,
                Transition(
                    snapshot=snap, action="flag", actor="acc-test", at=spec["opened"], payload={}
                ),
                TIMEZONE,
            )
        for action, at, state in spec["steps"]:
            upd: dict[str, Any] = {"version": snap.version + 1, "state": RectState(state)}
            if action == "confirm":
                upd["owner_person_id"] = "p-009"
            if state in ("closed", "dismissed"):
                upd["closed_at"] = at
            if state == "closed":
                upd.update(
                    recheck_open=True,
                    recheck_due=(at + timedelta(days=90)).date(),
                    verifier_person_id="p-001",
                )
            snap = snap.model_copy(update=upd)
            with session_scope(engine) as s:
                persist_transition(
                    s,
                    Transition(snapshot=snap, action=action, actor="acc-test", at=at, payload={}),
                    TIMEZONE,
                )
        for at, level in spec.get("escalations", []):
            with session_scope(engine) as s:
                escalate(s, spec["id"], spec["due"], level, at, org_path=spec["path"])


def escalate(
    s: Session,
    problem_id: str,
    due: date,
    level: int,
    at: datetime,
    *,
    org_path: str = "",
    key: str | None = None,
) -> None:
    """An escalation of ``due`` to ``level`` fired at ``at``, written as the deadline activity
    writes it: its audit event, and the problem's level raised (with the period that begins)."""
    append_event(
        s,
        idempotency_key=key or f"{problem_id}:esc{level}",
        actor="system:deadline",
        action="escalate",
        entity_type="problem",
        entity_id=problem_id,
        org_path=org_path,
        at=at,
        payload={"due": due.isoformat(), "overdue_level": level},
    )
    raise_overdue(s, problem_id, level, at, due)

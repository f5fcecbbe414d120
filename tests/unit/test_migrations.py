"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from services.audit.chain import append_event
from services.core.db import session_scope
from services.demo import demo_tree
from services.org.store import import_tree
from services.rectification.contracts import ProblemSnapshot, Transition
from services.rectification.history import ProblemPeriod
from services.rectification.models import Problem
from services.rectification.store import persist_transition, raise_overdue
from services.schema import alembic_config, include_object, metadata, migrate
from tests.support.ledger_data import escalate, load_fixed_ledger


def test_migrations_match_models_and_are_idempotent(engine: Engine) -> None:
    migrate(engine)  # a second run changes nothing
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == [], diff


def test_postgres_has_pattern_indexes_for_subtree_queries(engine: Engine) -> None:
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        return  # SQLite's LIKE prefix optimisation needs no extra index
    with engine.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_pattern'")
            ).scalars()
        )
    assert {
        "ix_problems_org_path_pattern",
        "ix_orgs_path_pattern",
        "ix_audit_events_org_path_pattern",
    } <= names


def test_periods_filled_from_the_chain_are_those_the_steps_wrote(engine: Engine) -> None:
    """Migration 0019 fills each problem's periods from its audit events; the steps write them
    as they go. Both must agree, through escalations, a new due date that restarts the level,
    an escalation of the new date, one of the old date written late (which counts for neither),
    and a carry into the next year (not a step)."""
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
    load_fixed_ledger(engine)
    with session_scope(engine) as s:
        p3 = s.get(Problem, "P3")
        assert p3 is not None and p3.overdue_level == 3
        fields = set(ProblemSnapshot.model_fields) - {"problem_id", "overdue_level"}
        snap = ProblemSnapshot(problem_id="P3", **p3.model_dump(include=fields))
        extended = snap.model_copy(
            update={"version": snap.version + 1, "due": date(2026, 4, 30), "overdue_level": 0}
        )
        at = datetime(2026, 3, 12, 4, tzinfo=UTC)
        step = Transition(
            snapshot=extended, action="approve-extension", actor="t", at=at, payload={}
        )
        assert persist_transition(s, step, "Asia/Shanghai")
    with session_scope(engine) as s:  # as the deadline activity writes an escalation
        fired = datetime(2026, 5, 1, 4, tzinfo=UTC)
        escalate(s, "P3", date(2026, 4, 30), 1, fired, key="P3:new-due:esc1")
        raise_overdue(s, "P3", 1, fired, date(2026, 4, 30))  # a retry: no period
        # The old due date's escalation, written after the extension: no level, no period.
        escalate(s, "P3", date(2026, 3, 3), 4, fired, key="P3:old-due:esc4")
        append_event(
            s,
            idempotency_key="carry:city-2027:P3",
            actor="system:cycle:city-2027",
            action="carry",
            entity_type="problem",
            entity_id="P3",
            payload={"into": "city-2027", "origin": "city-2026", "state": "in_progress"},
            at=datetime(2027, 1, 1, 4, tzinfo=UTC),
        )
    with session_scope(engine) as s:
        assert s.get(Problem, "P3").overdue_level == 1  # type: ignore[union-attr]
    written = _periods(engine)
    assert [(p[1], p[2], p[-1]) for p in written if p[0] == "P3"][-3:] == [
        (datetime(2026, 3, 10, 4, tzinfo=UTC), datetime(2026, 3, 12, 4, tzinfo=UTC), 3),
        (datetime(2026, 3, 12, 4, tzinfo=UTC), datetime(2026, 5, 1, 4, tzinfo=UTC), 0),
        (datetime(2026, 5, 1, 4, tzinfo=UTC), None, 1),
    ]
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0018")
    migrate(engine)
    assert _periods(engine) == written


def _periods(engine: Engine) -> list[tuple[object, ...]]:
    P = ProblemPeriod
    with Session(engine) as s:
        rows = s.execute(
            select(
                col(P.problem_id),
                col(P.valid_from),
                col(P.valid_to),
                col(P.state),
                col(P.due),
                col(P.owner_person_id),
                col(P.extension_pending),
                col(P.overdue_level),
            ).order_by(col(P.problem_id), col(P.valid_from))
        ).all()
    return [tuple(r) for r in rows]

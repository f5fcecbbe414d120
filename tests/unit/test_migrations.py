"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from services.schema import include_object, metadata, migrate


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

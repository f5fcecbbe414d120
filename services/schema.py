"""The read model's schema: imports every table module so ``metadata`` knows all tables.

Migrations and the schema-drift test use this; application code imports the table modules it needs.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import services.accounts.models
import services.audit.chain
import services.cycle.models
import services.deadlines.accountability
import services.evaluation.models
import services.evidence.models
import services.integrity.checkpoints
import services.integrity.verifications
import services.notify.models
import services.org.models
import services.rectification.history
import services.rectification.models
import services.reports.models
import services.webhooks.models  # noqa: F401  (registers the tables)

metadata = SQLModel.metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# PostgreSQL-only indexes made by migrations and not described by the models (prefix LIKE on
# materialized paths needs varchar_pattern_ops there); schema comparisons skip them.
PG_ONLY_INDEX_SUFFIX = "_pattern"


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "index" and name is not None and name.endswith(PG_ONLY_INDEX_SUFFIX))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the read model to the newest revisions (idempotent; safe to run on every start).

    "heads": parallel feature branches of the migration graph may each add a revision.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")

"""What the unit tests of the notification and deadline writes share: an engine with the demo
tree imported, and a row count."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.db import session_scope
from services.demo import demo_tree
from services.org.store import import_tree


@pytest.fixture
def tree_engine(engine: Engine) -> Engine:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
    return engine


def count_rows(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())

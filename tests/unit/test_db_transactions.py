"""The read model's transactions on SQLite: all or nothing, savepoints included."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from services.core.db import make_engine


def test_a_savepoint_as_first_write_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with Session(engine) as session:
            with session.begin_nested():
                session.execute(text("INSERT INTO t VALUES (1)"))
            session.execute(text("INSERT INTO t VALUES (2)"))
            session.rollback()
        with Session(engine) as session:
            with session.begin_nested():
                session.execute(text("INSERT INTO t VALUES (3)"))
            session.commit()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t")).scalars().all() == [3]
    finally:
        engine.dispose()

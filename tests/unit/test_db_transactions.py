"""The read model's connections on SQLite: transactions all or nothing, savepoints included;
LIKE case-sensitive or no connection at all; reads in one snapshot when asked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from services.core.db import make_engine, require_case_sensitive_like, sqlite_read_snapshot


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


def test_a_sqlite_whose_like_ignores_case_is_refused() -> None:
    """Scopes are path prefixes matched with LIKE: a connection where the pragma that makes it
    case-sensitive did nothing (SQLite built without deprecated features) must not be used."""
    conn = sqlite3.connect(":memory:")  # no pragma: LIKE ignores case, as on such a build
    with pytest.raises(RuntimeError, match="case_sensitive_like"):
        require_case_sensitive_like(conn.cursor())
    conn.execute("PRAGMA case_sensitive_like=ON")
    require_case_sensitive_like(conn.cursor())  # ours: accepted
    conn.close()


def test_reads_in_a_read_snapshot_do_not_see_a_commit_between_them(tmp_path: Path) -> None:
    """Outside a transaction the driver runs each SELECT on its own snapshot; the statistics'
    scans, cut by each other's counts, must see one."""
    engine = make_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))

        def insert_elsewhere(x: int) -> None:
            with engine.begin() as other:
                other.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})

        with Session(engine) as session:
            count = "SELECT count(*) FROM t"
            with sqlite_read_snapshot(session):
                before = session.execute(text(count)).scalar_one()
                insert_elsewhere(2)
                assert session.execute(text(count)).scalar_one() == before == 1
            assert session.execute(text(count)).scalar_one() == 2  # the snapshot has ended
            insert_elsewhere(3)  # and without one, each read sees the latest commit
            assert session.execute(text(count)).scalar_one() == 3
        with Session(engine) as session:  # inside a transaction that wrote: its own, kept
            session.execute(text("INSERT INTO t VALUES (4)"))
            with sqlite_read_snapshot(session):
                assert session.execute(text(count)).scalar_one() == 4
            session.commit()
        with engine.connect() as conn:
            assert conn.execute(text(count)).scalar_one() == 4
    finally:
        engine.dispose()

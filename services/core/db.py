"""The read model's engine and sessions (SQLite by default, PostgreSQL in production).

One engine per process, made by the entry point and passed down."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session, SQLModel, create_engine, select

M = TypeVar("M", bound=SQLModel)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator gave."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def require_case_sensitive_like(cursor: Any) -> None:
    """Refuse a SQLite connection whose LIKE ignores case. SQLite has deprecated the pragma
    that turns case on, and a build without deprecated features ignores it without a word:
    one org's scope would then match another's whose id differs in case only."""
    if cursor.execute("SELECT 'A' LIKE 'a'").fetchone()[0]:
        raise RuntimeError(
            "this SQLite ignores PRAGMA case_sensitive_like (built without deprecated "
            f"features, {sqlite3.sqlite_version}): scopes would match other orgs' paths; "
            "use a SQLite that keeps the pragma, or PostgreSQL"
        )


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No ceiling: SQLite connections are file handles, and a ceiling can stall the API. Its
        # async handlers read on the event loop; if that read waits for a pooled connection, the
        # loop cannot run the cleanups that would give one back (a 30 s stall each time, found
        # by the crash test on a loaded machine). The API's threads bound the count in practice.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", -1)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while activities write; busy_timeout waits instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # LIKE as on PostgreSQL: case-sensitive. Org ids may differ in case only, and a
            # path prefix (a subtree, a scope) must not match another org's; it also lets a
            # prefix LIKE read one range of the path's index (a branch's 900 problems among
            # 100,000: 186 → 2 ms) where the planner otherwise scanned another index whole.
            cur.execute("PRAGMA case_sensitive_like=ON")
            require_case_sensitive_like(cur)
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(conn: Connection, _name: str) -> None:
            # The driver opens a transaction only before a write statement, not before a
            # SAVEPOINT; a SAVEPOINT outside one opens it itself, and its RELEASE then commits
            # at once, so a savepoint that was a transaction's first write would outlive the
            # transaction's rollback. Open it first.
            dbapi_conn = conn.connection.dbapi_connection
            if dbapi_conn is not None and not dbapi_conn.in_transaction:
                dbapi_conn.execute("BEGIN")

        return engine
    # Above what one process can hold at once (anyio's 40 threads, the event loop, a background
    # loop), so the event loop never waits for a connection (see the SQLite case above).
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 50)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def insert_once(session: OrmSession, row: M, key: str) -> tuple[M, bool]:
    """The stored row with ``row``'s unique ``key`` value, and whether this call inserted it
    (not: an earlier or a concurrent attempt had). One ``INSERT … ON CONFLICT DO NOTHING
    RETURNING``, no savepoint: a duplicate is no error, and nothing else the caller's
    transaction wrote can be taken for one; only then a lookup. Values are the row's own, its
    defaults (pydantic's) included."""
    model = type(row)
    table = model.__table__  # type: ignore[attr-defined]
    # An unset primary key is the database's to choose; every other column as the row has it.
    values = {
        c.name: getattr(row, c.name)
        for c in table.columns
        if not (c.primary_key and getattr(row, c.name) is None)
    }
    dialect_insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    stmt = (
        dialect_insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(model)
    )
    inserted = session.scalars(stmt).first()
    if inserted is not None:
        return inserted, True
    stored = session.scalars(select(model).where(table.c[key] == values[key])).one()
    return stored, False


def expire_loaded(session: OrmSession, model: type[Any], ident: Any) -> None:
    """Expire the session's copy of a row a statement just changed behind it (an UPDATE run
    with ``synchronize_session=False``), if the session had loaded one: read again when used."""
    cached = session.identity_map.get(OrmSession.identity_key(model, ident))
    if cached is not None:
        session.expire(cached)


def rows_changed(result: object) -> int:
    """How many rows an UPDATE or DELETE matched (its result is a CursorResult; typed loosely
    by ``Session.execute``)."""
    return int(getattr(result, "rowcount", 0) or 0)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work commits as one transaction, or not at all."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def raw_rows(
    session: OrmSession, stmt: ClauseElement, *, binary: bool = False
) -> list[tuple[Any, ...]]:
    """``stmt``'s rows as plain tuples from the driver's cursor, in the session's transaction:
    for scans of tens of thousands of rows, where SQLAlchemy's per-row result objects cost more
    than the query itself (the ledger's statistics). Results are the driver's own values, with
    no type processing; parameters are text, numbers or dates (as SQLite stores dates).
    ``binary``: on PostgreSQL, results in binary, which psycopg reads without parsing text (the
    statistics' 48,000 days to close in per-org arrays: 38 → 17 ms); for the built-in types
    only, as a type without a binary loader would come back as bytes."""
    conn = session.connection()
    # Lists (IN) rendered as one parameter each, as the driver takes them.
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    params = dict(compiled.construct_params())
    for name, value in params.items():
        if isinstance(value, date) and not isinstance(value, datetime):
            params[name] = value.isoformat() if conn.dialect.name == "sqlite" else value
        elif not isinstance(value, str | int | float):
            raise TypeError(f"raw_rows takes text, number and date parameters: {name}={value!r}")
    args: Any = [params[k] for k in compiled.positiontup] if compiled.positiontup else params
    dbapi_conn: Any = conn.connection.dbapi_connection
    in_binary = binary and conn.dialect.name == "postgresql"
    cursor = dbapi_conn.cursor(binary=True) if in_binary else dbapi_conn.cursor()
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextmanager
def sqlite_read_snapshot(session: OrmSession) -> Iterator[None]:
    """On SQLite, the reads inside see one snapshot of the database. Outside a transaction the
    driver runs each SELECT on its own (it opens one only before a write), so two scans could
    straddle a commit: a deferred BEGIN holds WAL's read snapshot until the end of the block.
    Inside a transaction already (the session's pending changes are flushed first, so theirs
    counts), or on PostgreSQL, nothing changes. For reads only: nothing autoflushes inside,
    and the snapshot is rolled back at the end unless something was written in it after all."""
    session.flush()
    conn = session.connection()
    dbapi_conn: Any = conn.connection.dbapi_connection
    began = conn.dialect.name == "sqlite" and not dbapi_conn.in_transaction
    changes = dbapi_conn.total_changes if began else 0
    if began:
        dbapi_conn.execute("BEGIN")
    try:
        with session.no_autoflush:
            yield
    finally:
        if began and dbapi_conn.in_transaction and dbapi_conn.total_changes == changes:
            dbapi_conn.rollback()

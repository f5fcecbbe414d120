"""Shared fixtures: real Temporal servers (time-skipping and dev), real SQLite and PostgreSQL.

- ``ts_env``: one time-skipping test server per session (timers jump ahead).
- ``dev_env``: one Temporal dev server per session (Schedules, visibility/list_workflows).
- ``db_url``: a fresh database per test, on SQLite and (where initdb exists) PostgreSQL.
- ``engine``: that database, migrated to head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from services.core.db import make_engine
from services.core.search import dev_server_flags
from services.core.settings import Settings, venv_binary
from services.core.temporal import DATA_CONVERTER
from services.schema import migrate
from tests.support.postgres import PostgresCluster, postgres_available

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | None]:
    if not postgres_available():
        yield None
        return
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=DB_KINDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_cluster: PostgresCluster | None
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'read-model.db'}"
        return
    if pg_cluster is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not on this machine")
    with pg_cluster.database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'read-model.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The time-skipping test server has no custom search attributes: tests that want them (on
    # the dev server, which registers them) ask for them. Workers built in the test process run
    # the workflows in the strict sandbox, where a non-deterministic call fails the test; the
    # worker processes of tests/e2e run the shared one, as production does.
    return Settings(
        data_dir=tmp_path / "var",
        temporal_search_attributes=False,
        worker_sandbox="strict",
        _env_file=None,  # type: ignore[call-arg]
    )


async def start_time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(venv_binary("temporal-test-server")),
    )


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkflowEnvironment]:
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(venv_binary("temporal")),
        dev_server_database_filename=str(db),
        dev_server_extra_args=[
            *dev_server_flags(),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def ts_fresh() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, for tests that move time far ahead (the shared
    one's clock would then run ahead of the wall clock for every later test)."""
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()

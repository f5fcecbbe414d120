"""A large org-tree workbook imported in one transaction, on SQLite and PostgreSQL.

    uv run python -m bench.org_import --orgs 10000

Writes an XLSX workbook (openpyxl write-only) with N orgs on 4 levels (1, 10, 100, the rest)
and one head per org in the ``people`` sheet, then times reading it (openpyxl read-only: only
the parsed rows are held) and importing it, all or nothing, into a fresh database; prints the
time of each step and the memory it took beside the file's size.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
from openpyxl import Workbook

from bench.harness import run_main
from services.core.db import make_engine, session_scope
from services.org.workbook import import_workbook, parse_workbook
from services.schema import migrate
from tests.support.postgres import PostgresCluster, postgres_available


def tree_rows(n: int) -> Iterator[tuple[str, str, str | None]]:
    """(id, kind, parent) for N orgs: a root, 10 general branches, 100 branches, then groups."""
    yield "root", "committee", None
    made = 1
    levels = [("gb", "general_branch", 10), ("b", "branch", 100), ("g", "group", n)]
    parents = ["root"]
    for prefix, kind, count in levels:
        here = []
        for i in range(min(count, n - made)):
            oid = f"{prefix}-{i + 1}"
            here.append(oid)
            yield oid, kind, parents[i % len(parents)]
        made += len(here)
        parents = here or parents
        if made >= n:
            return


def write_workbook(n: int) -> bytes:
    book = Workbook(write_only=True)
    orgs = book.create_sheet("orgs")
    people = book.create_sheet("people")
    orgs.append(["id", "name", "kind", "parent_id", "head_person_id"])
    people.append(["id", "name", "title", "email", "org_id"])
    for oid, kind, parent in tree_rows(n):
        orgs.append([oid, f"Org {oid}", kind, parent, f"p-{oid}"])
        people.append([f"p-{oid}", f"Head of {oid}", "Secretary", None, oid])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@contextmanager
def traced() -> Iterator[list[float]]:
    """Peak MiB allocated inside the block (the list gets it on exit)."""
    got: list[float] = []
    tracemalloc.start()
    try:
        yield got
    finally:
        got.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()


def measure(kind: str, url: str, data: bytes) -> None:
    """Times untraced; the read's peak allocation from a second, traced read; the import's
    memory as the process's RSS growth (tracemalloc would slow the import several-fold)."""
    engine = make_engine(url)
    migrate(engine)
    proc = psutil.Process()
    t0 = time.perf_counter()
    book = parse_workbook(data)
    t1 = time.perf_counter()
    with traced() as parse_peak:
        parse_workbook(data)
    rss = proc.memory_info().rss
    t2 = time.perf_counter()
    with session_scope(engine) as session:
        result = import_workbook(session, book, "bench")
    t3 = time.perf_counter()
    grown = (proc.memory_info().rss - rss) / 2**20
    engine.dispose()
    print(
        f"{kind:<10} read {t1 - t0:5.1f} s (peak allocation {parse_peak[0]:4.0f} MiB)   "
        f"import {t3 - t2:5.1f} s (RSS +{grown:4.0f} MiB)   "
        f"{result.orgs_created} orgs, {result.people_created} people, one transaction"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = write_workbook(args.orgs)
    print(
        f"workbook: {args.orgs} orgs + {args.orgs} people, {len(data) / 2**20:.1f} MiB, "
        f"written in {time.perf_counter() - t0:.1f} s"
    )
    tmp = Path(tempfile.mkdtemp(prefix="dl-bench-import-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        measure("SQLite", f"sqlite:///{tmp / 'rm.db'}", data)
        if postgres_available():
            cluster = PostgresCluster()
            cluster.start()
            stack.callback(cluster.stop)
            measure("PostgreSQL", stack.enter_context(cluster.database()), data)


if __name__ == "__main__":
    run_main(main)

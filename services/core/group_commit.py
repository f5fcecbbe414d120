"""Group commit: many callers' keyed writes committed in one transaction by one writer thread.

A deadline burst fires thousands of small writes at once, each its own transaction before this:
a session, a BEGIN, a flush and a COMMIT per slot, most of it SQLAlchemy's Python on the
worker's one interpreter. Here every write waiting when the writer comes round goes into the
same transaction (up to ``max_batch``), so the per-transaction cost is paid once per batch.

Nothing is weakened: every write is keyed (retrying it changes nothing), each caller is answered
only after its batch committed, and a write that fails does not take the others with it — the
batch is rolled back and run again with each write in a savepoint, so each caller gets its own
result or its own error. Side effects a write makes before its commit (a log line) can
therefore happen twice, as they could on any retry.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core.db import session_scope
from services.core.logging import get_logger

log = get_logger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

# An idle writer thread ends after this long; the next submit starts another.
IDLE_SECONDS = 30.0


class GroupCommit(Generic[Item, Result]):
    """Runs ``write(session, item)`` for submitted items on one thread, committing each batch of
    waiting items together. Thread-safe; ``submit`` may be called from any thread or loop."""

    def __init__(
        self,
        engine: Engine,
        write: Callable[[Session, Item], Result],
        *,
        name: str,
        max_batch: int = 64,
    ) -> None:
        self.engine = engine
        self.write = write
        self.name = name
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Item, Future[Result]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait until the batch it joined has committed."""
        return await asyncio.wrap_future(self.submit_threadsafe(item))

    def submit_threadsafe(self, item: Item) -> Future[Result]:
        future: Future[Result] = Future()
        with self._lock:  # queued and a writer running, or neither (see _next_batch)
            self._queue.put((item, future))
            if self._thread is None:
                self._start_writer()
        return future

    def _start_writer(self) -> None:
        # A daemon: a process stopping gracefully waits for its callers, who wait for the
        # writer; one that exits otherwise is not held up by it. Called with the lock held.
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self._commit(batch)
                except BaseException as exc:  # the writer itself failed, not one write
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    log.error("group_commit_failed", writer=self.name, error=repr(exc))
        finally:
            # Whatever ends this thread (logging itself can fail), what is queued gets a
            # writer: none is left waiting.
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
                if self._thread is None and not self._queue.empty():
                    self._start_writer()

    def _next_batch(self) -> list[tuple[Item, Future[Result]]] | None:
        """Everything waiting (up to ``max_batch``) once something is; None after an idle
        spell, when this thread ends."""
        try:
            batch = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._thread = None
                    return None
            batch = []
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        live = [(item, f) for item, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with session_scope(self.engine) as session:
                results = [self.write(session, item) for item, _ in live]
        except Exception as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            log.warning("group_commit_retry", writer=self.name, batch=len(live), error=str(exc))
            self._commit_each_in_savepoint(live)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _commit_each_in_savepoint(self, live: list[tuple[Item, Future[Result]]]) -> None:
        """The batch again, each write in a savepoint of one transaction: a write that fails
        is rolled back alone and its caller gets its error; the others commit together."""
        done: list[tuple[Future[Result], Result]] = []
        try:
            with session_scope(self.engine) as session:
                for item, future in live:
                    try:
                        with session.begin_nested():
                            done.append((future, self.write(session, item)))
                    except Exception as exc:
                        future.set_exception(exc)
        except Exception as exc:  # the commit itself failed: nobody's write is in
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in done:
            future.set_result(result)

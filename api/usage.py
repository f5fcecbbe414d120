"""When each account's token was last used, kept off the request path: a request notes its
account in memory, and the API writes what was noted in one UPDATE per account every
``USAGE_FLUSH_SECONDS`` (and on shutdown). A request never waits on a write for this — with
SQLite, a write lock held elsewhere would otherwise stall authentication."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from services.accounts.models import Account
from services.core.clock import utcnow
from services.core.loops import repeat

USAGE_FLUSH_SECONDS = 60.0


class UsageRecorder:
    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def note(self, account_id: str) -> None:
        with self._lock:
            self._seen[account_id] = utcnow()

    def flush(self, engine: Engine) -> int:
        """Write what was noted since the last flush; returns how many accounts."""
        with self._lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return 0
        try:
            with Session(engine) as session:
                for account_id, at in seen.items():
                    # Never backwards: another API replica may have written a later use.
                    session.execute(
                        update(Account)
                        .where(
                            col(Account.id) == account_id,
                            or_(
                                col(Account.last_used_at).is_(None), col(Account.last_used_at) < at
                            ),
                        )
                        .values(last_used_at=at)
                    )
                session.commit()
        except Exception:
            with self._lock:  # kept for the next round (a later use of the same wins)
                for account_id, at in seen.items():
                    self._seen[account_id] = max(at, self._seen.get(account_id, at))
            raise
        return len(seen)

    async def keep_flushing(self, engine: Engine, stop: asyncio.Event) -> None:
        """Every USAGE_FLUSH_SECONDS until ``stop``, and once more then."""
        await repeat(
            lambda: self.flush(engine),
            USAGE_FLUSH_SECONDS,
            stop,
            "usage_flush_failed",
            wait_first=True,
        )

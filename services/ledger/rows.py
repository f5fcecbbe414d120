"""A ledger row from a problem's row, as it is now or with its fields of a past day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.core.clock import as_utc, deadline_instant
from services.ledger.filters import LedgerRow
from services.rectification.models import Problem


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else as_utc(dt)


def on_time(
    state: str, due: date | None, closed: datetime | None, today: date, tz: str
) -> bool | None:
    """Closed: closed by the end of its due day. Open: its due day has not passed. No due: None."""
    if due is None or state == "dismissed":
        return None
    if closed is not None and state == "closed":
        return closed <= deadline_instant(due, tz)
    return today <= due


def ledger_row(p: Problem, org_name: str, today: date, tz: str, **asof: Any) -> LedgerRow:
    state = asof.get("state", p.state)
    due = asof.get("due", p.due)
    closed = _aware(asof.get("closed", p.closed_at))
    opened = _aware(p.opened_at)
    assert opened is not None
    end = closed or deadline_instant(today, tz)
    return LedgerRow(
        problem_id=p.id,
        org_id=p.org_id,
        org_name=org_name,
        org_path=p.org_path,
        cycle_id=p.cycle_id,
        title=p.title,
        source=p.source,
        category=p.category,
        severity=p.severity,
        owner_person_id=asof.get("owner", p.owner_person_id),
        state=state,
        overdue_level=asof.get("overdue_level", p.overdue_level),
        extension_pending=asof.get("extension_pending", p.extension_pending),
        due=due,
        opened=opened,
        closed=closed,
        days_open=max(0, (end - opened).days),
        on_time=on_time(state, due, closed, today, tz),
    )

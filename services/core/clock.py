"""Time, the one way: instants in UTC, calendar days and deadlines in a timezone.

Pure: workflows use ``local_date`` and ``deadline_instant`` with ``workflow.now()``; only
``utcnow`` and ``today_in`` read the wall clock, and workflow code never calls them. A deadline is
the **end of its due day in the cycle's timezone**.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


def local_date(at: datetime, timezone: str = DEFAULT_TIMEZONE) -> date:
    """The calendar date of instant ``at`` in ``timezone`` (not the UTC date)."""
    return at.astimezone(ZoneInfo(timezone)).date()


def deadline_instant(due: date, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The end of the due day in ``timezone`` (23:59:59 local), as a UTC datetime."""
    local = datetime.combine(due, time(23, 59, 59), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def as_utc(at: datetime) -> datetime:
    """An instant read back from the database: naive ones are UTC (how they were written)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_in(timezone: str) -> date:
    """Today's calendar date in ``timezone`` (wall clock: never in workflow code)."""
    return datetime.now(ZoneInfo(timezone)).date()

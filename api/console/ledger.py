"""The auditor's ledger in the console: every filter of the API (the same query string), sorting,
paging, statistics as charts, CSV/XLSX downloads and the way to the audit-trail check
(``api/console/verify.py``).

The page reads its filter with the API's strict parser (``services.ledger.query_string``), so a
console URL and an API query mean the same thing, and a filter out of scope is refused the same
way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from api.console.charts import Chart, stacked_bars
from api.console.render import language
from api.console.signin import Visitor, error_of, to_signin
from api.downloads import ledger_download
from services.accounts.models import Role
from services.core.errors import DomainError, Forbidden
from services.core.labels import label
from services.ledger.aggregates import AGING_BUCKETS
from services.ledger.filters import LedgerFilter, LedgerRow, SortKey
from services.ledger.keyset import cursor_of, page_after, page_before
from services.ledger.queries import ledger_page
from services.ledger.query_string import VOCABULARY, parse_filter
from services.ledger.stats import StatsReport, stats_report
from services.org.models import Org
from services.org.queries import under_path
from services.rectification.models import OPEN_STATES
from services.rectification.rules import RectState

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
NOT_FILTERS = {"page", "after", "before", "lang"}
ORG_CHOICES = 500  # orgs offered in the filter's list; any other id can still be typed
RANKED = 12  # child orgs drawn in the ranking chart


def _filter(request: Request) -> LedgerFilter:
    return parse_filter(request.query_params.multi_items(), NOT_FILTERS, drop_blank=True)


def _query(request: Request, **change: str) -> str:
    """This page's query string with some parameters changed (paging, downloads)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if v and k not in change]
    return urlencode(pairs + [(k, v) for k, v in change.items() if v])


def _charts(report: StatsReport, lang: Literal["en", "zh"]) -> dict[str, Chart]:
    overall = report.overall
    states = [
        (label("state", state, lang), [(_segment(state), n)], 0)
        for state in VOCABULARY["state"]
        if (n := overall.by_state.get(state, 0))
    ]
    aging = [
        (f"{name} {label('ui', 'days', lang)}", [("aging", overall.overdue_aging[name])], 0)
        for name, _, _ in AGING_BUCKETS
    ]
    ranked = [
        (_short(o.org_name), [("late", o.overdue), ("open", o.open - o.overdue)], 0)
        for o in report.by_child_org[:RANKED]
    ]
    half = 260  # two charts side by side on a wide screen
    on_time = [
        (_short(o.org_name), [("finished", round(100 * o.on_time_closure_rate))], 0)
        for o in report.by_child_org
        if o.on_time_closure_rate is not None
    ][:RANKED]
    return {
        "on_time": Chart(*stacked_bars(on_time, full=100), label_width=150),
        "by_state": Chart(*stacked_bars(states, half), label_width=90, bar_width=half),
        "aging": Chart(*stacked_bars(aging, half), label_width=90, bar_width=half),
        "ranked": Chart(*stacked_bars(ranked), label_width=150),
    }


def _segment(state: str) -> str:
    """A state's colour: still open, closed, or dismissed (the rectification rules decide)."""
    if state in OPEN_STATES:
        return "active"
    return "finished" if state == RectState.closed.value else "dropped"


def _short(name: str, keep: int = 14) -> str:
    return name if len(name) <= keep else name[: keep - 1] + "…"


def _choices(who: Visitor, s: Session) -> dict[str, Any]:
    """What the filter form offers: orgs in scope (the first few hundred), and every code."""
    assert who.principal is not None
    orgs = s.exec(
        select(Org)
        .where(under_path(col(Org.path), who.principal.scope_path))
        .order_by(col(Org.depth), col(Org.path))
        .limit(ORG_CHOICES)
    ).all()
    return {"orgs": orgs, "vocab": VOCABULARY, "sort_keys": list(SortKey.__members__)}


@router.get("/ledger", response_model=None)
def ledger(request: Request) -> Response:
    """Rows, statistics as charts, and links to the same rows as CSV or XLSX."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    pr = who.principal
    tz = who.state.settings.timezone
    page_no = _page_number(request)
    with Session(who.state.engine) as s:
        choices = _choices(who, s)
        try:
            f = _filter(request)
            page = _rows(request, s, f, pr.scope_path, tz, page_no)
            report = stats_report(s, f, pr.scope_path, tz)
        except DomainError as exc:
            return who.render(
                request,
                "ledger.html",
                exc.status,
                error=error_of(exc),
                f=None,
                params=request.query_params,
                **choices,
            )
    prev_q, next_q = _paging(request, f, page)
    return who.render(
        request,
        "ledger.html",
        f=f,
        params=request.query_params,
        rows=page.rows,
        total=page.total,
        page_no=page.number,
        prev_q=prev_q,
        next_q=next_q,
        last_page=max((page.total + PAGE_SIZE - 1) // PAGE_SIZE, page.number, 1),
        report=report,
        charts=_charts(report, language(request)),
        download_q=_query(request, page="", lang=""),
        query_for_org=lambda org_id: _query(request, org=org_id, page="", after="", before=""),
        may_verify=pr.role in (Role.auditor, Role.admin),
        **choices,
    )


@dataclass
class _Page:
    """A page of rows and whether rows lie beyond it either way (asked for one row more)."""

    rows: list[LedgerRow]
    total: int
    number: int
    more_before: bool
    more_after: bool


def _rows(
    request: Request, s: Session, f: LedgerFilter, scope_path: str, tz: str, page_no: int
) -> _Page:
    """The page's rows: next to a row the previous page named (``after``/``before``, a keyset
    seek, as fast deep in the ledger as on its first page), else by page number (a typed URL).
    The page's number is a label: rows written or closed since may shift what lies before."""
    after, before = request.query_params.get("after"), request.query_params.get("before")
    if after:
        rows, total = page_after(s, f, scope_path, tz, after, PAGE_SIZE + 1)
        return _Page(rows[:PAGE_SIZE], total, page_no, True, len(rows) > PAGE_SIZE)
    if before:
        rows, total = page_before(s, f, scope_path, tz, before, PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE  # else this is the ledger's first page, whatever its label
        return _Page(rows[-PAGE_SIZE:], total, page_no if more else 1, more, True)
    offset = (page_no - 1) * PAGE_SIZE
    rows, total = ledger_page(s, f, scope_path, tz, offset, PAGE_SIZE + 1)
    return _Page(rows[:PAGE_SIZE], total, page_no, page_no > 1, len(rows) > PAGE_SIZE)


def _paging(request: Request, f: LedgerFilter, page: _Page) -> tuple[str | None, str | None]:
    """The previous and next pages' links, each seeking from this page's first or last row; the
    first page is asked for by number, so it is always whole, and is the way back from a page
    found empty (its rows closed or out of the filter since)."""
    first = _query(request, page="", before="", after="")
    rows = page.rows
    prev_q = next_q = None
    if not rows:
        prev_q = first if page.total else None
    elif page.more_before and page.number <= 2:
        prev_q = first
    elif page.more_before:
        prev_q = _query(request, page=str(page.number - 1), before=cursor_of(f, rows[0]), after="")
    if rows and page.more_after:
        next_q = _query(request, page=str(page.number + 1), after=cursor_of(f, rows[-1]), before="")
    return prev_q, next_q


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return min(max(int(raw), 1), 100_000) if raw.isdigit() else 1


@router.get("/ledger/export.{kind}", response_model=None)
def download(request: Request, kind: str) -> Response:
    """The rows the page shows (every page of them) as a CSV or XLSX file."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    if kind not in ("csv", "xlsx"):
        return who.refused(request, Forbidden(f"no {kind!r} download; csv or xlsx"))
    try:
        f = _filter(request)
        fmt: Literal["csv", "xlsx"] = "csv" if kind == "csv" else "xlsx"
        lang = language(request)
        tz = who.state.settings.timezone
        return ledger_download(who.state.engine, tz, who.principal, f, fmt, lang)
    except DomainError as exc:
        return who.refused(request, exc)

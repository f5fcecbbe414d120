"""The rectification ledger for auditors and committees: list, statistics, exports.

Filters arrive as query parameters, read strictly by ``services.ledger.query_string``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep
from api.downloads import ledger_download
from api.pagination import CursorPage
from services.core.errors import Invalid
from services.ledger.filters import LedgerFilter, LedgerRow
from services.ledger.keyset import cursor_of, page_after
from services.ledger.queries import ledger_page
from services.ledger.query_string import VOCABULARY, parse_filter
from services.ledger.stats import StatsReport, stats_report

router = APIRouter(prefix="/api/v1/rectifications", tags=["ledger"])

PAGING = {"page", "page_size", "after"}


def ledger_filter(request: Request) -> LedgerFilter:
    """Parse the query string strictly into a LedgerFilter."""
    return parse_filter(request.query_params.multi_items(), ignore=PAGING | {"lang"})


FilterDep = Annotated[LedgerFilter, Depends(ledger_filter)]

# The filters as OpenAPI parameters (parsing stays strict, in ledger_filter).
_DOC = {
    "org": ("string", "org id (in your scope); with subtree=true (default) its whole subtree"),
    "subtree": ("boolean", "include the org's whole subtree (default true)"),
    "cycle": ("string", "cycle id, e.g. 2026-city"),
    "state": (
        "string",
        "comma-separated states (alias: status): " + ", ".join(VOCABULARY["state"]),
    ),
    "overdue": ("string", "'any' or a minimum overdue level (1, 2, …)"),
    "severity": ("string", "comma-separated: " + ", ".join(VOCABULARY["severity"])),
    "source": ("string", "comma-separated: " + ", ".join(VOCABULARY["source"])),
    "category": ("string", "comma-separated aspects: " + ", ".join(VOCABULARY["category"])),
    "due_before": ("string", "YYYY-MM-DD: due before that day"),
    "q": ("string", "text in the title or description"),
    "sort": ("string", "due, opened, org, severity, overdue_level; prefix - for descending"),
    "as_of": ("string", "YYYY-MM-DD: the ledger as it stood at the end of that day"),
}
FILTER_PARAMETERS = {
    "parameters": [
        {"name": k, "in": "query", "required": False, "schema": {"type": t}, "description": d}
        for k, (t, d) in _DOC.items()
    ]
}


@router.get("", openapi_extra=FILTER_PARAMETERS)
def list_rectifications(
    f: FilterDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    state: StateDep,
    after: Annotated[
        str | None,
        Query(
            max_length=400,
            description="the previous page's next_after: the rows after it (page is ignored)",
        ),
    ] = None,
) -> CursorPage[LedgerRow]:
    tz, scope = state.settings.timezone, principal.scope_path
    wanted = page.page_size + 1  # one row more tells whether a next page exists
    if after is None:
        rows, total = ledger_page(session, f, scope, tz, page.offset, wanted)
    else:
        rows, total = page_after(session, f, scope, tz, after, wanted)
    more = len(rows) > page.page_size
    rows = rows[: page.page_size]
    return CursorPage[LedgerRow](
        items=rows,
        total=total,
        page=page.page,
        page_size=page.page_size,
        next_after=cursor_of(f, rows[-1]) if more else None,
    )


@router.get("/stats", openapi_extra=FILTER_PARAMETERS)
def stats(
    f: FilterDep, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> StatsReport:
    return stats_report(session, f, principal.scope_path, state.settings.timezone)


def _lang(request: Request) -> Literal["en", "zh"]:
    lang = request.query_params.get("lang", "en")
    if lang not in ("en", "zh"):
        raise Invalid("unknown language", errors=[{"field": "lang", "message": "one of en, zh"}])
    return "zh" if lang == "zh" else "en"


@router.get("/export.csv", openapi_extra=FILTER_PARAMETERS, response_class=StreamingResponse)
def export_csv(
    request: Request, f: FilterDep, principal: PrincipalDep, state: StateDep
) -> StreamingResponse:
    tz = state.settings.timezone
    return ledger_download(state.engine, tz, principal, f, "csv", _lang(request))


@router.get("/export.xlsx", openapi_extra=FILTER_PARAMETERS, response_class=StreamingResponse)
def export_xlsx(
    request: Request,
    f: FilterDep,
    principal: PrincipalDep,
    state: StateDep,
    _lang_doc: Annotated[str, Query(alias="lang", description="en or zh")] = "en",
) -> StreamingResponse:
    tz = state.settings.timezone
    return ledger_download(state.engine, tz, principal, f, "xlsx", _lang(request))

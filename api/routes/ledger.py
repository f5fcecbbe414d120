"""The rectification ledger for auditors and committees: list, statistics, exports.

Filters arrive as query parameters; a parameter this endpoint does not know, or a value outside
its vocabulary, is refused with 422 naming it (a typo must never silently widen an audit query).
Lists accept repeated or comma-separated values: ``state=in_progress,assigned``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import PageDep, PrincipalDep, SessionDep, StateDep
from api.pagination import Page
from services.accounts.principal import Principal
from services.core.errors import Invalid
from services.ledger.export import Column, csv_stream, xlsx_stream
from services.ledger.filters import LedgerFilter, LedgerRow
from services.ledger.queries import check_scope, iter_ledger, ledger_page
from services.ledger.stats import StatsReport, stats_report
from services.rectification.contracts import Category, Severity, Source
from services.rectification.rules import RectState

router = APIRouter(prefix="/api/v1/rectifications", tags=["ledger"])

LIST_FIELDS = {"state", "severity", "source", "category"}
VOCABULARY: dict[str, set[str]] = {
    "state": {s.value for s in RectState},
    "severity": {s.value for s in Severity},
    "source": {s.value for s in Source},
    "category": {c.value for c in Category},
}
PAGING = {"page", "page_size"}


def ledger_filter(request: Request) -> LedgerFilter:
    """Parse the query string strictly into a LedgerFilter."""
    params = request.query_params
    known = set(LedgerFilter.model_fields) | {"status"} | PAGING | {"lang"}
    unknown = sorted(set(params.keys()) - known)
    errors: list[dict[str, str]] = [
        {"field": k, "message": "unknown filter", "in": "query"} for k in unknown
    ]
    raw: dict[str, Any] = {}
    for key in set(params.keys()) - PAGING - {"lang"} - set(unknown):
        name = "state" if key == "status" else key
        if name in LIST_FIELDS:
            values = [
                v.strip() for item in params.getlist(key) for v in item.split(",") if v.strip()
            ]
            bad = [v for v in values if v not in VOCABULARY[name]]
            for v in bad:
                allowed = ", ".join(sorted(VOCABULARY[name]))
                errors.append(
                    {
                        "field": key,
                        "message": f"unknown value {v!r}; one of {allowed}",
                        "in": "query",
                    }
                )
            raw[name] = raw.get(name, []) + values
        else:
            raw[name] = params.get(key)
    if not errors:
        try:
            return LedgerFilter.model_validate(raw)
        except ValidationError as exc:
            errors += [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "in": "query"}
                for e in exc.errors()
            ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    raise Invalid(f"invalid value for: {fields}", errors=errors)


FilterDep = Annotated[LedgerFilter, Depends(ledger_filter)]

# Documented for OpenAPI (parsing is strict, in ledger_filter).
_DOC = {
    "org": "org id (in your scope); with subtree=true (default) its whole subtree",
    "state": "comma-separated states (alias: status)",
    "overdue": "'any' or a minimum overdue level",
    "sort": "due, opened, org, severity, overdue_level; prefix - for descending",
    "as_of": "YYYY-MM-DD: the ledger as it stood at the end of that day",
}


@router.get("", description="Filters: " + "; ".join(f"{k}: {v}" for k, v in _DOC.items()))
def list_rectifications(
    f: FilterDep, session: SessionDep, principal: PrincipalDep, page: PageDep, state: StateDep
) -> Page[LedgerRow]:
    rows, total = ledger_page(
        session, f, principal.scope_path, state.settings.timezone, page.offset, page.page_size
    )
    return Page.of(rows, total, page)


@router.get("/stats")
def stats(
    f: FilterDep, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> StatsReport:
    return stats_report(session, f, principal.scope_path, state.settings.timezone)


COLUMNS = [
    Column("problem_id", "Problem", "问题编号", width=16),
    Column("org_id", "Org", "单位编号"),
    Column("org_name", "Org name", "单位名称", width=24),
    Column("cycle_id", "Cycle", "年度"),
    Column("title", "Title", "问题", width=40),
    Column("source", "Source", "来源", labels="source"),
    Column("category", "Aspect", "方面", labels="category"),
    Column("severity", "Severity", "严重程度", labels="severity"),
    Column("owner_person_id", "Owner", "责任人"),
    Column("state", "State", "整改状态", labels="state"),
    Column("overdue_level", "Overdue level", "超期级别", kind="int"),
    Column("extension_pending", "Extension pending", "延期申请中", kind="bool"),
    Column("due", "Due", "整改时限", kind="date"),
    Column("opened", "Opened", "发现时间", kind="datetime", width=18),
    Column("closed", "Closed", "销号时间", kind="datetime", width=18),
    Column("days_open", "Days open", "已用天数", kind="int"),
    Column("on_time", "On time", "按期", kind="bool"),
]


def _rows(state: Any, f: LedgerFilter, principal: Principal) -> Iterator[dict[str, Any]]:
    # Its own session: the response streams after the request's dependencies have closed.
    with Session(state.engine) as session:
        for row in iter_ledger(session, f, principal.scope_path, state.settings.timezone):
            yield row.model_dump()


def _lang(request: Request) -> Literal["en", "zh"]:
    lang = request.query_params.get("lang", "en")
    if lang not in ("en", "zh"):
        raise Invalid("unknown language", errors=[{"field": "lang", "message": "one of en, zh"}])
    return "zh" if lang == "zh" else "en"


@router.get("/export.csv", response_class=StreamingResponse)
def export_csv(
    request: Request, f: FilterDep, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> StreamingResponse:
    lang = _lang(request)
    check_scope(session, f, principal.scope_path)
    return StreamingResponse(
        csv_stream(COLUMNS, _rows(state, f, principal), lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="rectifications.csv"'},
    )


@router.get("/export.xlsx", response_class=StreamingResponse)
def export_xlsx(
    request: Request,
    f: FilterDep,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    _lang_doc: Annotated[str, Query(alias="lang", description="en or zh")] = "en",
) -> StreamingResponse:
    lang = _lang(request)
    check_scope(session, f, principal.scope_path)
    title = "整改台账" if lang == "zh" else "Rectifications"
    return StreamingResponse(
        xlsx_stream(COLUMNS, _rows(state, f, principal), lang, title),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="rectifications.xlsx"'},
    )

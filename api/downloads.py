"""Files people download, one way for the API and the console: the ledger (CSV or XLSX, English
or Chinese headers; both hand an auditor the same columns for the same filter) and evidence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accounts.principal import Principal
from services.core.errors import NotFound, absent
from services.core.labels import Lang
from services.core.settings import Settings
from services.evidence.files import blob_path
from services.evidence.models import Evidence
from services.ledger.export import Column, csv_stream, xlsx_stream
from services.ledger.filters import LedgerFilter
from services.ledger.queries import check_scope, iter_ledger

LEDGER_COLUMNS = [
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
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _rows(engine: Engine, f: LedgerFilter, scope_path: str, tz: str) -> Iterator[dict[str, Any]]:
    # Its own session: the response streams after the request's session has closed.
    with Session(engine) as session:
        for row in iter_ledger(session, f, scope_path, tz):
            yield row.model_dump()


def ledger_download(
    engine: Engine,
    tz: str,
    principal: Principal,
    f: LedgerFilter,
    kind: Literal["csv", "xlsx"],
    lang: Lang,
) -> StreamingResponse:
    """The filtered ledger in the principal's scope as a streamed attachment (404/403 first when
    the filter names an org that is unknown or out of scope, before any byte is sent)."""
    with Session(engine) as session:
        check_scope(session, f, principal.scope_path)
    rows = _rows(engine, f, principal.scope_path, tz)
    if kind == "csv":
        body = csv_stream(LEDGER_COLUMNS, rows, lang)
    else:
        title = "整改台账" if lang == "zh" else "Rectifications"
        body = xlsx_stream(LEDGER_COLUMNS, rows, lang, title)
    return StreamingResponse(
        body,
        media_type=MEDIA[kind],
        headers={"Content-Disposition": f'attachment; filename="rectifications.{kind}"'},
    )


def evidence_download(
    session: Session, settings: Settings, principal: Principal, evidence_id: str
) -> FileResponse:
    """An evidence file in the caller's scope, always as an attachment (never rendered in the
    app's origin; ``nosniff`` is on every response)."""
    e = session.get(Evidence, evidence_id)
    if e is None:
        raise absent(f"evidence {evidence_id!r}", "evidence_id")
    # the uploader's scope lies within the caller's
    principal.require_path(e.org_path, f"evidence {evidence_id!r}", "evidence_id")
    path = blob_path(settings.evidence_dir, e.sha256)
    if not path.exists():
        raise NotFound(f"the file of evidence {evidence_id!r} is missing from the store")
    return FileResponse(
        path, media_type=e.content_type, filename=e.filename, content_disposition_type="attachment"
    )

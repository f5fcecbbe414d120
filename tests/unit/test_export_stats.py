"""Exports (CSV and XLSX read back with openpyxl) and the statistics helpers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from openpyxl import load_workbook

from services.core.labels import label
from services.ledger.aggregates import aging_bucket, mean, percentile, rate
from services.ledger.export import Column, csv_stream, write_xlsx

COLUMNS = [
    Column("id", "Problem", "问题编号"),
    Column("state", "State", "状态", labels="state"),
    Column("due", "Due", "整改时限", kind="date"),
    Column("opened", "Opened", "发现时间", kind="datetime"),
    Column("days_open", "Days open", "已用天数", kind="int"),
    Column("on_time", "On time", "按期", kind="bool"),
]
ROWS: list[dict[str, Any]] = [
    {
        "id": "P-1",
        "state": "in_progress",
        "due": date(2027, 5, 31),
        "opened": datetime(2027, 1, 2, 3, 4, tzinfo=UTC),
        "days_open": 10,
        "on_time": True,
    },
    {
        "id": "P-2",
        "state": "closed",
        "due": None,
        "opened": datetime(2027, 2, 1, tzinfo=UTC),
        "days_open": 3,
        "on_time": False,
    },
]


def test_csv_in_chinese() -> None:
    text = b"".join(csv_stream(COLUMNS, iter(ROWS), "zh")).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["问题编号", "状态", "整改时限", "发现时间", "已用天数", "按期"]
    assert rows[1] == ["P-1", "整改中", "2027-05-31", "2027-01-02T03:04:00+00:00", "10", "是"]
    assert rows[2][2] == ""


def test_xlsx_header_frozen_dates_typed() -> None:
    buf = io.BytesIO()
    assert write_xlsx(COLUMNS, iter(ROWS), "en", "Ledger", buf) == 2
    wb = load_workbook(io.BytesIO(buf.getvalue()))
    assert wb.sheetnames == ["Ledger"]
    ws = wb["Ledger"]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == ["Problem", "State", "Due", "Opened", "Days open", "On time"]
    assert ws[1][0].font.bold
    assert ws["C2"].is_date and ws["C2"].value == datetime(2027, 5, 31)
    assert ws["D2"].is_date and ws["D2"].value == datetime(2027, 1, 2, 3, 4)
    assert ws["B2"].value == "In progress" and ws["E2"].value == 10


def test_labels_and_stats() -> None:
    assert label("category", "integrity", "zh") == "廉政建设"
    assert label("category", "unknown", "zh") == "unknown"
    assert [aging_bucket(d) for d in (0, 1, 7, 8, 30, 31, 90, 91)] == [
        None,
        "1-7",
        "1-7",
        "8-30",
        "8-30",
        "31-90",
        "31-90",
        ">90",
    ]
    assert (
        percentile([1, 2, 3, 4], 50) == 2.5
        and percentile([5], 90) == 5
        and percentile([], 50) is None
    )
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9.1
    assert mean([1, 2]) == 1.5 and rate(1, 3) == 0.3333 and rate(0, 0) is None


def test_xlsx_drops_control_characters_instead_of_failing() -> None:
    """A title stored with a control character (e.g. from a public report) once made openpyxl
    raise after the response had started: every XLSX export of that subtree came out empty."""
    out = io.BytesIO()
    rows = [{**ROWS[0], "id": "P-\x01bad\x0b title\x1f"}]
    assert write_xlsx(COLUMNS, rows, "en", "ledger", out) == 1
    ws = load_workbook(io.BytesIO(out.getvalue())).active
    assert ws is not None
    assert ws.cell(row=2, column=1).value == "P-bad title"

"""Streaming exports of tabular results as CSV or XLSX, with English or Chinese headers.

Rows arrive as an iterator (a server-side cursor, in batches) and leave as a byte stream, so an
export of 100,000 rows never holds them all in memory: CSV is written line by line; XLSX uses
openpyxl's write-only mode, which streams rows into a temporary file, sent afterwards in chunks."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from services.core.labels import Lang, label

Kind = Literal["text", "date", "datetime", "int", "float", "bool"]


@dataclass(frozen=True)
class Column:
    key: str
    en: str
    zh: str
    kind: Kind = "text"
    labels: str | None = None  # a services.labels kind: the cell shows the label, not the code
    width: int = 14

    def header(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.zh

    def value(self, row: dict[str, Any], lang: Lang) -> Any:
        v = row.get(self.key)
        if v is None:
            return None
        if self.labels:
            return label(self.labels, str(v), lang)
        if self.kind == "bool":
            return label("boolean", "true" if v else "false", lang)
        if self.kind == "date" and isinstance(v, datetime):
            return v.date()
        return v


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def csv_stream(
    columns: list[Column], rows: Iterable[dict[str, Any]], lang: Lang
) -> Iterator[bytes]:
    """CSV with a UTF-8 BOM (so spreadsheet programs read Chinese correctly), a line at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c.header(lang) for c in columns])
    yield ("\ufeff" + buf.getvalue()).encode()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([_csv_cell(c.value(row, lang)) for c in columns])
        yield buf.getvalue().encode()


def write_xlsx(
    columns: list[Column],
    rows: Iterable[dict[str, Any]],
    lang: Lang,
    sheet_title: str,
    out: Any,
) -> int:
    """Write one sheet (header row in bold, frozen below the header, typed cells) to ``out``."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    ws.freeze_panes = "A2"
    for i, c in enumerate(columns):
        ws.column_dimensions[_col_letter(i)].width = c.width
    bold = Font(bold=True)
    header = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c.header(lang))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    n = 0
    for row in rows:
        # Plain values, not a cell object each: openpyxl types dates as date cells by itself,
        # and per-cell objects cost about ten times as much.
        values = []
        for c in columns:
            v = c.value(row, lang)
            if isinstance(v, str):
                # Control characters are not allowed in a worksheet: openpyxl would raise after
                # the response's headers were sent. Stored text may hold them; drop them here.
                v = ILLEGAL_CHARACTERS_RE.sub("", v)
            elif isinstance(v, datetime) and v.tzinfo is not None:
                v = v.replace(tzinfo=None)  # Excel has no time zones; values are UTC
            values.append(v)
        ws.append(values)
        n += 1
    wb.save(out)
    return n


def xlsx_stream(
    columns: list[Column],
    rows: Iterable[dict[str, Any]],
    lang: Lang,
    sheet_title: str,
    chunk: int = 256 * 1024,
) -> Iterator[bytes]:
    """Build the workbook in a temporary file (spooled to disk past 8 MiB), then stream it."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as tmp:
        write_xlsx(columns, rows, lang, sheet_title, tmp)
        tmp.seek(0)
        while block := tmp.read(chunk):
            yield block


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s

"""Reading spreadsheets people keep: an XLSX sheet as rows of named fields, each value knowing
its cell, so a refusal can say ``people!C7: unknown org "gb-9"``.

openpyxl's read-only mode streams the sheet: what is held is the parsed rows, never the workbook.
Headers may be in English or Chinese (each field lists the names it answers to); a header no
field answers to is an error naming its cell, as is a required one that is missing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from services.core.errors import Invalid

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    field: str
    names: tuple[str, ...]  # headers that mean this field (English, Chinese, ...)
    required: bool = False


@dataclass
class Row:
    number: int  # the row's number in the sheet (1 = the header)
    values: dict[str, Any]


@dataclass
class Sheet:
    name: str  # as the file spells it
    letters: dict[str, str] = field(default_factory=dict)  # field -> column letter
    rows: list[Row] = field(default_factory=list)

    def cell(self, field_name: str, row: int) -> str:
        """``sheet!C7`` for a field of a row (the row's first cell for a field not in it)."""
        return f"{self.name}!{self.letters.get(field_name, 'A')}{row}"


def cell_error(where: str, field_name: str, message: str) -> dict[str, Any]:
    return {"cell": where, "field": field_name, "message": f"{where}: {message}"}


# What a damaged workbook raises inside openpyxl (broken zip, XML or cell values).
UNREADABLE = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    OSError,
    ValueError,
    TypeError,
    SyntaxError,  # xml.etree's ParseError
    EOFError,
    IndexError,
)
MAX_UNPACKED_BYTES = 256 * 2**20  # a small file that unpacks to gigabytes is refused unread


def not_a_workbook() -> Invalid:
    return Invalid(
        "the file is not a readable XLSX workbook",
        errors=[{"field": "body", "message": "not a readable XLSX workbook (save it as .xlsx)"}],
    )


def open_workbook(data: bytes) -> Workbook:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as packed:
            unpacked = sum(i.file_size for i in packed.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise Invalid(
                f"the workbook unpacks to {unpacked} bytes (at most {MAX_UNPACKED_BYTES})",
                errors=[{"field": "body", "message": "the workbook unpacks too large"}],
            )
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except UNREADABLE:
        raise not_a_workbook() from None


def find_sheet(book: Workbook, names: Iterable[str]) -> str | None:
    wanted = {n.casefold() for n in names}
    return next((s for s in book.sheetnames if s.strip().casefold() in wanted), None)


def plain(value: Any) -> Any:
    """A cell's value as the field wants it: text stripped (blank is None), whole numbers as
    ints, a datetime at midnight as its date."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    return value


def as_text(value: Any) -> Any:
    """For id and name columns: a number typed into a cell is still text ("2027", not 2027)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_sheet(
    book: Workbook, sheet_name: str, columns: list[Column], errors: list[dict[str, Any]]
) -> Sheet:
    """The sheet's rows by field; header problems go to ``errors`` (blank rows are skipped)."""
    try:
        return _read_sheet(book, sheet_name, columns, errors)
    except UNREADABLE:  # a sheet's XML broken past its first rows
        raise not_a_workbook() from None


def _read_sheet(
    book: Workbook, sheet_name: str, columns: list[Column], errors: list[dict[str, Any]]
) -> Sheet:
    ws = book[sheet_name]
    sheet = Sheet(name=sheet_name)
    rows: Iterator[tuple[Any, ...]] = ws.iter_rows(values_only=True)
    header = next(rows, ())
    by_name = {n.casefold(): c for c in columns for n in (c.field, *c.names)}
    fields: list[str | None] = []
    for i, raw in enumerate(header, start=1):
        name = plain(raw)
        letter = get_column_letter(i)
        if name is None:
            fields.append(None)
            continue
        col = by_name.get(str(name).casefold())
        if col is None or col.field in sheet.letters:
            why = "unknown column" if col is None else f"second {col.field!r} column"
            errors.append(cell_error(f"{sheet_name}!{letter}1", str(name), f"{why} {name!r}"))
            fields.append(None)
            continue
        sheet.letters[col.field] = letter
        fields.append(col.field)
    for col in columns:
        if col.required and col.field not in sheet.letters:
            message = f"column {col.field!r} ({' / '.join(col.names)}) is missing"
            errors.append(cell_error(f"{sheet_name}!1", col.field, message))
    for number, raw_row in enumerate(rows, start=2):
        values = {f: plain(v) for f, v in zip(fields, raw_row, strict=False) if f is not None}
        if any(v is not None for v in values.values()):
            sheet.rows.append(Row(number=number, values=values))
    return sheet


# A template's sheet: its (English, Chinese) names, its columns, its example rows.
TemplateSheet = tuple[tuple[str, str], list[Column], list[list[Any]]]


def template_workbook(sheets: list[TemplateSheet], zh: bool) -> Workbook:
    """A workbook to fill in: each sheet named and headed in English or Chinese (bold), with its
    example rows."""
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for (en, cn), columns, rows in sheets:
        ws = book.create_sheet(cn if zh else en)
        ws.append([c.names[-1] if zh else c.field for c in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
    return book


def saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

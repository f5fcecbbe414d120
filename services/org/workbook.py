"""The org tree as committees keep it: an XLSX workbook with an ``orgs`` and a ``people`` sheet
(English or Chinese headers), read into the same import as JSON and CSV, every refusal naming
its cell (``people!E7: unknown org 'gb-9'``); and the template to fill in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from services.core.errors import Invalid
from services.core.sheets import (
    Column,
    Sheet,
    TemplateSheet,
    as_text,
    cell_error,
    find_sheet,
    open_workbook,
    read_sheet,
    saved,
    template_workbook,
)
from services.org.contracts import ImportResult, OrgIn, OrgTreeIn, PersonIn
from services.org.store import import_tree

ORG_SHEET = ("orgs", "组织")
PEOPLE_SHEET = ("people", "人员")
ORG_COLUMNS = [
    Column("id", ("编号",), required=True),
    Column("name", ("名称",), required=True),
    Column("kind", ("类型",), required=True),
    Column("parent_id", ("上级编号",)),
    Column("head_person_id", ("head", "负责人编号")),
    Column("deputy_person_id", ("deputy", "分管负责人编号")),
]
PEOPLE_COLUMNS = [
    Column("id", ("编号",), required=True),
    Column("name", ("姓名",), required=True),
    Column("title", ("职务",)),
    Column("email", ("邮箱",)),
    Column("org_id", ("所属组织编号",)),
    Column("language", ("语言",)),
]
NOTES = [
    (
        "orgs / 组织",
        "One org per row. kind: committee, general_branch, branch, ...; parent_id empty for a "
        "root (only an installation-wide admin creates roots).",
    ),
    ("people / 人员", "One person per row; org_id is the org they belong to; language zh or en."),
    ("Headers / 表头", "English or Chinese headers, as in this template, in any order."),
    (
        "All or nothing / 整体导入",
        "A workbook with any wrong cell imports nothing; each error names its cell (people!E7).",
    ),
]


@dataclass
class WorkbookTree:
    tree: OrgTreeIn
    sheets: dict[str, Sheet]  # by section (orgs, people): to name the cells of later errors


def parse_workbook(data: bytes) -> WorkbookTree:
    """The tree of a workbook, or 422 listing every wrong cell."""
    book = open_workbook(data)
    errors: list[dict[str, Any]] = []
    try:
        names = {"orgs": find_sheet(book, ORG_SHEET), "people": find_sheet(book, PEOPLE_SHEET)}
        if names["orgs"] is None and names["people"] is None:
            raise Invalid(
                "the workbook has no 'orgs' (组织) or 'people' (人员) sheet",
                errors=[{"field": "sheets", "message": f"found {book.sheetnames}"}],
            )
        parsed: dict[str, list[Any]] = {"orgs": [], "people": []}
        sheets: dict[str, Sheet] = {}
        models: dict[str, tuple[type[BaseModel], list[Column]]] = {
            "orgs": (OrgIn, ORG_COLUMNS),
            "people": (PersonIn, PEOPLE_COLUMNS),
        }
        for section, (model, columns) in models.items():
            name = names[section]
            if name is None:
                continue
            known = len(errors)
            sheet = read_sheet(book, name, columns, errors)
            sheets[section] = sheet
            if len(errors) > known:
                continue  # its header is wrong: its rows would only repeat that
            for row in sheet.rows:
                record = {k: as_text(v) for k, v in row.values.items() if v is not None}
                try:
                    parsed[section].append(model.model_validate(record))
                except ValidationError as exc:
                    for e in exc.errors():
                        f = str(e["loc"][0]) if e["loc"] else "row"
                        errors.append(cell_error(sheet.cell(f, row.number), f, e["msg"]))
    finally:
        book.close()
    if errors:
        raise Invalid("the workbook has wrong cells; nothing was imported", errors=errors)
    tree = OrgTreeIn(orgs=parsed["orgs"], people=parsed["people"])
    return WorkbookTree(tree=tree, sheets=sheets)


def import_workbook(session: Session, book: WorkbookTree, by: str) -> ImportResult:
    """``import_tree``, its refusals naming the cells (the row numbers are the sheet's)."""
    try:
        return import_tree(session, book.tree, by)
    except Invalid as exc:
        raise Invalid(exc.detail, errors=named_cells(book, exc.extra.get("errors", []))) from None


def named_cells(book: WorkbookTree, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        sheet = book.sheets.get(e.get("section", ""))
        n = int(e.get("row", 0))
        if sheet is None or not 1 <= n <= len(sheet.rows):
            out.append(e)
            continue
        where = sheet.cell(e["field"], sheet.rows[n - 1].number)
        out.append(cell_error(where, e["field"], e["message"]))
    return out


def template(lang: str = "en") -> bytes:
    """The workbook to fill in: both sheets with their headers and an example row, and notes."""
    zh = lang == "zh"
    org: list[Any] = ["example", "Example Committee", "committee", None, "p-example", None]
    person: list[Any] = ["p-example", "Example Person", "Secretary", None, "example", "zh"]
    sheets: list[TemplateSheet] = [
        (ORG_SHEET, ORG_COLUMNS, [org]),
        (PEOPLE_SHEET, PEOPLE_COLUMNS, [person]),
    ]
    book = template_workbook(sheets, zh)
    notes = book.create_sheet("notes" if not zh else "说明")
    for line in NOTES:
        notes.append(list(line))
    return saved(book)

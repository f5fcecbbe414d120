"""A plan as committees keep it: an XLSX workbook (the calendar; item templates per org kind; the
extra items of named orgs), read into the plan JSON, every refusal naming its cell; and the
template to fill in. Aspects and responsibilities may be written as codes or as their Chinese
names (思想建设, 主体责任); headers in English or Chinese.
"""

from __future__ import annotations

import re
from typing import Any

from services.core.errors import Invalid
from services.core.labels import LABELS
from services.core.sheets import (
    Column,
    Sheet,
    as_text,
    cell_error,
    find_sheet,
    open_workbook,
    read_sheet,
    saved,
    template_workbook,
)
from services.cycle.plan import Plan, plan_errors

CALENDAR_SHEET = ("calendar", "日历")
TEMPLATES_SHEET = ("templates", "模板")
EXTRA_SHEET = ("extra_items", "专项事项")
CALENDAR_COLUMNS = [
    Column("timezone", ("时区",)),
    Column("sign_by", ("签订截止",), required=True),
    Column("commitments_by", ("承诺截止",), required=True),
    Column("midyear", ("年中",), required=True),
    Column("yearend", ("年终",), required=True),
    Column("closes_on", ("结束日期",), required=True),
]
ITEM_COLUMNS = [
    Column("category", ("aspect", "方面"), required=True),
    Column("responsibility", ("责任类型",), required=True),
    Column("title", ("事项",), required=True),
    Column("metric", ("指标",), required=True),
    Column("target", ("目标值",), required=True),
    Column("unit", ("单位",), required=True),
    Column("standard", ("标准",)),
    Column("due", ("完成时限",), required=True),
    Column("evidence_required", ("需佐证",)),
    Column("assignee_person_id", ("责任人编号",)),
]
TEMPLATE_COLUMNS = [Column("kind", ("组织类型",), required=True), *ITEM_COLUMNS]
EXTRA_COLUMNS = [Column("org_id", ("组织编号",), required=True), *ITEM_COLUMNS]
INDICATOR = ("metric", "target", "unit", "standard", "evidence_required")
YES = {"yes", "y", "true", "1", "是", "需要", "x", "✓"}
NO = {"no", "n", "false", "0", "否", "不需要"}


def _code(kind: str, value: Any) -> Any:
    """A category or responsibility written as its code or as its English or Chinese name."""
    if not isinstance(value, str):
        return value
    for code, names in LABELS[kind].items():
        if value.casefold() in (code, names[0].casefold(), names[1]):
            return code
    return value


def _yes(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().casefold()
    return True if text in YES else False if text in NO else value


def _item(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "category": _code("category", values.get("category")),
        "responsibility": _code("responsibility", values.get("responsibility")),
        "title": as_text(values.get("title")),
        "due": as_text(values.get("due")),
        "indicator": {
            "metric": as_text(values.get("metric")),
            "target": values.get("target"),
            "unit": as_text(values.get("unit")),
            "standard": as_text(values.get("standard")) or "",
            "evidence_required": _yes(values.get("evidence_required")),
        },
    }
    if values.get("assignee_person_id") is not None:
        out["assignee_person_id"] = as_text(values["assignee_person_id"])
    return out


def parse_plan_workbook(data: bytes) -> dict[str, Any]:
    """The plan JSON of a workbook (checked as a plan, not yet against a tree), or 422 naming
    every wrong cell."""
    book = open_workbook(data)
    errors: list[dict[str, Any]] = []
    try:
        cal_name, templates_name = (
            find_sheet(book, CALENDAR_SHEET),
            find_sheet(book, TEMPLATES_SHEET),
        )
        extra_name = find_sheet(book, EXTRA_SHEET)
        if cal_name is None or templates_name is None:
            raise Invalid(
                "the workbook needs a 'calendar' (日历) and a 'templates' (模板) sheet",
                errors=[{"field": "sheets", "message": f"found {book.sheetnames}"}],
            )
        cal = read_sheet(book, cal_name, CALENDAR_COLUMNS, errors)
        templates = read_sheet(book, templates_name, TEMPLATE_COLUMNS, errors)
        extra = read_sheet(book, extra_name, EXTRA_COLUMNS, errors) if extra_name else None
    finally:
        book.close()
    if errors:
        raise Invalid("the workbook has wrong cells; nothing was read", errors=errors)
    plan, cells = _assembled(cal, templates, extra, errors)
    if errors:
        raise Invalid("the workbook has wrong cells; nothing was read", errors=errors)
    found = plan_errors(plan)
    if not found:
        found = Plan.model_validate(plan).field_errors()
    if found:
        raise Invalid("the plan has wrong cells", errors=[_named(e, cells) for e in found])
    return plan


Where = tuple[Sheet, int]  # a sheet and a row number


def _assembled(
    cal: Sheet, templates: Sheet, extra: Sheet | None, errors: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Where]]:
    """The plan, and where each part of it came from (``plan.templates.branch.0`` → row); a
    row that says not which kind or org it is for goes to ``errors``."""
    first = cal.rows[0] if cal.rows else None
    values = first.values if first else {}
    calendar = {c.field: as_text(values.get(c.field)) for c in CALENDAR_COLUMNS[1:]}
    plan: dict[str, Any] = {"calendar": calendar, "templates": {}, "extra_items": {}}
    if values.get("timezone"):
        plan["timezone"] = values["timezone"]
    cells: dict[str, Where] = {"plan.calendar": (cal, first.number if first else 2)}
    for sheet, key, section in ((templates, "kind", "templates"), (extra, "org_id", "extra_items")):
        if sheet is None:
            continue
        for row in sheet.rows:
            if row.values.get(key) is None:
                message = f"{key} is empty: say which {key.replace('_id', '')} the item is for"
                errors.append(cell_error(sheet.cell(key, row.number), key, message))
                continue
            group = str(as_text(row.values.get(key)))
            items = plan[section].setdefault(group, [])
            cells[f"plan.{section}.{group}.{len(items)}"] = (sheet, row.number)
            items.append(_item(row.values))
    return plan, cells


def _named(error: dict[str, Any], cells: dict[str, Where]) -> dict[str, Any]:
    """A plan error (``plan.templates.branch.0.indicator.target``) as the cell it came from."""
    field = error["field"]
    m = re.match(r"^(plan\.(?:templates|extra_items)\.[^.]+\.\d+)\.?(.*)$", field)
    if m and m.group(1) in cells:
        sheet, row = cells[m.group(1)]
        column = (m.group(2).split(".")[-1] if m.group(2) else "") or "title"
        return cell_error(sheet.cell(column, row), field, error["message"])
    if field.startswith("plan.calendar") or field == "plan.timezone":
        sheet, row = cells["plan.calendar"]
        column = field.rsplit(".", 1)[-1] if field != "plan.calendar" else "sign_by"
        return cell_error(sheet.cell(column, row), field, error["message"])
    return error


def plan_template(lang: str = "en") -> bytes:
    """A plan workbook to fill in: the calendar, two template rows, one extra item."""
    zh = lang == "zh"
    calendar, template, extra = _examples(zh)
    return saved(
        template_workbook(
            [
                (CALENDAR_SHEET, CALENDAR_COLUMNS, [calendar]),
                (TEMPLATES_SHEET, TEMPLATE_COLUMNS, [template]),
                (EXTRA_SHEET, EXTRA_COLUMNS, [extra]),
            ],
            zh,
        )
    )


def _examples(zh: bool, year: int = 2027) -> list[list[Any]]:
    """One example row per sheet: the calendar, a branch template, an org's extra item."""
    aspect, primary = ("思想建设", "主体责任") if zh else ("ideology", "primary")
    calendar = ["Asia/Shanghai", *(f"{year}-{md}" for md in ("01-31", "02-28", "06-30", "12-15"))]
    branch = ["branch", aspect, primary, "Theory study sessions", "sessions", 12, "session"]
    extra = ["example", "integrity", "specific", "Integrity talk", "talks", 1, "talk"]
    return [
        [*calendar, f"{year}-12-31"],
        [*branch, "minutes kept", f"{year}-12-15", "no", None],
        [*extra, "minutes attached", f"{year}-06-30", "yes", None],
    ]

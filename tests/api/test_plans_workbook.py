"""Plans as workbooks through the real API (SQLite and PostgreSQL): the template parses, a
Chinese workbook for the demo tree parses into the plan it means and launches (by the API and by
the console's launch form), and every wrong cell is named with nothing launched."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openpyxl import Workbook
from sqlmodel import Session, func, select
from temporalio.testing import WorkflowEnvironment

from services.core.sheets import XLSX_TYPE
from services.cycle.models import Cycle
from services.cycle.plan import Plan
from tests.support.console import signed_in
from tests.support.cycles import YEAR
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


CAL: list[list[Any]] = [
    ["时区", "签订截止", "承诺截止", "年中", "年终", "结束日期"],
    ["Asia/Shanghai", f"{YEAR}-01-31", f"{YEAR}-02-28", f"{YEAR}-06-30", f"{YEAR}-12-15", None],
]
HEAD = [
    "组织类型",
    "方面",
    "责任类型",
    "事项",
    "指标",
    "目标值",
    "单位",
    "标准",
    "完成时限",
    "需佐证",
]
ROWS: list[list[Any]] = [
    [
        "committee",
        "思想建设",
        "主体责任",
        "理论学习",
        "次数",
        12,
        "次",
        "有记录",
        f"{YEAR}-12-15",
        "否",
    ],
    [
        "general_branch",
        "作风建设",
        "集体责任",
        "调研",
        "次数",
        4,
        "次",
        None,
        f"{YEAR}-06-30",
        None,
    ],
    [
        "branch",
        "廉政建设",
        "主体责任",
        "廉政谈话",
        "次数",
        2,
        "次",
        "附纪要",
        f"{YEAR}-12-15",
        "是",
    ],
]


def book(
    calendar: list[list[Any]], rows: list[list[Any]], sheets: tuple[str, str] = ("日历", "模板")
) -> bytes:
    wb = Workbook()
    cal = wb.active
    assert cal is not None
    cal.title = sheets[0]
    for r in calendar:
        cal.append(r)
    tpl = wb.create_sheet(sheets[1])
    tpl.append(HEAD)
    for r in rows:
        tpl.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def good_calendar() -> list[list[Any]]:
    return [CAL[0], [*CAL[1][:5], f"{YEAR}-12-31"]]


async def parse(w: World, data: bytes) -> Any:
    return await w.call(
        "POST",
        "/api/v1/plans/parse",
        w.committee,
        content=data,
        headers={"content-type": XLSX_TYPE},
    )


async def test_a_chinese_plan_workbook_parses_and_launches(w: World) -> None:
    r = await w.call("GET", "/api/v1/plans/template.xlsx?lang=zh", w.committee)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX_TYPE
    shipped = await parse(w, r.content)
    assert shipped.status_code == 200, shipped.text
    assert Plan.model_validate(shipped.json()).templates["branch"][0].category == "ideology"

    r = await parse(w, book(good_calendar(), ROWS))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["calendar"]["closes_on"] == f"{YEAR}-12-31"
    branch = plan["templates"]["branch"][0]
    assert (branch["category"], branch["responsibility"]) == ("integrity", "primary")
    assert branch["indicator"] == {
        "metric": "次数",
        "target": 2,
        "unit": "次",
        "standard": "附纪要",
        "evidence_required": True,
    }
    body = {"root_org_id": "city", "year": YEAR, "title": "方案", "plan": plan}
    r = await w.call("POST", "/api/v1/cycles", w.committee, json=body)
    assert r.status_code == 202, r.text


async def test_the_launch_form_takes_the_workbook(w: World) -> None:
    b, csrf = await signed_in(w, w.committee)
    form = {"csrf": csrf, "root_org_id": "city", "year": str(YEAR), "title": "工作簿方案"}
    files = {"plan": ("plan.xlsx", book(good_calendar(), ROWS), XLSX_TYPE)}
    r = await b.post("/cycles", data=form, files=files)
    assert r.status_code == 303, r.text
    with Session(w.stack.engine) as s:
        cycle = s.get(Cycle, f"city-{YEAR}")
        assert cycle is not None and cycle.plan["templates"]["branch"][0]["title"] == "廉政谈话"


BROKEN: list[tuple[str, list[list[Any]], list[list[Any]], set[str]]] = [
    (
        "a date after the close",
        good_calendar(),
        [[*ROWS[0][:8], f"{YEAR + 1}-01-05", None]],
        {"模板!I2"},
    ),
    ("a negative target", good_calendar(), [[*ROWS[0][:5], -1, *ROWS[0][6:]]], {"模板!F2"}),
    (
        "an unknown aspect",
        good_calendar(),
        [ROWS[0], ["branch", "体育", *ROWS[2][2:]]],
        {"模板!B3"},
    ),
    ("no closing date", CAL, ROWS, {"日历!F2"}),
    ("a row for no kind", good_calendar(), [ROWS[0], [None, *ROWS[1][1:]]], {"模板!A3"}),
    (
        "calendar out of order",
        [CAL[0], [CAL[1][0], f"{YEAR}-03-31", *CAL[1][2:5], f"{YEAR}-12-31"]],
        ROWS,
        {"日历!B2"},
    ),
]


@pytest.mark.parametrize(("what", "calendar", "rows", "cells"), BROKEN, ids=[b[0] for b in BROKEN])
async def test_wrong_cells_are_named(
    w: World, what: str, calendar: list[list[Any]], rows: list[list[Any]], cells: set[str]
) -> None:
    r = await parse(w, book(calendar, rows))
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {e.get("cell") for e in errors} == cells, errors
    r = await parse(w, book(calendar, rows, sheets=("Sheet1", "Sheet2")))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sheets"
    assert (await w.call("POST", "/api/v1/plans/parse", w.owner, content=b"x")).status_code == 403
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Cycle)).one() == 0

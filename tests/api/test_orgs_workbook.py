"""The org tree from an XLSX workbook through the real API and DB (SQLite and PostgreSQL): the
template round-trips, Chinese headers import, a multipart upload works, and every wrong cell is
named (``people!E3``) with nothing written."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.core.sheets import XLSX_TYPE
from services.org.models import Org, OrgHead, Person
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, ts_env.client, with_worker=False) as s:
        yield s


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    first = True
    for name, rows in sheets.items():
        ws = book.active if first else book.create_sheet(name)
        assert ws is not None
        ws.title = name
        first = False
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def counts(stack: Stack) -> tuple[int, int, int]:
    with Session(stack.engine) as s:
        return (
            s.exec(select(func.count()).select_from(Org)).one(),
            s.exec(select(func.count()).select_from(Person)).one(),
            s.exec(select(func.count()).select_from(OrgHead)).one(),
        )


def damaged(data: bytes, part: str) -> bytes:
    """The workbook with one part's XML cut in half."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, body[: len(body) // 2] if info.filename == part else body)
    return out.getvalue()


async def post_xlsx(stack: Stack, token: str, data: bytes) -> Any:
    return await stack.call(
        "POST", "/api/v1/orgs/import", token, content=data, headers={"content-type": XLSX_TYPE}
    )


ZH: dict[str, list[list[Any]]] = {
    "组织": [
        ["编号", "名称", "类型", "上级编号", "负责人编号"],
        ["city", "市委", "committee", None, "p-li"],
        ["gb-1", "第一党总支", "general_branch", "city", "p-wang"],
        [2027, "二〇二七支部", "branch", "gb-1", None],  # a number typed as an id is text
    ],
    "人员": [
        ["编号", "姓名", "职务", "所属组织编号"],
        ["p-li", "李伟", "书记", "city"],
        ["p-wang", "王芳", "书记", "gb-1"],
    ],
}


async def test_the_template_round_trips_and_chinese_headers_import(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call("GET", "/api/v1/orgs/import-template.xlsx", admin)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX_TYPE
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["orgs", "people", "notes"]
    assert [c.value for c in book["orgs"][1]][:3] == ["id", "name", "kind"]
    r = await post_xlsx(stack, admin, r.content)
    assert r.status_code == 201 and r.json() == {"orgs_created": 1, "people_created": 1}, r.text

    zh = (await stack.call("GET", "/api/v1/orgs/import-template.xlsx?lang=zh", admin)).content
    assert load_workbook(io.BytesIO(zh)).sheetnames == ["组织", "人员", "说明"]
    r = await post_xlsx(stack, admin, zh)  # the same example again: refused, naming the cells
    assert r.status_code == 422
    assert {e["cell"] for e in r.json()["errors"]} == {"组织!A2", "人员!A2"}, r.json()

    r = await stack.call(
        "POST",
        "/api/v1/orgs/import",
        admin,
        files={"file": ("tree.xlsx", workbook(ZH), "application/octet-stream")},
    )
    assert r.status_code == 201 and r.json() == {"orgs_created": 3, "people_created": 2}, r.text
    r = await stack.call("GET", "/api/v1/orgs/2027", admin)
    assert r.json()["path"] == "/city/gb-1/2027/" and r.json()["name"] == "二〇二七支部"
    heads = (await stack.call("GET", "/api/v1/orgs/gb-1/heads", admin)).json()
    assert [h["person_id"] for h in heads] == ["p-wang"]


BROKEN: list[tuple[str, dict[str, list[list[Any]]], set[str]]] = [
    (
        "unknown org of a person",
        {
            "orgs": [["id", "name", "kind"], ["city", "City", "committee"]],
            "people": [
                ["id", "name", "title", "email", "org_id"],
                ["p-1", "A", None, None, "city"],
                ["p-2", "B", None, None, "gb-9"],
            ],
        },
        {"people!E3"},
    ),
    (
        "bad kind and a blank name",
        {"orgs": [["id", "name", "kind"], ["city", "City", "Committee!"], ["b", None, "branch"]]},
        {"orgs!C2", "orgs!B3"},
    ),
    (
        "unknown and missing columns",
        {"orgs": [["id", "colour"], ["city", "red"]]},
        {"orgs!B1", "orgs!1"},
    ),
    (
        "unknown parent and head",
        {
            "orgs": [
                ["id", "name", "kind", "parent_id", "head_person_id"],
                ["city", "City", "committee", None, "nobody"],
                ["b", "B", "branch", "nowhere", None],
            ]
        },
        {"orgs!E2", "orgs!D3"},
    ),
    ("no sheet we know", {"Sheet9": [["id"], ["x"]]}, set()),
]


@pytest.mark.parametrize(("what", "sheets", "cells"), BROKEN, ids=[b[0] for b in BROKEN])
async def test_wrong_cells_are_named_and_nothing_is_written(
    stack: Stack, what: str, sheets: dict[str, list[list[Any]]], cells: set[str]
) -> None:
    admin = stack.token(Role.admin)
    r = await post_xlsx(stack, admin, workbook(sheets))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert {e.get("cell") for e in errors if e.get("cell")} == cells, errors
    for e in errors:
        if e.get("cell"):
            assert e["message"].startswith(f"{e['cell']}: ")
    assert counts(stack) == (0, 0, 0)


async def test_what_is_not_a_workbook_is_refused(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await post_xlsx(stack, admin, b"PK\x03\x04 not really")
    assert r.status_code == 422 and "XLSX" in r.json()["detail"]
    good = workbook({"orgs": [["id", "name", "kind"], ["city", "City", "committee"]]})
    for part in ("xl/workbook.xml", "xl/worksheets/sheet1.xml"):
        r = await post_xlsx(stack, admin, damaged(good, part))
        assert r.status_code == 422 and "XLSX" in r.json()["detail"], (part, r.text)
    r = await stack.call("POST", "/api/v1/orgs/import", admin, files={"other": ("x.xlsx", b"")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert counts(stack) == (0, 0, 0)

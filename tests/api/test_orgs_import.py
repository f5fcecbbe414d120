"""Org tree import through the real API and DB: all-or-nothing, refusals name row and field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.org.models import Org, Person
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, ts_env.client, with_worker=False) as s:
        yield s


def tree(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "people": [
            {
                "id": "p-li",
                "name": "Li Wei",
                "title": "Secretary",
                "email": "li@example.org",
                "org_id": "city",
            },
            {"id": "p-wang", "name": "Wang Fang", "org_id": "gb-1"},
            {"id": "p-zhao", "name": "Zhao Min", "org_id": "b-1"},
        ],
        "orgs": [
            {
                "id": "city",
                "name": "City Committee",
                "kind": "committee",
                "parent_id": None,
                "head_person_id": "p-li",
            },
            {
                "id": "gb-1",
                "name": "General Branch 1",
                "kind": "general_branch",
                "parent_id": "city",
                "head_person_id": "p-wang",
            },
            {
                "id": "b-1",
                "name": "Branch 1",
                "kind": "branch",
                "parent_id": "gb-1",
                "head_person_id": "p-zhao",
            },
        ],
    }
    doc.update(overrides)
    return doc


def counts(stack: Stack) -> tuple[int, int]:
    with Session(stack.engine) as s:
        return (
            s.exec(select(func.count()).select_from(Org)).one(),
            s.exec(select(func.count()).select_from(Person)).one(),
        )


async def test_json_import_builds_paths_and_subtree(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call("POST", "/api/v1/orgs/import", admin, json=tree())
    assert r.status_code == 201, r.text
    assert r.json() == {"orgs_created": 3, "people_created": 3}
    r = await stack.call("GET", "/api/v1/orgs/b-1", admin)
    assert r.json()["path"] == "/city/gb-1/b-1/"
    assert r.json()["depth"] == 2
    r = await stack.call("GET", "/api/v1/orgs", admin, params={"under": "gb-1"})
    assert [o["id"] for o in r.json()["items"]] == ["gb-1", "b-1"]
    assert r.json()["total"] == 2


async def test_csv_import(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    await stack.call("POST", "/api/v1/orgs/import", admin, json=tree())
    csv_text = "id,name,kind,parent_id,head_person_id\nb-2,Branch 2,branch,gb-1,p-wang\nb-3,Branch 3,branch,b-2,\n"
    r = await stack.call(
        "POST", "/api/v1/orgs/import", admin, content=csv_text, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    r = await stack.call("GET", "/api/v1/orgs/b-3", admin)
    assert r.json()["path"] == "/city/gb-1/b-2/b-3/"


REFUSALS = [
    (
        "cycle",
        {
            "orgs": [
                {"id": "a", "name": "A", "kind": "branch", "parent_id": "c"},
                {"id": "b", "name": "B", "kind": "branch", "parent_id": "a"},
                {"id": "c", "name": "C", "kind": "branch", "parent_id": "b"},
            ]
        },
        {"row": 1, "field": "parent_id", "fragment": "cycle"},
    ),
    (
        "unknown parent",
        {"orgs": [{"id": "a", "name": "A", "kind": "branch", "parent_id": "nowhere"}]},
        {"row": 1, "field": "parent_id", "fragment": "unknown parent 'nowhere'"},
    ),
    (
        "duplicate id",
        {
            "orgs": [
                {"id": "a", "name": "A", "kind": "committee"},
                {"id": "a", "name": "A again", "kind": "branch", "parent_id": None},
            ]
        },
        {"row": 2, "field": "id", "fragment": "duplicate id 'a'"},
    ),
    (
        "unknown head",
        {"orgs": [{"id": "a", "name": "A", "kind": "committee", "head_person_id": "ghost"}]},
        {"row": 1, "field": "head_person_id", "fragment": "unknown person 'ghost'"},
    ),
    (
        "deputy from another org",
        {
            "people": [{"id": "p-x", "name": "X", "org_id": "b"}],
            "orgs": [
                {"id": "a", "name": "A", "kind": "committee", "deputy_person_id": "p-x"},
                {"id": "b", "name": "B", "kind": "branch", "parent_id": "a"},
            ],
        },
        {"row": 1, "field": "deputy_person_id", "fragment": "'p-x' is not in 'a'"},
    ),
    (
        "malformed row",
        {
            "orgs": [
                {"id": "ok", "name": "OK", "kind": "committee"},
                {"id": "bad id!", "name": "", "kind": "branch"},
            ]
        },
        {"row": 2, "field": "id", "fragment": "pattern"},
    ),
]


@pytest.mark.parametrize(("case", "doc", "expect"), REFUSALS, ids=[c[0] for c in REFUSALS])
async def test_json_refusals_name_row_and_field_and_write_nothing(
    stack: Stack, case: str, doc: dict[str, Any], expect: dict[str, Any]
) -> None:
    admin = stack.token(Role.admin)
    before = counts(stack)
    r = await stack.call("POST", "/api/v1/orgs/import", admin, json=doc)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    errors = r.json()["errors"]
    assert any(
        e["row"] == expect["row"]
        and e["field"] == expect["field"]
        and expect["fragment"] in e["message"]
        for e in errors
    ), errors
    assert counts(stack) == before


async def test_refusal_of_one_bad_row_among_many_writes_nothing(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    doc = tree()
    doc["orgs"].append(
        {
            "id": "b-9",
            "name": "B9",
            "kind": "branch",
            "parent_id": "gb-1",
            "head_person_id": "nobody",
        }
    )
    r = await stack.call("POST", "/api/v1/orgs/import", admin, json=doc)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "section": "orgs",
            "row": 4,
            "field": "head_person_id",
            "message": "unknown person 'nobody'",
        }
    ]
    assert counts(stack) == (0, 0)


async def test_existing_id_is_refused(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    assert (await stack.call("POST", "/api/v1/orgs/import", admin, json=tree())).status_code == 201
    r = await stack.call(
        "POST",
        "/api/v1/orgs/import",
        admin,
        json={"orgs": [{"id": "gb-1", "name": "x", "kind": "branch", "parent_id": "city"}]},
    )
    assert r.status_code == 422
    assert "already exists" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("csv_text", "field"),
    [
        ("id,name\na,A\n", "kind"),
        ("id,name,kind,colour\na,A,committee,red\n", "colour"),
        ("id,name,kind,parent_id,head_person_id\na,A,committee,,,extra\n", "row"),
        ("id,name,kind,parent_id,head_person_id\na,,committee,,\n", "name"),
    ],
)
async def test_csv_refusals(stack: Stack, csv_text: str, field: str) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call(
        "POST", "/api/v1/orgs/import", admin, content=csv_text, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()
    assert counts(stack) == (0, 0)


async def test_not_json_and_wrong_type(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call(
        "POST",
        "/api/v1/orgs/import",
        admin,
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    r = await stack.call(
        "POST", "/api/v1/orgs/import", admin, content=b"x", headers={"content-type": "text/xml"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content-type"


async def test_create_single_org_and_person(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    await stack.call("POST", "/api/v1/orgs/import", admin, json=tree())
    r = await stack.call(
        "POST",
        "/api/v1/orgs",
        admin,
        json={"id": "b-2", "name": "B2", "kind": "branch", "parent_id": "gb-1"},
    )
    assert r.status_code == 201 and r.json()["path"] == "/city/gb-1/b-2/"
    r = await stack.call(
        "POST",
        "/api/v1/orgs",
        admin,
        json={"id": "b-2", "name": "B2", "kind": "branch", "parent_id": "gb-1"},
    )
    assert r.status_code == 409
    r = await stack.call(
        "POST",
        "/api/v1/orgs",
        admin,
        json={"id": "b-3", "name": "B3", "kind": "branch", "parent_id": "nope"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parent_id"
    r = await stack.call(
        "POST", "/api/v1/people", admin, json={"id": "p-new", "name": "New", "org_id": "b-2"}
    )
    assert r.status_code == 201
    r = await stack.call(
        "POST", "/api/v1/people", admin, json={"id": "p-new", "name": "New", "org_id": "b-2"}
    )
    assert r.status_code == 409

"""Regressions of the server errors and the privilege escalation found from outside (issue 13):
each answered 500 (or let a scoped admin act as someone outside its scope) before its fix.
Real app, real database, real Temporal."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import Session, func, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Account, Role
from services.cycle.models import Cycle
from tests.conftest import start_time_skipping
from tests.support.cycles import YEAR, item, launch, small_plan
from tests.support.world import World, world

HUGE = 9223372036854775807


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


async def test_a_huge_page_number_is_422_naming_page_not_500(w: World) -> None:
    for url, token in (
        (f"/public/v1/commitments?page={HUGE}", None),
        (f"/api/v1/orgs?page={HUGE}", w.admin),
        (f"/api/v1/rectifications?page={HUGE}", w.auditor),
        (f"/api/v1/cycles?page={HUGE}", w.committee),
        (f"/api/v1/notifications?page={HUGE}", w.committee),
    ):
        body = _problem(await w.call("GET", url, token), 422)
        assert "page" in {e["field"] for e in body["errors"]}, (url, body)
    # The largest page allowed still answers, with no rows.
    r = await w.call("GET", "/api/v1/orgs?page=100000", w.admin)
    assert r.status_code == 200 and r.json()["items"] == [], r.text


def _plan_with_target(target: str) -> bytes:
    """A plan whose first branch item's target is the literal ``target`` (JSON number text)."""
    plan = copy.deepcopy(small_plan())
    plan["templates"]["branch"] = [item("x", f"{YEAR}-05-01", 123456789)]
    body = json.dumps({"root_org_id": "city", "year": YEAR, "title": "t", "plan": plan})
    return body.replace("123456789", target).encode()


async def test_an_infinite_plan_target_is_422_and_starts_nothing(w: World) -> None:
    for target in ("1e999", "-1e999"):
        r = await w.call(
            "POST",
            "/api/v1/cycles",
            w.committee,
            content=_plan_with_target(target),
            headers={"Content-Type": "application/json"},
        )
        body = _problem(r, 422)
        fields = {e["field"] for e in body["errors"]}
        assert fields == {"plan.templates.branch.0.indicator.target"}, body
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Cycle)).one() == 0
    # The same root and year can still be launched: nothing was half-started.
    await launch(w)


async def test_an_infinite_target_in_an_amendment_is_422_not_503(w: World) -> None:
    cid = await launch(w)
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/items",
        w.committee,
        content=(
            b'{"items": [{"title": "x", "category": "organization", "responsibility": "primary",'
            b' "due": "' + f"{YEAR}-05-01".encode() + b'", "indicator": {"metric": "m",'
            b' "target": 1e999, "unit": "u", "standard": "s"}}]}'
        ),
        headers={"Content-Type": "application/json"},
    )
    body = _problem(r, 422)
    assert {e["field"] for e in body["errors"]} == {"items.0.indicator.target"}, body


async def test_a_scoped_admin_cannot_bind_an_account_to_a_person_outside_its_scope(
    w: World,
) -> None:
    gb1_admin = w.stack.token(Role.admin, "gb-1")
    before = _accounts(w)
    # p-001 is the city's secretary (the issuer of gb-1's letter): outside gb-1.
    r = await w.call(
        "POST",
        "/api/v1/accounts",
        gb1_admin,
        json={"role": "committee", "scope_org_id": "gb-1", "person_id": "p-001"},
    )
    body = _problem(r, 422)  # as for a person who does not exist: nothing told about the city
    assert body["errors"] == [{"field": "person_id", "message": "unknown person 'p-001'"}]
    assert _accounts(w) == before
    # A person inside its scope is fine.
    r = await w.call(
        "POST",
        "/api/v1/accounts",
        gb1_admin,
        json={"role": "member", "scope_org_id": "gb-1-b1", "person_id": "p-009"},
    )
    assert r.status_code == 201, r.text


def _accounts(w: World) -> int:
    with Session(w.stack.engine) as s:
        return int(s.exec(select(func.count()).select_from(Account)).one())


async def test_flagging_while_temporal_is_down_is_503_and_writes_nothing(settings, engine) -> None:
    """Temporal goes away under a connected API (its own test server, stopped before the call)."""
    from services.core.db import session_scope
    from services.demo import demo_tree
    from services.org.store import import_tree
    from services.rectification.models import Problem
    from tests.support.stack import running_stack

    with session_scope(engine) as s:
        import_tree(s, demo_tree())
    env = await start_time_skipping()
    dead = env.client
    await env.shutdown()
    async with running_stack(settings, engine, dead, with_worker=False) as stack:
        body = {
            "org_id": "gb-1-b1",
            "source": "inspection",
            "category": "conduct",
            "severity": "major",
            "title": "Minutes not filed",
        }
        token = stack.token(Role.committee, "city", "p-001")
        r = await stack.call(
            "POST", "/api/v1/problems", token, json=body, headers={"Idempotency-Key": "k1"}
        )
        problem = _problem(r, 503)
        assert r.headers["retry-after"] == "2" and "retry" in problem["detail"]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Problem)).one() == 0


FLAG = {
    "org_id": "gb-1-b1",
    "source": "inspection",
    "category": "conduct",
    "severity": "major",
    "title": "Minutes not filed",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "   "),
        ("title", "Minutes\x00not filed"),
        ("title", "Minutes \u202enot filed"),
        ("title", "two\nlines"),
        ("description", "bell \x07"),
        ("due", "9999-12-31"),
        ("cycle_id", "no-such-cycle"),
    ],
)
async def test_text_dates_and_links_that_break_a_rule_are_422_naming_the_field(
    w: World, field: str, value: str
) -> None:
    before = _problems(w)
    r = await w.call("POST", "/api/v1/problems", w.committee, json={**FLAG, field: value})
    body = _problem(r, 422)
    assert field in {e["field"] for e in body["errors"]}, body
    assert _problems(w) == before


async def test_an_item_must_exist_in_its_cycle_and_org(w: World) -> None:
    cid = await launch(w)
    r = await w.call(
        "POST",
        "/api/v1/problems",
        w.committee,
        json={**FLAG, "org_id": "city", "cycle_id": cid, "item_id": f"{cid}:gb-1:1"},
    )
    assert {e["field"] for e in _problem(r, 422)["errors"]} == {"item_id"}
    r = await w.call(
        "POST",
        "/api/v1/problems",
        w.committee,
        json={**FLAG, "org_id": "city", "cycle_id": cid, "item_id": f"{cid}:city:1"},
    )
    assert r.status_code == 201, r.text


async def test_an_idempotency_key_reused_for_another_problem_is_422(w: World) -> None:
    headers = {"Idempotency-Key": "k-reuse"}
    first = await w.call("POST", "/api/v1/problems", w.committee, json=FLAG, headers=headers)
    assert first.status_code == 201, first.text
    w.problems.append(first.json()["problem_id"])
    again = await w.call("POST", "/api/v1/problems", w.committee, json=FLAG, headers=headers)
    assert again.status_code == 201 and again.json()["problem_id"] == first.json()["problem_id"]
    other = {**FLAG, "title": "Another problem"}
    r = await w.call("POST", "/api/v1/problems", w.committee, json=other, headers=headers)
    assert {e["field"] for e in _problem(r, 422)["errors"]} == {"Idempotency-Key"}
    assert _problems(w) == 1


async def test_an_executable_named_pdf_is_refused_and_downloads_are_attachments(
    w: World,
) -> None:
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"
    r = await w.call(
        "POST", "/api/v1/evidence", w.owner, files={"file": ("report.pdf", exe, "application/pdf")}
    )
    assert _problem(r, 415)["field"] == "file"
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = await w.call(
        "POST", "/api/v1/evidence", w.owner, files={"file": ("report.pdf", pdf, "application/pdf")}
    )
    assert r.status_code == 201, r.text
    got = await w.call("GET", f"/api/v1/evidence/{r.json()['evidence_id']}", w.owner)
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_an_oversized_body_is_413_before_authentication(w: World) -> None:
    limit = w.stack.settings.evidence_max_bytes + 20 * 1024 * 1024 + 64 * 1024
    r = await w.stack.http.post(
        "/public/v1/reports",
        content=b"x" * 16,
        headers={"Content-Length": str(limit + 1), "Content-Type": "application/json"},
    )
    assert _problem(r, 413)["status"] == 413


async def test_a_wrong_method_is_405_with_allow(w: World) -> None:
    r = await w.call("DELETE", "/api/v1/problems", w.committee)
    body = _problem(r, 405)
    assert body["status"] == 405 and "POST" in r.headers["allow"]


def _problems(w: World) -> int:
    from services.rectification.models import Problem

    with Session(w.stack.engine) as s:
        return int(s.exec(select(func.count()).select_from(Problem)).one())


async def test_plan_and_amendment_texts_are_checked_naming_the_field(w: World) -> None:
    plan = copy.deepcopy(small_plan())
    bad = item("x\x01", f"{YEAR}-05-01", 1)
    bad["indicator"]["metric"] = "meetings"
    bad["indicator"]["unit"] = "   "
    plan["templates"]["branch"] = [bad]
    body = {"root_org_id": "city", "year": YEAR, "title": "t", "plan": plan}
    r = await w.call("POST", "/api/v1/cycles", w.committee, json=body)
    fields = {e["field"] for e in _problem(r, 422)["errors"]}
    assert fields == {"plan.templates.branch.0.title", "plan.templates.branch.0.indicator.unit"}
    cid = await launch(w)
    edit = item("ok", f"{YEAR}-05-01", 1)
    edit["indicator"]["metric"] = "meetings \u202eheld"
    r = await w.call(
        "POST", f"/api/v1/letters/{cid}/city/items", w.committee, json={"items": [edit]}
    )
    assert {e["field"] for e in _problem(r, 422)["errors"]} == {"items.0.indicator.metric"}


async def test_orgs_whose_ids_differ_in_case_only_are_separate_scopes(w: World) -> None:
    """SQLite's LIKE ignores ASCII case: a member scoped to ``gb-1`` listed ``GB-1``'s problems
    as its own subtree's. The read model's connections make LIKE case-sensitive, as on
    PostgreSQL (and a path prefix then reads one index range)."""
    body = {"id": "GB-1", "name": "Another branch", "kind": "general_branch", "parent_id": "city"}
    assert (await w.call("POST", "/api/v1/orgs", w.admin, json=body)).status_code == 201
    theirs = await w.flag(org_id="GB-1", title="Not gb-1's")
    ours = await w.flag(org_id="gb-1", title="gb-1's own")
    member = w.stack.token(Role.member, "gb-1")
    r = await w.call("GET", "/api/v1/rectifications", member)
    assert r.status_code == 200, r.text
    assert [row["problem_id"] for row in r.json()["items"]] == [ours]
    _problem(await w.call("GET", f"/api/v1/problems/{theirs}", member), 404)
    r = await w.call("GET", "/api/v1/rectifications/stats", member)
    assert r.status_code == 200 and r.json()["overall"]["total"] == 1, r.text

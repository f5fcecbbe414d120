"""Launching a cycle and acting on letters, items and commitments through the real HTTP API:
every refusal answers 4xx problem+json naming the field or the state, and writes nothing.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import Session, func, select
from temporalio.testing import WorkflowEnvironment

from services.cycle.models import Commitment, Cycle, Letter
from tests.support.cycles import YEAR, eventually, item, launch, letter, sign, small_plan
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    # A server of its own: cycle workflow ids (``cycle:city-2027:org:…``) are never reused.
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def count(w: World, model: Any) -> int:
    with Session(w.stack.engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


async def post_cycle(w: World, plan: dict[str, Any], token: str | None = None, **over: Any) -> Any:
    body = {"root_org_id": "city", "year": YEAR, "title": "t", "plan": plan, **over}
    return await w.call("POST", "/api/v1/cycles", token or w.committee, json=body)


def fields(r: Any) -> set[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in r.json()["errors"]}


async def test_a_bad_plan_is_refused_naming_the_field_and_starts_nothing(w: World) -> None:
    plan = small_plan()
    unknown_kind = copy.deepcopy(plan)
    unknown_kind["templates"]["department"] = [item("x", f"{YEAR}-05-01", 1)]
    assert fields(await post_cycle(w, unknown_kind)) == {"plan.templates.department"}

    late = copy.deepcopy(plan)
    late["templates"]["branch"] = [item("x", f"{YEAR + 1}-01-05", 1)]
    assert fields(await post_cycle(w, late)) == {"plan.templates.branch.0.due"}

    empty = copy.deepcopy(plan)
    empty["templates"]["branch"] = []
    assert fields(await post_cycle(w, empty)) == {"plan.templates.branch"}

    negative = copy.deepcopy(plan)
    negative["templates"]["branch"] = [item("x", f"{YEAR}-05-01", -3)]
    assert fields(await post_cycle(w, negative)) == {"plan.templates.branch.0.indicator.target"}

    bad_calendar = copy.deepcopy(plan)
    bad_calendar["calendar"]["sign_by"] = f"{YEAR}-03-31"  # after commitments_by
    assert fields(await post_cycle(w, bad_calendar)) == {"plan.calendar"}

    assert fields(await post_cycle(w, plan, year=YEAR + 1)) == {"plan.calendar.sign_by"}
    assert fields(await post_cycle(w, {**plan, "timezone": "Mars/Olympus"})) == {"plan.timezone"}
    assert fields(await post_cycle(w, {**plan, "surprise": 1})) == {"plan.surprise"}
    r = await post_cycle(w, plan, root_org_id="atlantis")
    assert r.status_code == 404 and r.json()["field"] == "org_id"
    assert count(w, Cycle) == 0 and count(w, Letter) == 0


async def test_launch_is_for_the_roots_committee_and_happens_once(w: World) -> None:
    assert (await post_cycle(w, small_plan(), w.committee_gb1)).status_code == 404  # city: unseen
    assert (await post_cycle(w, small_plan(), w.owner)).status_code == 403
    assert (await post_cycle(w, small_plan(), w.auditor)).status_code == 403
    cid = await launch(w)
    r = await post_cycle(w, small_plan())
    assert r.status_code == 409 and cid in r.json()["detail"], r.text
    assert r.json()["cycle_id"] == cid
    assert count(w, Cycle) == 1 and count(w, Letter) == 1
    listed = (await w.call("GET", "/api/v1/cycles", w.owner)).json()
    assert [c["cycle_id"] for c in listed["items"]] == [cid]


async def test_letters_items_and_commitments_refuse_what_breaks_a_rule(w: World) -> None:
    cid = await launch(w)
    city = await letter(w, w.committee, cid, "city")
    items = {i["title"]: i for i in city["items"]}
    # Before signing: no progress, no commitments (the list is not in force yet).
    r = await w.call(
        "POST",
        f"/api/v1/items/{items['Mid-year debriefings']['item_id']}/progress",
        w.committee,
        json={"actual": 1},
    )
    assert r.status_code == 409 and "not signed" in r.json()["detail"], r.text
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/commitments",
        w.committee,
        json={"text": "pledge", "item_ids": [city["items"][0]["item_id"]]},
    )
    assert r.status_code == 409 and r.json()["state"] == "issued", r.text
    # Amending the root's letter (its issuer is the root's committee): a due after the close.
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/items",
        w.committee,
        json={"items": [item("x", f"{YEAR + 1}-02-01", 1)]},
    )
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"items.0.due"}
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/items",
        w.committee,
        json={"items": [{**item("x", f"{YEAR}-02-01", 1), "item_id": "nope"}]},
    )
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"items.0.id"}
    assert (await letter(w, w.committee, cid, "city"))["version"] == 1
    # Unknown body fields, hashes that are not hashes.
    r = await w.call(
        "POST", f"/api/v1/letters/{cid}/city/sign", w.committee, json={"content_hash": "abc"}
    )
    assert fields(r) == {"content_hash"}
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    # Commitments name items of this letter; a retried request (same key) pledges once.
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/commitments",
        w.committee,
        json={"text": "pledge", "item_ids": ["city-2027:gb-1:1"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_ids.0", r.text
    body = {"text": "We will hold every meeting", "item_ids": [city["items"][1]["item_id"]]}
    first = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/commitments",
        w.committee,
        json=body,
        headers={"Idempotency-Key": "k-1"},
    )
    again = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/commitments",
        w.committee,
        json=body,
        headers={"Idempotency-Key": "k-1"},
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["commitment_id"] == again.json()["commitment_id"]
    assert count(w, Commitment) == 1
    # Out of scope, unknown ids, bad filters.
    r = await w.call("GET", f"/api/v1/letters/{cid}/city", w.committee_gb2)
    assert r.status_code == 404 and r.json()["detail"] == "no org 'city' in this account's scope"
    assert (await w.call("GET", f"/api/v1/letters/{cid}/nowhere", w.committee)).status_code == 404
    assert (await w.call("GET", "/api/v1/letters?cycle=none-1", w.committee)).status_code == 404
    r = await w.call("GET", f"/api/v1/letters?cycle={cid}&status=lost", w.committee)
    assert fields(r) == {"status"}
    await eventually(lambda: count(w, Letter) == 4, what="level-1 letters")
    r = await w.call("GET", f"/api/v1/letters?cycle={cid}&level=1&status=issued", w.committee)
    assert r.json()["total"] == 3
    # A member sees the progress of its own part of the tree only.
    mine = (await w.call("GET", f"/api/v1/cycles/{cid}", w.committee_gb1)).json()
    assert mine["orgs"] == 4 and mine["letters_issued"] == 1
    whole = (await w.call("GET", f"/api/v1/cycles/{cid}", w.committee)).json()
    assert whole["orgs"] == 14 and whole["letters_issued"] == 4 and whole["letters_signed"] == 1
    assert (await w.call("GET", f"/api/v1/cycles/{cid}", w.committee_gb2)).json()["orgs"] == 4

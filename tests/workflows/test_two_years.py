"""Two consecutive years on the demo tree, under time skipping: year N's open rectifications are
carried into year N+1 once, with their origin, and show in its progress and ledger; closing one
in year N+1 shows in both years' ledgers; the items an org missed are listed on its new letter
for the issuer to keep or drop; next year's plan and the two years side by side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from services.audit.chain import AuditEvent
from services.core.clock import deadline_instant
from services.cycle.models import Cycle, Letter
from services.rectification.models import Carryover, Problem
from tests.support.console import signed_in
from tests.support.cycles import YEAR, eventually, launch, sign
from tests.support.world import World, world

TZ = "Asia/Shanghai"


@pytest.fixture
async def w(settings, sqlite_engine: Engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, sqlite_engine, ts_fresh.client) as w:
        yield w


async def ledger(w: World, cycle_id: str) -> dict[str, dict[str, Any]]:
    r = await w.call("GET", "/api/v1/rectifications", w.committee, params={"cycle": cycle_id})
    assert r.status_code == 200, r.text
    return {row["problem_id"]: row for row in r.json()["items"]}


async def test_open_work_carries_into_the_next_year(
    w: World, ts_fresh: WorkflowEnvironment
) -> None:
    first = await launch(w)
    assert (await sign(w, w.committee, first, "city")).status_code == 200
    working = await w.flag(cycle_id=first)
    await w.walk_to(working, "in_progress")
    finished = await w.flag(cycle_id=first, title="Closed within the year")
    await w.walk_to(finished, "closed")

    now = await ts_fresh.get_current_time()
    await ts_fresh.sleep(deadline_instant(date(YEAR, 12, 31), TZ) - now + timedelta(days=1))

    def closed() -> bool:
        with Session(w.stack.engine) as s:
            return s.get(Cycle, first).state == "closed"  # type: ignore[union-attr]

    await eventually(closed, timeout=60, what="year N closes")
    with Session(w.stack.engine) as s:
        still_open = set(
            s.exec(
                select(Problem.id).where(
                    Problem.cycle_id == first, col(Problem.state).not_in(["closed", "dismissed"])
                )
            ).all()
        )
    assert working in still_open and finished not in still_open
    assert len(still_open) > 1  # the city's missed items were flagged too

    second = await launch(w, year=YEAR + 1)
    with Session(w.stack.engine) as s:
        carried = s.exec(select(Carryover.problem_id).where(Carryover.cycle_id == second)).all()
        events = s.exec(select(AuditEvent.entity_id).where(AuditEvent.action == "carry")).all()
    assert sorted(carried) == sorted(still_open) == sorted(events)  # each once
    progress = (await w.call("GET", f"/api/v1/cycles/{second}", w.committee)).json()
    assert sum(progress["carried"].values()) == len(still_open)
    assert progress["problems"] == {}
    later = await ledger(w, second)
    assert set(later) == still_open and later[working]["cycle_id"] == first  # its origin
    assert finished in await ledger(w, first)
    await _the_carry_changes_nothing_of_the_problem(w, ts_fresh, later)

    await w.walk_to_closed_from_in_progress(working)
    assert (await ledger(w, first))[working]["state"] == "closed"
    assert (await ledger(w, second))[working]["state"] == "closed"
    timeline = (await w.call("GET", f"/api/v1/problems/{working}/timeline", w.committee)).json()
    assert [e["action"] for e in timeline].count("carry") == 1

    await _missed_items_on_the_new_letter(w, first, second)
    await _next_plan_and_comparison(w, first, second)


async def _missed_items_on_the_new_letter(w: World, first: str, second: str) -> None:
    url = f"/api/v1/letters/{second}/city/carried"
    shown = (await w.call("GET", url, w.committee)).json()
    assert [c["title"] for c in shown] == ["Mid-year debriefings", "Branch meetings"]
    assert all(c["cycle_id"] == first and c["decision"] is None for c in shown)
    keep, drop = shown[0]["item_id"], shown[1]["item_id"]
    r = await w.call("POST", f"{url}/{keep}", w.committee_gb1, json={"decision": "keep"})
    assert r.status_code == 404, r.text  # gb-1's committee does not see the city's letter
    r = await w.call("POST", f"{url}/{keep}", w.committee, json={"decision": "keep"})
    assert r.status_code == 200 and r.json()["decision"] == "keep", r.text
    new_item = r.json()["new_item_id"]
    r = await w.call("POST", f"{url}/{drop}", w.committee, json={"decision": "drop"})
    assert r.status_code == 200 and r.json()["new_item_id"] is None
    again = await w.call("POST", f"{url}/{keep}", w.committee, json={"decision": "drop"})
    assert again.status_code == 409, again.text
    r = await w.call("POST", f"{url}/{keep}", w.committee, json={"decision": "maybe"})
    assert r.status_code == 422
    with Session(w.stack.engine) as s:
        letter = s.get(Letter, f"{second}:city")
        assert letter is not None and letter.version == 2 and letter.items_count == 3
    items = (await w.call("GET", f"/api/v1/letters/{second}/city", w.committee)).json()["items"]
    kept = next(i for i in items if i["item_id"] == new_item)
    assert kept["title"] == "Mid-year debriefings" and kept["due"] == f"{YEAR + 1}-06-30"


async def _next_plan_and_comparison(w: World, first: str, second: str) -> None:
    r = await w.call("GET", f"/api/v1/cycles/{first}/next-plan", w.committee)
    assert r.status_code == 200, r.text
    nxt = r.json()
    assert nxt["year"] == YEAR + 1 and nxt["plan"]["calendar"]["sign_by"] == f"{YEAR + 1}-01-31"
    committee = nxt["templates"]["committee"]
    assert [(t["title"], t["orgs"], t["missed"]) for t in committee] == [
        ("Mid-year debriefings", 1, 1),
        ("Branch meetings", 1, 1),
    ]
    assert (await w.call("GET", f"/api/v1/cycles/{first}/next-plan", w.owner)).status_code == 403

    r = await w.call("GET", "/api/v1/cycles/compare", w.committee, params={"a": first, "b": second})
    assert r.status_code == 200, r.text
    rows = {row["org_id"]: row for row in r.json()["orgs"]}
    assert list(rows) == ["city", "gb-1", "gb-2", "gb-3"]
    city = rows["city"]
    assert city["a"]["letters_signed_on_time"] == 1 and city["b"]["letters_signed_on_time"] == 0
    assert city["a"]["problems_opened"] >= 3 and city["b"]["problems_carried_in"] >= 1
    assert city["a"]["items_by_aspect"]["organization"]["missed"] >= 1
    with Session(w.stack.engine) as s:
        opened = s.exec(select(func.count()).where(Problem.cycle_id == first)).one()
    assert city["a"]["problems_opened"] == opened

    b, _ = await signed_in(w, w.committee)  # the console's dashboard: carried, year on year
    page = (await b.get(f"/cycles/{second}?lang=en")).text
    assert 'id="years"' in page and "Rectifications carried in from earlier years" in page
    assert f"{first} → {second}" in page


async def _the_carry_changes_nothing_of_the_problem(
    w: World, ts_fresh: WorkflowEnvironment, carried: dict[str, dict[str, Any]]
) -> None:
    """A carry's event says where the problem went, not a new state: the chain still rebuilds
    each carried row (no drift), and the ledger as of a day after the carry shows it as it is."""
    r = await w.call("GET", "/api/v1/audit/verify", w.admin)
    assert r.status_code == 200 and r.json()["drift"] == [], r.text
    today = (await ts_fresh.get_current_time()).astimezone(ZoneInfo(TZ)).date()
    fields = ("state", "due", "owner_person_id", "overdue_level", "extension_pending")
    r = await w.call(
        "GET", "/api/v1/rectifications", w.committee, params={"as_of": today.isoformat()}
    )
    assert r.status_code == 200, r.text
    as_of = {row["problem_id"]: row for row in r.json()["items"]}
    for pid, live in carried.items():
        assert {k: as_of[pid][k] for k in fields} == {k: live[k] for k in fields}, pid

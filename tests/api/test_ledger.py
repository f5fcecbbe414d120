"""The auditor's ledger on SQLite and PostgreSQL: filters, sorting, paging, statistics and the
point-in-time view against hand-computed values, exports, and scope."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlmodel import Session, col
from temporalio.testing import WorkflowEnvironment

from services.core.errors import Invalid
from services.ledger.aggregates import aging_bucket
from services.ledger.filters import LedgerFilter
from services.ledger.keyset import cursor_of, page_after, page_before
from services.ledger.queries import iter_ledger, ledger_count, ledger_page
from services.ledger.stats import StatsReport, Tallies, stats_report
from services.org.models import Org
from services.rectification.models import OPEN_STATES, Problem
from tests.support.ledger_data import load_fixed_ledger
from tests.support.world import World, world

TZ = "Asia/Shanghai"


def _cursor(sort: str, value: object, pid: str) -> str:
    raw = json.dumps([sort, value, pid]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
async def w(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_env.client) as w:
        load_fixed_ledger(engine)
        yield w


async def ids(w: World, token: str | None = None, **params: str) -> list[str]:
    r = await w.call("GET", "/api/v1/rectifications", token or w.auditor, params=params)
    assert r.status_code == 200, r.text
    return [row["problem_id"] for row in r.json()["items"]]


async def test_filters(w: World) -> None:
    assert await ids(w) == ["P1", "P2", "P3", "P4", "P5", "P6"]  # sorted by due
    assert await ids(w, state="closed") == ["P1", "P2"]
    assert await ids(w, status="in_progress,assigned") == ["P3", "P5"]
    assert await ids(w, overdue="any") == ["P3"]
    assert await ids(w, overdue="3") == ["P3"] and await ids(w, overdue="4") == []
    assert await ids(w, severity="critical") == ["P3"]
    assert await ids(w, source="supervision") == ["P4"]
    assert await ids(w, category="conduct") == ["P1", "P4"]
    assert await ids(w, due_before="2026-03-01") == ["P1", "P2"]
    assert await ids(w, q="RECEIPTS") == ["P3"]  # description, any case
    assert await ids(w, q="minutes") == ["P1"]
    assert await ids(w, org="gb-1") == ["P1", "P2", "P6"]
    assert await ids(w, org="gb-1-b1", subtree="false") == ["P1", "P6"]
    assert await ids(w, cycle="city-2026", org="gb-2") == ["P3", "P4"]
    assert await ids(w, cycle="city-2027") == []


async def test_sorting_and_stable_paging(w: World) -> None:
    assert await ids(w, sort="-due") == ["P6", "P5", "P4", "P3", "P2", "P1"]
    assert (await ids(w, sort="-severity"))[:1] == ["P3"]
    assert (await ids(w, sort="-overdue_level"))[:1] == ["P3"]
    assert await ids(w, sort="opened") == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert await ids(w, sort="org") == ["P1", "P6", "P2", "P3", "P4", "P5"]
    pages = [await ids(w, sort="severity", page=str(p), page_size="2") for p in (1, 2, 3)]
    assert sorted(p for page in pages for p in page) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    r = await w.call(
        "GET", "/api/v1/rectifications", w.auditor, params={"page_size": "2", "page": "2"}
    )
    assert r.json()["total"] == 6 and r.json()["page"] == 2


async def test_rows_carry_what_auditors_need(w: World) -> None:
    r = await w.call("GET", "/api/v1/rectifications", w.auditor, params={"state": "closed"})
    p1, p2 = r.json()["items"]
    assert p1["org_name"] == "Branch 1.1" and p1["owner_person_id"] == "p-009"
    assert p1["opened"].startswith("2026-01-05") and p1["closed"].startswith("2026-02-01")
    assert p1["days_open"] == 27 and p1["on_time"] is True
    assert p2["days_open"] == 50 and p2["on_time"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"state": "lost"}, "state"),
        ({"severity": "huge"}, "severity"),
        ({"overdue": "-1"}, "overdue"),
        ({"sort": "title"}, "sort"),
        ({"due_before": "soon"}, "due_before"),
        ({"page_size": "501"}, "page_size"),
        ({"org": "nowhere"}, "org"),
    ],
)
async def test_unknown_filters_and_values_are_422_naming_them(
    w: World, params: dict[str, str], field: str
) -> None:
    r = await w.call("GET", "/api/v1/rectifications", w.auditor, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_stats_as_of_mid_year_match_hand_computed(w: World) -> None:
    r = await w.call(
        "GET", "/api/v1/rectifications/stats", w.auditor, params={"as_of": "2026-06-30"}
    )
    assert r.status_code == 200, r.text
    s = r.json()
    o = s["overall"]
    assert o["by_state"] == {
        "assigned": 1,
        "closed": 2,
        "dismissed": 1,
        "identified": 1,
        "in_progress": 1,
    }
    assert (o["total"], o["open"], o["overdue"], o["closed"], o["closed_on_time"]) == (
        6,
        3,
        3,
        2,
        1,
    )
    assert o["overdue_aging"] == {"1-7": 1, "8-30": 1, "31-90": 0, ">90": 1}
    assert o["overdue_by_level"] == {"3": 1}
    assert o["on_time_closure_rate"] == 0.5
    assert (o["days_to_close_mean"], o["days_to_close_median"], o["days_to_close_p90"]) == (
        38.5,
        38.5,
        47.7,
    )
    assert [c["org_id"] for c in s["by_child_org"]] == ["gb-1", "gb-2", "gb-3"]
    gb1, gb2, _ = s["by_child_org"]
    assert (gb1["total"], gb1["overdue"], gb1["on_time_closure_rate"]) == (3, 1, 0.5)
    assert (gb2["total"], gb2["by_state"], gb2["on_time_closure_rate"]) == (
        2,
        {"dismissed": 1, "in_progress": 1},
        None,
    )


async def test_as_of_end_of_march_from_the_event_history(w: World) -> None:
    r = await w.call("GET", "/api/v1/rectifications", w.auditor, params={"as_of": "2026-03-31"})
    rows = {row["problem_id"]: row for row in r.json()["items"]}
    assert sorted(rows) == ["P1", "P2", "P3", "P4"]  # P5, P6 not yet flagged
    assert rows["P3"]["state"] == "in_progress" and rows["P3"]["overdue_level"] == 3
    assert rows["P2"]["state"] == "closed" and rows["P4"]["state"] == "dismissed"
    r = await w.call("GET", "/api/v1/rectifications", w.auditor, params={"as_of": "2026-02-15"})
    rows = {row["problem_id"]: row for row in r.json()["items"]}
    assert rows["P2"]["state"] == "in_progress" and rows["P2"]["closed"] is None
    assert rows["P3"]["state"] == "in_progress" and rows["P3"]["overdue_level"] == 0
    assert await ids(w, as_of="2026-03-31", state="closed") == ["P1", "P2"]
    assert await ids(w, as_of="2026-02-15", state="closed") == ["P1"]
    r = await w.call(
        "GET", "/api/v1/rectifications/stats", w.auditor, params={"as_of": "2026-03-31"}
    )
    o = r.json()["overall"]
    assert (o["total"], o["overdue"], o["overdue_aging"]["8-30"], o["on_time_closure_rate"]) == (
        4,
        1,
        1,
        0.5,
    )


async def test_exports_csv_and_xlsx(w: World) -> None:
    r = await w.call(
        "GET", "/api/v1/rectifications/export.csv", w.auditor, params={"org": "gb-1", "lang": "zh"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["问题编号", "单位编号", "单位名称"]
    assert [row[0] for row in rows[1:]] == ["P1", "P2", "P6"]
    assert rows[1][9] == "已销号" and rows[1][16] == "是"
    r = await w.call(
        "GET", "/api/v1/rectifications/export.xlsx", w.auditor, params={"state": "closed"}
    )
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb["Rectifications"]
    assert ws.freeze_panes == "A2" and ws["A1"].value == "Problem" and ws["A1"].font.bold
    assert [ws.cell(row=i, column=1).value for i in (2, 3)] == ["P1", "P2"]
    assert ws["M2"].is_date and ws["N2"].is_date
    r = await w.call("GET", "/api/v1/rectifications/export.xlsx", w.auditor, params={"lang": "zh"})
    assert load_workbook(io.BytesIO(r.content)).sheetnames == ["整改台账"]
    r = await w.call("GET", "/api/v1/rectifications/export.csv", w.auditor, params={"lang": "fr"})
    assert r.status_code == 422


LIVE_FILTERS = [
    {},
    {"org": "gb-1"},
    {"org": "gb-1-b1", "subtree": False},
    {"state": ["closed", "in_progress"]},
    {"cycle": "city-2026"},
    {"q": "receipts"},
    {"due_before": date(2026, 3, 1)},
]


@pytest.mark.parametrize("spec", LIVE_FILTERS)
async def test_live_stats_aggregates_equal_the_row_by_row_figures(w: World, spec: dict) -> None:  # type: ignore[type-arg]
    """The live statistics come from two aggregate scans and the figures kept on closed rows;
    fed the same rows one at a time (as the as_of view is), the tallies give the same report.
    A closed row without kept figures (closed by an older worker) counts the same."""
    f = LedgerFilter(**spec)
    with Session(w.stack.engine) as s:
        live = stats_report(s, f, "/", TZ)
        by_rows = Tallies(_children(s, live))
        for r in iter_ledger(s, f, "/", TZ):
            late = r.state in OPEN_STATES and r.due is not None and live.as_of > r.due
            bucket = aging_bucket((live.as_of - r.due).days) if late and r.due else None
            for t in by_rows.of(r.org_path):
                t.add(r.state, r.overdue_level, bucket)
                if r.state == "closed" and r.closed is not None:
                    days = (r.closed - r.opened).total_seconds() / 86400
                    t.add_closed([days], 1 if r.on_time else 0)
        assert live.overall == by_rows.overall.stats()
        for child in live.by_child_org:
            expected = by_rows.of_child[child.org_id].stats()
            assert child.model_dump(exclude={"org_id", "org_name"}) == expected.model_dump()
        s.execute(update(Problem).values(close_days=None, closed_on_time=None))
        assert stats_report(s, f, "/", TZ) == live
        s.rollback()


def _children(s: Session, report: StatsReport) -> list[Org]:
    orgs = [s.get(Org, c.org_id) for c in report.by_child_org]
    return [o for o in orgs if o is not None]


async def test_closed_rows_keep_their_closing_figures(w: World) -> None:
    with Session(w.stack.engine) as s:
        rows = {p.id: p for p in s.execute(select(Problem)).scalars()}
    for p in rows.values():
        if p.state == "closed":
            assert p.close_days is not None and p.close_days > 0, p.id
            assert p.closed_on_time is not None, p.id
        else:
            assert (p.close_days, p.closed_on_time) == (None, None), p.id


SORTS = ["due", "-due", "opened", "-opened", "org", "-org", "severity", "-severity"]
SORTS += ["overdue_level", "-overdue_level"]


async def walk(w: World, **params: str) -> list[str]:
    """Every row, two at a time, each page asked for with the previous page's cursor."""
    seen: list[str] = []
    after: str | None = None
    for _ in range(10):
        asked = {**params, "page_size": "2", **({"after": after} if after else {})}
        r = await w.call("GET", "/api/v1/rectifications", w.auditor, params=asked)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 6 or params.get("state")
        assert body["items"], "a cursor led to an empty page"  # the last page has none
        seen += [row["problem_id"] for row in body["items"]]
        after = body["next_after"]
        if after is None:
            return seen
    raise AssertionError("the cursor never ended")


async def test_the_last_page_has_no_next_cursor_even_when_full(w: World) -> None:
    """Six rows in pages of two and three: the page that ends the ledger says so."""
    for params in ({"page": "3", "page_size": "2"}, {"page": "2", "page_size": "3"}):
        r = await w.call("GET", "/api/v1/rectifications", w.auditor, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) == int(params["page_size"]), params
        assert body["next_after"] is None, params
    r = await w.call("GET", "/api/v1/rectifications", w.auditor, params={"page_size": "5"})
    assert r.json()["next_after"] is not None


async def test_keyset_pages_follow_the_ledger_order(w: World) -> None:
    with Session(w.stack.engine) as s:  # two rows without a due date, which sort last
        s.execute(update(Problem).where(col(Problem.id).in_(["P2", "P5"])).values(due=None))
        s.commit()
    for sort in SORTS:
        assert await walk(w, sort=sort) == await ids(w, sort=sort), sort
    assert (await ids(w))[-2:] == ["P2", "P5"]
    assert await walk(w, state="closed,in_progress") == await ids(w, state="closed,in_progress")
    assert await walk(w, as_of="2026-06-30") == await ids(w, as_of="2026-06-30")


async def test_keyset_pages_either_way_are_the_rows_beside_any_row(w: World) -> None:
    """From every row, the two rows after it and the two before it (the console's next and
    previous links), whatever the sort, across the rows without a due date and the ends."""
    with Session(w.stack.engine) as s:
        s.execute(update(Problem).where(col(Problem.id).in_(["P2", "P5"])).values(due=None))
        s.commit()
        filters = [LedgerFilter(sort=sort) for sort in SORTS]
        for f in [*filters, LedgerFilter(as_of=date(2026, 6, 30))]:
            rows = list(iter_ledger(s, f, "/", TZ))
            assert len(rows) >= 5, f
            for i, row in enumerate(rows):
                cursor = cursor_of(f, row)
                after, total = page_after(s, f, "/", TZ, cursor, 2)
                before, _ = page_before(s, f, "/", TZ, cursor, 2)
                ids_of = [r.problem_id for r in after], [r.problem_id for r in before]
                expected = rows[i + 1 : i + 3], rows[max(i - 2, 0) : i]
                assert ids_of == tuple([r.problem_id for r in e] for e in expected), (f, i)
                assert total == len(rows)


async def test_pages_by_position_are_the_ledger_order_sliced(w: World) -> None:
    """A page by offset finds its ids in the sort's index, the rows with a value and then those
    without one read apart (or, as of a day under an org, with its count in one pass; as of a
    day over the whole ledger, counted from the periods alone): at every
    offset, whatever the sort, it is the ledger's slice, across the rows without a due date and
    past the end."""
    with Session(w.stack.engine) as s:
        s.execute(update(Problem).where(col(Problem.id).in_(["P2", "P5"])).values(due=None))
        s.commit()
        sorts = [LedgerFilter(sort=sort) for sort in SORTS]
        narrowed = [
            LedgerFilter(sort="-due", state=["closed", "in_progress", "assigned"]),
            LedgerFilter(org="gb-1", sort="due"),  # a subtree: P1, P6 and P2 without a due date
            # As of a day under an org: the page and its count in one pass on SQLite.
            LedgerFilter(org="gb-1", sort="due", as_of=date(2026, 6, 30)),
            LedgerFilter(org="gb-1", sort="-severity", as_of=date(2026, 6, 30)),
            # As of a day with no filter on the problems' own fields: counted from the periods
            # alone; before P5 and P6 were flagged, and by the state of that day.
            LedgerFilter(sort="due", as_of=date(2026, 3, 31)),
            LedgerFilter(as_of=date(2026, 3, 31), state=["closed", "dismissed", "in_progress"]),
        ]
        for f in [*sorts, *narrowed]:
            rows = [r.problem_id for r in iter_ledger(s, f, "/", TZ)]
            assert len(rows) >= 3, f
            for size in (1, 2, 3):
                for offset in range(len(rows) + 2):
                    page, total = ledger_page(s, f, "/", TZ, offset, size)
                    assert [r.problem_id for r in page] == rows[offset : offset + size], (
                        f,
                        offset,
                        size,
                    )
                    assert total == len(rows)


async def test_the_count_as_of_a_day_is_the_rows_of_that_day(w: World) -> None:
    """With no filter on the problems' own fields the count reads the periods alone; with one,
    through the join: either way, as many as the ledger of that day lists, whatever its state,
    overdue level and due date then."""
    with Session(w.stack.engine) as s:
        for day in (date(2026, 2, 15), date(2026, 3, 31), date(2026, 6, 30)):
            for spec in (
                {},
                {"overdue": "any"},
                {"overdue": "2"},
                {"due_before": date(2026, 4, 1)},
                {"state": ["closed"], "due_before": date(2026, 4, 1)},
                {"org": "gb-1"},
                {"severity": ["major"]},
            ):
                f = LedgerFilter(as_of=day, **spec)
                assert ledger_count(s, f, "/", TZ) == len(list(iter_ledger(s, f, "/", TZ))), f


@pytest.mark.parametrize(
    ("sort", "after"),
    [
        ("due", "not-base64!"),
        ("due", "WzEsMl0"),
        ("due", _cursor("-due", "2026-01-01", "P1")),
        ("due", _cursor("due", 7, "P1")),
        ("opened", _cursor("opened", "2026-01-01T08:00:00", "P1")),  # no offset
        ("severity", _cursor("severity", 10**30, "P1")),
    ],
)
async def test_a_cursor_that_is_not_this_listings_is_422_naming_it(
    w: World, sort: str, after: str
) -> None:
    r = await w.call(
        "GET", "/api/v1/rectifications", w.auditor, params={"sort": sort, "after": after}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["after"]
    # The console's previous link carries its cursor as ``before``: its error names that.
    with Session(w.stack.engine) as s, pytest.raises(Invalid) as refused:
        page_before(s, LedgerFilter(sort=sort), "/", TZ, after, 2)
    assert [e["field"] for e in refused.value.extra["errors"]] == ["before"]

"""The auditor's ledger in the console over the real app, database and Temporal: the API's
filters (a typo refused, naming it), statistics drawn as charts, paging, downloads with the
rows in scope only, and the audit-trail check."""

from __future__ import annotations

import html
import io
import re

from openpyxl import load_workbook
from sqlmodel import Session

from services.audit.chain import AuditEvent
from services.ledger.filters import LedgerFilter, LedgerRow
from services.ledger.keyset import cursor_of
from tests.support.console import signed_in, verified
from tests.support.ledger_data import load_fixed_ledger
from tests.support.world import World


async def test_an_auditor_filters_the_ledger_and_downloads_it(w: World) -> None:
    first = await w.flag(title="Minutes not filed")
    await w.flag(title="Dues not collected", category="integrity", severity="minor")
    await w.walk_to(first, "in_progress")
    auditor, _ = await signed_in(w, w.auditor)
    page = await auditor.get("/ledger")
    assert page.status_code == 200
    assert "Minutes not filed" in page.text and "Dues not collected" in page.text
    assert 'id="chart-state"' in page.text and 'id="chart-aging"' in page.text
    assert "整改中" in page.text  # the state's label, Chinese by default

    only = await auditor.get("/ledger?category=integrity&state=&q=")  # blank fields ignored
    assert only.status_code == 200
    assert "Dues not collected" in only.text and "Minutes not filed" not in only.text

    typo = await auditor.get("/ledger?category=integrty")
    assert typo.status_code == 422 and "integrty" in typo.text

    xlsx = await auditor.get("/ledger/export.xlsx?category=integrity&lang=zh")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "问题编号" and len(rows) == 2 and rows[1][4] == "Dues not collected"
    csv = await auditor.get("/ledger/export.csv?lang=en")
    assert csv.text.count("\n") == 3 and csv.text.lstrip("\ufeff").startswith("Problem,")


async def test_the_ledger_pages_through_many_rows(w: World) -> None:
    """Next and previous seek from the page's last or first row (a keyset, as fast on page
    2,000 as on page 1); going back shows the same rows as coming forward."""
    for n in range(120):
        await w.flag(title=f"Finding {n:03d}")
    committee, _ = await signed_in(w, w.committee)

    async def page(query: str) -> tuple[str, list[str], str | None, str | None]:
        text = (await committee.get(f"/ledger?{query}")).text
        links = {
            rel: html.unescape(q)
            for rel, q in re.findall(r'rel="(\w+)" href="/ledger\?([^"]*)"', text)
        }
        return text, re.findall(r"Finding \d{3}", text), links.get("prev"), links.get("next")

    text, first, prev, nxt = await page("sort=-opened")
    assert "1 / 3" in text and prev is None and nxt is not None and "after=" in nxt
    assert len(first) == 50 and "Finding 119" in first
    text, second, prev, nxt = await page(nxt)
    assert "2 / 3" in text and len(second) == 50 and not set(second) & set(first)
    assert nxt is not None and prev is not None and "after=" not in prev
    text, third, prev, nxt = await page(nxt)
    assert "3 / 3" in text and nxt is None and len(third) == 20 and "Finding 000" in third
    assert prev is not None and "before=" in prev
    via_cursor, back, prev, _ = await page(prev)
    assert "2 / 3" in via_cursor and back == second
    assert prev is not None and (await page(prev))[1] == first
    by_number = (await page("sort=-opened&page=2"))[1]  # a typed page number still works
    assert by_number == second
    # A child org's link starts that org's ledger afresh, not from this page's cursor.
    org_links = re.findall(r'href="/ledger\?([^"]*org=[^"]*)"', html.unescape(via_cursor))
    assert org_links and not [q for q in org_links if "after=" in q or "before=" in q]
    # Past the last row (its rows closed since, say): no rows, and the way back to the first.
    r = await w.call(
        "GET", "/api/v1/rectifications", w.committee, params={"sort": "-opened", "page_size": 120}
    )
    last = LedgerRow.model_validate(r.json()["items"][-1])
    past_the_end = cursor_of(LedgerFilter(sort="-opened"), last)
    text, rows, prev, nxt = await page(f"sort=-opened&page=4&after={past_the_end}")
    assert rows == [] and nxt is None and prev == "sort=-opened"


async def test_a_sibling_subtree_gets_nothing_from_the_ledger(w: World) -> None:
    await w.flag(title="Minutes not filed")
    sibling, _ = await signed_in(w, w.committee_gb2)
    page = await sibling.get("/ledger")
    assert page.status_code == 200 and "Minutes not filed" not in page.text
    assert (await sibling.get("/ledger?org=gb-1-b1")).status_code == 422  # as an unknown org
    csv = await sibling.get("/ledger/export.csv")
    assert csv.status_code == 200 and "Minutes not filed" not in csv.text
    assert (await sibling.get("/ledger/export.xlsx?org=gb-1")).status_code == 422
    assert (await sibling.get("/ledger/verify")).status_code == 403  # auditors and admins only


async def test_the_auditor_verifies_the_trail_and_sees_a_tampering(w: World) -> None:
    await w.flag(title="Minutes not filed")
    auditor, csrf = await signed_in(w, w.auditor)
    assert (await auditor.post("/ledger/verify", data={})).status_code == 403  # no CSRF token
    ok = await verified(auditor, csrf)
    assert "verdict-ok" in ok and "Events checked: 1" in ok
    with Session(w.stack.engine) as s:
        event = s.get(AuditEvent, 1)
        assert event is not None
        event.payload = {**event.payload, "title": "quietly rewritten"}
        s.add(event)
        s.commit()
    bad = await verified(auditor, csrf)
    assert "verdict-bad" in bad and "First altered event" in bad
    # Both runs stay on record, newest first, with their verdicts.
    runs = (await auditor.get("/ledger/verify?lang=en")).text
    verdicts = re.findall(r"<td class=\"[a-z]*\">(intact|altered)</td>", runs)
    assert verdicts == ["altered", "intact"], runs


async def test_the_ledger_as_of_a_past_day_shows_where_things_stood(w: World) -> None:
    """The date field of the ledger's form: each row as it stood at the end of that day, the
    statistics of that day, and the download of those rows."""
    load_fixed_ledger(w.stack.engine)
    auditor, _ = await signed_in(w, w.auditor)
    text = (await auditor.get("/ledger?as_of=2026-02-15&lang=en")).text
    shown = set(re.findall(r'href="/problems/(P[1-6])"', text))
    assert shown == {"P1", "P2", "P3"}, shown  # P4 to P6 were not flagged yet
    assert 'value="2026-02-15"' in text and "2026-02-15" in text.split('id="chart-state"')[0]
    row = text[text.index('/problems/P2"') :].split("</tr>")[0]
    assert "In progress" in row and "Closed" not in row  # closed on 1 March
    later = (await auditor.get("/ledger?as_of=2026-03-31&lang=en")).text
    row = later[later.index('/problems/P2"') :].split("</tr>")[0]
    assert "Closed" in row
    download = re.search(r'id="csv-en" href="([^"]*)"', later)
    assert download is not None and "as_of=2026-03-31" in html.unescape(download.group(1))
    csv = (await auditor.get("/ledger/export.csv?as_of=2026-02-15&lang=en")).text
    lines = {line.split(",")[0].lstrip("\ufeff"): line for line in csv.splitlines()[1:]}
    assert sorted(lines) == ["P1", "P2", "P3"] and "In progress" in lines["P2"], csv

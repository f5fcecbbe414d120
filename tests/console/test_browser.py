"""The console in a real browser (Debian's Chromium, driven by Playwright) against the real app
served over HTTP, with real Temporal and database: a head signs in, finds the letter in their
work and signs it by clicking; an owner hands in a completion with a file. Screenshots of each
page land in the test's tmp dir (and in $DUTYLEDGER_SCREENSHOTS when set)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from openpyxl import load_workbook
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from services.accounts.models import Role
from services.cycle.models import Letter
from services.evidence.models import Evidence
from tests.api.test_evaluations import body as evaluation
from tests.api.test_evaluations import phase as evaluation_phase
from tests.support.cycles import eventually, launch, sign
from tests.support.ports import free_port
from tests.support.world import World, world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing: `make test` installs it with apt")
    pytest.skip("Chromium is not installed (make test installs it)", allow_module_level=True)

from playwright.async_api import Page, async_playwright  # noqa: E402


@pytest.fixture
async def served(
    settings, sqlite_engine, ts_fresh: WorkflowEnvironment
) -> AsyncIterator[tuple[World, str]]:
    async with world(settings, sqlite_engine, ts_fresh.client) as w:
        port = free_port()
        app = create_app(w.stack.settings, engine=w.stack.engine, temporal=w.stack.client)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        for _ in range(200):  # up within seconds; the loop is bounded
            if server.started:
                break
            await asyncio.sleep(0.05)
        try:
            yield w, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


async def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("DUTYLEDGER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/me")
    assert "/signin" in page.url
    await page.fill("#token", token)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_url(f"{base}/me")


async def test_a_head_signs_and_an_owner_completes_in_the_browser(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    cid = await launch(w)
    pid = await w.flag()
    await w.walk_to(pid, "assigned")
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await page.goto(f"{base}/signin")
            await shot(page, tmp_path, "signin")
            await sign_in(page, base, w.committee)
            await shot(page, tmp_path, "me")
            await page.click(f"a[href='/letters/{cid}/city']")
            await shot(page, tmp_path, "letter")
            await page.click("#sign")
            await page.wait_for_url(f"{base}/letters/{cid}/city?done=1")
            assert await page.inner_text("#letter-state") == "已签订"
            await shot(page, tmp_path, "letter-signed")
            await page.click("text=Mid-year debriefings")
            await page.fill("#actual", "1")
            await page.fill("#note", "One debriefing held in March")
            await page.click("#report")
            await page.wait_for_url("**/items/*?done=1")
            assert await page.inner_text("#item-actual") == "1.0"
            await shot(page, tmp_path, "item")
            await page.goto(f"{base}/cycles/{cid}")
            await shot(page, tmp_path, "cycle")

            owner = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            owner.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(owner, base, w.owner)
            await owner.click(f"#my_problems a[href='/problems/{pid}']")
            await owner.fill("#plan-measures", "File the minutes within three days")
            await owner.fill("#plan-target_date", "2030-01-01")
            await owner.click("#do-plan")
            await owner.wait_for_url(f"{base}/problems/{pid}?done=1")
            await page.goto(f"{base}/problems/{pid}")  # the committee approves the plan
            await page.click("#do-approve-plan")
            await page.wait_for_url(f"{base}/problems/{pid}?done=1")
            await owner.goto(f"{base}/problems/{pid}")
            await owner.fill("#completion-summary", "Minutes of all three meetings filed")
            (tmp_path / "minutes.txt").write_text("minutes")
            await owner.set_input_files("#completion-evidence", str(tmp_path / "minutes.txt"))
            await owner.click("#do-completion")
            await owner.wait_for_url(f"{base}/problems/{pid}?done=1")
            assert await owner.inner_text("#problem-state") == "待验收"
            await shot(owner, tmp_path, "problem-phone")
            await page.goto(f"{base}/problems/{pid}")  # the verifier closes it
            await page.select_option("#verify-result", "pass")
            await page.click("#do-verify")
            await page.wait_for_url(f"{base}/problems/{pid}?done=1")
            assert await page.inner_text("#problem-state") == "已销号"
            await shot(page, tmp_path, "problem-closed")
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}  # nothing fetched from anywhere else


async def test_an_auditor_filters_the_ledger_and_downloads_the_workbook(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    closed = await w.flag(title="Minutes not filed")
    await w.walk_to(closed, "closed")
    await w.flag(title="Dues not collected", category="integrity")
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(
                viewport={"width": 1440, "height": 900}, accept_downloads=True
            )
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(page, base, w.auditor)
            await page.click("header a[href='/ledger']")
            await page.wait_for_url(f"{base}/ledger")
            assert await page.locator("#chart-state rect").count() == 2  # closed, identified
            await shot(page, tmp_path, "ledger")
            await page.check("input[name=category][value=integrity]")
            await page.click("#apply")
            await page.wait_for_url("**/ledger?*category=integrity*")
            rows = page.locator("#ledger-rows tr")
            assert (
                await rows.count() == 2 and "Dues not collected" in await rows.nth(1).inner_text()
            )
            async with page.expect_download() as download:
                await page.click("#xlsx-zh")
            saved = tmp_path / "ledger.xlsx"
            await (await download.value).save_as(saved)
            sheet = load_workbook(saved).active
            assert sheet is not None
            titles = [r[4] for r in sheet.iter_rows(min_row=2, values_only=True)]
            assert titles == ["Dues not collected"]
            await page.click("#verify")
            await page.click("#verify-now")  # a worker verifies; the run's page refreshes itself
            await page.locator(".verdict-ok").wait_for(timeout=30_000)
            await shot(page, tmp_path, "verify")
            await page.click("#all-runs")
            assert await page.locator("#runs tr").count() == 2  # the header and the one run
            await shot(page, tmp_path, "verifications")
            phone = await browser.new_page(viewport={"width": 360, "height": 780})
            phone.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(phone, base, w.auditor)
            await phone.goto(f"{base}/ledger")
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 360  # nothing spills sideways on a phone (tables scroll inside)
            await shot(phone, tmp_path, "ledger-phone")
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}


async def test_a_letter_is_returned_amended_signed_and_pledged_on_in_the_browser(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            head = await browser.new_page(viewport={"width": 1280, "height": 900})
            issuer = await browser.new_page(viewport={"width": 1280, "height": 900})
            for p in (head, issuer):
                p.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            # The committee launches the year from the page, with the shipped default plan, and
            # the city's secretary (p-001, who heads it) signs the root letter.
            await sign_in(issuer, base, w.committee)
            await issuer.goto(f"{base}/cycles")
            await issuer.fill("#title", "年度党建责任制")
            await issuer.click("#launch")
            await issuer.wait_for_url(f"{base}/cycles/city-*")
            cid = issuer.url.rsplit("/", 1)[1]
            await shot(issuer, tmp_path, "cycle-launched")
            await issuer.click(f"a[href='/letters/{cid}/city']")
            await issuer.click("#sign")
            await issuer.wait_for_url("**?done=1")
            await eventually(lambda: _letter_exists(w, cid, "gb-1"), what="gb-1's letter")
            await sign_in(head, base, w.committee_gb1)  # p-005 heads gb-1
            await head.click(f"a[href='/letters/{cid}/gb-1']")  # the letter is in their work
            await head.fill("#reason", "Two debriefings is too few")
            await head.click("#return")
            await head.wait_for_url("**?done=1")
            assert await head.inner_text("#letter-state") == "已退回"

            await issuer.goto(f"{base}/letters/{cid}/gb-1")  # p-001 issued it
            assert "Two debriefings is too few" in await issuer.inner_text("#return-reason")
            await issuer.click("#items a.edit >> nth=0")
            await issuer.fill("#f-target", "4")
            await issuer.fill("#f-reason", "Four, as asked")
            await shot(issuer, tmp_path, "letter-amend")
            await issuer.click("#amend-submit")
            await issuer.wait_for_url("**?done=1")

            await head.goto(f"{base}/letters/{cid}/gb-1")
            await head.click("#sign")
            await head.wait_for_url("**?done=1")
            assert await head.inner_text("#letter-state") == "已签订"
            await head.fill("#pledge-text", "Every branch debriefed by June")
            await head.check("input[name=item_ids] >> nth=0")
            await head.click("#pledge")
            await head.wait_for_url("**?done=1")
            await issuer.goto(f"{base}/letters/{cid}/gb-1")
            await issuer.click("#commitments button[id^=approve-]")
            await issuer.wait_for_url("**?done=1")
            assert "已公开" in await issuer.inner_text("#commitments")
            history = await issuer.inner_text("#history")
            assert all(s in history for s in ("下达", "退回修改", "修改", "签订"))
            await shot(issuer, tmp_path, "letter-history")
            # A form post without the CSRF token (as another site would send it) is refused.
            forged = (
                "() => { const f = document.createElement('form'); f.method = 'post';"
                f" f.action = '/letters/{cid}/gb-1/return';"
                " const i = document.createElement('input'); i.name = 'reason';"
                " i.value = 'forged'; f.appendChild(i); document.body.appendChild(f); f.submit(); }"
            )
            async with head.expect_navigation() as nav:
                await head.evaluate(forged)
            response = await nav.value
            assert response is not None and response.status == 403
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}
    row = _letter_exists(w, cid, "gb-1")
    assert row is not None and row.version == 2 and row.state == "signed"


def _letter_exists(w: World, cid: str, org: str) -> Letter | None:
    with Session(w.stack.engine) as s:
        return s.get(Letter, f"{cid}:{org}")


async def test_the_public_reports_and_a_sibling_subtree_sees_nothing_in_the_browser(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    cid = await launch(w)
    pid = await w.flag(title="Minutes not filed")
    await w.walk_to(pid, "completion_submitted")  # with an evidence file
    with Session(w.stack.engine) as s:
        evidence_id = s.exec(select(Evidence.id)).one()
    member_gb2 = w.stack.token(Role.member, "gb-2", "p-014")  # a sibling subtree's member
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            public = await browser.new_page(viewport={"width": 360, "height": 780})  # a phone
            public.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await public.goto(f"{base}/public/report")
            await public.select_option("#org_id", "gb-1-b1")
            await public.fill("#text", "The branch has not met since March.")
            await shot(public, tmp_path, "public-report")
            await public.click("#file-report")
            await public.wait_for_url("**/public/report/R-*?new=1")
            receipt = await public.inner_text("#receipt")
            await shot(public, tmp_path, "public-receipt")
            await public.goto(f"{base}/public/report")
            await public.fill("#receipt", receipt)
            await public.click("#follow")
            await public.wait_for_url(f"{base}/public/report/{receipt}")
            assert await public.inner_text("#report-status") == "已收到，待核查"

            sibling = await browser.new_page(viewport={"width": 1280, "height": 900})
            sibling.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(sibling, base, member_gb2)
            for path in (f"/problems/{pid}", f"/letters/{cid}/gb-1", "/ledger?org=gb-1"):
                response = await sibling.goto(f"{base}{path}")
                # what is out of scope reads as unknown (404; a ledger filter 422)
                assert response is not None and response.status in (404, 422), path
                assert "Minutes not filed" not in await sibling.content()
            await sibling.goto(f"{base}/ledger")
            assert "Minutes not filed" not in await sibling.content()
            csv = await sibling.request.get(f"{base}/ledger/export.csv")
            assert csv.ok and "Minutes not filed" not in await csv.text()
            assert (await sibling.request.get(f"{base}/evidence/{evidence_id}")).status == 404
            await shot(sibling, tmp_path, "sibling-ledger")
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}


async def test_a_rater_casts_a_ballot_in_the_browser(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    cid = await launch(w)
    over = {"subjects": {"under": "gb-1", "levels": [1]}}
    r = await w.call("POST", "/api/v1/evaluations", w.committee, json=evaluation(cid, w, **over))
    eid = r.json()["evaluation_id"]
    await eventually(lambda: evaluation_phase(w, eid) == "rating", what="rating to open")
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(page, base, w.committee)
            await page.click("header a[href='/evaluations']")
            await page.click(f"a[href='/evaluations/{eid}']")
            await page.fill("#score-gb-1-superior-study", "9")
            await page.fill("#score-gb-1-superior-tests", "8")
            await page.fill("#score-gb-1-superior-life", "18")
            await page.select_option("#dr-gb-1-superior", "good")
            await page.fill("#cm-gb-1-superior", "会议准备充分，学习扎实")
            await shot(page, tmp_path, "evaluation-ballot")
            await page.click("#cast-gb-1-superior")
            await page.wait_for_url(f"{base}/evaluations/{eid}?done=1")
            await page.click("#close-rating")
            await page.wait_for_url(f"{base}/evaluations/{eid}?done=1")
            assert await page.inner_text("#phase") == "结果校核中"
            await page.click("#comments-gb-1 summary")
            assert "会议准备充分" in await page.inner_text("#comments-gb-1")
            await shot(page, tmp_path, "evaluation-results")
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}


async def test_the_issuer_confirms_and_the_committee_starts_the_year_end_evaluation(
    served: tuple[World, str], tmp_path: Path
) -> None:
    """From the city secretary's page: an achievement of gb-1 waiting for confirmation is
    confirmed; an appeal against an accountability record waits for a decision; the year-end
    evaluation of the general branches starts from the form as it comes filled in."""
    w, base = served
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: _letter_exists(w, cid, "gb-1"), what="gb-1's letter")
    assert (await sign(w, w.committee_gb1, cid, "gb-1")).status_code == 200
    item_id = f"{cid}:gb-1:1"  # Mid-year debriefings, target 2, the head p-005
    r = await w.call(
        "POST", f"/api/v1/items/{item_id}/progress", w.committee_gb1, json={"actual": 2}
    )
    assert r.status_code == 200, r.text
    r = await w.call(
        "POST",
        "/api/v1/accountability",
        w.committee,
        json={"kind": "written_inquiry", "person_id": "p-008", "reason": "minutes late"},
    )
    rid = r.json()["id"]
    await w.call(
        "POST",
        f"/api/v1/accountability/{rid}/appeal",
        w.other_member,
        json={"reason": "the minutes were filed on time, see the register"},
    )
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            await sign_in(page, base, w.committee)
            assert await page.is_visible("#to-confirm") and await page.is_visible(f"#appeal-{rid}")
            await shot(page, tmp_path, "me-to-decide")
            await page.click(f"#to-confirm a[href='/items/{item_id}']")
            await shot(page, tmp_path, "item-confirm")
            await page.click("#confirm")
            await page.wait_for_url(f"{base}/items/{item_id}?done=1")
            assert "完成情况已确认" in await page.inner_text("#item-confirmation")
            await page.click("header a[href='/evaluations']")
            await page.fill("#title", "2027 year-end evaluation")
            await shot(page, tmp_path, "evaluations-start")
            await page.click("#start-evaluation")
            await page.wait_for_url(f"{base}/evaluations/E-*")
            assert "2027 year-end evaluation" in await page.content()
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}


async def test_an_admin_hands_the_city_to_a_new_head_who_acknowledges_in_the_browser(
    served: tuple[World, str], tmp_path: Path
) -> None:
    w, base = served
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    new_head = w.stack.token(Role.committee, "city", "p-002")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await sign_in(page, base, w.admin)
            await page.goto(f"{base}/orgs/city")
            await page.select_option("#f-head", "p-002")
            await page.click("#change")
            await page.wait_for_url(f"{base}/orgs/city?done=1")
            await shot(page, tmp_path, "org")
            heads = (await page.inner_text("#heads")).splitlines()
            now = next(line for line in heads if "现任" in line)  # "still in post"
            assert "Li Wei" not in now and any("Li Wei" in line for line in heads)

            head = await browser.new_page(viewport={"width": 1280, "height": 900})
            await sign_in(head, base, new_head)
            await head.goto(f"{base}/letters/{cid}/city")
            await shot(head, tmp_path, "letter-handover")
            await head.click("#acknowledge")
            await head.wait_for_url(f"{base}/letters/{cid}/city?done=1")
            assert "p-002" not in (await head.inner_text("#handover"))  # the name, not the id
            await shot(head, tmp_path, "letter-acknowledged")
        finally:
            await browser.close()
    with Session(w.stack.engine) as s:
        row = s.get(Letter, f"{cid}:city")
        assert row is not None and (row.signed_by, row.acknowledged_by) == ("p-001", "p-002")

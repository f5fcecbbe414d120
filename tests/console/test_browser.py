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
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.support.cycles import launch
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
    await w.walk_to(pid, "in_progress")
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
            await owner.goto(f"{base}/problems/{pid}")
            await owner.fill("#completion-summary", "Minutes of all three meetings filed")
            (tmp_path / "minutes.txt").write_text("minutes")
            await owner.set_input_files("#completion-evidence", str(tmp_path / "minutes.txt"))
            await owner.click("#do-completion")
            await owner.wait_for_url(f"{base}/problems/{pid}?done=1")
            assert await owner.inner_text("#problem-state") == "待验收"
            await shot(owner, tmp_path, "problem-phone")
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
            assert await page.locator(".verdict-ok").count() == 1
            await shot(page, tmp_path, "verify")
        finally:
            await browser.close()
    assert hosts == {base.split("/")[2]}

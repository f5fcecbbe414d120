"""The public pages over the real app, database and Temporal: a report filed from the form
(no sign-in, the form's own token, rate-limited with the API's reports) answers with a receipt,
and the receipt shows what became of it — received, flagged (with the rectification's state),
or dismissed with the reason — and nothing else."""

from __future__ import annotations

import re

import httpx

from tests.support.console import browser
from tests.support.world import World


async def _form(b: httpx.AsyncClient) -> str:
    page = await b.get("/public/report?org=gb-1-b1")
    assert page.status_code == 200 and 'value="gb-1-b1" selected' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


async def _file(b: httpx.AsyncClient, text: str) -> str:
    r = await b.post(
        "/public/report", data={"csrf": await _form(b), "org_id": "gb-1-b1", "text": text}
    )
    assert r.status_code == 303, r.text
    receipt = r.headers["location"].split("/")[-1].split("?")[0]
    return receipt


async def test_the_public_files_a_report_and_follows_it_by_receipt(w: World) -> None:
    public = browser(w)
    r = await public.post("/public/report", data={"org_id": "gb-1-b1", "text": "x"})
    assert r.status_code == 403  # no form token: refused
    r = await public.post(
        "/public/report", data={"csrf": await _form(public), "org_id": "gb-1-b1", "text": "\u0001"}
    )
    assert r.status_code == 422 and "text" in r.text

    flagged = await _file(public, "The branch has not met since March.")
    page = await public.get(f"/public/report/{flagged}?new=1")
    assert page.status_code == 200 and "已收到" in page.text
    assert "has not met since March" not in page.text  # the receipt shows the status only
    dismissed = await _file(public, "The canteen food is bland.")

    r = await w.call(
        "POST",
        f"/api/v1/reports/{flagged}/triage",
        w.committee,
        json={"action": "flag", "category": "organization", "severity": "major"},
    )
    assert r.status_code == 200, r.text
    w.problems.append(r.json()["problem_id"])
    r = await w.call(
        "POST",
        f"/api/v1/reports/{dismissed}/triage",
        w.committee,
        json={"action": "dismiss", "reason": "Not a matter for the committee"},
    )
    assert r.status_code == 200, r.text

    text = (await public.get(f"/public/report/{flagged}?lang=en")).text
    assert "Taken up as a rectification" in text and "Identified" in text
    text = (await public.get(f"/public/report/{dismissed}?lang=zh")).text
    assert "不予立项" in text and "Not a matter for the committee" in text
    lookup = await public.get(f"/public/report/lookup?receipt={flagged.lower()}")
    assert lookup.status_code == 303 and lookup.headers["location"] == f"/public/report/{flagged}"
    assert (await public.get("/public/report/R-0000000000000000")).status_code == 404
    api = await w.call("GET", f"/public/v1/reports/{dismissed}", None)
    assert api.json() == {
        "report_id": dismissed,
        "status": "dismissed",
        "problem_state": None,
        "reason": "Not a matter for the committee",
    }


async def test_the_form_and_the_api_share_one_rate_limit(w: World) -> None:
    w.stack.settings.public_report_rate_per_minute = 2
    public = browser(w)
    await _file(public, "First")
    r = await w.call("POST", "/public/v1/reports", None, json={"org_id": "gb-1", "text": "Second"})
    assert r.status_code == 201, r.text
    r = await public.post(
        "/public/report", data={"csrf": await _form(public), "org_id": "gb-1-b1", "text": "Third"}
    )
    assert r.status_code == 429 and "Third" in r.text  # refused, what was typed kept

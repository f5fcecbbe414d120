"""The console over the real app, database and Temporal (form posts as a browser sends them):
signing in, CSRF, a person's own work, signing a letter, acting on a rectification, refusals
shown next to the form with the input kept, and nothing of a sibling subtree."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from services.accounts.models import Role
from services.cycle.models import Item, Letter
from services.evidence.models import Evidence
from services.rectification.models import Problem
from tests.support.console import browser, csrf_of, signed_in
from tests.support.cycles import eventually, launch, sign
from tests.support.world import OWNER, World


async def test_signing_in_needs_the_form_token_and_a_valid_token(w: World) -> None:
    b = browser(w)
    r = await b.get("/me")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    form = await b.get("/signin")
    assert form.status_code == 200 and "登录" in form.text  # Chinese by default
    assert 'value="dl_' not in form.text  # no demo people outside demo mode
    assert "content-security-policy" in form.headers
    r = await b.post("/signin", data={"token": w.committee})
    assert r.status_code == 403  # no CSRF token: refused
    r = await b.post("/signin", data={"csrf": csrf_of(form.text), "token": "dl_wrong"})
    assert r.status_code == 401 and "令牌无效" in r.text
    r = await b.post("/signin", data={"csrf": csrf_of(form.text), "token": w.committee})
    assert r.status_code == 303
    session_cookie = r.headers["set-cookie"]
    assert "dl_session=" in session_cookie and "HttpOnly" in session_cookie
    assert "samesite=lax" in session_cookie.lower()
    assert "My work" in (await b.get("/me?lang=en")).text  # the switch sticks
    assert "My work" in (await b.get("/me")).text
    b.cookies.set("dl_session", "forged.value")
    assert (await b.get("/me")).status_code == 303


async def test_the_head_signs_the_letter_in_the_console(w: World) -> None:
    cid = await launch(w)
    b, csrf = await signed_in(w, w.committee)  # p-001 heads the city
    me = (await b.get("/me")).text
    assert f"/letters/{cid}/city" in me
    page = (await b.get(f"/letters/{cid}/city")).text
    shown_hash = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page)
    assert shown_hash is not None
    r = await b.post(f"/letters/{cid}/city/sign", data={"content_hash": shown_hash.group(1)})
    assert r.status_code == 403  # no CSRF token
    assert _letter_state(w, cid, "city") == "issued"
    r = await b.post(
        f"/letters/{cid}/city/sign", data={"csrf": csrf, "content_hash": shown_hash.group(1)}
    )
    assert r.status_code == 303, r.text
    assert _letter_state(w, cid, "city") == "signed"
    again = await b.post(
        f"/letters/{cid}/city/sign", data={"csrf": csrf, "content_hash": shown_hash.group(1)}
    )
    assert again.status_code == 409 and "already signed" in again.text


async def test_a_rectification_walked_in_the_console_with_refusals_shown(w: World) -> None:
    pid = await w.flag()
    committee, c_csrf = await signed_in(w, w.committee)
    owner, o_csrf = await signed_in(w, w.owner)
    page = (await committee.get(f"/problems/{pid}")).text
    assert 'id="do-confirm"' in page and 'id="do-dismiss"' in page
    assert 'id="do-confirm"' not in (await owner.get(f"/problems/{pid}")).text
    r = await committee.post(
        f"/problems/{pid}/confirm", data={"csrf": c_csrf, "owner_person_id": OWNER}
    )
    assert r.status_code == 303, r.text
    assert OWNER in (await owner.get("/me")).text or pid in (await owner.get("/me")).text
    # A refused step: the detail next to the form, what was typed kept.
    r = await owner.post(
        f"/problems/{pid}/plan", data={"csrf": o_csrf, "measures": "File the minutes weekly"}
    )
    assert r.status_code == 422 and "target_date" in r.text
    assert "File the minutes weekly" in r.text
    r = await owner.post(
        f"/problems/{pid}/plan",
        data={"csrf": o_csrf, "measures": "File the minutes weekly", "target_date": "2030-01-01"},
    )
    assert r.status_code == 303, r.text
    assert _problem_state(w, pid) == "plan_submitted"
    await committee.post(f"/problems/{pid}/approve-plan", data={"csrf": c_csrf})
    r = await owner.post(
        f"/problems/{pid}/completion",
        data={"csrf": o_csrf, "summary": "Minutes filed"},
        files={"evidence": ("minutes.txt", b"minutes of March", "text/plain")},
    )
    assert r.status_code == 303, r.text
    assert _problem_state(w, pid) == "completion_submitted"
    r = await committee.post(f"/problems/{pid}/verify", data={"csrf": c_csrf, "result": "pass"})
    assert r.status_code == 303 and _problem_state(w, pid) == "closed"
    page = (await committee.get(f"/problems/{pid}")).text
    link = re.search(r'href="(/evidence/[^"]+)"', page)
    assert link is not None and "Minutes filed" in page  # the timeline shows what was said
    download = await committee.get(link[1])
    assert download.status_code == 200 and download.content == b"minutes of March"
    assert "attachment" in download.headers["content-disposition"]
    sibling, _ = await signed_in(w, w.committee_gb2)
    assert (await sibling.get(link[1])).status_code == 404


async def test_a_sibling_subtree_sees_nothing(w: World) -> None:
    pid = await w.flag()
    sibling, _ = await signed_in(w, w.committee_gb2)
    r = await sibling.get(f"/problems/{pid}")
    assert r.status_code == 404 and "Minutes of branch meetings" not in r.text
    assert pid not in (await sibling.get("/me")).text


def _letter_state(w: World, cid: str, org: str) -> str:
    with Session(w.stack.engine) as s:
        row = s.get(Letter, f"{cid}:{org}")
        assert row is not None
        return row.state


def _problem_state(w: World, pid: str) -> str:
    with Session(w.stack.engine) as s:
        p = s.get(Problem, pid)
        assert p is not None
        return p.state


async def test_progress_on_an_item_in_the_console(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    b, csrf = await signed_in(w, w.committee)
    me = (await b.get("/me")).text
    found = re.search(r'href="/items/([^"]+)">Mid-year debriefings', me)
    assert found, me
    item_id = found.group(1)
    page = (await b.get(f"/items/{item_id}")).text
    assert 'id="report"' in page and "Li Wei" in page  # the assignee by name
    r = await b.post(
        f"/items/{item_id}/progress", data={"csrf": csrf, "actual": "lots", "note": "kept"}
    )
    assert r.status_code == 422 and "actual" in r.text and "kept" in r.text
    r = await b.post(
        f"/items/{item_id}/progress",
        data={"csrf": csrf, "actual": "2", "note": "both held"},
        files={"evidence": ("minutes.txt", b"minutes", "text/plain")},
    )
    assert r.status_code == 303, r.text
    with Session(w.stack.engine) as s:
        item = s.get(Item, item_id)
        assert item is not None and item.actual == 2 and len(item.evidence) == 1
    other, _ = await signed_in(w, w.owner)  # not the assignee: no form
    assert 'id="report"' not in (await other.get(f"/items/{item_id}")).text


async def test_sign_in_attempts_are_rate_limited_per_address(w: World) -> None:
    b = browser(w)
    csrf = csrf_of((await b.get("/signin")).text)
    limit = w.stack.settings.console_signin_per_minute
    codes = [
        (await b.post("/signin", data={"csrf": csrf, "token": f"dl_guess{n}"})).status_code
        for n in range(limit + 1)
    ]
    assert codes == [401] * limit + [429]
    # Even the right token waits now: guessing cannot go on at full speed.
    r = await b.post("/signin", data={"csrf": csrf, "token": w.committee})
    assert r.status_code == 429


async def test_the_public_board_shows_approved_pledges_and_nothing_personal(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    city = (await w.call("GET", f"/api/v1/letters/{cid}/city", w.committee)).json()
    r = await w.call(
        "POST",
        f"/api/v1/letters/{cid}/city/commitments",
        w.committee,
        json={"text": "I will lead every debriefing", "item_ids": [city["items"][0]["item_id"]]},
    )
    assert r.status_code == 201, r.text
    board = browser(w)  # nobody signed in
    assert "I will lead" not in (await board.get("/public/commitments?org=city")).text
    com = r.json()["commitment_id"]
    r = await w.call("POST", f"/api/v1/commitments/{com}/approve", w.committee)
    assert r.status_code == 200, r.text
    page = (await board.get("/public/commitments?org=city")).text
    assert "I will lead every debriefing" in page and "Li Wei" in page
    assert "p-001" not in page and "@" not in page and "dl_" not in page
    assert (await board.get("/public/commitments?org=<script>")).status_code == 422


async def test_the_committee_launches_a_year_and_follows_it(w: World) -> None:
    b, csrf = await signed_in(w, w.committee)
    page = (await b.get("/cycles")).text
    assert 'id="launch"' in page
    form = {"csrf": csrf, "root_org_id": "city", "year": "2027", "title": "2027 责任制"}
    r = await b.post("/cycles", data=form)  # no plan file: the shipped default plan
    assert r.status_code == 303 and r.headers["location"] == "/cycles/city-2027", r.text
    dash = (await b.get("/cycles/city-2027")).text
    assert '<svg id="cascade"' in dash and "2027 责任制" in dash
    again = await b.post("/cycles", data=form)
    assert again.status_code == 409 and "city-2027" in again.text and "2027 责任制" in again.text
    member, m_csrf = await signed_in(w, w.owner)
    assert 'id="launch"' not in (await member.get("/cycles")).text
    r = await member.post("/cycles", data={**form, "csrf": m_csrf, "year": "2028"})
    assert r.status_code == 403


async def test_the_cycle_tree_drills_down_coloured_by_letter_state(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: _letter_exists(w, cid, "gb-1"), what="gb-1's letter")
    assert (await sign(w, w.committee_gb1, cid, "gb-1")).status_code == 200
    committee, _ = await signed_in(w, w.committee)
    dash = (await committee.get(f"/cycles/{cid}?lang=en")).text
    tree = dash.split('id="tree"')[1].split("</section>")[0]
    assert 'class="dot signed"' in tree and "City Committee" in tree
    # gb-1 signed: its row links down; gb-2 still waits for a signature.
    assert f'href="/cycles/{cid}?under=gb-1#tree">General Branch 1' in tree
    gb2 = tree.split("General Branch 2")[0].rsplit("<tr", 1)[1]
    assert 'class="dot issued"' in gb2
    down = (await committee.get(f"/cycles/{cid}?under=gb-1")).text.split('id="tree"')[1]
    head_of_gb1, _ = await signed_in(w, w.committee_gb1)
    own = (await head_of_gb1.get(f"/cycles/{cid}")).text.split('id="tree"')[1]
    assert "City Committee" not in own.split("</nav>")[0]  # the way up stops at one's scope
    assert "Branch 1.1" in down and f'href="/cycles/{cid}?under=city#tree"' in down
    sibling, _ = await signed_in(w, w.committee_gb2)
    assert (await sibling.get(f"/cycles/{cid}?under=gb-1")).status_code == 404
    mine = (await sibling.get(f"/cycles/{cid}")).text.split('id="tree"')[1]
    assert "General Branch 2" in mine and "General Branch 1" not in mine


def _letter_exists(w: World, cid: str, org: str) -> bool:
    with Session(w.stack.engine) as s:
        return s.get(Letter, f"{cid}:{org}") is not None


async def test_refusals_are_pages_and_keep_nothing_behind(w: World) -> None:
    pid = await w.flag()
    committee, c_csrf = await signed_in(w, w.committee)
    odd = await committee.post(f"/problems/{pid}/confirm", data={"csrf": "ключ"})
    assert odd.status_code == 403  # a token beyond ASCII is just wrong, never a 500
    missing = await committee.post("/letters/no-such-cycle/city/sign", data={"csrf": c_csrf})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    sibling, s_csrf = await signed_in(w, w.committee_gb2)
    r = await sibling.post(
        f"/problems/{pid}/completion",
        data={"csrf": s_csrf, "summary": "not mine"},
        files={"evidence": ("x.txt", b"planted", "text/plain")},
    )
    assert r.status_code == 404
    with Session(w.stack.engine) as s:
        assert s.exec(select(Evidence)).all() == []  # no file kept from outside the scope
    gone = browser(w)
    r = await gone.get("/ledger?state=closed")
    assert (
        r.status_code == 303 and r.headers["location"] == "/signin?next=%2Fledger%3Fstate%3Dclosed"
    )


async def test_a_new_head_acknowledges_the_signed_letter_in_the_console(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    r = await w.call("PATCH", "/api/v1/orgs/city", w.admin, json={"head_person_id": "p-002"})
    assert r.status_code == 200, r.text
    new_head = w.stack.token(Role.committee, "city", "p-002")
    b, csrf = await signed_in(w, new_head)
    page = (await b.get(f"/letters/{cid}/city?lang=en")).text
    assert 'id="acknowledge"' in page and 'id="handover"' in page and 'id="sign"' not in page
    shown_hash = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page)
    assert shown_hash is not None
    former, _ = await signed_in(w, w.committee)
    assert 'id="acknowledge"' not in (await former.get(f"/letters/{cid}/city")).text
    r = await b.post(
        f"/letters/{cid}/city/acknowledge", data={"csrf": csrf, "content_hash": shown_hash.group(1)}
    )
    assert r.status_code == 303, r.text
    page = (await b.get(f"/letters/{cid}/city?lang=en")).text
    assert "acknowledged by" in page and 'id="acknowledge"' not in page
    with Session(w.stack.engine) as s:
        row = s.get(Letter, f"{cid}:city")
        assert row is not None and (row.signed_by, row.acknowledged_by) == ("p-001", "p-002")


async def test_an_admin_changes_the_head_on_the_org_page(w: World) -> None:
    cid = await launch(w)
    admin, csrf = await signed_in(w, w.admin)
    page = (await admin.get("/orgs/city?lang=en")).text
    assert 'id="change"' in page and 'id="heads"' in page and "p-001" in page
    member, _ = await signed_in(w, w.owner)
    assert (await member.get("/orgs/city")).status_code == 404  # beyond a member's scope
    assert 'id="change"' not in (await member.get("/orgs/gb-1-b1")).text
    form = {"csrf": csrf, "name": "City Committee", "head_person_id": "p-002", "parent_id": ""}
    r = await admin.post("/orgs/city/change", data={**form, "parent_id": "nowhere"})
    assert r.status_code == 422 and "nowhere" in r.text  # refused, the input kept
    assert _head_of_letter(w, cid) == "p-001"
    r = await admin.post("/orgs/city/change", data=form)
    assert r.status_code == 303, r.text
    page = (await admin.get("/orgs/city?lang=en")).text
    assert "still in post" in page and _head_of_letter(w, cid) == "p-002"
    # A page opened before that change renames the org; its stale head is not sent back.
    stale = {"csrf": csrf, "name": "City Party Committee", "was_name": "City Committee"}
    stale |= {"head_person_id": "p-001", "was_head_person_id": "p-001", "parent_id": ""}
    assert (await admin.post("/orgs/city/change", data=stale)).status_code == 303
    assert (
        _head_of_letter(w, cid) == "p-002"
        and "City Party Committee" in (await admin.get("/orgs/city")).text
    )
    r = await admin.post("/people/p-003/leave", data={"csrf": csrf, "left_on": "2027-03-01"})
    assert (
        r.status_code == 303
        and "Left on 2027-03-01" in (await admin.get("/orgs/city?lang=en")).text
    )


def _head_of_letter(w: World, cid: str) -> str | None:
    with Session(w.stack.engine) as s:
        row = s.get(Letter, f"{cid}:city")
        assert row is not None
        return row.head_person_id

"""The letter page in the console over the real app, database and Temporal: a head returns a
letter with a reason, the issuer changes an item from the page (a new version), the head signs
it, and the history tells it all; members pledge, the issuer returns and approves pledges, the
author resubmits — refusals shown next to the form with what was typed kept."""

from __future__ import annotations

import re

import httpx
from sqlmodel import Session, select

from services.cycle.models import Commitment, Letter
from tests.support.console import signed_in
from tests.support.cycles import eventually, launch, sign
from tests.support.world import World


def _letter(w: World, cid: str, org: str) -> Letter | None:
    with Session(w.stack.engine) as s:
        return s.get(Letter, f"{cid}:{org}")


async def _post(
    b: httpx.AsyncClient, url: str, csrf: str, **data: str | list[str]
) -> httpx.Response:
    return await b.post(url, data={"csrf": csrf, **data})


async def test_a_head_returns_the_letter_and_the_issuer_amends_it(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: _letter(w, cid, "gb-1"), what="gb-1's letter")
    head, h_csrf = await signed_in(w, w.committee_gb1)  # p-005 heads gb-1
    issuer, i_csrf = await signed_in(w, w.committee)  # p-001 heads the city: gb-1's issuer
    url = f"/letters/{cid}/gb-1"
    assert 'id="add-item"' not in (await head.get(url)).text  # only the issuer changes items

    r = await _post(head, f"{url}/return", h_csrf, reason="\u0007")
    assert r.status_code == 422 and "reason" in r.text  # a control character is no reason
    r = await _post(head, f"{url}/return", h_csrf, reason="Two debriefings is too few")
    assert r.status_code == 303, r.text

    page = (await issuer.get(url)).text
    assert "Two debriefings is too few" in page and 'id="add-item"' in page
    item_id = re.search(r'href="\?edit=([^"#]+)#amend"', page)
    assert item_id is not None
    form = (await issuer.get(f"{url}?edit={item_id.group(1)}")).text
    assert 'value="Mid-year debriefings"' in form  # the form comes filled with the item
    fields = {
        "item_id": item_id.group(1),
        "category": "organization",
        "responsibility": "primary",
        "title": "Mid-year debriefings",
        "metric": "debriefings",
        "target": "-4",
        "unit": "times",
        "due": "2027-06-30",
        "reason": "Four, as asked",
    }
    bad = await _post(issuer, f"{url}/amend", i_csrf, **fields)
    assert bad.status_code == 422 and "items.0.indicator.target" in bad.text
    assert 'value="Four, as asked"' in bad.text or "Four, as asked" in bad.text
    ok = await _post(issuer, f"{url}/amend", i_csrf, **{**fields, "target": "4"})
    assert ok.status_code == 303, ok.text
    row = _letter(w, cid, "gb-1")
    assert row is not None and row.version == 2 and row.state == "issued"

    page = (await head.get(url)).text
    shown = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page)
    assert shown is not None and "4.0 times" in page
    r = await _post(head, f"{url}/sign", h_csrf, content_hash=shown.group(1))
    assert r.status_code == 303, r.text
    history = (await head.get(f"{url}?lang=en")).text.split('id="history"')[1]
    for step in ("Issued", "Returned for revision", "Amended", "Signed"):
        assert step in history
    assert "Four, as asked" in history


async def test_members_pledge_and_the_issuer_decides_in_the_console(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: _letter(w, cid, "gb-1"), what="gb-1's letter")
    assert (await sign(w, w.committee_gb1, cid, "gb-1")).status_code == 200
    await eventually(lambda: _letter(w, cid, "gb-1-b1"), what="the branch's letter")
    url = f"/letters/{cid}/gb-1-b1"
    member, m_csrf = await signed_in(w, w.owner)  # p-009, a member of gb-1-b1
    assert 'id="pledge"' not in (await member.get(url)).text  # pledges follow the signature
    assert (await sign(w, w.other_member, cid, "gb-1-b1")).status_code == 200

    assert f"{url}#commitments" in (await member.get("/me")).text  # a pledge to make
    page = (await member.get(url)).text
    items = re.findall(r'name="item_ids" value="([^"]+)"', page)
    key = re.search(r'name="pledge_key" value="([^"]+)"', page)
    assert items and key is not None
    r = await _post(member, f"{url}/pledge", m_csrf, text="   ", item_ids=items[:1])
    assert r.status_code == 422 and "text" in r.text
    pledge = {"text": "Minutes within three days", "item_ids": items[:1], "pledge_key": key[1]}
    assert (await _post(member, f"{url}/pledge", m_csrf, **pledge)).status_code == 303
    assert (await _post(member, f"{url}/pledge", m_csrf, **pledge)).status_code == 303
    with Session(w.stack.engine) as s:
        mine = s.exec(select(Commitment).where(Commitment.org_id == "gb-1-b1")).all()
    assert len(mine) == 1  # the double submit pledged once
    commitment_id = mine[0].id

    assert f"{url}#commitments" not in (await member.get("/me")).text  # pledged
    issuer, i_csrf = await signed_in(w, w.committee_gb1)  # p-005 heads gb-1: the issuer
    me = (await issuer.get("/me?lang=zh")).text
    assert f"{url}#c-{commitment_id}" in me  # a pledge to decide
    assert "待审核的公开承诺——Branch 1.1" in me  # the notice, in Chinese, linking to the letter
    unread = int(re.search(r'id="unread"[^>]*>(\d+)<', me)[1])  # type: ignore[index]
    note_id = re.search(r'<li class="unread" id="n-(\d+)"><a href="([^"]+)"', me)
    assert note_id is not None and note_id[2] == url
    r = await _post(issuer, "/notifications/read", i_csrf, id=note_id[1])
    assert r.status_code == 303
    me = (await issuer.get("/me")).text
    assert f'id="unread" title="未读">{unread - 1}<' in me
    r = await w.call("POST", "/api/v1/notifications/read", w.committee_gb1, json={})
    assert r.status_code == 200 and r.json()["unread"] == 0
    page = (await issuer.get(url)).text
    assert f'id="approve-{commitment_id}"' in page
    assert f'id="approve-{commitment_id}"' not in (await member.get(url)).text
    r = await _post(issuer, f"/commitments/{commitment_id}/return", i_csrf, reason="Say which")
    assert r.status_code == 303, r.text
    page = (await member.get(url)).text
    assert "Say which" in page and f'id="resubmit-{commitment_id}"' in page
    r = await _post(
        member, f"/commitments/{commitment_id}/resubmit", m_csrf, text="Minutes of every meeting"
    )
    assert r.status_code == 303, r.text
    r = await _post(issuer, f"/commitments/{commitment_id}/approve", i_csrf)
    assert r.status_code == 303, r.text
    board = (
        await httpx.AsyncClient(transport=w.stack.http._transport, base_url="http://test").get(
            "/public/commitments?org=gb-1-b1"
        )
    ).text
    assert "Minutes of every meeting" in board
    again = await _post(issuer, f"/commitments/{commitment_id}/approve", i_csrf)
    assert again.status_code == 409 and "Minutes of every meeting" in again.text

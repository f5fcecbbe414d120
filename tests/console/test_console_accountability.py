"""Item confirmation and accountability in the console over the real app, database and
Temporal: the issuer rejects an achievement with a reason and confirms it after the next report;
a committee records accountability, the person concerned appeals from their page, the committee
overturns it from theirs — refusals shown with the input kept."""

from __future__ import annotations

import re

from sqlmodel import Session

from services.cycle.models import Item, Letter
from services.integrity.drift import integrity_report
from tests.support.console import signed_in
from tests.support.cycles import eventually, launch, sign
from tests.support.world import World


def _letter(w: World, cid: str, org: str) -> Letter | None:
    with Session(w.stack.engine) as s:
        return s.get(Letter, f"{cid}:{org}")


def _item(w: World, item_id: str) -> Item:
    with Session(w.stack.engine) as s:
        row = s.get(Item, item_id)
        assert row is not None
        return row


async def test_the_issuer_rejects_then_confirms_an_achievement(w: World) -> None:
    cid = await launch(w)
    assert (await sign(w, w.committee, cid, "city")).status_code == 200
    await eventually(lambda: _letter(w, cid, "gb-1"), what="gb-1's letter")
    assert (await sign(w, w.committee_gb1, cid, "gb-1")).status_code == 200
    await eventually(lambda: _letter(w, cid, "gb-1-b1"), what="gb-1-b1's letter")
    assert (await sign(w, w.other_member, cid, "gb-1-b1")).status_code == 200
    item_id = f"{cid}:gb-1-b1:1"  # Mid-year debriefings, target 2, primary: the head p-008
    head_b1, b_csrf = await signed_in(w, w.other_member)
    issuer, i_csrf = await signed_in(w, w.committee_gb1)  # p-005 heads gb-1, the issuer
    assert 'id="confirm"' not in (await issuer.get(f"/items/{item_id}")).text  # nothing reached
    r = await head_b1.post(
        f"/items/{item_id}/progress", data={"csrf": b_csrf, "actual": "2", "note": "both held"}
    )
    assert r.status_code == 303, r.text
    page = (await issuer.get(f"/items/{item_id}?lang=en")).text
    assert "Awaiting the issuer" in page and 'id="confirm"' in page and 'id="reject"' in page
    assert f'href="/items/{item_id}"' in (await issuer.get("/me")).text  # on the issuer's list
    assert 'id="confirm"' not in (await head_b1.get(f"/items/{item_id}")).text

    r = await issuer.post(
        f"/items/{item_id}/confirmation", data={"csrf": i_csrf, "decision": "rejected"}
    )
    assert r.status_code == 422 and "reason" in r.text  # a rejection says why
    r = await issuer.post(
        f"/items/{item_id}/confirmation",
        data={"csrf": i_csrf, "decision": "rejected", "reason": "attach the minutes"},
    )
    assert r.status_code == 303, r.text
    assert _item(w, item_id).confirmation == "rejected"
    assert "attach the minutes" in (await head_b1.get(f"/items/{item_id}")).text

    r = await head_b1.post(
        f"/items/{item_id}/progress", data={"csrf": b_csrf, "actual": "2", "note": "minutes"}
    )
    assert r.status_code == 303
    assert _item(w, item_id).confirmation is None  # asked again
    r = await issuer.post(
        f"/items/{item_id}/confirmation", data={"csrf": i_csrf, "decision": "confirmed"}
    )
    assert r.status_code == 303, r.text
    row = _item(w, item_id)
    assert (row.confirmation, row.confirmed_by) == ("confirmed", "p-005")
    page = (await issuer.get(f"/items/{item_id}?lang=en")).text
    assert "Achievement confirmed" in page and 'id="confirm"' not in page
    with Session(w.stack.engine) as s:  # rejected, reported again, confirmed: as the events say
        report = integrity_report(s)
    assert report.ok, report.drift[:5] or report.problem


async def test_accountability_appealed_and_overturned_from_the_pages(w: World) -> None:
    r = await w.call(
        "POST",
        "/api/v1/accountability",
        w.committee_gb1,
        json={"kind": "reminder_talk", "person_id": "p-008", "reason": "meetings skipped"},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    person, p_csrf = await signed_in(w, w.other_member)  # p-008
    committee, c_csrf = await signed_in(w, w.committee_gb1)
    page = (await person.get("/me?lang=en")).text
    assert "meetings skipped" in page and f'id="appeal-button-{rid}"' in page
    r = await person.post(f"/accountability/{rid}/appeal", data={"csrf": p_csrf, "reason": " "})
    assert r.status_code == 422 and "reason" in r.text
    r = await person.post(
        f"/accountability/{rid}/appeal",
        data={"csrf": p_csrf, "reason": "the minutes show every meeting held"},
    )
    assert r.status_code == 303, r.text
    r = await person.post(f"/accountability/{rid}/appeal", data={"csrf": p_csrf, "reason": "x"})
    assert r.status_code == 409 and "one appeal only" in r.text

    page = (await committee.get("/me?lang=en")).text
    assert "Appeals to decide" in page and "the minutes show every meeting held" in page
    r = await committee.post(
        f"/accountability/{rid}/decision",
        data={"csrf": c_csrf, "decision": "overturned", "reason": "minutes verified"},
    )
    assert r.status_code == 303, r.text
    page = (await person.get("/me?lang=en")).text
    assert re.search(r"Record overturned", page) and "minutes verified" in page
    assert "Appeals to decide" not in (await committee.get("/me?lang=en")).text

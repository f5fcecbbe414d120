"""Driving the console as a browser does: one cookie jar per person, the CSRF token read from
the page, signing in through the form."""

from __future__ import annotations

import re

import httpx

from tests.support.cycles import eventually
from tests.support.world import World


def browser(w: World) -> httpx.AsyncClient:
    """A client with its own cookie jar, like one person's browser."""
    return httpx.AsyncClient(
        transport=w.stack.http._transport,
        base_url="http://test",
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},  # as browsers send
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def signed_in(w: World, token: str) -> tuple[httpx.AsyncClient, str]:
    b = browser(w)
    form = await b.get("/signin")
    r = await b.post("/signin", data={"csrf": csrf_of(form.text), "token": token, "next": "/me"})
    assert r.status_code == 303 and r.headers["location"] == "/me", r.text
    me = await b.get("/me")
    assert me.status_code == 200
    return b, csrf_of(me.text)


async def verified(client: httpx.AsyncClient, csrf: str) -> str:
    """Ask for a verification of the audit trail through the console's form and read the run's
    page (in English) once its verdict is in."""
    asked = await client.post("/ledger/verify", data={"csrf": csrf})
    assert asked.status_code == 303, asked.text
    run_page = f"{asked.headers['location']}?lang=en"

    async def verdict() -> str | None:
        r = await client.get(run_page)
        assert r.status_code == 200, r.text
        return None if "verdict-running" in r.text else r.text

    return await eventually(verdict, what=f"the verdict at {run_page}")  # type: ignore[no-any-return]

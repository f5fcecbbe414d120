"""Administering accounts over the API on the real app and database: list within the admin's
scope (never a token), disable (401 at once, console included), rotate (the old token dead at
once), expiry, and when a token was last used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Account, Role
from services.audit.chain import AuditEvent
from tests.support.console import signed_in
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def account_of(w: World, token_owner_id: str) -> Account:
    with Session(w.stack.engine) as s:
        row = s.get(Account, token_owner_id)
        assert row is not None
        return row


async def test_list_disable_rotate_within_scope(w: World) -> None:
    gb1_admin = w.stack.token(Role.admin, "gb-1")
    everyone = (await w.call("GET", "/api/v1/accounts?page_size=500", w.admin)).json()
    scoped = (await w.call("GET", "/api/v1/accounts?page_size=500", gb1_admin)).json()
    assert scoped["total"] < everyone["total"]
    assert {a["scope_org_id"] for a in scoped["items"]} <= {"gb-1", "gb-1-b1"}
    assert "token" not in str(everyone) and "hash" not in str(everyone)
    assert (await w.call("GET", "/api/v1/accounts", w.committee)).status_code == 403

    me = (await w.call("GET", "/api/v1/me", w.other_member)).json()["account_id"]
    assert w.stack.app.state.dutyledger.usage.flush(w.stack.engine) >= 1
    assert account_of(w, me).last_used_at is not None  # the call above was a use
    city = (await w.call("GET", "/api/v1/me", w.committee)).json()["account_id"]
    r = await w.call("POST", f"/api/v1/accounts/{city}/disable", gb1_admin)
    assert r.status_code == 404  # the city's account is outside gb-1: absent, not forbidden
    own = (await w.call("GET", "/api/v1/me", gb1_admin)).json()["account_id"]
    assert (await w.call("POST", f"/api/v1/accounts/{own}/disable", gb1_admin)).status_code == 409

    # Rotate: the new token works, the old one is dead at once, console sessions it opened too.
    old_page, _ = await signed_in(w, w.other_member)
    assert (await old_page.get("/me")).status_code == 200
    r = await w.call("POST", f"/api/v1/accounts/{me}/rotate", gb1_admin)
    assert r.status_code == 200, r.text
    fresh = r.json()["token"]
    assert (await w.call("GET", "/api/v1/me", w.other_member)).status_code == 401
    assert (await w.call("GET", "/api/v1/me", fresh)).json()["account_id"] == me
    assert (await old_page.get("/me")).status_code in (303, 401)  # back to sign-in

    # Disable: 401 everywhere, the console too, even for a session signed in before.
    page, _ = await signed_in(w, fresh)
    r = await w.call("POST", f"/api/v1/accounts/{me}/disable", gb1_admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert (await w.call("GET", "/api/v1/me", fresh)).status_code == 401
    assert (await page.get("/me")).status_code in (303, 401)
    r = await w.call("POST", f"/api/v1/accounts/{me}/rotate", gb1_admin)
    assert r.status_code == 409  # a disabled account gets no new token
    with Session(w.stack.engine) as s:
        actions = s.exec(select(AuditEvent.action).where(AuditEvent.entity_id == me)).all()
    assert sorted(actions) == ["account_disabled", "account_token_rotated"]


async def test_tokens_expire(w: World) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await w.call(
        "POST",
        "/api/v1/accounts",
        w.admin,
        json={"role": "auditor", "scope_org_id": "city", "expires_at": past},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await w.call(
        "POST",
        "/api/v1/accounts",
        w.admin,
        json={"role": "auditor", "scope_org_id": "city", "expires_at": soon},
    )
    assert r.status_code == 201, r.text
    token, account_id = r.json()["token"], r.json()["account_id"]
    assert (await w.call("GET", "/api/v1/me", token)).status_code == 200
    with Session(w.stack.engine) as s:
        row = s.get(Account, account_id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)  # time passes
        s.add(row)
        s.commit()
    r = await w.call("GET", "/api/v1/me", token)
    assert r.status_code == 401 and "expired" in r.json()["detail"]

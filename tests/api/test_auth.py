"""Authentication and authorization against the real app and DB: 401, 403 by role and by scope."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Account, Role
from tests.api.test_orgs_import import tree
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, ts_env.client, with_worker=False) as s:
        admin = s.token(Role.admin)
        doc = tree()
        doc["orgs"].append(
            {
                "id": "gb-2",
                "name": "General Branch 2",
                "kind": "general_branch",
                "parent_id": "city",
            }
        )
        r = await s.call("POST", "/api/v1/orgs/import", admin, json=doc)
        assert r.status_code == 201, r.text
        yield s


async def test_missing_and_bad_tokens_are_401(stack: Stack) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ):
        r = await stack.http.get("/api/v1/orgs/city", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"


async def test_disabled_account_is_401(stack: Stack) -> None:
    token = stack.token(Role.committee, "city")
    with Session(stack.engine) as s:
        for acc in s.exec(select(Account).where(Account.role == "committee")).all():
            acc.disabled = True
            s.add(acc)
        s.commit()
    assert (await stack.call("GET", "/api/v1/orgs/city", token)).status_code == 401


async def test_tokens_are_stored_only_as_hashes(stack: Stack) -> None:
    token = stack.token(Role.auditor, "city")
    assert len(token) >= 32
    with Session(stack.engine) as s:
        stored = [a.token_hash for a in s.exec(select(Account)).all()]
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


async def test_scope_limits_reads_to_the_subtree(stack: Stack) -> None:
    gb1 = stack.token(Role.committee, "gb-1")
    assert (await stack.call("GET", "/api/v1/orgs/b-1", gb1)).status_code == 200
    # Out of scope reads as unknown: the same 404, so nothing tells that gb-2 exists.
    r = await stack.call("GET", "/api/v1/orgs/gb-2", gb1)
    assert r.status_code == 404 and r.json()["detail"] == "no org 'gb-2' in this account's scope"
    r = await stack.call("GET", "/api/v1/orgs/gb-9", gb1)
    assert r.status_code == 404 and r.json()["detail"] == "no org 'gb-9' in this account's scope"
    assert (await stack.call("GET", "/api/v1/orgs/city", gb1)).status_code == 404
    assert (
        await stack.call("GET", "/api/v1/orgs", gb1, params={"under": "city"})
    ).status_code == 404
    r = await stack.call("GET", "/api/v1/orgs", gb1)
    assert [o["id"] for o in r.json()["items"]] == ["gb-1", "b-1"]


async def test_unknown_org_is_404(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call("GET", "/api/v1/orgs/nope", admin)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", [Role.committee, Role.member, Role.auditor])
async def test_only_admins_create_orgs_people_accounts(stack: Stack, role: Role) -> None:
    token = stack.token(role, "city")
    writes = [
        ("/api/v1/orgs", {"id": "x", "name": "X", "kind": "branch", "parent_id": "city"}),
        (
            "/api/v1/orgs/import",
            {"orgs": [{"id": "x", "name": "X", "kind": "branch", "parent_id": "city"}]},
        ),
        ("/api/v1/people", {"id": "p-x", "name": "X", "org_id": "city"}),
        ("/api/v1/accounts", {"role": "member", "scope_org_id": "city"}),
    ]
    for url, body in writes:
        r = await stack.call("POST", url, token, json=body)
        assert r.status_code == 403, (url, r.text)


async def test_auditors_are_read_only_everywhere(stack: Stack) -> None:
    auditor = stack.token(Role.auditor, "city")
    assert (await stack.call("GET", "/api/v1/orgs/city", auditor)).status_code == 200
    r = await stack.call("POST", "/api/v1/orgs", auditor, json={})
    assert r.status_code == 403 and "read-only" in r.json()["detail"]


async def test_scoped_admin_stays_in_scope(stack: Stack) -> None:
    admin_gb1 = stack.token(Role.admin, "gb-1")
    r = await stack.call(
        "POST",
        "/api/v1/orgs",
        admin_gb1,
        json={"id": "b-5", "name": "B5", "kind": "branch", "parent_id": "gb-1"},
    )
    assert r.status_code == 201
    r = await stack.call(
        "POST",
        "/api/v1/orgs",
        admin_gb1,
        json={"id": "b-6", "name": "B6", "kind": "branch", "parent_id": "gb-2"},
    )
    assert r.status_code == 422 and "unknown parent 'gb-2'" in r.text  # as if gb-2 did not exist
    r = await stack.call(
        "POST", "/api/v1/orgs", admin_gb1, json={"id": "root2", "name": "R", "kind": "committee"}
    )
    assert r.status_code == 403
    r = await stack.call(
        "POST", "/api/v1/accounts", admin_gb1, json={"role": "member", "scope_org_id": "gb-2"}
    )
    assert r.status_code == 404  # as for an org that does not exist
    r = await stack.call(
        "POST",
        "/api/v1/accounts",
        admin_gb1,
        json={"role": "member", "scope_org_id": "b-1", "person_id": "p-zhao"},
    )
    assert r.status_code == 201 and r.json()["token"].startswith("dl_")
    member = r.json()["token"]
    me = await stack.call("GET", "/api/v1/me", member)
    assert me.json()["role"] == "member" and me.json()["scope_org_id"] == "b-1"


async def test_account_validation(stack: Stack) -> None:
    admin = stack.token(Role.admin)
    r = await stack.call("POST", "/api/v1/accounts", admin, json={"role": "member"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scope_org_id"
    r = await stack.call(
        "POST", "/api/v1/accounts", admin, json={"role": "boss", "scope_org_id": "city"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = await stack.call(
        "POST",
        "/api/v1/accounts",
        admin,
        json={"role": "member", "scope_org_id": "city", "person_id": "ghost"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id"


async def test_bootstrap_admin_token(settings, engine, ts_env: WorkflowEnvironment) -> None:
    from pydantic import SecretStr

    settings = settings.model_copy(
        update={"bootstrap_admin_token": SecretStr("dl_bootstrap_" + "x" * 32)}
    )
    for _ in range(2):  # a second start creates nothing new
        async with running_stack(settings, engine, ts_env.client, with_worker=False) as s:
            r = await s.call("GET", "/api/v1/me", "dl_bootstrap_" + "x" * 32)
            assert r.status_code == 200 and r.json()["role"] == "admin"
    with Session(engine) as s:
        assert len(s.exec(select(Account)).all()) == 1

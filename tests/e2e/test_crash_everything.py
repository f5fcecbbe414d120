"""kill -9, one after another, of the worker, the Temporal dev server (restarted on the same
file and port) and the API, in the middle of a cascade whose heads sign over HTTP as real
clients would (retrying the same request until it is answered). Afterwards every org has
exactly one letter, one issue event and one signature, the audit trail verifies with no drift,
no workflow failed, and a webhook endpoint got every signature once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from standardwebhooks.webhooks import Webhook

from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.db import session_scope
from services.cycle.models import Item, Letter
from services.cycle.plan import default_plan
from services.demo import LEVEL_KINDS, synthetic_tree
from services.org.store import import_tree
from services.webhooks.models import WebhookMessage
from tests.support.crash import ADMIN, RETRIED, Cluster, chaos, cluster, retrying
from tests.support.cycles import YEAR, assert_cascade_once, eventually
from tests.support.peers import capturing_server

pytestmark = pytest.mark.slow

ORGS = 121  # 1 + 10 + 110 on three levels
ROOT = "z"
TREE = synthetic_tree(ORGS, depth=3, root=ROOT)


async def _sign_when_issued(
    http: httpx.AsyncClient, cid: str, org: str, token: str, signed: set[str]
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/letters/{cid}/{org}"
    for _ in range(1200):
        r = await retrying(http, "GET", url, headers=auth)
        if r.status_code == 200:
            letter = r.json()
            if letter["state"] == "signed":
                signed.add(org)
                return
            r = await retrying(
                http,
                "POST",
                f"{url}/sign",
                headers=auth,
                json={"content_hash": letter["content_hash"]},
            )
            if r.status_code == 200 or (r.status_code == 409 and "already signed" in r.text):
                signed.add(org)  # a retry of a signature the service had already taken
                return
            assert r.status_code in (404, 409), r.text  # issued a moment ago: try again
        await asyncio.sleep(0.5)
    raise AssertionError(f"{org} was never signed")


def _stall_report(c: Cluster, cid: str, signed: set[str]) -> str:
    """Where a stalled run stood: the orgs never signed, their letters' states and the end of
    each process's log, so that a stall on a slower machine can be read from CI's output."""
    with Session(c.engine) as s:
        states = dict(
            s.exec(select(Letter.org_id, Letter.state).where(Letter.cycle_id == cid)).all()
        )
    unsigned = {o.id: states.get(o.id, "no letter") for o in TREE.orgs if o.id not in signed}
    return f"{len(signed)} of {ORGS} signed; unsigned: {unsigned}\n{c.tails()}"


def _seed(engine: Engine, tokens: dict[str, str]) -> None:
    """The tree, and an account for each org's head and for the root's committee."""
    with session_scope(engine) as s:
        import_tree(s, TREE)
        for o in TREE.orgs:
            spec = AccountIn(role=Role.member, scope_org_id=o.id, person_id=o.head_person_id)
            tokens[o.id] = create_account(s, spec).token
        spec = AccountIn(role=Role.committee, scope_org_id=ROOT, person_id=f"h-{ROOT}")
        tokens["committee"] = create_account(s, spec).token


@pytest.mark.timeout(600)
async def test_worker_server_and_api_killed_mid_cascade(tmp_path: Path) -> None:
    signed: set[str] = set()
    tokens: dict[str, str] = {}
    with capturing_server() as (sink, hook_url):
        async with cluster(tmp_path, lambda engine: _seed(engine, tokens)) as c:
            async with httpx.AsyncClient(base_url=c.base_url, timeout=30) as http:
                hook = await _subscribe(http, hook_url)
                cid = await _launch(http, tokens["committee"])
                signers = [
                    asyncio.create_task(_sign_when_issued(http, cid, o.id, tokens[o.id], signed))
                    for o in TREE.orgs
                ]
                try:
                    await asyncio.wait_for(
                        asyncio.gather(chaos(c, lambda: len(signed), (15, 50, 85)), *signers),
                        timeout=540,
                    )
                except (TimeoutError, AssertionError) as stalled:
                    raise AssertionError(f"{stalled!r}: {_stall_report(c, cid, signed)}") from None
                r = await retrying(
                    http,
                    "GET",
                    f"/api/v1/cycles/{cid}",
                    headers={"Authorization": f"Bearer {tokens['committee']}"},
                )
                progress = r.json()
            assert signed == {o.id for o in TREE.orgs}
            print(f"retried: {dict(RETRIED)}")  # noqa: T201
            assert_cascade_once(c.engine, cid, {o.id for o in TREE.orgs})
            _assert_progress_is_the_tables(c.engine, cid, progress)
            client = await c.temporal()
            failed = [w async for w in client.list_workflows("ExecutionStatus='Failed'")]
            assert failed == []
            # Every signature reached the webhook receiver, each as one message (a worker killed
            # between sending and recording may send one twice: with the same webhook-id).
            secret = hook["secret"]

            def by_id() -> dict[str, str]:
                return {
                    r.headers["webhook-id"]: Webhook(secret).verify(r.body, r.headers)["data"][
                        "entity_id"
                    ]
                    for r in list(sink.requests)
                }

            try:
                await eventually(lambda: len(by_id()) >= ORGS, timeout=150, what="webhooks")
            except AssertionError:
                with Session(c.engine) as s:
                    states = s.exec(
                        select(WebhookMessage.state, func.count()).group_by(
                            col(WebhookMessage.state)
                        )
                    ).all()
                raise AssertionError(
                    f"{len(by_id())} of {ORGS} signatures received; messages: {states}\n"
                    + c.tails()
                ) from None
            assert sorted(by_id().values()) == sorted(f"{cid}:{o.id}" for o in TREE.orgs)


async def _subscribe(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await retrying(
        http,
        "POST",
        "/api/v1/webhooks",
        headers={"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": "crash-hook"},
        json={"url": url, "event_types": ["letter.signed"]},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _launch(http: httpx.AsyncClient, committee: str) -> str:
    plan = default_plan(YEAR, list(LEVEL_KINDS[:3])).model_dump(mode="json")
    r = await retrying(
        http,
        "POST",
        "/api/v1/cycles",
        headers={"Authorization": f"Bearer {committee}"},
        json={"root_org_id": ROOT, "year": YEAR, "title": "crash", "plan": plan},
    )
    assert r.status_code == 202, r.text
    cid: str = r.json()["cycle_id"]
    return cid


def _assert_progress_is_the_tables(engine: Engine, cid: str, progress: dict[str, Any]) -> None:
    """The cycle's progress, as the API reports it, is what the tables hold."""
    assert progress["orgs"] == progress["letters_issued"] == progress["letters_signed"] == ORGS
    with Session(engine) as s:
        items = s.exec(select(func.count()).select_from(Item).where(Item.cycle_id == cid)).one()
    assert sum(progress["items"].values()) == items > 0

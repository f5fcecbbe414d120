"""Webhook endpoints per the Standard Webhooks spec, on the real app, database and worker loop
(``dispatch_once`` is what the worker runs): each endpoint gets its own subtree's events of its
own types, signed with its own secret; retries keep the message id; a refusal is not retried;
a replayed or altered request fails verification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.webhooks.dispatch import dispatch_once
from services.webhooks.models import WebhookMessage
from tests.support.peers import Received, capturing_server
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_fresh: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_fresh.client) as w:
        yield w


def verified(secret: str, req: Received) -> dict[str, Any]:
    return Webhook(secret).verify(req.body, req.headers)  # type: ignore[no-any-return]


def due_now(w: World) -> None:
    """Bring every pending retry to now (the schedule's waits are minutes long)."""
    with Session(w.stack.engine) as s:
        for m in s.exec(select(WebhookMessage).where(WebhookMessage.state == "pending")):
            m.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
            s.add(m)
        s.commit()


async def test_endpoints_get_their_own_events_signed_with_their_own_secret(w: World) -> None:
    gb1_admin = w.stack.token(Role.admin, "gb-1")
    with (
        capturing_server() as (problems_sink, problems_url),
        capturing_server() as (
            letters_sink,
            letters_url,
        ),
    ):
        r = await w.call(
            "POST",
            "/api/v1/webhooks",
            gb1_admin,
            json={"url": problems_url, "event_types": ["problem.state_changed"]},
            headers={"Idempotency-Key": "hook-1"},
        )
        assert r.status_code == 201, r.text
        problems_ep = r.json()
        assert problems_ep["scope_org_id"] == "gb-1" and problems_ep["secret"].startswith("whsec_")
        again = await w.call(
            "POST",
            "/api/v1/webhooks",
            gb1_admin,
            json={"url": problems_url, "event_types": ["problem.state_changed"]},
            headers={"Idempotency-Key": "hook-1"},
        )
        assert again.json() == problems_ep  # a retry creates nothing new
        r = await w.call(
            "POST",
            "/api/v1/webhooks",
            w.admin,
            json={"url": letters_url, "event_types": ["letter.signed", "audit.checkpoint"]},
        )
        letters_ep = r.json()
        listed = (await w.call("GET", "/api/v1/webhooks", gb1_admin)).json()
        assert [e["id"] for e in listed["items"]] == [problems_ep["id"]]  # not the city's
        assert "secret" not in json.dumps(listed)

        inside = await w.flag()  # gb-1-b1, inside gb-1
        await w.flag(org_id="gb-2")  # a sibling subtree: not for the gb-1 endpoint
        await w.walk_to(inside, "assigned")
        r = await w.call("POST", "/api/v1/audit/checkpoints", w.admin)
        assert r.status_code in (200, 201), r.text
        dispatch_once(w.stack.engine)

        got = [verified(problems_ep["secret"], req) for req in problems_sink.requests]
        assert {g["data"]["entity_id"] for g in got} == {inside}
        assert [g["data"]["payload"]["state"] for g in got] == ["identified", "assigned"]
        assert {g["type"] for g in got} == {"problem.state_changed"}
        ids = [req.headers["webhook-id"] for req in problems_sink.requests]
        assert len(set(ids)) == len(ids)
        with pytest.raises(WebhookVerificationError):  # another endpoint's secret
            verified(letters_ep["secret"], problems_sink.requests[0])
        # The city's endpoint: no problem events, one checkpoint, none of the past.
        kinds = [verified(letters_ep["secret"], req)["type"] for req in letters_sink.requests]
        assert kinds == ["audit.checkpoint"]

        dispatch_once(w.stack.engine)  # nothing new: nothing sent twice
        assert len(problems_sink.requests) == len(got)


async def test_retries_keep_the_id_refusals_give_up_and_replays_fail(w: World) -> None:
    # The receiver is down twice, then takes it; a second endpoint refuses with 410.
    with capturing_server([503, 503]) as (sink, url), capturing_server([410]) as (gone, gone_url):
        ep = (
            await w.call(
                "POST",
                "/api/v1/webhooks",
                w.admin,
                json={"url": url, "event_types": ["problem.state_changed"]},
            )
        ).json()
        refusing = (
            await w.call(
                "POST",
                "/api/v1/webhooks",
                w.admin,
                json={"url": gone_url, "event_types": ["problem.state_changed"]},
            )
        ).json()
        pid = await w.flag()
        dispatch_once(w.stack.engine)
        for _ in range(2):
            due_now(w)
            dispatch_once(w.stack.engine)
        assert len(sink.requests) == 3
        assert len({req.headers["webhook-id"] for req in sink.requests}) == 1  # one message
        assert verified(ep["secret"], sink.requests[-1])["data"]["entity_id"] == pid
        msgs = (await w.call("GET", f"/api/v1/webhooks/{ep['id']}/messages", w.admin)).json()
        assert [(m["state"], m["attempts"], m["last_status"]) for m in msgs["items"]] == [
            ("delivered", 3, 204)
        ]
        assert len(gone.requests) == 1  # a 4xx is not retried
        r = await w.call(
            "GET", f"/api/v1/webhooks/{refusing['id']}/messages?state=gave_up", w.admin
        )
        assert r.json()["total"] == 1 and r.json()["items"][0]["last_status"] == 410

        # Replay protection: an old timestamp, or one changed without re-signing, is refused.
        req = sink.requests[-1]
        hook = Webhook(ep["secret"])
        old = datetime.now(UTC) - timedelta(minutes=10)
        replayed = {
            **req.headers,
            "webhook-timestamp": str(int(old.timestamp())),
            "webhook-signature": hook.sign(req.headers["webhook-id"], old, req.body.decode()),
        }
        with pytest.raises(WebhookVerificationError, match="too old"):
            hook.verify(req.body, replayed)
        moved = {**req.headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()) + 1)}
        with pytest.raises(WebhookVerificationError):
            hook.verify(req.body, moved)

        # Disabled: nothing more is sent, and what was pending is given up.
        r = await w.call("POST", f"/api/v1/webhooks/{ep['id']}/disable", w.admin)
        assert r.json()["disabled_at"] is not None
        await w.walk_to(pid, "assigned")
        dispatch_once(w.stack.engine)
        assert len(sink.requests) == 3
        with Session(w.stack.engine) as s:
            states = s.exec(
                select(WebhookMessage.state).where(col(WebhookMessage.endpoint_id) == ep["id"])
            ).all()
        assert states == ["delivered"]


async def test_bad_endpoints_are_refused_naming_the_field(w: World) -> None:
    cases = [
        ({"url": "ftp://example.org/x", "event_types": ["letter.signed"]}, "url"),
        ({"url": "https://example.org/x", "event_types": ["letter.eaten"]}, "event_types"),
        ({"url": "https://example.org/x", "event_types": []}, "event_types"),
    ]
    for body, field in cases:
        r = await w.call("POST", "/api/v1/webhooks", w.admin, json=body)
        assert r.status_code == 422 and field in r.text, r.text
    r = await w.call(
        "POST",
        "/api/v1/webhooks",
        w.admin,
        json={"url": "https://example.org/" + "x" * 2000, "event_types": ["letter.signed"]},
    )
    assert r.status_code == 422 and "url" in r.text  # longer than it can be stored
    checkpoints = {"url": "https://example.org/x", "event_types": ["audit.checkpoint"]}
    r = await w.call(
        "POST", "/api/v1/webhooks", w.stack.token(Role.admin, "gb-1"), json=checkpoints
    )
    assert r.status_code == 422 and "installation-wide" in r.text  # never silently unsent
    body = {"url": "https://example.org/x", "event_types": ["letter.signed"]}
    assert (await w.call("POST", "/api/v1/webhooks", w.committee, json=body)).status_code == 403
    secret_url = {**body, "url": "https://bot:pw@example.org/hook?token=s3cret"}
    assert (await w.call("POST", "/api/v1/webhooks", w.admin, json=secret_url)).status_code == 201
    with Session(w.stack.engine) as s:
        trail = str(
            s.exec(select(AuditEvent.payload).where(AuditEvent.action == "webhook_created")).all()
        )
    assert "bot:pw" not in trail and "s3cret" not in trail and "example.org/hook" in trail
    gb2 = {**body, "scope_org_id": "gb-2"}
    r = await w.call("POST", "/api/v1/webhooks", w.stack.token(Role.admin, "gb-1"), json=gb2)
    assert r.status_code in (403, 404)
    r = await w.call(
        "POST", "/api/v1/webhooks", w.admin, json=body, headers={"Idempotency-Key": "k"}
    )
    assert r.status_code == 201
    other = {**body, "url": "https://example.org/y"}
    r = await w.call(
        "POST", "/api/v1/webhooks", w.admin, json=other, headers={"Idempotency-Key": "k"}
    )
    assert r.status_code == 422 and "Idempotency-Key" in r.text

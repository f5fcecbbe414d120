"""The rectification lifecycle through the real HTTP API, workflows and databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.audit.chain import AuditEvent
from services.core.clock import local_date
from services.rectification.models import Problem
from services.rectification.rules import RULES, Action, Flags, RectState, allowed_actions
from tests.support.histories import record
from tests.support.world import OWNER, World, world


@pytest.fixture
async def w(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_env.client) as w:
        yield w


def events(w: World, pid: str) -> list[AuditEvent]:
    with Session(w.stack.engine) as s:
        return list(
            s.exec(
                select(AuditEvent).where(AuditEvent.entity_id == pid).order_by(col(AuditEvent.seq))
            ).all()
        )


async def test_walk_to_closed_then_reopen_and_close_again(w: World) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "in_progress")
    ev = await w.upload(w.owner, b"photo of the filed minutes")
    r = await w.act(
        pid, "progress", w.owner, {"note": "two of three filed", "percent": 60, "evidence": [ev]}
    )
    assert r.status_code == 200 and r.json()["progress_percent"] == 60
    r = await w.act(pid, "completion", w.owner, {"summary": "all filed", "evidence": [ev]})
    assert r.json()["state"] == "completion_submitted"
    r = await w.act(pid, "verify", w.committee, {"result": "fail", "comment": "one is unsigned"})
    assert r.json()["state"] == "in_progress"
    await w.act(pid, "completion", w.owner, {"summary": "signed now", "evidence": [ev]})
    r = await w.act(pid, "verify", w.committee, {"result": "pass"})
    body = r.json()
    assert (
        body["state"] == "closed" and body["recheck_open"] and body["verifier_person_id"] == "p-001"
    )
    assert body["closed_at"] is not None and set(body["allowed_actions"]) == {"reopen", "recheck"}
    r = await w.act(pid, "reopen", w.committee, {"reason": "minutes missing again in May"})
    assert r.json()["state"] == "in_progress" and r.json()["closed_at"] is None
    await w.act(pid, "completion", w.owner, {"summary": "fixed for good", "evidence": [ev]})
    r = await w.act(pid, "verify", w.committee_gb1, {"result": "pass"})
    assert r.json()["state"] == "closed"

    r = await w.call("GET", f"/api/v1/problems/{pid}/timeline", w.auditor)
    actions = [e["action"] for e in r.json()]
    assert actions == [
        "flag",
        "confirm",
        "plan",
        "approve-plan",
        "progress",
        "completion",
        "verify",
        "completion",
        "verify",
        "reopen",
        "completion",
        "verify",
    ]
    assert [e["payload"]["state"] for e in r.json()][-3:] == [
        "in_progress",
        "completion_submitted",
        "closed",
    ]
    seqs = [e["seq"] for e in r.json()]
    assert len(set(seqs)) == len(seqs)
    assert len(events(w, pid)) == len(actions)  # every step stored exactly once
    r = await w.call("GET", "/api/v1/audit/verify", w.auditor)
    assert r.json() == {
        "ok": True,
        "events_checked": len(actions),
        "first_bad_event": None,
        "problem": None,
        "checkpoints_checked": 0,
        "first_bad_checkpoint": None,
        "drift": [],
        "drift_truncated": False,
    }
    await record(w.stack.client.get_workflow_handle(f"rect:{pid}"), "rectification-lifecycle")


VALID_BODIES: dict[Action, dict[str, Any]] = {
    Action.confirm: {"owner_person_id": OWNER},
    Action.dismiss: {"reason": "not a problem"},
    Action.assign: {"owner_person_id": "p-008"},
    Action.plan: {"measures": "do it", "target_date": "2030-01-01"},
    Action.approve_plan: {},
    Action.return_plan: {"reason": "too vague"},
    Action.progress: {"note": "half", "percent": 50},
    Action.extension: {"new_due": "2031-01-01", "reason": "supplier late"},
    Action.approve_extension: {},
    Action.deny_extension: {"reason": "no"},
    Action.completion: {"summary": "done", "evidence": ["E-NONE"]},
    Action.verify: {"result": "pass"},
    Action.reopen: {"reason": "recurred"},
    Action.recheck: {"held": True},
}
STATES = [
    "identified",
    "assigned",
    "plan_submitted",
    "in_progress",
    "completion_submitted",
    "closed",
    "dismissed",
]


@pytest.mark.parametrize("state", STATES)
async def test_every_illegal_action_answers_409_with_the_allowed_ones(w: World, state: str) -> None:
    pid = await w.flag()
    await w.walk_to(pid, state)
    flags = Flags(recheck_open=state == "closed")
    allowed = [a.value for a in allowed_actions(RectState(state), flags)]
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    assert r.json()["allowed_actions"] == allowed
    for action in Action:
        if action.value in allowed:
            continue
        r = await w.act(pid, action.value, w.committee, VALID_BODIES[action])
        assert r.status_code == 409, (state, action, r.text)
        problem = r.json()
        assert problem["state"] == state and problem["allowed_actions"] == allowed
        assert f"state {state!r}" in problem["detail"]


async def test_role_refusals_answer_403_and_out_of_scope_reads_as_unknown(w: World) -> None:
    pid = await w.flag()
    # A sibling subtree's committee sees and does nothing here.
    for method, url in (
        ("GET", f"/api/v1/problems/{pid}"),
        ("GET", f"/api/v1/problems/{pid}/timeline"),
    ):
        assert (await w.call(method, url, w.committee_gb2)).status_code == 404
    assert (await w.act(pid, "confirm", w.committee_gb2, {})).status_code == 404
    r = await w.call(
        "POST",
        "/api/v1/problems",
        w.committee_gb2,
        json={
            "org_id": "gb-1-b1",
            "source": "inspection",
            "category": "conduct",
            "severity": "minor",
            "title": "x",
        },
    )
    assert r.status_code == 404  # gb-1-b1 is not there for gb-2's committee
    # Members do not flag or oversee; auditors write nothing.
    r = await w.call(
        "POST",
        "/api/v1/problems",
        w.owner,
        json={
            "org_id": "gb-1-b1",
            "source": "self_check",
            "category": "conduct",
            "severity": "minor",
            "title": "x",
        },
    )
    assert r.status_code == 403
    assert (await w.act(pid, "confirm", w.owner, {})).status_code == 403
    assert (await w.act(pid, "confirm", w.auditor, {})).status_code == 403
    await w.walk_to(pid, "assigned")
    # Only the owner plans, reports and completes.
    r = await w.act(pid, "plan", w.other_member, VALID_BODIES[Action.plan])
    assert r.status_code == 403 and "only the owner" in r.json()["detail"]
    assert (await w.act(pid, "plan", w.committee, VALID_BODIES[Action.plan])).status_code == 403
    await w.act(pid, "plan", w.owner, VALID_BODIES[Action.plan])
    await w.act(pid, "approve-plan", w.committee, {})
    await w.act(
        pid, "completion", w.owner, {"summary": "done", "evidence": [await w.upload(w.owner)]}
    )
    # Segregation of duties: the owner can never verify, even holding a committee account.
    owner_as_committee = w.stack.token(Role.committee, "city", OWNER)
    r = await w.act(pid, "verify", owner_as_committee, {"result": "pass"})
    assert r.status_code == 403 and "segregation" in r.json()["detail"]
    assert (await w.act(pid, "verify", w.owner, {"result": "pass"})).status_code == 403
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    assert r.json()["state"] == "completion_submitted"


async def test_two_verifiers_at_once_exactly_one_wins(w: World) -> None:
    pid = await w.flag()
    await w.walk_to(pid, "completion_submitted")
    results = await asyncio.gather(
        w.act(pid, "verify", w.committee, {"result": "pass"}),
        w.act(pid, "verify", w.committee_gb1, {"result": "fail", "comment": "not convinced"}),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409).json()
    winner = next(r for r in results if r.status_code == 200).json()
    assert loser["state"] == winner["state"]
    assert [e.action for e in events(w, pid)].count("verify") == 1


async def test_extension_requested_approved_denied(w: World) -> None:
    pid = await w.flag(due="2030-03-31")
    await w.walk_to(pid, "in_progress")
    r = await w.act(pid, "extension", w.owner, {"new_due": "2030-02-01", "reason": "earlier?"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "new_due"
    r = await w.act(pid, "extension", w.owner, {"new_due": "2030-06-30", "reason": "supplier late"})
    assert r.json()["extension_pending"] and r.json()["requested_due"] == "2030-06-30"
    assert r.json()["state"] == "in_progress"
    r = await w.act(pid, "extension", w.owner, {"new_due": "2030-07-30", "reason": "again"})
    assert r.status_code == 409 and "already pending" in r.json()["detail"]
    r = await w.act(pid, "approve-extension", w.committee, {})
    assert r.json()["due"] == "2030-06-30" and not r.json()["extension_pending"]
    await w.act(pid, "extension", w.owner, {"new_due": "2030-09-30", "reason": "more"})
    r = await w.act(pid, "deny-extension", w.committee, {"reason": "no more time"})
    assert r.json()["due"] == "2030-06-30" and not r.json()["extension_pending"]
    assert (await w.act(pid, "deny-extension", w.committee, {"reason": "x"})).status_code == 409


async def test_bodies_and_evidence_are_validated(w: World) -> None:
    pid = await w.flag()
    r = await w.act(pid, "confirm", w.committee, {"owner_person_id": "ghost"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_person_id"
    r = await w.act(pid, "confirm", w.committee, {"surprise": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "surprise"
    r = await w.act(pid, "confirm", w.committee, {})  # default owner: the org's head
    assert r.json()["owner_person_id"] == "p-008"
    r = await w.act(pid, "assign", w.committee, {"owner_person_id": OWNER})
    assert r.json()["owner_person_id"] == OWNER and r.json()["state"] == "assigned"
    await w.act(pid, "plan", w.owner, VALID_BODIES[Action.plan])
    await w.act(pid, "approve-plan", w.committee, {})
    r = await w.act(pid, "completion", w.owner, {"summary": "done", "evidence": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence"
    r = await w.act(pid, "completion", w.owner, {"summary": "done", "evidence": ["E-NOPE"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence.0"
    r = await w.act(pid, "progress", w.owner, {"note": "x", "percent": 140})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "percent"
    assert (await w.act(pid, "teleport", w.committee, {})).status_code == 404
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    assert r.json()["state"] == "in_progress" and r.json()["version"] == 5


async def test_intake_validation_and_idempotency_key(w: World) -> None:
    body = {
        "org_id": "gb-1-b1",
        "source": "audit",
        "category": "integrity",
        "severity": "critical",
        "title": "Unreceipted spending",
    }
    headers = {"Idempotency-Key": "audit-2027-017"}
    r1 = await w.call("POST", "/api/v1/problems", w.committee, json=body, headers=dict(headers))
    r2 = await w.call("POST", "/api/v1/problems", w.committee, json=body, headers=dict(headers))
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["problem_id"] == r2.json()["problem_id"]
    w.problems.append(r1.json()["problem_id"])
    with Session(w.stack.engine) as s:
        assert len(s.exec(select(Problem)).all()) == 1
    assert len(events(w, r1.json()["problem_id"])) == 1
    # Due = the calendar day in the configured timezone (Shanghai) + 15 days for a critical problem.
    opened = datetime.fromisoformat(r1.json()["opened_at"].replace("Z", "+00:00"))
    assert (
        r1.json()["due"] == (local_date(opened, "Asia/Shanghai") + timedelta(days=15)).isoformat()
    )
    for field, value in (
        ("source", "rumour"),
        ("category", "weather"),
        ("severity", "huge"),
        ("org_id", "bad id!"),
    ):
        r = await w.call("POST", "/api/v1/problems", w.committee, json={**body, field: value})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    r = await w.call("POST", "/api/v1/problems", w.committee, json={**body, "org_id": "nowhere"})
    assert r.status_code == 404
    r = await w.call("POST", "/api/v1/problems", w.committee, json={**body, "due": "2001-01-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "due"
    with Session(w.stack.engine) as s:
        assert len(s.exec(select(Problem)).all()) == 1  # nothing half-written


def test_rules_cover_every_action() -> None:
    assert set(RULES) == set(Action)

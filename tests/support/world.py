"""A populated world for API tests: the demo org tree, one account per role, helpers to walk
rectifications through the HTTP API, and cleanup of the workflows a test started."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from services.accounts.models import Role
from services.core.db import session_scope
from services.core.settings import Settings
from services.core.tracing import Tracing
from services.cycle.contracts import org_workflow_id
from services.cycle.models import Cycle, Letter
from services.demo import demo_tree
from services.org.store import import_tree
from services.rectification.models import Problem
from tests.support.stack import Stack, running_stack

# Demo people: p-001 heads the city committee, p-005 heads gb-1, p-008 heads gb-1-b1 and p-009 is
# a member there; gb-2 (p-014 head) is a sibling subtree of gb-1.
OWNER = "p-009"


@dataclass
class World:
    stack: Stack
    admin: str
    committee: str  # city committee, person p-001
    committee_gb1: str  # committee scoped to gb-1, person p-005
    committee_gb2: str  # a sibling subtree's committee
    owner: str  # member p-009 of gb-1-b1
    other_member: str  # member p-008 (head of gb-1-b1), not the owner
    auditor: str
    problems: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # ids a test's fixture made

    async def call(self, method: str, url: str, token: str | None, **kw: Any) -> Any:
        return await self.stack.call(method, url, token, **kw)

    async def flag(self, token: str | None = None, **over: Any) -> str:
        body = {
            "org_id": "gb-1-b1",
            "source": "inspection",
            "category": "conduct",
            "severity": "major",
            "title": "Minutes of branch meetings not filed",
            "description": "Three meetings in Q1 have no minutes on file.",
            **over,
        }
        r = await self.call("POST", "/api/v1/problems", token or self.committee, json=body)
        assert r.status_code == 201, r.text
        pid: str = r.json()["problem_id"]
        self.problems.append(pid)
        return pid

    async def act(
        self, pid: str, action: str, token: str, body: dict[str, Any] | None = None
    ) -> Any:
        return await self.call("POST", f"/api/v1/problems/{pid}/{action}", token, json=body or {})

    async def upload(
        self, token: str, content: bytes = b"minutes", name: str = "minutes.txt"
    ) -> str:
        r = await self.call(
            "POST", "/api/v1/evidence", token, files={"file": (name, content, "text/plain")}
        )
        assert r.status_code == 201, r.text
        eid: str = r.json()["evidence_id"]
        return eid

    async def walk_to(self, pid: str, state: str) -> None:
        """Drive a fresh problem to ``state`` through the API as the right people would."""
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("assigned", "confirm", {"owner_person_id": OWNER}),
            (
                "plan_submitted",
                "plan",
                {"measures": "File minutes within 3 days", "target_date": "2030-01-01"},
            ),
            ("in_progress", "approve-plan", {}),
            ("completion_submitted", "completion", {"summary": "All minutes filed"}),
            ("closed", "verify", {"result": "pass"}),
        ]
        if state == "identified":
            return
        if state == "dismissed":
            r = await self.act(pid, "dismiss", self.committee, {"reason": "duplicate"})
            assert r.status_code == 200, r.text
            return
        for reached, action, body in steps:
            token = self.owner if action in ("plan", "completion") else self.committee
            if action == "completion":
                body = {**body, "evidence": [await self.upload(self.owner)]}
            r = await self.act(pid, action, token, body)
            assert r.status_code == 200, (action, r.text)
            assert r.json()["state"] == reached
            if reached == state:
                return

    async def walk_to_closed_from_in_progress(self, pid: str) -> None:
        evidence = [await self.upload(self.owner)]
        r = await self.act(pid, "completion", self.owner, {"summary": "done", "evidence": evidence})
        assert r.status_code == 200, r.text
        r = await self.act(pid, "verify", self.committee, {"result": "pass"})
        assert r.status_code == 200 and r.json()["state"] == "closed", r.text


async def terminate_all(client: Client, engine: Engine, problem_ids: list[str]) -> None:
    """Stop every workflow this test's database knows of (rectifications, org workflows of
    cycles), so none outlives the test's database on a shared Temporal server."""
    with Session(engine) as s:
        known = set(s.exec(select(Problem.id)).all())
        letters = s.exec(select(Letter.cycle_id, Letter.org_id)).all()
        roots = s.exec(select(Cycle.id, Cycle.root_org_id)).all()
    ids = [f"rect:{p}" for p in sorted(known | set(problem_ids))]
    ids += [org_workflow_id(c, o) for c, o in {*letters, *roots}]
    for wid in ids:
        with suppress(RPCError):  # already finished
            await client.get_workflow_handle(wid).terminate("test over")


@asynccontextmanager
async def world(
    settings: Settings, engine: Engine, client: Client, tracing: Tracing | None = None
) -> AsyncIterator[World]:
    with session_scope(engine) as s:
        import_tree(s, demo_tree())
    async with running_stack(settings, engine, client, tracing=tracing) as stack:
        w = World(
            stack=stack,
            admin=stack.token(Role.admin),
            committee=stack.token(Role.committee, "city", "p-001"),
            committee_gb1=stack.token(Role.committee, "gb-1", "p-005"),
            committee_gb2=stack.token(Role.committee, "gb-2", "p-014"),
            owner=stack.token(Role.member, "gb-1-b1", OWNER),
            other_member=stack.token(Role.member, "gb-1-b1", "p-008"),
            auditor=stack.token(Role.auditor, "city"),
        )
        try:
            yield w
        finally:
            await terminate_all(client, engine, w.problems)

"""Helpers for annual-cycle tests: a small plan, reading letters, signing as the head would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.audit.chain import AuditEvent
from services.cycle.models import Letter
from services.integrity.drift import integrity_report
from services.notify.models import Notification
from tests.support.world import World

YEAR = 2027


def item(
    title: str,
    due: str,
    target: float,
    responsibility: str = "primary",
    category: str = "organization",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "category": category,
        "responsibility": responsibility,
        "title": title,
        "indicator": {"metric": title.lower(), "target": target, "unit": "times", "standard": ""},
        "due": due,
        **extra,
    }


def small_plan(year: int = YEAR, **over: Any) -> dict[str, Any]:
    """Two items per kind: one due at mid-year (primary), one at year end (collective)."""
    mid, end = f"{year}-06-30", f"{year}-12-15"
    per_kind = [
        item("Mid-year debriefings", mid, 2),
        item("Branch meetings", end, 12, responsibility="collective"),
    ]
    plan: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "calendar": {
            "sign_by": f"{year}-01-31",
            "commitments_by": f"{year}-02-28",
            "midyear": mid,
            "yearend": end,
            "closes_on": f"{year}-12-31",
        },
        "templates": {k: per_kind for k in ("committee", "general_branch", "branch")},
        "extra_items": {
            "gb-1-b1": [
                item(
                    "Integrity talk",
                    end,
                    1,
                    responsibility="specific",
                    category="integrity",
                    assignee_person_id="p-009",
                    indicator={
                        "metric": "talks",
                        "target": 1,
                        "unit": "talk",
                        "standard": "minutes of the talk attached",
                        "evidence_required": True,
                    },
                )
            ]
        },
    }
    plan.update(over)
    return plan


async def launch(w: World, plan: dict[str, Any] | None = None, year: int = YEAR) -> str:
    r = await w.call(
        "POST",
        "/api/v1/cycles",
        w.committee,
        json={
            "root_org_id": "city",
            "year": year,
            "title": f"{year} cycle",
            "plan": plan or small_plan(year),
        },
    )
    assert r.status_code == 202, r.text
    cycle_id: str = r.json()["cycle_id"]
    return cycle_id


async def letter(w: World, token: str, cycle_id: str, org_id: str) -> dict[str, Any]:
    r = await w.call("GET", f"/api/v1/letters/{cycle_id}/{org_id}", token)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def sign(w: World, token: str, cycle_id: str, org_id: str, content_hash: str | None = None):  # type: ignore[no-untyped-def]
    if content_hash is None:
        content_hash = (await letter(w, token, cycle_id, org_id))["content_hash"]
    return await w.call(
        "POST",
        f"/api/v1/letters/{cycle_id}/{org_id}/sign",
        token,
        json={"content_hash": content_hash},
    )


async def eventually(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    """Poll (real time) until ``check()`` returns something truthy: activities run for real."""
    for _ in range(int(timeout * 10)):
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def sent_slots(
    w: World, entity_id: str, entity_type: str = "letter"
) -> list[tuple[str, datetime | None, str | None]]:
    """The reminders and escalations sent about one thing: (kind, slot instant in UTC, to whom),
    in slot order."""
    with Session(w.stack.engine) as s:
        rows = s.exec(
            select(Notification)
            .where(
                Notification.entity_id == entity_id,
                Notification.entity_type == entity_type,
                col(Notification.kind).in_(["reminder", "escalation"]),
            )
            .order_by(col(Notification.scheduled_for))
        ).all()
    out = []
    for n in rows:
        at = n.scheduled_for
        out.append(
            (
                n.kind,
                at if at is None or at.tzinfo else at.replace(tzinfo=UTC),
                n.recipient_person_id,
            )
        )
    return out


def assert_cascade_once(engine: Engine, cycle_id: str, org_ids: set[str]) -> None:
    """After a cascade (crashes, replicas, retries): one letter per org, one ``issue`` and one
    ``sign`` event per letter, no audit idempotency key twice, and an integrity report with no
    drift. Raises AssertionError naming what is off (for tests and benchmarks alike)."""
    with Session(engine) as s:
        letters = s.exec(select(Letter.org_id).where(Letter.cycle_id == cycle_id)).all()
        if sorted(letters) != sorted(org_ids):
            raise AssertionError(f"{len(letters)} letters for {len(org_ids)} orgs")
        for action in ("issue", "sign"):
            per_letter = s.exec(
                select(AuditEvent.entity_id, func.count())
                .where(AuditEvent.action == action, col(AuditEvent.entity_id).like(f"{cycle_id}:%"))
                .group_by(col(AuditEvent.entity_id))
            ).all()
            if len(per_letter) != len(org_ids) or {c for _, c in per_letter} != {1}:
                twice = [e for e, c in per_letter if c != 1][:5]
                raise AssertionError(f"{action}: {len(per_letter)} letters, repeated: {twice}")
        keys = s.exec(select(AuditEvent.idempotency_key)).all()
        if len(keys) != len(set(keys)):
            raise AssertionError("an audit idempotency key was written twice")
        report = integrity_report(s)
        if not report.ok:
            raise AssertionError(f"integrity: {report.drift[:5] or report.problem}")

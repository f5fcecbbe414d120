"""Scope matrix: for every role and every read endpoint, an account of a sibling subtree (gb-2)
sees none of gb-1's rows; auditors write nothing anywhere."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from temporalio.testing import WorkflowEnvironment

from services.accounts.models import Role
from services.core.db import session_scope
from services.deadlines.accountability import AccountabilityIn, record_accountability
from services.notify.models import NotificationIn
from services.notify.store import record_notification
from tests.support.ledger_data import load_fixed_ledger
from tests.support.world import World, world

GB1_ROWS = {"P1", "P2", "P6"}  # in gb-1's subtree; P3, P4 are gb-2's, P5 gb-3's
ROLES = [Role.admin, Role.committee, Role.auditor, Role.member]


@pytest.fixture
async def w(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[World]:
    async with world(settings, engine, ts_env.client) as w:
        load_fixed_ledger(engine)
        with session_scope(engine) as s:
            for org, path, person in (
                ("gb-1-b1", "/city/gb-1/gb-1-b1/", "p-009"),
                ("gb-2-b1", "/city/gb-2/gb-2-b1/", "p-018"),
            ):
                record_accountability(
                    s,
                    AccountabilityIn(
                        dedupe_key=f"acc-{org}",
                        kind="reminder_talk",
                        org_id=org,
                        org_path=path,
                        person_id=person,
                        reason="late",
                        entity_type="problem",
                        entity_id="P1" if org == "gb-1-b1" else "P3",
                    ),
                )
                record_notification(
                    s,
                    NotificationIn(
                        dedupe_key=f"n-{org}",
                        recipient_person_id=person,
                        kind="reminder",
                        subject="s",
                        body="b",
                        entity_type="problem",
                        entity_id="P1",
                        org_path=path,
                        scheduled_for=datetime.now(UTC),
                    ),
                )
        for org in ("gb-1-b1", "gb-2-b1"):
            r = await w.call(
                "POST", "/public/v1/reports", None, json={"org_id": org, "text": f"about {org}"}
            )
            assert r.status_code == 201
        w.extra["gb1_evidence"] = await w.upload(w.owner)
        yield w


def sibling(w: World, role: Role) -> str:
    person = {Role.member: "p-018", Role.committee: "p-014"}.get(role)
    return w.stack.token(role, "gb-2" if role is not Role.member else "gb-2-b1", person)


def problem_ids_in(r) -> set[str]:
    ctype = r.headers["content-type"]
    if ctype.startswith("text/csv"):
        return {row[0] for row in list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]}
    if "spreadsheet" in ctype:
        ws = load_workbook(io.BytesIO(r.content))["Rectifications"]
        return {str(row[0]) for row in ws.iter_rows(min_row=2, values_only=True)}
    return {row["problem_id"] for row in r.json()["items"]}


def _words(r: Any, *ids: str) -> tuple[int, str]:
    body = r.json()
    text = json.dumps({k: v for k, v in body.items() if k != "instance"}, sort_keys=True)
    for n, i in enumerate(ids):
        text = text.replace(i, f"<id{n}>")
    return r.status_code, text


async def answered_as_unknown(
    w: World,
    token: str,
    url: str,
    unknown: str | None = None,
    params: tuple[dict[str, str], dict[str, str]] | None = None,
) -> None:
    """The answer about something out of scope is the answer about something that does not
    exist, status and words alike (ids aside)."""
    known_params, unknown_params = params or ({}, {})
    r = await w.call("GET", url, token, params=known_params)
    r_unknown = await w.call("GET", unknown or url, token, params=unknown_params)
    assert r.status_code in (404, 422), (url, r.status_code, r.text)
    differ = [
        (a, b) for a, b in zip(url.split("/"), (unknown or url).split("/"), strict=True) if a != b
    ]
    ids = [a for a, _ in differ] + list(known_params.values())
    other = [b for _, b in differ] + list(unknown_params.values())
    assert _words(r, *ids) == _words(r_unknown, *other), (url, r.text, r_unknown.text)


@pytest.mark.parametrize("role", ROLES)
async def test_sibling_subtree_sees_nothing_of_gb1(w: World, role: Role) -> None:
    token = sibling(w, role)
    for url in (
        "/api/v1/rectifications",
        "/api/v1/rectifications/export.csv",
        "/api/v1/rectifications/export.xlsx",
    ):
        r = await w.call("GET", url, token)
        assert r.status_code == 200, (url, r.text)
        seen = problem_ids_in(r)
        assert not seen & GB1_ROWS, (role, url, seen)
        assert seen <= {"P3", "P4"}
    r = await w.call("GET", "/api/v1/rectifications/stats", token)
    assert r.json()["overall"]["total"] == 2  # P3 and P4, both in gb-2-b1
    assert all(c["org_id"].startswith("gb-2") for c in r.json()["by_child_org"])
    # What lies in gb-1 reads exactly as what does not exist: nothing tells that it does.
    for url in (
        "/api/v1/rectifications",
        "/api/v1/rectifications/stats",
        "/api/v1/rectifications/export.csv",
    ):
        await answered_as_unknown(w, token, url, params=({"org": "gb-1"}, {"org": "gb-9"}))
    evidence = w.extra["gb1_evidence"]  # type: ignore[attr-defined]
    for url, unknown in (
        ("/api/v1/problems/P1", "/api/v1/problems/P9"),
        ("/api/v1/problems/P1/timeline", "/api/v1/problems/P9/timeline"),
        ("/api/v1/orgs/gb-1", "/api/v1/orgs/gb-9"),
        ("/api/v1/orgs/gb-1/heads", "/api/v1/orgs/gb-9/heads"),
        (f"/api/v1/evidence/{evidence}", "/api/v1/evidence/E-NOPE"),
    ):
        await answered_as_unknown(w, token, url, unknown)
    await answered_as_unknown(
        w, token, "/api/v1/orgs", params=({"under": "gb-1"}, {"under": "gb-9"})
    )
    orgs = (await w.call("GET", "/api/v1/orgs", token)).json()["items"]
    assert orgs and all(o["path"].startswith("/city/gb-2/") for o in orgs)
    acc = (await w.call("GET", "/api/v1/accountability", token)).json()["items"]
    assert [a["org_id"] for a in acc] == ["gb-2-b1"]
    r = await w.call("GET", "/api/v1/notifications", token, params={"person": "p-009"})
    assert r.status_code == 403 if role is Role.member else r.json()["total"] == 0
    r = await w.call("GET", "/api/v1/reports", token)
    if role is Role.member:
        assert r.status_code == 403
    else:
        assert [x["org_id"] for x in r.json()["items"]] == ["gb-2-b1"]


async def test_own_subtree_sees_its_rows(w: World) -> None:
    r = await w.call("GET", "/api/v1/rectifications", w.committee_gb1)
    assert problem_ids_in(r) == GB1_ROWS
    r = await w.call("GET", "/api/v1/notifications", w.owner)
    assert [n["recipient_person_id"] for n in r.json()["items"]] == ["p-009"]


WRITES = [
    ("/api/v1/orgs", {"id": "x", "name": "X", "kind": "branch", "parent_id": "gb-2"}),
    ("/api/v1/people", {"id": "p-x", "name": "X", "org_id": "gb-2"}),
    ("/api/v1/accounts", {"role": "member", "scope_org_id": "gb-2"}),
    (
        "/api/v1/problems",
        {
            "org_id": "gb-2-b1",
            "source": "audit",
            "category": "integrity",
            "severity": "major",
            "title": "t",
        },
    ),
    ("/api/v1/problems/P3/progress", {"note": "n", "percent": 1}),
    ("/api/v1/problems/P3/completion", {"summary": "s", "evidence": ["E-1"]}),
    ("/api/v1/problems/P1/reopen", {"reason": "r"}),
    ("/api/v1/reports/R-1/triage", {"action": "dismiss", "reason": "r"}),
]


async def test_auditors_write_nothing(w: World) -> None:
    for url, body in WRITES:
        r = await w.call("POST", url, w.auditor, json=body)
        assert r.status_code == 403 and "read-only" in r.json()["detail"], (url, r.text)
    r = await w.call(
        "POST", "/api/v1/evidence", w.auditor, files={"file": ("a.txt", b"a", "text/plain")}
    )
    assert r.status_code == 403


async def test_tampering_is_detected_through_the_api(w: World) -> None:
    from sqlalchemy import text

    r = await w.call("GET", "/api/v1/audit/verify", w.auditor)
    assert r.json()["ok"] and r.json()["events_checked"] == 24  # P1 6, P2 6, P3 7, P4 2, P5 2, P6 1
    assert (await w.call("GET", "/api/v1/audit/verify", w.committee)).status_code == 403
    with w.stack.engine.begin() as c:
        c.execute(text('UPDATE audit_events SET payload = \'{"state": "closed"}\' WHERE seq = 10'))
    r = await w.call("GET", "/api/v1/audit/verify", w.auditor)
    assert r.json()["ok"] is False and r.json()["first_bad_event"] == 10

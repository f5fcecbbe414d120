"""Public supervision reports and evidence files through the real API and DB."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from services.evidence.models import Evidence
from services.rectification.models import Problem
from services.reports.models import PublicReport
from tests.support.world import World, world


@pytest.fixture
async def w(settings, engine, ts_env: WorkflowEnvironment) -> AsyncIterator[World]:
    settings = settings.model_copy(
        update={"public_report_rate_per_minute": 3, "evidence_max_bytes": 1000}
    )
    async with world(settings, engine, ts_env.client) as w:
        yield w


def count(w: World, model: type) -> int:
    with Session(w.stack.engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


async def test_public_report_refusals_write_nothing(w: World) -> None:
    r = await w.call(
        "POST", "/public/v1/reports", None, json={"org_id": "gb-1-b1", "text": "x" * 5000}
    )
    assert r.status_code == 413 and r.json()["field"] == "text"
    r = await w.call(
        "POST", "/public/v1/reports", None, json={"org_id": "nowhere", "text": "hello"}
    )
    assert r.status_code == 404
    r = await w.call("POST", "/public/v1/reports", None, json={"org_id": "gb-1-b1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"
    assert count(w, PublicReport) == 0


async def test_flood_is_429_with_retry_after(w: World) -> None:
    codes = []
    for i in range(5):
        r = await w.call(
            "POST", "/public/v1/reports", None, json={"org_id": "gb-1-b1", "text": f"report {i}"}
        )
        codes.append(r.status_code)
    assert codes == [201, 201, 201, 429, 429]
    assert int(r.headers["retry-after"]) >= 1
    assert count(w, PublicReport) == 3


async def test_triage_flags_a_problem_or_dismisses(w: World) -> None:
    ids = []
    for text in ("The branch never holds its meetings", "Spam spam spam"):
        r = await w.call(
            "POST", "/public/v1/reports", None, json={"org_id": "gb-1-b1", "text": text}
        )
        ids.append(r.json()["report_id"])
    r = await w.call("GET", "/api/v1/reports", w.committee, params={"status": "new"})
    assert r.json()["total"] == 2
    assert (await w.call("GET", "/api/v1/reports", w.committee_gb2)).json()["total"] == 0
    r = await w.call(
        "POST",
        f"/api/v1/reports/{ids[0]}/triage",
        w.committee_gb2,
        json={"action": "dismiss", "reason": "x"},
    )
    assert r.status_code == 404
    r = await w.call(
        "POST", f"/api/v1/reports/{ids[0]}/triage", w.committee, json={"action": "flag"}
    )
    assert r.status_code == 422
    r = await w.call(
        "POST",
        f"/api/v1/reports/{ids[0]}/triage",
        w.committee,
        json={"action": "flag", "category": "organization", "severity": "major"},
    )
    assert r.status_code == 200, r.text
    pid = r.json()["problem_id"]
    w.problems.append(pid)
    r = await w.call("GET", f"/api/v1/problems/{pid}", w.committee)
    assert r.json()["source"] == "supervision" and r.json()["state"] == "identified"
    assert r.json()["description"] == "The branch never holds its meetings"
    r = await w.call(
        "POST",
        f"/api/v1/reports/{ids[0]}/triage",
        w.committee,
        json={"action": "dismiss", "reason": "again"},
    )
    assert r.status_code == 409
    r = await w.call(
        "POST",
        f"/api/v1/reports/{ids[1]}/triage",
        w.committee,
        json={"action": "dismiss", "reason": "spam"},
    )
    assert r.json()["status"] == "dismissed" and r.json()["triage_reason"] == "spam"
    assert count(w, Problem) == 1


async def test_public_commitment_free_paths_need_no_token(w: World) -> None:
    r = await w.call(
        "POST", "/public/v1/reports", None, json={"org_id": "gb-1-b1", "text": "hello"}
    )
    assert r.status_code == 201 and set(r.json()) == {"report_id", "status"}


async def test_evidence_upload_limits_and_download_scope(w: World) -> None:
    r = await w.call(
        "POST", "/api/v1/evidence", w.owner, files={"file": ("big.txt", b"x" * 1001, "text/plain")}
    )
    assert r.status_code == 413
    r = await w.call(
        "POST",
        "/api/v1/evidence",
        w.owner,
        files={"file": ("run.exe", b"MZ", "application/x-msdownload")},
    )
    assert r.status_code == 415 and r.json()["field"] == "file.content_type"
    r = await w.call("POST", "/api/v1/evidence", w.owner, json={"file": "not multipart"})
    assert r.status_code == 422
    assert count(w, Evidence) == 0
    assert not any(p.name.startswith(".upload-") for p in w.stack.settings.evidence_dir.rglob("*"))

    content = "会议记录 minutes".encode()
    r = await w.call(
        "POST", "/api/v1/evidence", w.owner, files={"file": ("minutes.txt", content, "text/plain")}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest() and body["size"] == len(content)
    r = await w.call("GET", f"/api/v1/evidence/{body['evidence_id']}", w.committee)
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-type"].startswith("text/plain")
    assert (
        await w.call("GET", f"/api/v1/evidence/{body['evidence_id']}", w.committee_gb2)
    ).status_code == 404
    assert (await w.call("GET", "/api/v1/evidence/E-NOPE", w.committee)).status_code == 404


async def test_a_retried_upload_keeps_one_evidence_row(w: World) -> None:
    def send(content: bytes) -> dict[str, object]:
        return {
            "files": {"file": ("minutes.txt", content, "text/plain")},
            "headers": {"Idempotency-Key": "upload-1"},
        }

    first = await w.call("POST", "/api/v1/evidence", w.owner, **send(b"minutes of May"))
    again = await w.call("POST", "/api/v1/evidence", w.owner, **send(b"minutes of May"))
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    other = await w.call("POST", "/api/v1/evidence", w.owner, **send(b"another file"))
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    with Session(w.stack.engine) as s:
        assert s.exec(select(func.count()).select_from(Evidence)).one() == 1

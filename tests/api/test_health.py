"""Liveness, readiness and problem+json for unknown routes."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from services.core.db import make_engine
from services.core.settings import Settings
from tests.support.stack import running_stack


async def test_readyz_ok_and_deep_runs_a_workflow_through_the_worker(
    settings, engine: Engine, ts_env: WorkflowEnvironment
) -> None:
    async with running_stack(settings, engine, ts_env.client) as s:
        assert (await s.http.get("/healthz")).json() == {"status": "ok"}
        r = await s.http.get("/readyz", params={"deep": "true"})
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "temporal": "ok", "worker": "ok"}
        r = await s.http.get("/no/such/route")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert "x-request-id" in r.headers


async def test_readyz_503_names_the_database_when_it_is_down(
    settings, ts_env: WorkflowEnvironment, tmp_path
) -> None:
    # A PostgreSQL URL on a port nothing listens on: the database is "down".
    broken = make_engine("postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    async with running_stack(settings, broken, ts_env.client, with_worker=False) as s:
        r = await s.http.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["checks"]["temporal"] == "ok"
        assert body["checks"]["database"].startswith("down")
        assert "database" in body["detail"]


async def test_database_down_is_503_problem_not_500(settings, ts_env: WorkflowEnvironment) -> None:
    broken = make_engine("postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    async with running_stack(settings, broken, ts_env.client, with_worker=False) as s:
        r = await s.http.get("/api/v1/orgs/city", headers={"Authorization": "Bearer dl_x"})
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "2"


def test_the_openapi_document_has_no_dangling_references() -> None:
    """Every ``$ref`` in the document resolves inside it (a schema tool must read all of it)."""
    doc = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    text = json.dumps(doc)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert refs, "expected component references"
    for ref in refs:
        node: Any = doc
        assert ref.startswith("#/"), ref
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"dangling {ref}"
            node = node[part]


async def test_an_unexpected_error_is_a_500_problem_with_the_request_headers(
    settings: Settings, sqlite_engine: Engine
) -> None:
    """Starlette answers it from outside the request-context middleware: the handler adds the
    request id and the security headers itself."""
    app = create_app(settings, engine=sqlite_engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.get("/boom", headers={"x-request-id": "req-500"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "req-500"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"

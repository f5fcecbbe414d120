"""Behind a proxy the rate limits count per client only when the proxy is trusted: the API
served by uvicorn as in production, public reports sent through a "proxy" (X-Forwarded-For
from loopback), with ``DUTYLEDGER_FORWARDED_ALLOW_IPS`` naming it and with it empty."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.runtime import api_server
from services.core.db import session_scope
from services.core.settings import Settings
from services.demo import demo_tree
from services.org.store import import_tree
from tests.support.ports import free_port


async def _statuses(settings: Settings, engine: Engine, client: object) -> list[tuple[str, int]]:
    port = free_port()
    served = settings.model_copy(update={"api_port": port, "public_report_rate_per_minute": 2})
    app = create_app(served, engine=engine, temporal=client)  # type: ignore[arg-type]
    server = api_server(app, served)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        out = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for who in ("203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.9"):
                r = await http.post(
                    "/public/v1/reports",
                    json={"org_id": "gb-1-b1", "text": f"a report from {who}"},
                    headers={"X-Forwarded-For": who},
                )
                out.append((who, r.status_code))
        return out
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(("trusted", "last"), [("127.0.0.1", 201), ("", 429)])
async def test_rate_limits_see_clients_through_a_trusted_proxy_only(
    settings: Settings,
    sqlite_engine: Engine,
    ts_env: WorkflowEnvironment,
    trusted: str,
    last: int,
) -> None:
    with session_scope(sqlite_engine) as s:
        import_tree(s, demo_tree())
    got = await _statuses(
        settings.model_copy(update={"forwarded_allow_ips": trusted}), sqlite_engine, ts_env.client
    )
    # The same client is stopped at its third report either way; another client behind the
    # proxy is served only when the proxy's X-Forwarded-For is believed.
    assert [code for _, code in got] == [201, 201, 429, last], got

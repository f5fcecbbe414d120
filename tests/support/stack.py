"""The app under test, wired to a real Temporal environment, a real DB and a real worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.deps import ActivityDeps
from api.app import create_app
from api.worker import Workers, build_worker
from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.db import session_scope
from services.core.settings import Settings
from services.core.tracing import Tracing


@dataclass
class Stack:
    settings: Settings
    engine: Engine
    client: Client
    http: httpx.AsyncClient
    worker: Workers | None
    app: FastAPI

    def token(
        self, role: Role, scope_org_id: str | None = None, person_id: str | None = None
    ) -> str:
        with session_scope(self.engine) as session:
            return create_account(
                session, AccountIn(role=role, scope_org_id=scope_org_id, person_id=person_id)
            ).token

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, url: str, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers.update(self.auth(token))
        return await self.http.request(method, url, headers=headers, **kw)


@asynccontextmanager
async def running_stack(
    settings: Settings,
    engine: Engine,
    client: Client,
    *,
    with_worker: bool = True,
    tracing: Tracing | None = None,
) -> AsyncIterator[Stack]:
    """The FastAPI app (lifespan run) over ASGI, plus a worker on a task queue of its own."""
    settings = settings.model_copy(update={"temporal_task_queue": f"tq-{uuid.uuid4().hex[:8]}"})
    app = create_app(settings, engine=engine, temporal=client, tracing=tracing)
    worker = (
        build_worker(client, ActivityDeps(engine=engine, settings=settings))
        if with_worker
        else None
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            if worker is None:
                yield Stack(settings, engine, client, http, None, app)
            else:
                async with worker:
                    yield Stack(settings, engine, client, http, worker, app)

"""kill -9, one after another, of the worker, the Temporal dev server (restarted on the same
file and port) and the API, in the middle of a cascade whose heads sign over HTTP as real
clients would (retrying the same request until it is answered). Afterwards every org has
exactly one letter, one issue event and one signature, the audit trail verifies with no drift,
and no workflow failed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select
from standardwebhooks.webhooks import Webhook

from api.runtime import DevTemporalServer
from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.audit.chain import AuditEvent
from services.core.db import make_engine, session_scope
from services.core.settings import Settings
from services.cycle.models import Letter
from services.cycle.plan import default_plan
from services.demo import LEVEL_KINDS, synthetic_tree
from services.integrity.drift import integrity_report
from services.org.store import import_tree
from tests.support.cycles import YEAR, eventually
from tests.support.peers import capturing_server
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).parent / "dutyledger")
ORGS = 121  # 1 + 10 + 110 on three levels
ADMIN = "dl_admin_for_the_crash_test_0123456789"


class Proc:
    """A dutyledger process we can kill -9 and start again with the same environment."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [EXE, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def _retrying(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """What a real client does: the same request again until the service answers it."""
    for _ in range(600):
        try:
            r = await http.request(method, url, **kw)
        except httpx.TransportError:
            await asyncio.sleep(0.5)
            continue
        if r.status_code in (502, 503, 504):
            await asyncio.sleep(0.5)
            continue
        return r
    raise AssertionError(f"{method} {url} never answered")


async def _sign_when_issued(
    http: httpx.AsyncClient, cid: str, org: str, token: str, signed: set[str]
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/letters/{cid}/{org}"
    for _ in range(1200):
        r = await _retrying(http, "GET", url, headers=auth)
        if r.status_code == 200:
            letter = r.json()
            if letter["state"] == "signed":
                signed.add(org)
                return
            r = await _retrying(
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


def _stall_report(engine: Any, cid: str, orgs: list[Any], signed: set[str], logs: Path) -> str:
    """Where a stalled run stood: the orgs never signed, their letters' states and the end of
    each process's log, so that a stall on a slower machine can be read from CI's output."""
    with Session(engine) as s:
        states = dict(
            s.exec(select(Letter.org_id, Letter.state).where(Letter.cycle_id == cid)).all()
        )
    unsigned = {o.id: states.get(o.id, "no letter") for o in orgs if o.id not in signed}
    tails = "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        for log in sorted(logs.glob("*.log"))
    )
    return f"{len(signed)} of {len(orgs)} signed; unsigned: {unsigned}\n{tails}"


@pytest.mark.timeout(600)
async def test_worker_server_and_api_killed_mid_cascade(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = Settings(
        data_dir=var,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        api_port=free_port(),
        _env_file=None,  # type: ignore[call-arg]
    )
    db_url = f"sqlite:///{(tmp_path / 'read-model.db').resolve()}"
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(var),
        "DUTYLEDGER_DATABASE_URL": db_url,
        "DUTYLEDGER_TEMPORAL_ADDRESS": settings.resolved_temporal_address,
        "DUTYLEDGER_API_PORT": str(settings.api_port),
        "DUTYLEDGER_BOOTSTRAP_ADMIN_TOKEN": ADMIN,
        "DUTYLEDGER_LOG_JSON": "true",
        "DUTYLEDGER_LOG_LEVEL": "INFO",
    }
    assert subprocess.run([EXE, "migrate"], env=env, timeout=120).returncode == 0
    engine = make_engine(db_url)
    root = "z"
    tree = synthetic_tree(ORGS, depth=3, root=root)
    with session_scope(engine) as s:
        import_tree(s, tree)
        tokens = {
            o.id: create_account(
                s, AccountIn(role=Role.member, scope_org_id=o.id, person_id=o.head_person_id)
            ).token
            for o in tree.orgs
        }
        committee = create_account(
            s, AccountIn(role=Role.committee, scope_org_id=root, person_id=f"h-{root}")
        ).token
    server = DevTemporalServer(settings)
    server.start()
    await server.wait_ready()
    worker = Proc(["worker"], env, tmp_path / "worker.log")
    api = Proc(["api"], env, tmp_path / "api.log")
    worker.start()
    api.start()
    base = f"http://127.0.0.1:{settings.api_port}"
    signed: set[str] = set()
    receivers = contextlib.ExitStack()
    sink, hook_url = receivers.enter_context(capturing_server())
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            hook = await _retrying(
                http,
                "POST",
                "/api/v1/webhooks",
                headers={"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": "crash-hook"},
                json={"url": hook_url, "event_types": ["letter.signed"]},
            )
            assert hook.status_code == 201, hook.text
            plan = default_plan(YEAR, list(LEVEL_KINDS[:3])).model_dump(mode="json")
            r = await _retrying(
                http,
                "POST",
                "/api/v1/cycles",
                headers={"Authorization": f"Bearer {committee}"},
                json={"root_org_id": root, "year": YEAR, "title": "crash", "plan": plan},
            )
            assert r.status_code == 202, r.text
            cid = r.json()["cycle_id"]
            signers = [
                asyncio.create_task(_sign_when_issued(http, cid, o.id, tokens[o.id], signed))
                for o in tree.orgs
            ]

            async def chaos() -> None:
                for victim, at in (("worker", 15), ("server", 50), ("api", 85)):

                    def enough(n: int = at) -> bool:
                        return len(signed) >= n

                    await eventually(enough, timeout=300, what=victim)
                    if victim == "worker":
                        worker.kill()
                        await asyncio.sleep(1)
                        worker.start()
                    elif victim == "server":
                        assert server.proc is not None
                        server.proc.send_signal(signal.SIGKILL)
                        server.proc.wait(timeout=10)
                        await asyncio.sleep(1)
                        server.start()  # the same file and port
                        await server.wait_ready()
                    else:
                        api.kill()
                        await asyncio.sleep(1)
                        api.start()

            try:
                await asyncio.wait_for(asyncio.gather(chaos(), *signers), timeout=540)
            except (TimeoutError, AssertionError) as stalled:
                where = _stall_report(engine, cid, tree.orgs, signed, tmp_path)
                raise AssertionError(f"{stalled!r}: {where}") from stalled
        assert signed == {o.id for o in tree.orgs}
        with Session(engine) as s:
            letters = s.exec(select(Letter.org_id).where(Letter.cycle_id == cid)).all()
            assert sorted(letters) == sorted(o.id for o in tree.orgs)  # one letter each
            for action in ("issue", "sign"):
                per_org = s.exec(
                    select(AuditEvent.entity_id, func.count())
                    .where(AuditEvent.action == action, col(AuditEvent.entity_id).like(f"{cid}:%"))
                    .group_by(col(AuditEvent.entity_id))
                ).all()
                assert len(per_org) == ORGS and {n for _, n in per_org} == {1}, (action, per_org)
            keys = s.exec(select(AuditEvent.idempotency_key)).all()
            assert len(keys) == len(set(keys))
            report = integrity_report(s)
            assert report.ok, report.drift[:5] or report.problem
        client = await server.wait_ready()
        failed = [w async for w in client.list_workflows("ExecutionStatus='Failed'")]
        assert failed == []
        # Every signature reached the webhook receiver, each as one message (a worker killed
        # between sending and recording may send one twice: with the same webhook-id).
        secret = hook.json()["secret"]

        def by_id() -> dict[str, str]:
            return {
                r.headers["webhook-id"]: Webhook(secret).verify(r.body, r.headers)["data"][
                    "entity_id"
                ]
                for r in list(sink.requests)
            }

        await eventually(lambda: len(by_id()) >= ORGS, timeout=120, what="webhooks")
        assert sorted(by_id().values()) == sorted(f"{cid}:{o.id}" for o in tree.orgs)
    finally:
        receivers.close()
        api.stop()
        worker.stop()
        server.stop()
        engine.dispose()

"""`dutyledger dev` as `make run` starts it: real dev server, migrations, demo, worker, API.

Stops on Ctrl-C with exit 0 and leaves no process behind; a second start resumes with the same data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "dutyledger"
    with log.open("ab") as out:
        return subprocess.Popen([str(exe), "dev"], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready after {timeout}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=40)


def test_dev_runs_everything_and_resumes(tmp_path: Path) -> None:
    api, tport, ui = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(tmp_path / "var"),
        "DUTYLEDGER_API_PORT": str(api),
        "DUTYLEDGER_TEMPORAL_PORT": str(tport),
        "DUTYLEDGER_TEMPORAL_UI_PORT": str(ui),
    }
    base = f"http://127.0.0.1:{api}"
    log = tmp_path / "dev.log"

    proc = _start(env, log)
    try:
        _wait_ready(base, proc, log)
        assert httpx.get(f"{base}/readyz", params={"deep": "true"}, timeout=15).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ui}/", timeout=10).status_code == 200
        tokens = json.loads((tmp_path / "var" / "demo-tokens.json").read_text())
        committee = next(t["token"] for t in tokens if t["role"] == "committee")
        admin = next(t["token"] for t in tokens if t["role"] == "admin")
        assert committee in log.read_text()  # printed once, with the curl examples
        assert "/api/v1/problems" in log.read_text()
        # The console comes first in the banner; its sign-in page lists the demo people.
        assert f"Console        {base}/signin" in log.read_text()
        signin = httpx.get(f"{base}/signin", timeout=10)
        assert signin.status_code == 200
        assert signin.text.count('name="token" value="dl_') == len(tokens) >= 15
        assert "head of General Branch 2" in signin.text
        r = httpx.get(
            f"{base}/api/v1/orgs",
            headers={"Authorization": f"Bearer {committee}"},
            params={"page_size": 500},
        )
        assert r.status_code == 200 and r.json()["total"] == 14
        r = httpx.post(
            f"{base}/api/v1/orgs",
            headers={"Authorization": f"Bearer {admin}"},
            json={"id": "gb-1-b4", "name": "Branch 1.4", "kind": "branch", "parent_id": "gb-1"},
        )
        assert r.status_code == 201
        # Read-your-write over a real server: the commit precedes the response.
        r = httpx.post(
            f"{base}/api/v1/accounts",
            headers={"Authorization": f"Bearer {admin}"},
            json={"role": "member", "scope_org_id": "gb-1-b4"},
        )
        assert r.status_code == 201, r.text
        r = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert r.status_code == 200 and r.json()["scope_org_id"] == "gb-1-b4"
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()

    proc = _start(env, log)
    try:
        _wait_ready(base, proc, log)
        r = httpx.get(
            f"{base}/api/v1/orgs",
            headers={"Authorization": f"Bearer {committee}"},
            params={"page_size": 500},
        )
        assert r.json()["total"] == 15  # same data: the demo was not loaded again
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()
    out = subprocess.run(["pgrep", "-f", f"--port {tport}"], capture_output=True, text=True)
    assert out.stdout.strip() == "", "the Temporal dev server outlived dutyledger dev"

"""The whole API fuzzed from its OpenAPI document (schemathesis) against `dutyledger dev` with
the demo, as the admin, a committee, a member, an auditor and without a token: no generated
request, valid or not, gets a server error. The seed is fixed, so a run is repeatable and a
failure reproducible (`st run … --seed`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_dev_command import _start, _stop, _wait_ready
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

ST = str(Path(sys.executable).parent / "st")
SEED = "20261124"
ROLES = ["admin", "committee", "member", "auditor", None]


def _fuzz(base: str, token: str | None, report: Path) -> dict:  # type: ignore[type-arg]
    args = [
        ST,
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "4",
        "--seed",
        SEED,
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run(args, capture_output=True, timeout=600)
    assert report.exists(), done.stdout.decode()[-3000:]
    return json.loads(report.read_text())  # type: ignore[no-any-return]


def test_no_request_gets_a_server_error_in_any_role(tmp_path: Path) -> None:
    api, tport, ui = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DUTYLEDGER_DATA_DIR": str(tmp_path / "var"),
        "DUTYLEDGER_API_PORT": str(api),
        "DUTYLEDGER_TEMPORAL_PORT": str(tport),
        "DUTYLEDGER_TEMPORAL_UI_PORT": str(ui),
        "DUTYLEDGER_LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{api}"
    log = tmp_path / "dev.log"
    proc = _start(env, log)
    try:
        _wait_ready(base, proc, log, timeout=120)
        people = json.loads((tmp_path / "var" / "demo-tokens.json").read_text())
        tokens = {p["role"]: p["token"] for p in reversed(people)}  # the first of each role
        total = 0
        for role in ROLES:
            report = _fuzz(base, tokens[role] if role else None, tmp_path / f"{role}.json")
            assert report["failures"] == [], (role, report["failures"][:3])
            assert report["errors"] == [], (role, report["errors"][:3])
            ops = report["operations"]
            assert ops["tested"] == ops["total"] and ops["errored"] == 0, (role, ops)
            total += report["test_cases"]["generated"]
        assert total > 5000, total
    finally:
        assert _stop(proc) == 0

"""The production CLI as an operator runs it: migrate, import a tree, create an account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openpyxl import Workbook
from sqlmodel import Session, select

from services.accounts.models import Account
from services.accounts.store import hash_token
from services.core.db import make_engine
from services.org.models import Org

EXE = str(Path(sys.executable).parent / "dutyledger")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60)


def test_migrate_import_and_accounts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"
    env = {**os.environ, "DUTYLEDGER_DATABASE_URL": url, "DUTYLEDGER_DATA_DIR": str(tmp_path)}
    assert run(["migrate"], env).returncode == 0
    assert run(["migrate"], env).returncode == 0  # idempotent

    tree = tmp_path / "tree.json"
    tree.write_text(
        json.dumps(
            {
                "people": [{"id": "p-li", "name": "Li Wei", "org_id": "city"}],
                "orgs": [
                    {"id": "city", "name": "City", "kind": "committee", "head_person_id": "p-li"}
                ],
            }
        )
    )
    r = run(["orgs", "import", str(tree)], env)
    assert r.returncode == 0, r.stderr
    assert "imported 1 orgs and 1 people" in r.stdout

    csv_file = tmp_path / "more.csv"
    csv_file.write_text(
        "id,name,kind,parent_id,head_person_id\nb-1,Branch,branch,city,\nb-2,Bad,branch,nowhere,\n"
    )
    r = run(["orgs", "import", str(csv_file)], env)
    assert r.returncode == 2
    assert (
        "row 2" in r.stderr and "parent_id" in r.stderr and "unknown parent 'nowhere'" in r.stderr
    )

    r = run(
        ["accounts", "create", "--role", "committee", "--scope", "city", "--person", "p-li"], env
    )
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    r = run(["accounts", "create", "--role", "member"], env)
    assert r.returncode == 2 and "scope_org_id" in r.stderr

    book = tmp_path / "more.xlsx"
    sheet = Workbook()
    ws = sheet.active
    assert ws is not None
    ws.title = "组织"
    ws.append(["编号", "名称", "类型", "上级编号"])
    ws.append(["b-9", "Branch 9", "branch", "gb-9"])
    sheet.save(book)
    r = run(["orgs", "import", str(book)], env)
    assert r.returncode == 2 and "组织!D2: unknown parent 'gb-9'" in r.stderr, r.stderr

    # Changes are checked before anything starts: a refusal names the field and writes nothing.
    r = run(["orgs", "change", "city", "--head", "nobody"], env)
    assert r.returncode == 2 and "head_person_id" in r.stderr and "nobody" in r.stderr, r.stderr
    r = run(["people", "change", "p-li", "--left-on", "2027-03-01"], env)
    assert r.returncode == 2 and "heads 'city'" in r.stderr, r.stderr
    r = run(["orgs", "heads", "city"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["person_id"] == "p-li", r.stderr

    engine = make_engine(url)
    with Session(engine) as s:
        assert [o.id for o in s.exec(select(Org)).all()] == [
            "city"
        ]  # the refused CSV wrote nothing
        account = s.exec(select(Account)).one()
        assert account.token_hash == hash_token(token) and account.role == "committee"
    engine.dispose()


def test_audit_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "audit.pem"
    made = subprocess.run(
        [EXE, "audit", "keygen", "--out", str(out)], capture_output=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    assert len(shown["key_id"]) == 16 and len(shown["public_key"]) == 44
    assert out.stat().st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in out.read_bytes()
    again = subprocess.run(
        [EXE, "audit", "keygen", "--out", str(out)], capture_output=True, timeout=60
    )
    assert again.returncode == 2 and b"never overwritten" in again.stderr

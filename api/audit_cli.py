"""``dutyledger audit``: the signing key, checkpoints, and verification (offline too)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.command_runner import run_command, settings_from_env
from services.core.db import make_engine, session_scope

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: signing key, checkpoints.")


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM, mode 600)")],
) -> None:
    """Make an Ed25519 signing key for audit checkpoints; print its id and public key."""

    def body() -> None:
        from services.integrity.keys import key_id, raw_public, write_new_key

        if out.exists():
            raise DomainErrorExit(f"{out} exists; keys are never overwritten")
        public = write_new_key(out).public_key()
        print(json.dumps({"key_id": key_id(public), "public_key": _b64(raw_public(public))}))

    run_command(body)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head now and print the checkpoint."""

    def body() -> None:
        from services.integrity.checkpoints import sign_now

        settings = settings_from_env()
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            cp = sign_now(session, settings, "cli")
        print(json.dumps(cp.model_dump() if cp else None))

    run_command(body)


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        list[str] | None,
        typer.Option(help="a trusted public key (base64, as /api/v1/audit/public-key shows)"),
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="checkpoints JSON kept outside"),
    ] = None,
    offline: Annotated[bool, typer.Option(help="signatures only, no database")] = False,
) -> None:
    """Verify the audit trail. With --checkpoints FILE and --public-key K: the checkpoints'
    signatures and (unless --offline) that the database's chain still carries every signed
    hash. Without: the whole report (chain, stored checkpoints, drift). Exit 3 when not ok."""

    def body() -> None:
        from services.integrity.checkpoints import (
            CheckpointOut,
            chain_hashes_at,
            verify_checkpoints,
        )
        from services.integrity.drift import integrity_report
        from services.integrity.keys import key_id, public_from_b64, trusted_keys

        given = {key_id(k): k for k in map(public_from_b64, public_key or [])}
        if checkpoints is not None:
            raw = json.loads(checkpoints.read_text(encoding="utf-8"))
            listed = raw["items"] if isinstance(raw, dict) else raw  # a page, or a plain list
            rows = [CheckpointOut.model_validate(r) for r in listed]
            hashes = None
            if not offline:
                settings = settings_from_env()
                with session_scope(make_engine(settings.resolved_database_url)) as s:
                    hashes = chain_hashes_at(s, [r.seq for r in rows])
            result: Any = verify_checkpoints(rows, given, hashes)
        else:
            settings = settings_from_env()
            with session_scope(make_engine(settings.resolved_database_url)) as s:
                result = integrity_report(s, {**trusted_keys(settings), **given})
        print(result.model_dump_json(indent=2))
        if not result.ok:
            raise SystemExit(3)

    run_command(body)


class DomainErrorExit(SystemExit):
    def __init__(self, message: str) -> None:
        sys.stderr.write(f"error: {message}\n")
        super().__init__(2)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()

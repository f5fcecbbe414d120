"""Signed checkpoints on SQLite and PostgreSQL: whoever holds only the database cannot rewrite
the chain before a checkpoint, not even consistently (every hash recomputed); an altered
checkpoint, an unknown key and a rotation are each told apart; production needs a key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.audit.chain import AuditChainHead, AuditEvent, event_hash, verify_chain
from services.core.db import session_scope
from services.core.settings import Settings
from services.integrity.checkpoints import (
    AuditCheckpoint,
    checkpoint_due,
    make_checkpoint,
    verify_stored,
)
from services.integrity.keys import (
    MissingSigningKey,
    raw_public,
    signing_key,
    trusted_keys,
    write_new_key,
)
from tests.unit.test_audit_chain import T0, _append


def _chain(engine: Engine, n: int) -> None:
    for i in range(1, n + 1):
        _append(engine, f"P-1:{i}", action=f"step{i}")


def _rewrite_consistently(engine: Engine, seq: int) -> None:
    """What someone with the database alone can do: change an event and recompute every hash
    from there on, and the head, so the chain verifies link by link."""
    with session_scope(engine) as s:
        events = s.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        prev = events[seq - 2].hash if seq > 1 else "0" * 64
        for ev in events[seq - 1 :]:
            if ev.seq == seq:
                ev.payload = {**ev.payload, "note": "rewritten"}
            ev.prev_hash = prev
            ev.hash = event_hash(
                prev,
                seq=ev.seq,
                actor=ev.actor,
                action=ev.action,
                entity_type=ev.entity_type,
                entity_id=ev.entity_id,
                org_path=ev.org_path,
                payload=ev.payload,
                at=ev.at,
            )
            prev = ev.hash
            s.add(ev)
        head = s.get(AuditChainHead, 1)
        assert head is not None
        head.last_hash = prev
        s.add(head)


def test_a_consistent_rewrite_before_a_checkpoint_is_caught(
    engine: Engine, settings: Settings
) -> None:
    _chain(engine, 5)
    key = signing_key(settings)
    with session_scope(engine) as s:
        cp = make_checkpoint(s, key, "test", T0)
        assert cp is not None and cp.seq == 5
        assert make_checkpoint(s, key, "test", T0) == cp  # the same head: the same checkpoint
    assert _append(engine, "P-1:6", action="step6")  # events after a checkpoint are fine
    with Session(engine) as s:
        assert verify_stored(s, trusted_keys(settings)).ok
    _rewrite_consistently(engine, 3)
    with Session(engine) as s:
        assert verify_chain(s).ok  # every link checks: the chain alone cannot tell
        result = verify_stored(s, trusted_keys(settings))
    assert not result.ok and result.first_bad_checkpoint == 5
    assert "rewritten before this checkpoint" in (result.problem or "")


def test_an_altered_checkpoint_and_an_unknown_key_are_named(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _chain(engine, 2)
    with session_scope(engine) as s:
        make_checkpoint(s, signing_key(settings), "test", T0)
    with session_scope(engine) as s:
        row = s.exec(select(AuditCheckpoint)).one()
        row.at = (T0 + timedelta(days=1)).isoformat()  # moved in time, signature unchanged
        s.add(row)
    with Session(engine) as s:
        result = verify_stored(s, trusted_keys(settings))
    assert not result.ok and "signature does not verify" in (result.problem or "")

    # Rotation: a new key signs from now on; the old one's checkpoints need its public key.
    old = signing_key(settings).public
    new_file = tmp_path / "new.pem"
    write_new_key(new_file)
    rotated = settings.model_copy(update={"audit_key_file": new_file})
    with session_scope(engine) as s:
        row = s.exec(select(AuditCheckpoint)).one()
        s.delete(row)
    with session_scope(engine) as s:
        make_checkpoint(s, signing_key(settings), "old key", T0)
    with Session(engine) as s:
        unknown = verify_stored(s, trusted_keys(rotated))
    assert not unknown.ok and "not a trusted key" in (unknown.problem or "")
    kept = rotated.model_copy(
        update={"audit_trusted_keys": [base64.b64encode(raw_public(old)).decode()]}
    )
    with Session(engine) as s:
        assert verify_stored(s, trusted_keys(kept)).ok


def test_checkpoints_fall_due_by_events_or_time(engine: Engine, settings: Settings) -> None:
    cfg = settings.model_copy(update={"checkpoint_every_events": 3, "checkpoint_every_seconds": 60})
    now = datetime.now(UTC)
    with Session(engine) as s:
        assert not checkpoint_due(s, cfg, now)  # an empty chain
    _chain(engine, 1)
    with session_scope(engine) as s:
        assert checkpoint_due(s, cfg, now)  # never signed
        make_checkpoint(s, signing_key(cfg), "t", now)
        assert not checkpoint_due(s, cfg, now)  # the head is signed
    _append(engine, "P-1:x", action="more")
    with Session(engine) as s:
        assert not checkpoint_due(s, cfg, now + timedelta(seconds=30))
        assert checkpoint_due(s, cfg, now + timedelta(seconds=61))  # an hour's worth, here 60 s
    _append(engine, "P-1:y", action="more")
    _append(engine, "P-1:z", action="more")
    with Session(engine) as s:
        assert checkpoint_due(s, cfg, now + timedelta(seconds=1))  # 3 events since


def test_production_settings_need_a_key(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(MissingSigningKey, match="DUTYLEDGER_AUDIT_KEY_FILE"):
        signing_key(settings.model_copy(update={"production": True}))
    with pytest.raises(MissingSigningKey, match="does not exist"):
        signing_key(settings.model_copy(update={"audit_key_file": tmp_path / "none.pem"}))
    made = signing_key(settings)  # the embedded default: made once, then kept
    assert signing_key(settings).id == made.id


def test_a_deleted_checkpoint_breaks_the_link_of_the_next(
    engine: Engine, settings: Settings
) -> None:
    key = signing_key(settings)
    for i in range(3):
        _append(engine, f"P-1:d{i}", action=f"step{i}")
        with session_scope(engine) as s:
            make_checkpoint(s, key, "test", T0 + timedelta(minutes=i))
    with Session(engine) as s:
        assert verify_stored(s, trusted_keys(settings)).checkpoints_checked == 3
    with session_scope(engine) as s:
        middle = s.exec(select(AuditCheckpoint).where(AuditCheckpoint.seq == 2)).one()
        s.delete(middle)
    with Session(engine) as s:
        result = verify_stored(s, trusted_keys(settings))
    assert not result.ok and result.first_bad_checkpoint == 3
    assert "deleted or replaced" in (result.problem or "")

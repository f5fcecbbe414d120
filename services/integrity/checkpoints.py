"""Signed checkpoints of the audit chain: the chain head ``{seq, hash, at}`` signed with the
Ed25519 key kept outside the database (``services.integrity.keys``).

Made every ``checkpoint_every_events`` events or ``checkpoint_every_seconds`` (whichever comes
first, by the worker's loop), and on demand (``POST /api/v1/audit/checkpoints``). Verification
checks each checkpoint's signature against the trusted public keys and that the chain still has
the signed hash at the signed seq: a rewrite of anything before the last checkpoint fails even
when every hash after it was recomputed, since nobody with only the database can sign anew.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel
from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, func, select

from services.audit.chain import AuditChainHead, AuditEvent
from services.core.clock import utcnow
from services.core.logging import get_logger
from services.core.loops import repeat
from services.core.settings import Settings
from services.integrity.keys import SigningKey, signature_ok, signing_key
from services.notify.models import NotificationIn
from services.notify.store import notify

log = get_logger(__name__)


class AuditCheckpoint(SQLModel, table=True):
    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("seq", name="uq_audit_checkpoints_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)
    at: str = Field(max_length=40)  # ISO 8601 UTC, exactly as signed
    key_id: str = Field(max_length=16)
    signature: str = Field(sa_column=Column(Text, nullable=False))
    made_by: str = Field(max_length=120)
    # The checkpoint before it, signed along: deleting one breaks the link of the next.
    prev_seq: int = 0
    prev_digest: str = Field(default="", max_length=64)


class CheckpointOut(BaseModel):
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str
    made_by: str
    prev_seq: int = 0  # 0: the first checkpoint
    prev_digest: str = ""  # sha256 of the previous checkpoint's signature


def signed_text(cp: CheckpointOut | AuditCheckpoint) -> bytes:
    """What a checkpoint signs; stated so anyone can verify one with the public key alone:
    ``dutyledger-checkpoint:v2:{seq}:{hash}:{at}:{prev_seq}:{prev_digest}``."""
    return (
        f"dutyledger-checkpoint:v2:{cp.seq}:{cp.hash}:{cp.at}:{cp.prev_seq}:{cp.prev_digest}"
    ).encode()


def digest_of(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()


def make_checkpoint(
    session: Session, key: SigningKey, by: str, now: datetime
) -> CheckpointOut | None:
    """Sign the chain's head now (None while the chain is empty; the existing checkpoint when
    the head was signed already)."""
    head = session.get(AuditChainHead, 1)
    if head is None or head.seq == 0:
        return None
    existing = session.exec(select(AuditCheckpoint).where(AuditCheckpoint.seq == head.seq)).first()
    if existing is not None:
        return _out(existing)
    at = now.astimezone(UTC).replace(microsecond=0).isoformat()
    prev = session.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq < head.seq)
        .order_by(col(AuditCheckpoint.seq).desc())
        .limit(1)
    ).first()
    row = AuditCheckpoint(
        seq=head.seq,
        hash=head.last_hash,
        at=at,
        key_id=key.id,
        signature="",
        made_by=by,
        prev_seq=prev.seq if prev else 0,
        prev_digest=digest_of(prev.signature) if prev else "",
    )
    row.signature = key.sign(signed_text(row))
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker signed the same head
        row = session.exec(select(AuditCheckpoint).where(AuditCheckpoint.seq == head.seq)).one()
    return _out(row)


def _out(row: AuditCheckpoint) -> CheckpointOut:
    return CheckpointOut.model_validate(row, from_attributes=True)


def list_checkpoints(session: Session, offset: int, limit: int) -> tuple[list[CheckpointOut], int]:
    rows = session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq)).offset(offset).limit(limit)
    ).all()
    total = session.exec(select(func.count()).select_from(AuditCheckpoint)).one()
    return [_out(r) for r in rows], int(total)


class CheckpointVerification(BaseModel):
    ok: bool
    checkpoints_checked: int
    first_bad_checkpoint: int | None = None  # its seq
    problem: str | None = None


def verify_checkpoints(
    checkpoints: list[CheckpointOut],
    trusted: dict[str, Ed25519PublicKey],
    hash_at: dict[int, str] | None,
) -> CheckpointVerification:
    """Each signature with its key (known and trusted), each checkpoint linked to the one
    before it (none deleted in between), and — given the chain's hashes by seq — that the chain
    still carries the signed hash."""
    prev: CheckpointOut | None = None
    for n, cp in enumerate(checkpoints, start=1):
        public = trusted.get(cp.key_id)
        bad: str | None = None
        if public is None:
            bad = f"signed by key {cp.key_id}, which is not a trusted key"
        # A checkpoint signed before they were linked (v1) has its own signature, no link.
        elif not (legacy := _legacy(public, cp)) and not signature_ok(
            public, cp.signature, signed_text(cp)
        ):
            bad = "its signature does not verify: the checkpoint was altered"
        elif not legacy and (cp.prev_seq, cp.prev_digest) != (
            (prev.seq, digest_of(prev.signature)) if prev else (0, "")
        ):
            bad = (
                f"it follows the checkpoint at event {cp.prev_seq}, which is not the one "
                "before it here: checkpoints were deleted or replaced"
            )
        elif hash_at is not None and hash_at.get(cp.seq) != cp.hash:
            bad = (
                f"the chain's event {cp.seq} no longer has the signed hash: the chain was "
                "rewritten before this checkpoint"
            )
        if bad is not None:
            return CheckpointVerification(
                ok=False,
                checkpoints_checked=n,
                first_bad_checkpoint=cp.seq,
                problem=f"checkpoint at event {cp.seq}: {bad}",
            )
        prev = cp
    return CheckpointVerification(ok=True, checkpoints_checked=len(checkpoints))


def _legacy(public: Ed25519PublicKey, cp: CheckpointOut) -> bool:
    """A checkpoint of the first format (``v1:{seq}:{hash}:{at}``, no link to the one before)."""
    if cp.prev_seq or cp.prev_digest:
        return False
    v1 = f"dutyledger-checkpoint:v1:{cp.seq}:{cp.hash}:{cp.at}".encode()
    return signature_ok(public, cp.signature, v1)


def chain_hashes_at(session: Session, seqs: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        for seq, hash_ in session.exec(
            select(AuditEvent.seq, AuditEvent.hash).where(col(AuditEvent.seq).in_(chunk))
        ).all():
            out[int(seq)] = str(hash_)
    return out


def verify_stored(session: Session, trusted: dict[str, Ed25519PublicKey]) -> CheckpointVerification:
    rows = [
        _out(r) for r in session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq)))
    ]
    return verify_checkpoints(rows, trusted, chain_hashes_at(session, [r.seq for r in rows]))


def checkpoint_due(session: Session, settings: Settings, now: datetime) -> bool:
    head = session.get(AuditChainHead, 1)
    if head is None or head.seq == 0:
        return False
    last = session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq).desc()).limit(1)
    ).first()
    if last is None:
        return True
    if head.seq == last.seq:
        return False
    age = (now - datetime.fromisoformat(last.at)).total_seconds()
    return head.seq - last.seq >= settings.checkpoint_every_events or age >= (
        settings.checkpoint_every_seconds
    )


def sign_now(session: Session, settings: Settings, by: str) -> CheckpointOut | None:
    """Make a checkpoint and send it to whoever watches (the notification channels: a webhook
    or the log), so a copy lives outside the database as it is made."""
    cp = make_checkpoint(session, signing_key(settings), by, utcnow())
    session.commit()
    if cp is not None:
        notify(session, _announcement(cp), settings)
    return cp


def _announcement(cp: CheckpointOut) -> NotificationIn:
    body: dict[str, Any] = cp.model_dump()
    text = " ".join(f"{k}={v}" for k, v in body.items())
    return NotificationIn(
        dedupe_key=f"audit-checkpoint:{cp.seq}",
        recipient_person_id=None,
        kind="audit_checkpoint",
        subject=f"Audit checkpoint at event {cp.seq}",
        body=text,
        subject_zh=f"审计检查点：第{cp.seq}条记录",
        body_zh=text,
        entity_type="audit",
        entity_id=str(cp.seq),
        org_path="/",
    )


async def keep_checkpointing(engine: Engine, settings: Settings, stop: asyncio.Event) -> None:
    """The worker's loop: a checkpoint whenever one is due (several workers may run it: a
    checkpoint per head, whoever signs first)."""
    every = min(60.0, settings.checkpoint_every_seconds)
    await repeat(lambda: _checkpoint_if_due(engine, settings), every, stop, "checkpoint_failed")


def _checkpoint_if_due(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        if checkpoint_due(session, settings, utcnow()):
            cp = sign_now(session, settings, "system:checkpoints")
            if cp is not None:
                log.info("audit_checkpoint", seq=cp.seq, key_id=cp.key_id)

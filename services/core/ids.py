"""Ids of things people create: random, or derived from the request's ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
import secrets


def keyed_id(prefix: str, account_id: str, idempotency_key: str | None) -> str:
    """``{prefix}-`` and 12 hex digits: random, or a digest of (account, Idempotency-Key), so a
    retried request maps to the same id and creates nothing twice."""
    if idempotency_key:
        digest = hashlib.sha256(f"{account_id}\0{idempotency_key}".encode()).hexdigest()
        return f"{prefix}-{digest[:12].upper()}"
    return f"{prefix}-{secrets.token_hex(6).upper()}"

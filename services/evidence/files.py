"""Storing evidence files: streamed to disk while hashed, checked by size, declared type and
their bytes, kept content-addressed under the data dir, one row per upload."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.core.errors import DomainError, Invalid, TooLarge
from services.core.ids import keyed_id
from services.core.settings import Settings
from services.evidence.models import Evidence
from services.evidence.sniff import content_type_of, matches


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def _stream_to(root: Path, data: BinaryIO, max_bytes: int) -> tuple[str, str, int]:
    """Copy ``data`` to a temp file beside the store while hashing it; (temp path, sha, size)."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := data.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"file is larger than {max_bytes} bytes", field="file")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return tmp_name, digest.hexdigest(), size


def store_upload(
    session: Session,
    settings: Settings,
    data: BinaryIO,
    filename: str | None,
    content_type: str | None,
    org_path: str,
    uploaded_by: str,
    idempotency_key: str | None = None,
) -> Evidence:
    """Keep the file (never wholly in memory) and add its row to the caller's transaction.
    With ``idempotency_key`` a retried upload answers the row the first one made (the same
    file; another file under the same key is refused, naming the key)."""
    ctype = (content_type or "application/octet-stream").split(";")[0].strip()
    if ctype not in settings.evidence_content_types:
        raise UnsupportedMediaType(
            f"content type {ctype!r} is not allowed; allowed: "
            + ", ".join(settings.evidence_content_types),
            field="file.content_type",
        )
    root = settings.evidence_dir
    root.mkdir(parents=True, exist_ok=True)
    tmp_name, sha, size = _stream_to(root, data, settings.evidence_max_bytes)
    try:
        found = content_type_of(Path(tmp_name))
        if not matches(ctype, found):
            raise UnsupportedMediaType(
                f"the file's content is {found or 'of an unknown type'}, not {ctype!r}",
                field="file",
            )
        final = blob_path(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)  # same content, same name: an identical re-upload is harmless
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    evidence_id = keyed_id("E", uploaded_by, idempotency_key)
    existing = session.get(Evidence, evidence_id)
    if existing is not None:
        return _same_file(existing, sha)
    row = Evidence(
        id=evidence_id,
        sha256=sha,
        size=size,
        content_type=ctype,
        filename=(filename or "evidence")[:300],
        org_path=org_path,
        uploaded_by=uploaded_by,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same upload, sent twice at once: the other one made the row
        twin = session.get(Evidence, evidence_id, populate_existing=True)
        assert twin is not None
        return _same_file(twin, sha)
    return row


def _same_file(existing: Evidence, sha: str) -> Evidence:
    """A retried upload's answer: the row the key made, if it was the same file."""
    if existing.sha256 != sha:
        raise Invalid(
            "this Idempotency-Key was used to upload another file; use a new key",
            errors=[{"field": "Idempotency-Key", "message": f"already used for {existing.id}"}],
        )
    return existing

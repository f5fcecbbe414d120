"""Evidence files: uploaded once, stored content-addressed under the data dir, referenced by id."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from fastapi import APIRouter, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.deps import PrincipalDep, SessionDep, StateDep
from services.core.errors import DomainError, Forbidden, NotFound, TooLarge
from services.evidence.models import Evidence
from services.evidence.sniff import content_type_of, matches

router = APIRouter(prefix="/api/v1", tags=["evidence"])


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class EvidenceOut(BaseModel):
    evidence_id: str
    sha256: str
    size: int
    content_type: str
    filename: str


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


@router.post("/evidence", status_code=status.HTTP_201_CREATED)
def upload(
    file: UploadFile, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> EvidenceOut:
    """Multipart field ``file``. Size and content type are checked against the configuration."""
    settings = state.settings
    ctype = (file.content_type or "application/octet-stream").split(";")[0].strip()
    if ctype not in settings.evidence_content_types:
        raise UnsupportedMediaType(
            f"content type {ctype!r} is not allowed; allowed: "
            + ", ".join(settings.evidence_content_types),
            field="file.content_type",
        )
    root = settings.evidence_dir
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    # Stream to a temp file beside the store while hashing: never the whole file in memory.
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := file.file.read(1024 * 1024):
                size += len(chunk)
                if size > settings.evidence_max_bytes:
                    raise TooLarge(
                        f"file is larger than {settings.evidence_max_bytes} bytes", field="file"
                    )
                digest.update(chunk)
                out.write(chunk)
        found = content_type_of(Path(tmp_name))
        if not matches(ctype, found):
            raise UnsupportedMediaType(
                f"the file's content is {found or 'of an unknown type'}, not {ctype!r}",
                field="file",
            )
        sha = digest.hexdigest()
        final = blob_path(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)  # same content, same name: an identical re-upload is harmless
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    row = Evidence(
        id="E-" + secrets.token_hex(6).upper(),
        sha256=sha,
        size=size,
        content_type=ctype,
        filename=(file.filename or "evidence")[:300],
        org_path=principal.scope_path,
        uploaded_by=principal.account_id,
    )
    session.add(row)
    return EvidenceOut(
        evidence_id=row.id, sha256=sha, size=size, content_type=ctype, filename=row.filename
    )


@router.get("/evidence/{evidence_id}", response_model=None)
def download(
    evidence_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> FileResponse:
    e = session.get(Evidence, evidence_id)
    if e is None:
        raise NotFound(f"evidence {evidence_id!r} does not exist")
    if not principal.in_scope(e.org_path):  # the uploader's scope lies within the caller's
        raise Forbidden(f"evidence {evidence_id!r} is outside this account's scope")
    path = blob_path(state.settings.evidence_dir, e.sha256)
    if not path.exists():
        raise NotFound(f"the file of evidence {evidence_id!r} is missing from the store")
    # An attachment, never rendered in the browser's origin (nosniff is on every response).
    return FileResponse(
        path, media_type=e.content_type, filename=e.filename, content_disposition_type="attachment"
    )

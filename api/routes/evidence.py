"""Evidence files: uploaded once, stored content-addressed under the data dir, referenced by id."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.deps import PrincipalDep, SessionDep, StateDep
from services.core.errors import Forbidden, NotFound
from services.evidence.files import blob_path, store_upload
from services.evidence.models import Evidence

router = APIRouter(prefix="/api/v1", tags=["evidence"])


class EvidenceOut(BaseModel):
    evidence_id: str
    sha256: str
    size: int
    content_type: str
    filename: str


@router.post("/evidence", status_code=status.HTTP_201_CREATED)
def upload(
    file: UploadFile, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> EvidenceOut:
    """Multipart field ``file``. Size and content type are checked against the configuration."""
    row = store_upload(
        session,
        state.settings,
        file.file,
        file.filename,
        file.content_type,
        principal.scope_path,
        principal.account_id,
    )
    return EvidenceOut(
        evidence_id=row.id,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        filename=row.filename,
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

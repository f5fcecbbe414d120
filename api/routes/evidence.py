"""Evidence files: uploaded once, stored content-addressed under the data dir, referenced by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.deps import PrincipalDep, SessionDep, StateDep
from api.downloads import evidence_download
from services.evidence.files import store_upload

router = APIRouter(prefix="/api/v1", tags=["evidence"])


class EvidenceOut(BaseModel):
    evidence_id: str
    sha256: str
    size: int
    content_type: str
    filename: str


@router.post("/evidence", status_code=status.HTTP_201_CREATED)
def upload(
    file: UploadFile,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> EvidenceOut:
    """Multipart field ``file``. Size and content type are checked against the configuration;
    send ``Idempotency-Key`` to retry safely (the retry answers the same evidence id)."""
    row = store_upload(
        session,
        state.settings,
        file.file,
        file.filename,
        file.content_type,
        principal.scope_path,
        principal.account_id,
        idempotency_key,
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
    return evidence_download(session, state.settings, principal, evidence_id)

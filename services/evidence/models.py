"""The evidence table: one row per uploaded file, stored content-addressed by its SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.core.clock import utcnow


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: str = SQLField(primary_key=True, max_length=40)
    sha256: str = SQLField(max_length=64, index=True)
    size: int
    content_type: str = SQLField(max_length=120)
    filename: str = SQLField(max_length=300)
    org_path: str = SQLField(max_length=2000)  # the uploader's scope: who may download it
    uploaded_by: str = SQLField(max_length=120)
    created_at: datetime = SQLField(default_factory=utcnow)

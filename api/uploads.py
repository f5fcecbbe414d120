"""A file sent to the API: as the request's body (its content type says what it is) or as a
multipart upload named ``file`` (its name's suffix, else its content type, says). JSON, CSV and
XLSX workbooks."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile as StarletteUpload

from services.core.errors import Invalid, TooLarge
from services.core.sheets import XLSX_TYPE

KINDS = {
    "application/json": "json",
    "text/csv": "csv",
    "application/csv": "csv",
    XLSX_TYPE: "xlsx",
}


async def uploaded(request: Request, limit: int) -> tuple[str, bytes]:
    """(json|csv|xlsx, the bytes): the body, or the multipart upload named ``file``."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload):
            raise Invalid(
                "attach the file as the form field 'file'",
                errors=[{"field": "file", "message": "missing"}],
            )
        raw = await upload.read(limit + 1)
        suffix = (upload.filename or "").rsplit(".", 1)[-1].lower()
        kind = {"xlsx": "xlsx", "csv": "csv", "json": "json"}.get(suffix)
        kind = kind or KINDS.get((upload.content_type or "").split(";")[0].strip(), "")
    else:
        raw = await request.body()
        kind = KINDS.get(ctype, "")
    if len(raw) > limit:
        raise TooLarge(f"the file is larger than {limit} bytes")
    if not kind:
        raise Invalid(
            f"unsupported content type {ctype!r}; send application/json, text/csv or an XLSX "
            "workbook",
            errors=[{"field": "content-type", "message": "must be JSON, CSV or XLSX"}],
        )
    return kind, raw

"""What a file is, by its bytes: an upload is stored only when its content is what its declared
type says (a program renamed ``.pdf`` and sent as ``application/pdf`` is refused)."""

from __future__ import annotations

import zipfile
from pathlib import Path

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def content_type_of(path: Path) -> str | None:
    """The type the file's content shows, among those evidence may have; None when unknown."""
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    for magic, ctype in _MAGIC:
        if head.startswith(magic):
            return ctype
    if head.startswith(b"PK\x03\x04"):
        return _office_type(path)
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return None
    return "text/plain"


def _office_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(n.startswith("word/") for n in names):
        return _DOCX
    if any(n.startswith("xl/") for n in names):
        return _XLSX
    return None


def matches(declared: str, found: str | None) -> bool:
    """CSV is text; everything else must be exactly what it claims."""
    if found == "text/plain" and declared in ("text/plain", "text/csv"):
        return True
    return declared == found

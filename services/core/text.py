"""Text people type, checked at every boundary: no control characters, no bidirectional
overrides (which make a stored title read differently from what it is), nothing blank.

``Line`` is one line (a title, a name); ``Text`` may span lines (a reason, a description).
Both are plain ``str`` to everything downstream.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# C0 controls but tab, line feed and carriage return; DEL and C1; the bidi marks, embeddings,
# overrides and isolates; the BOM / zero-width no-break space.
_NEVER = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NOT_IN_A_LINE = re.compile("[\t\n\r]")


def _checked(value: str, single_line: bool) -> str:
    bad = _NEVER.search(value) or (_NOT_IN_A_LINE.search(value) if single_line else None)
    if bad is not None:
        kind = "a line break or tab" if bad.group() in "\t\n\r" else "a control or bidi character"
        raise ValueError(f"contains {kind} (U+{ord(bad.group()):04X}) at position {bad.start()}")
    if value and not value.strip():
        raise ValueError("must not be only spaces")
    return value


def check_line(value: str) -> str:
    return _checked(value, single_line=True)


def check_text(value: str) -> str:
    return _checked(value, single_line=False)


def as_line(value: str) -> str:
    """``value`` made a valid ``Line``: forbidden characters dropped, whitespace runs one space.
    For text a workflow composes from what it already holds (it must never fail to build)."""
    return " ".join(_NEVER.sub("", value).split()) or "-"


def as_text(value: str) -> str:
    return _NEVER.sub("", value).strip() or "-"


Line = Annotated[str, AfterValidator(check_line)]
Text = Annotated[str, AfterValidator(check_text)]

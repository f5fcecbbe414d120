"""Reading a ledger filter from a query string, strictly: a parameter the ledger does not know, or
a value outside its vocabulary, is refused with 422 naming it (a typo must never silently widen an
audit query). Lists accept repeated or comma-separated values: ``state=in_progress,assigned``.

The API and the console both read their filters here, so a console URL is an API query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from services.core.errors import Invalid
from services.ledger.filters import LedgerFilter
from services.rectification.contracts import Category, Severity, Source
from services.rectification.rules import RectState

LIST_FIELDS = {"state", "severity", "source", "category"}
# In the order people read them (the state machine's, the aspects' usual order).
VOCABULARY: dict[str, list[str]] = {
    "state": [s.value for s in RectState],
    "severity": [s.value for s in Severity],
    "source": [s.value for s in Source],
    "category": [c.value for c in Category],
}
ALIASES = {"status": "state"}


def parse_filter(
    pairs: Iterable[tuple[str, str]], ignore: set[str], drop_blank: bool = False
) -> LedgerFilter:
    """The filter named by ``pairs`` (query parameters, in order); names in ``ignore`` (paging,
    language) are someone else's. ``drop_blank`` skips empty values, as a submitted HTML form
    sends every field whether filled or not."""
    known = set(LedgerFilter.model_fields) | set(ALIASES) | ignore
    errors: list[dict[str, str]] = []
    raw: dict[str, Any] = {}
    for key, value in pairs:
        if key in ignore or (drop_blank and not value.strip()):
            continue
        if key not in known:
            errors.append({"field": key, "message": "unknown filter", "in": "query"})
            continue
        name = ALIASES.get(key, key)
        if name in LIST_FIELDS:
            values = [v.strip() for v in value.split(",") if v.strip()]
            allowed = ", ".join(VOCABULARY[name])
            errors += [
                {"field": key, "message": f"unknown value {v!r}; one of {allowed}", "in": "query"}
                for v in values
                if v not in VOCABULARY[name]
            ]
            raw[name] = raw.get(name, []) + values
        else:
            raw[name] = value
    if not errors:
        try:
            return LedgerFilter.model_validate(raw)
        except ValidationError as exc:
            errors += [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "in": "query"}
                for e in exc.errors()
            ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    raise Invalid(f"invalid value for: {fields}", errors=errors)

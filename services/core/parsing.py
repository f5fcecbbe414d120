"""Input read into a model at a boundary (a JSON body, a submitted form, a query string), with
every pydantic error turned into one 422 naming each bad field — written once."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.core.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One ``{field, message}`` per error, the field as a dotted path."""
    return [
        {"field": prefix + (".".join(str(x) for x in e["loc"]) or "body"), "message": e["msg"]}
        for e in exc.errors()
    ]


def parsed(model: type[M], raw: Any, what: str) -> M:
    """``raw`` (a mapping, or JSON text/bytes) as ``model``, or 422 "invalid {what}"."""
    try:
        if isinstance(raw, str | bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(f"invalid {what}", errors=field_errors(exc)) from None

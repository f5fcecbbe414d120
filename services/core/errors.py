"""Domain errors. The API maps each to an RFC 9457 problem+json status; services never know HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"


def absent(what: str, field: str | None = None) -> NotFound:
    """The one answer for what does not exist and for what lies outside the caller's scope:
    the same status and words, so a 404 never tells whether another subtree has it."""
    extra = {"field": field} if field is not None else {}
    return NotFound(f"no {what} in this account's scope", **extra)


class Conflict(DomainError):
    """An illegal transition or a duplicate: the detail names the state and what is allowed."""

    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """Input that parses but breaks a rule; ``errors`` names the fields (and rows)."""

    status = 422
    title = "Invalid input"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class TooLarge(DomainError):
    status = 413
    title = "Payload too large"


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"


class Unavailable(DomainError):
    """A dependency (DB, Temporal) is down; the request can be retried later."""

    status = 503
    title = "Service unavailable"

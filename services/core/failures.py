"""The failure contract between workflows and their callers, both ways, in one place.

Rules raise domain errors (``services.core.errors``). A workflow's validator or Update handler
runs them inside ``as_failure()``, which turns a refusal into a non-retryable ``ApplicationError``
whose ``type`` names the kind and whose details carry the error's extra fields (the state and the
allowed actions, or the fields that are wrong). Callers turn that failure back into the same
domain error with ``domain_error``, so the API answers 409 / 403 / 422 exactly as a rule said,
and nothing is parsed out of message strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from temporalio.exceptions import ApplicationError

from services.core.errors import Conflict, DomainError, Forbidden, Invalid, Unavailable


class FailureType(StrEnum):
    """``ApplicationError.type`` of a refused step (the names predate this module: keep them)."""

    illegal = "IllegalTransition"  # 409: not allowed in this state
    forbidden = "Forbidden"  # 403: not this person's or role's step
    invalid = "Invalid"  # 422: a field breaks a rule only the workflow can check


_TYPE_OF: dict[type[DomainError], FailureType] = {
    Conflict: FailureType.illegal,
    Forbidden: FailureType.forbidden,
    Invalid: FailureType.invalid,
}
_ERROR_OF: dict[str, type[DomainError]] = {t.value: e for e, t in _TYPE_OF.items()}


def to_failure(err: DomainError) -> ApplicationError:
    """The workflow side: a rule's refusal as the failure an Update rejects with."""
    kind = _TYPE_OF.get(type(err))
    if kind is None:
        raise TypeError(f"{type(err).__name__} has no failure type") from err
    return ApplicationError(err.detail, err.extra, type=kind.value, non_retryable=True)


@contextmanager
def as_failure() -> Iterator[None]:
    """Run rules; a ``Conflict``, ``Forbidden`` or ``Invalid`` leaves as an ``ApplicationError``."""
    try:
        yield
    except (Conflict, Forbidden, Invalid) as err:
        raise to_failure(err) from None


def domain_error(cause: BaseException | None) -> DomainError:
    """The caller side: an Update's failure cause back as the domain error it was made from.

    Anything else (an activity that gave up, a bug) means the change was not applied: 503.
    """
    if isinstance(cause, ApplicationError) and cause.type in _ERROR_OF:
        extra: dict[str, Any] = dict(cause.details[0]) if cause.details else {}
        return _ERROR_OF[cause.type](cause.message, **extra)
    return Unavailable(f"the change could not be applied; retry later ({cause})")


def permanent(exc: Exception) -> ApplicationError:
    """An activity's refusal that a retry cannot mend (an unknown org, a plan the tree no longer
    fits): fail the activity now, with the error's kind as the type the caller sees."""
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)

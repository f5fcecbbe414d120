"""RFC 9457 problem+json for every error the API returns (never a bare 500 page)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.request_context import stamp
from services.core.errors import DomainError
from services.core.logging import get_logger

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str


class ProblemBody(BaseModel):
    """RFC 9457 problem details, as every error of the API is answered."""

    model_config = ConfigDict(extra="allow")  # state, allowed_actions, field, retry_after, …

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``$defs`` reference replaced by its definition: the OpenAPI
    document has no ``$defs`` at the place these schemas are put, so a reference would dangle."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


_RAW = ProblemBody.model_json_schema()
_PROBLEM_SCHEMA = _inlined(_RAW, _RAW.get("$defs", {}))


def _documented(what: str) -> dict[str, Any]:
    return {"description": what, "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}


# The error answers every API operation may give, declared in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("no token, or an unknown, disabled or expired one"),
    403: _documented("the role or the org scope does not allow it"),
    404: _documented("no such id (in scope)"),
    409: _documented("not allowed in the current state: names the state"),
    413: _documented("the body is too large"),
    422: _documented("invalid input: names each field"),
    503: _documented("the database or Temporal is unreachable; nothing changed, retry"),
}
log = get_logger(__name__)


def problem(
    status: int, title: str, detail: str, request: Request | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Retry-After": str(extra["retry_after"])} if extra.get("retry_after") else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if request is not None and is_console(request):
        return _console_page(request, status, detail, body.get("errors", []), headers)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


MACHINE_PREFIXES = ("/api/", "/public/v1/", "/healthz", "/readyz", "/docs", "/openapi", "/redoc")


def is_console(request: Request) -> bool:
    """A browser asking for a page (not the API, its docs or the probes): it accepts HTML."""
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _console_page(
    request: Request, status: int, detail: str, errors: Any, headers: dict[str, str] | None
) -> Response:
    """The same refusal as a console page, for an error no page handler caught (a step refused
    while the page itself could not be shown again, Temporal or the database down)."""
    from api.console.render import page  # the console renders; problems only decide

    response = page(
        request, "base.html", status, principal=None, error={"detail": detail, "errors": errors}
    )
    response.headers.update({k: v for k, v in (headers or {}).items() if k != "WWW-Authenticate"})
    return response


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "plan", "calendar", "sign_by") -> "plan.calendar.sign_by"
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _domain(request: Request, exc: DomainError) -> Response:
    return problem(exc.status, exc.title, exc.detail, request, **exc.extra)


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {
            "field": _field_of(e["loc"]),
            "message": e["msg"],
            "in": str(e["loc"][0]) if e["loc"] else "body",
        }
        for e in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(422, "Invalid input", f"invalid value for: {fields}", request, errors=errors)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {
        404: "Not found",
        405: "Method not allowed",
        401: "Unauthorized",
        403: "Forbidden",
    }
    response = problem(
        exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), request
    )
    response.headers.update(exc.headers or {})  # 405 carries Allow
    return response


async def _db_busy(request: Request, exc: Exception) -> Response:
    # Pool exhausted, database locked or unreachable: the request wrote nothing; retry.
    log.warning("database_unavailable", path=request.url.path, error=str(exc)[:300])
    return problem(
        503,
        "Service unavailable",
        "the database is busy or unreachable; retry shortly",
        request,
        retry_after=2,
    )


async def _temporal_down(request: Request, exc: RPCError) -> Response:
    # Temporal unreachable or refusing: nothing was started or changed; retry.
    log.warning("temporal_unavailable", path=request.url.path, error=str(exc)[:300])
    return problem(
        503,
        "Service unavailable",
        "the workflow engine is unreachable; nothing was changed, retry shortly",
        request,
        retry_after=2,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    response = problem(
        500, "Internal error", "an unexpected error occurred; it was logged", request
    )
    # Starlette answers this one from its outermost layer, outside RequestContext: the same
    # headers here, and the request id it bound for the log line just written.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    stamp(response.headers, str(request_id) if request_id else None)
    return response


def install(app: FastAPI) -> None:
    """Every error the API answers is problem+json; the most specific handler wins."""
    app.exception_handler(DomainError)(_domain)
    app.exception_handler(RequestValidationError)(_validation)
    app.exception_handler(StarletteHTTPException)(_http)
    app.exception_handler(SATimeoutError)(_db_busy)
    app.exception_handler(OperationalError)(_db_busy)
    app.exception_handler(RPCError)(_temporal_down)
    app.exception_handler(Exception)(_unexpected)

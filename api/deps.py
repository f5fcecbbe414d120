"""FastAPI dependencies: the process's engine and Temporal client, DB sessions, the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.usage import UsageRecorder
from services.accounts.principal import Principal
from services.accounts.store import authenticate
from services.core.errors import Unavailable
from services.core.settings import Settings
from services.core.tracing import Tracing
from services.org.queries import get_org

T = TypeVar("T")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# No list is that long; a bound keeps the offset inside every database's integer range.
MAX_PAGE = 100_000
# A numeric row id: databases store 64-bit integers, and a larger one must be a 422 (or a
# plain "absent"), never an overflow deep in the driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a record's number")]


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    temporal: Client | None
    temporal_status: str = ""  # why Temporal is not attached yet (readyz says it)
    usage: UsageRecorder = field(default_factory=UsageRecorder)  # tokens' last use
    tracing: Tracing | None = None  # traces of requests, workflows, activities and SQL


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.dutyledger
    return state


# The dependencies that only look things up are coroutines: FastAPI runs a plain function
# dependency on its thread pool, and each such hop cost a request more than the lookup itself
# (py-spy on bench/rectification.py: waking pool threads was the API's largest single cost).
async def current_state(request: Request) -> AppState:
    return app_state(request)


def get_session(state: Annotated[AppState, Depends(current_state)]) -> Iterator[Session]:
    """A session that commits when the handler returns normally and rolls back otherwise."""
    with Session(state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def temporal_client(state: Annotated[AppState, Depends(current_state)]) -> Client:
    return get_temporal(state)


def get_temporal(state: AppState) -> Client:
    if state.temporal is None:
        raise Unavailable(f"Temporal is not connected yet: {state.temporal_status or 'starting'}")
    return state.temporal


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Declares bearer auth in the OpenAPI document, so /docs "Authorize" works; the token itself is
# read below (a missing or malformed header is our 401 problem+json, not FastAPI's 403).
_BEARER = HTTPBearer(auto_error=False, description="an account's token (dl_…)")


# The one request an auditor makes that writes: asking for a verification of the trail, which
# records the run and its verdict, nothing of the ledger's.
AUDITOR_WRITES = frozenset({("POST", "/api/v1/audit/verifications")})


def get_principal(
    request: Request,
    state: Annotated[AppState, Depends(current_state)],
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    # Its own short session: authentication must not share the handler's transaction.
    with Session(state.engine) as session:
        principal = authenticate(session, bearer_token(request))
    state.usage.note(principal.account_id)
    route_path = getattr(request.scope.get("route"), "path", None)
    if (
        request.method not in READ_ONLY_METHODS
        and (request.method, route_path) not in AUDITOR_WRITES
    ):
        # Checked once for every route: an auditor never writes, whatever a route forgets.
        principal.require_write()
    request.state.principal = principal
    return principal


def subtree_path(session: Session, principal: Principal, org_id: str | None) -> str:
    """The path to list under: the caller's scope, or a requested org within it (404/403)."""
    if org_id is None:
        return principal.scope_path
    org = get_org(session, org_id)
    principal.require_scope(org)
    return org.path


@dataclass(frozen=True)
class PageParams:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


# scope="function": the commit happens before the response is sent, so a client that got a 2xx
# reads its own write on the very next request (with the default scope it would race the commit).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
StateDep = Annotated[AppState, Depends(current_state)]
# Routes name the client's type through this alias and hand it to a domain client; they never
# import temporalio themselves (checked by the import contract in pyproject.toml).
TemporalClient = Client
TemporalDep = Annotated[TemporalClient, Depends(temporal_client)]
PageDep = Annotated[PageParams, Depends(page_params)]


async def released(session: Session, step: Awaitable[T]) -> T:
    """Await a domain client's step with no database connection held (Temporal may take a
    while; the pool is shared), then read afresh: the step's write is in the read model."""
    session.commit()
    result = await step
    session.expire_all()
    return result

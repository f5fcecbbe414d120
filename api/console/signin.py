"""Signing in and out of the console, and who the visitor is (the session cookie, CSRF)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.console import session as cookie
from api.console.render import language, page
from api.deps import AppState, app_state
from api.limits import SlidingWindow
from services.accounts.principal import Principal
from services.accounts.store import authenticate, principal_of, token_tag
from services.core.errors import DomainError, Forbidden, Invalid, Unauthorized
from services.core.labels import label
from services.cycle.plan_workbook import parse_plan_workbook
from services.demo import DemoAccount

router = APIRouter(include_in_schema=False)
PRESIGN = "dl_presign"


class Visitor:
    """Who is signed in, from the session cookie (None when nobody, or the account is gone)."""

    def __init__(self, request: Request) -> None:
        self.state: AppState = app_state(request)
        key = cookie.secret_key(self.state.settings)
        self.session = cookie.read(key, request.cookies.get(cookie.COOKIE))
        self.principal: Principal | None = None
        if self.session is not None:
            with Session(self.state.engine) as s:
                try:
                    self.principal = principal_of(
                        s, self.session.account_id, self.session.token_tag
                    )
                except Unauthorized:
                    self.principal = None

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page for this visitor: who they are, their CSRF token, whether a step just went
        through (``?done=1``), and the form's input to keep (none by default)."""
        context.setdefault("form", {})
        return page(
            request,
            template,
            status_code,
            tz=self.state.settings.timezone,
            principal=self.principal,
            csrf=self.session.csrf if self.session else "",
            done=request.query_params.get("done") == "1",
            **context,
        )

    def refused(self, request: Request, exc: DomainError) -> HTMLResponse:
        """The error page of a read that was refused (404, 403, …)."""
        return self.render(request, "base.html", exc.status, error=error_of(exc))

    def csrf_ok(self, form: Any) -> bool:
        sent = str(form.get("csrf") or "")
        return self.session is not None and same_token(sent, self.session.csrf)


def show(request: Request, build: Callable[[Visitor], Response]) -> Response:
    """A page for a signed-in visitor (anyone else goes to sign in); a refused read — 404,
    403, … — becomes the error page."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    try:
        return build(who)
    except DomainError as exc:
        return who.refused(request, exc)


async def showing(request: Request, build: Callable[[Visitor], Awaitable[Response]]) -> Response:
    """``show`` for a page that awaits something (Temporal) while it is built."""
    who = Visitor(request)
    if who.principal is None:
        return to_signin(request)
    try:
        return await build(who)
    except DomainError as exc:
        return who.refused(request, exc)


async def posting(request: Request) -> tuple[Visitor, Principal, Any] | Response:
    """Who posts which form: a signed-in visitor whose form carries their CSRF token; anyone
    else is sent to sign in, a form without the token refused."""
    who = Visitor(request)
    form = await request.form()
    if who.principal is None:
        return to_signin(request)
    if not who.csrf_ok(form):
        return refuse_post(request)
    return who, who.principal, form


def to_signin(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back to this page (its query string too) afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?{urlencode({'next': here})}", status_code=303)


def refuse_post(request: Request) -> HTMLResponse:
    err = Forbidden("the form is missing its CSRF token or the session changed; reload the page")
    return page(request, "base.html", status_code=403, error=error_of(err), principal=None)


def error_of(exc: DomainError) -> dict[str, Any]:
    return {"detail": exc.detail, "errors": exc.extra.get("errors", [])}


async def uploaded_json(form: Any, field: str) -> Any | None:
    """The JSON file posted in ``field`` (a plan workbook, ``.xlsx``, read as its plan JSON),
    or None when no file was chosen; a file that is neither is a 422 naming the field."""
    upload = form.get(field)
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    if upload.filename.lower().endswith(".xlsx"):
        return parse_plan_workbook(await upload.read())
    try:
        return json.loads(await upload.read())
    except ValueError:
        raise Invalid(
            f"the {field} file is not JSON", errors=[{"field": field, "message": "not JSON"}]
        ) from None


def kept_input(form: Any) -> dict[str, str]:
    """What the person typed, to show again beside a refusal (never the CSRF token or files)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


# --- signing in -----------------------------------------------------------------------------


def _demo_accounts(state: AppState) -> list[DemoAccount]:
    """The demo people to sign in as: only when the embedded default loaded demo data."""
    if not state.settings.console_demo_signin:
        return []
    path = state.settings.data_dir / "demo-tokens.json"
    if not path.exists():
        return []
    return [DemoAccount.model_validate(a) for a in json.loads(path.read_text())]


def anonymous_page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page whose form is posted by someone not signed in (signing in, a public report): the
    form carries a token that must match a cookie set with the page (double submit), so another
    site cannot post it on the visitor's behalf."""
    token = request.cookies.get(PRESIGN) or cookie.new_csrf()
    state = app_state(request)
    context.setdefault("form", {})
    response = page(
        request,
        template,
        status_code,
        tz=state.settings.timezone,
        principal=None,
        presign=token,
        **context,
    )
    response.set_cookie(PRESIGN, token, httponly=True, samesite="lax")
    return response


def anonymous_form_ok(request: Request, form: Any) -> bool:
    sent, expected = str(form.get("csrf") or ""), request.cookies.get(PRESIGN) or ""
    return bool(sent) and same_token(sent, expected)


def same_token(sent: str, expected: str) -> bool:
    """Constant-time, and as bytes: a token with characters beyond ASCII is simply wrong."""
    return hmac.compare_digest(sent.encode(), expected.encode())


def _signin_page(request: Request, status_code: int = 200, **extra: Any) -> HTMLResponse:
    nxt = request.query_params.get("next", "/me")
    demo = _demo_accounts(app_state(request))
    return anonymous_page(request, "signin.html", status_code, next=nxt, demo=demo, **extra)


@router.get("/signin")
def signin_form(request: Request) -> HTMLResponse:
    return _signin_page(request)


@router.post("/signin", response_model=None)
async def signin(request: Request) -> Response:
    form = await request.form()
    if not anonymous_form_ok(request, form):
        return refuse_post(request)
    state = app_state(request)
    limiter: SlidingWindow = request.app.state.signin_limiter
    client = request.client.host if request.client else "unknown"
    if limiter.allow(client, state.settings.console_signin_per_minute) is not None:
        err = {"detail": page_text(request, "signin_throttled"), "errors": []}
        return _signin_page(request, status_code=429, error=err)
    with Session(state.engine) as s:
        try:
            principal = authenticate(s, str(form.get("token") or ""))
        except Unauthorized:
            err = {"detail": page_text(request, "signin_failed"), "errors": []}
            return _signin_page(request, status_code=401, error=err)
    value, _ = cookie.issue(
        cookie.secret_key(state.settings),
        principal.account_id,
        state.settings.console_session_hours,
        token_tag(str(form.get("token") or "")),
    )
    nxt = str(form.get("next") or "/me")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/me"  # never redirect off this site
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(
        cookie.COOKIE,
        value,
        max_age=state.settings.console_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(PRESIGN)
    return response


def page_text(request: Request, key: str) -> str:
    return label("ui", key, language(request))


@router.post("/signout", response_model=None)
async def signout(request: Request) -> Response:
    who = Visitor(request)
    if not who.csrf_ok(await request.form()):
        return refuse_post(request)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(cookie.COOKIE)
    return response

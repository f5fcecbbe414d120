"""Rendering console pages: the Jinja2 environment (templates and assets ship in the package),
the visitor's language, and the label catalogue of ``services.core.labels`` as ``t()``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.core.labels import Lang, label

HERE = Path(__file__).parent
LANG_COOKIE = "dl_lang"
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def language(request: Request) -> Lang:
    """``?lang=en`` or ``?lang=zh`` chooses (and sticks, via a cookie); Chinese by default."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "zh"


def _with_language(request: Request, lang: str) -> str:
    """This page's query string with the other language (filters and paging kept)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")]
    return urlencode([*pairs, ("lang", lang)])


def page(
    request: Request, template: str, status_code: int = 200, tz: str = "UTC", **context: Any
) -> HTMLResponse:
    """Render ``template`` in the visitor's language, times shown in the service's timezone."""
    lang = language(request)
    zone = ZoneInfo(tz)

    def t(key: str, kind: str = "ui") -> str:
        return label(kind, key, lang)

    def at(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if moment is None:
            return ""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # stored in UTC
        return aware.astimezone(zone).strftime(fmt)

    def who(actor: str, names: dict[str, str]) -> str:
        """A person's name for an actor id; the service itself for timers and cascades."""
        if actor in names:
            return names[actor]
        return t("system") if actor.startswith("system") else actor

    html = _env.get_template(template).render(
        request=request,
        lang=lang,
        t=t,
        at=at,
        who=who,
        label=lambda kind, code: label(kind, code, lang),
        switch_language=_with_language(request, "zh" if lang == "en" else "en"),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    # Strict: only this app's own styles and scripts, no inline script, never framed.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    if request.query_params.get("lang") in ("en", "zh"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response

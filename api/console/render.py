"""Rendering console pages: the Jinja2 environment (templates and assets ship in the package),
the visitor's language, and the label catalogue of ``services.core.labels`` as ``t()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)

    def t(key: str, kind: str = "ui") -> str:
        return label(kind, key, lang)

    html = _env.get_template(template).render(
        request=request, lang=lang, t=t, label=lambda kind, code: label(kind, code, lang), **context
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

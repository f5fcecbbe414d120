"""The house rules of the layout (docs/architecture.md), checked on every run: no module over
400 lines, no function over 60, and every domain package says what it is. The import rules are
checked by ``lint-imports`` (make lint)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "activities", "services", "workflows")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return [
        p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "migrations" not in p.parts
    ]


def test_the_layout_has_modules_to_check() -> None:
    assert len(_modules()) > 50


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}


def test_every_module_and_domain_package_says_what_it_is() -> None:
    silent = [
        str(p.relative_to(ROOT))
        for p in _modules()
        if ast.get_docstring(ast.parse(p.read_text())) is None
        and (p.name != "__init__.py" or p.parent.parent.name == "services")
    ]
    assert silent == []

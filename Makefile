# The two set-up commands are `make run` and `make test`; both work on a fresh clone.
# uv comes from PyPI when missing; the environment is synced from uv.lock; nothing else downloads.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: run test lint check bench ensure-uv sync browser

ensure-uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv

sync: ensure-uv
	@$(UV) sync --frozen --quiet

## Run the whole service on this machine (Temporal dev server, SQLite, worker, API, demo data).
run: sync
	$(UV) run --frozen dutyledger dev

## What the browser tests need from Debian: Chromium (and its driver, for Selenium users; the
## tests drive it with Playwright) and a font with Chinese glyphs.
browser:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" \
		&& test -x /usr/bin/chromedriver \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver fonts-wqy-zenhei >/dev/null; }

## Run the whole test suite (real Temporal servers, SQLite and, where installed, PostgreSQL,
## Chromium for the console).
test: sync browser
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy .
	$(UV) run --frozen lint-imports

check: lint test

"""How every ``dutyledger`` command runs: settings from the environment, domain errors as a
message and an exit code, and a hard exit (``os._exit``) after a clean shutdown — the Temporal
client's native runtime can crash at interpreter exit otherwise (sdk-python#300)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from services.core.errors import DomainError
from services.core.logging import configure_logging, get_logger
from services.core.settings import Settings

log = get_logger("dutyledger.cli")


def settings_from_env() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def run_command(fn: Callable[[], Any]) -> None:
    """Run a command body, turn domain errors into a message and an exit code, exit hard."""
    code = 0
    try:
        fn()
    except DomainError as exc:
        sys.stderr.write(f"error: {exc.detail}\n")
        for err in exc.extra.get("errors", []):
            if "cell" in err:  # a workbook's: the message names its cell
                sys.stderr.write(f"  {err['message']}\n")
                continue
            where = f"row {err['row']} " if "row" in err else ""
            sys.stderr.write(
                f"  {err.get('section', '')} {where}{err.get('field', '')}: {err['message']}\n"
            )
        code = 2
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = int(exc.code or 0)
    except Exception as exc:
        log.exception("command_failed", error=str(exc))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

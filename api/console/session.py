"""Console sessions: a signed cookie naming the account, its expiry and the session's CSRF token.

Stateless (any API replica verifies it) and tamper-evident (HMAC-SHA256 with a key from the
settings, or one made once under the data dir on the embedded default). Every form carries the
CSRF token; a POST whose token does not match the cookie's is refused. The account is looked up
again on every request, so a disabled account's session stops at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from services.core.settings import Settings

COOKIE = "dl_session"


@dataclass(frozen=True)
class ConsoleSession:
    account_id: str
    expires: int  # unix seconds
    csrf: str
    # Which token signed in (a prefix of its hash): a rotated token ends its sessions too.
    token_tag: str = ""


_KEPT_KEYS: dict[Path, bytes] = {}  # read once per process, not on every request


def secret_key(settings: Settings) -> bytes:
    if settings.console_secret is not None:
        return settings.console_secret.get_secret_value().encode()
    path = (Path(settings.data_dir) / "console-secret").resolve()
    key = _KEPT_KEYS.get(path)
    if key is None:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        key = _KEPT_KEYS[path] = path.read_text().strip().encode()
    return key


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()


def issue(
    key: bytes, account_id: str, hours: int, token_tag: str = ""
) -> tuple[str, ConsoleSession]:
    """A new session (a fresh CSRF token) and its cookie value."""
    sess = ConsoleSession(account_id, int(time.time()) + hours * 3600, new_csrf(), token_tag)
    payload = json.dumps(
        {"a": sess.account_id, "e": sess.expires, "c": sess.csrf, "t": sess.token_tag}
    ).encode()
    value = base64.urlsafe_b64encode(payload).decode() + "." + _sign(key, payload)
    return value, sess


def read(key: bytes, value: str | None) -> ConsoleSession | None:
    """The session of a cookie value, or None when absent, forged or expired."""
    if not value or "." not in value:
        return None
    encoded, signature = value.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(key, payload), signature):
        return None
    data = json.loads(payload)
    if int(data["e"]) < time.time():
        return None
    return ConsoleSession(str(data["a"]), int(data["e"]), str(data["c"]), str(data.get("t", "")))


def new_csrf() -> str:
    return secrets.token_urlsafe(24)

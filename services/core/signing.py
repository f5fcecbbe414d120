"""Signing an outgoing webhook request per the Standard Webhooks spec
(https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` over ``{id}.{timestamp}.{body}``, with the maintained library."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def standard_headers(secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three headers. ``secret`` is a ``whsec_`` secret (its
    base64 part is the key), or any other string, whose UTF-8 bytes are the key."""
    hook = Webhook(secret) if secret.startswith(SECRET_PREFIX) else Webhook(secret.encode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": hook.sign(message_id, at, body),
    }

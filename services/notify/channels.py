"""Delivery channels: a structured log line, SMTP, a signed webhook.

SMTP messages carry a Message-ID and webhooks an ``X-Dutyledger-Delivery`` header derived from
the dedupe key, so a receiver can drop the one repeat no database can prevent (a crash after the
peer accepted a message but before its delivery row committed).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import httpx

from services.core.clock import utcnow
from services.core.labels import label
from services.core.logging import get_logger
from services.core.settings import Settings
from services.core.signing import standard_headers
from services.notify.models import DELIVERY_HEADER, SIGNATURE_HEADER, Notification
from services.org.models import Person

log = get_logger(__name__)


class DeliveryError(Exception):
    """A channel failed. ``permanent``: the receiver refused this message (a 4xx other than
    408/429), so trying again will not help; otherwise it is retried on the bounded schedule of
    ``services.notify.retries``."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _message_id(dedupe_key: str) -> str:
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}@dutyledger>"


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _send_log(n: Notification, recipient: Person | None, settings: Settings) -> None:
    log.info(
        "notification",
        kind=n.kind,
        to=n.recipient_person_id,
        email=recipient.email if recipient else None,
        subject=n.subject,
        dedupe_key=n.dedupe_key,
    )


def _compose(msg: EmailMessage, n: Notification, lang: str, console_url: str) -> None:
    """Subject and body in the recipient's language, as plain text and as HTML, each with the
    link to the console page it is about."""
    chinese = lang == "zh" and bool(n.subject_zh)
    subject, body = (n.subject_zh, n.body_zh) if chinese else (n.subject, n.body)
    url = console_url + (n.link or "/me")
    opener = label("ui", "open_in_console", "zh" if chinese else "en")
    msg["Subject"] = subject
    msg.set_content(f"{body}\n\n{opener}: {url}\n")
    msg.add_alternative(
        "<!doctype html><html><body>"
        f"<p>{html.escape(body)}</p>"
        f'<p><a href="{html.escape(url, quote=True)}">{html.escape(opener)}</a></p>'
        "</body></html>",
        subtype="html",
    )


def _send_smtp(n: Notification, recipient: Person | None, settings: Settings) -> None:
    if recipient is None or not recipient.email:
        log.info("notification_no_email", to=n.recipient_person_id, dedupe_key=n.dedupe_key)
        return
    msg = EmailMessage()
    msg["From"] = settings.smtp_sender
    msg["To"] = recipient.email
    msg["Message-ID"] = _message_id(n.dedupe_key) if n.dedupe_key else make_msgid()
    _compose(msg, n, recipient.language, settings.resolved_console_url)
    try:
        # Briefly, like the webhook: a slow server is retried later, not waited on in an activity.
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=5) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"smtp: {exc}") from exc


def _send_webhook(n: Notification, recipient: Person | None, settings: Settings) -> None:
    if not settings.webhook_url:
        raise DeliveryError(
            "webhook channel is enabled but DUTYLEDGER_WEBHOOK_URL is not set", permanent=True
        )
    body = json.dumps(
        {
            "dedupe_key": n.dedupe_key,
            "kind": n.kind,
            "recipient_person_id": n.recipient_person_id,
            "recipient_email": recipient.email if recipient else None,
            "subject": n.subject,
            "body": n.body,
            "entity_type": n.entity_type,
            "entity_id": n.entity_id,
            "scheduled_for": n.scheduled_for.isoformat() if n.scheduled_for else None,
        },
        sort_keys=True,
    ).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: n.dedupe_key}
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        # Standard Webhooks headers (the id derived from the dedupe key, as the Message-ID is),
        # and the older HMAC header that existing receivers check.
        message_id = "msg_" + _message_id(n.dedupe_key)[1:33]
        headers.update(standard_headers(secret, message_id, body.decode(), utcnow()))
        headers[SIGNATURE_HEADER] = webhook_signature(secret, body)
    # One attempt, briefly: whoever sent it must not wait on a slow receiver (a deadline's
    # activity is one); a failure is retried later on the bounded schedule.
    try:
        r = httpx.post(settings.webhook_url, content=body, headers=headers, timeout=5)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {exc}") from exc
    if r.status_code >= 300:
        refused = 400 <= r.status_code < 500 and r.status_code not in (408, 429)
        raise DeliveryError(f"webhook: HTTP {r.status_code}", permanent=refused)


SENDERS = {"log": _send_log, "smtp": _send_smtp, "webhook": _send_webhook}

"""Every message text people receive, in one place: subjects and bodies of notifications.

Pure functions of plain values, so workflows may compose a message (it travels with the change it
announces) and activities may too; nothing else writes message text. English for now; the
console's label catalogue will carry the Chinese texts beside these.
"""

from __future__ import annotations

from datetime import date

Message = tuple[str, str]  # (subject, body)


def deadline_reminder(what: str, title: str, ref: str, due: date, days_left: int) -> Message:
    return (
        f"Reminder: {what} due {due.isoformat()} ({days_left} day(s) left) — {title}",
        f"The {what} for “{title}” ({ref}) is due {due.isoformat()}.",
    )


def deadline_escalation(
    what: str, title: str, ref: str, org_name: str, due: date, days_over: int, level: int
) -> Message:
    return (
        f"Overdue {days_over} day(s), level {level}: {what} — {title}",
        f"The {what} for “{title}” ({ref}, org {org_name}) was due {due.isoformat()} and is "
        f"{days_over} day(s) overdue. Escalated to level {level}.",
    )


def accountability_reason(what: str, title: str, due: date, days_over: int) -> str:
    return f"{what} for “{title}” {days_over} day(s) overdue (due {due.isoformat()})"


def letter_issued(
    org_name: str, cycle_title: str, items: int, content_hash: str, sign_by: date
) -> Message:
    return (
        f"Responsibility letter to sign by {sign_by.isoformat()} — {org_name}",
        f"The “{cycle_title}” responsibility letter for {org_name} lists {items} item(s). Read "
        f"it and sign (content hash {content_hash[:12]}…) by {sign_by.isoformat()}.",
    )


def letter_returned(org_name: str, version: int, reason: str) -> Message:
    return (
        f"Letter returned for revision — {org_name}",
        f"The head of {org_name} returned version {version} of the responsibility letter: "
        f"{reason}. Amend its items to reissue it.",
    )


def letter_amended(org_name: str, version: int, changed: int, reason: str) -> Message:
    return (
        f"Responsibility letter v{version} to sign — {org_name}",
        f"Version {version} of your responsibility letter changes {changed} item(s)"
        f"{': ' + reason if reason else ''}. Read it and sign it again.",
    )


def commitment_to_review(org_name: str, text: str) -> Message:
    return f"Commitment to review — {org_name}", text


def commitment_approved(text: str) -> Message:
    return "Commitment approved and published", text


def commitment_returned(reason: str) -> Message:
    return "Commitment returned for revision", reason


def commitment_resubmitted(text: str) -> Message:
    return "Commitment resubmitted", text


def recheck_due(problem_id: str, title: str, recheck_due: date) -> Message:
    return (
        f"Re-check due: did the fix hold? — {title}",
        f"Rectification {problem_id} (“{title}”) was closed; its re-check is due "
        f"{recheck_due.isoformat()}. Confirm that the fix held, or reopen it.",
    )

"""Issuing an org's letter (version 1) from its cycle's plan, once, and the message to its head."""

from __future__ import annotations

from sqlmodel import Session

from services.cycle.contracts import IssuedLetter, IssueLetterInput, LetterChange
from services.cycle.plan import Plan
from services.cycle.store import build_letter, get_cycle, load_letter, persist_letter_change
from services.notify import texts
from services.notify.models import NotificationIn
from services.org.models import Org
from services.org.queries import get_org


def issue_letter(
    session: Session, inp: IssueLetterInput
) -> tuple[IssuedLetter, NotificationIn | None]:
    """Build and store version 1 (a retry returns what was stored), and the head's notice."""
    cycle = get_cycle(session, inp.cycle_id)
    plan = Plan.model_validate(cycle.plan)
    org = session.get(Org, inp.org_id, with_for_update=True) or get_org(session, inp.org_id)
    letter = build_letter(session, cycle, org, inp.at)
    stored = load_letter(session, letter.letter_id)
    if stored is None:
        persist_letter_change(
            session,
            LetterChange(
                key=f"letter:{letter.letter_id}:e1",
                snapshot=letter,
                action="issue",
                actor=f"system:cycle:{cycle.id}",
                at=inp.at,
                payload={"items": len(letter.items), "issuer": letter.issuer_person_id},
            ),
        )
    else:
        letter = stored
    issued = IssuedLetter(
        snapshot=letter, calendar=plan.calendar, timezone=plan.timezone, policy=plan.reminders
    )
    if letter.head_person_id is None:
        return issued, None
    message = texts.letter_issued(
        letter.org_name, cycle.title, len(letter.items), letter.content_hash, plan.calendar.sign_by
    )
    notice = NotificationIn(
        dedupe_key=f"letter:{letter.letter_id}:issued",
        recipient_person_id=letter.head_person_id,
        kind="letter_issued",
        **message.fields(),
        entity_type="letter",
        entity_id=letter.letter_id,
        org_path=letter.org_path,
        scheduled_for=inp.at,
        fired_at=inp.at,
    )
    return issued, notice

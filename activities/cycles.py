"""Activities of the org workflows: record the launch, issue a letter, persist each change.

Each write is one transaction keyed by the workflow (letter id + event number, commitment id +
version), so a retried activity or a replayed workflow writes nothing twice. Messages to people
(a returned letter, a commitment to approve) carry the same key as their dedupe key.
"""

from __future__ import annotations

from temporalio import activity

from activities.context import deps
from services.core.db import session_scope
from services.cycle.contracts import (
    ISSUE_LETTER_ACTIVITY,
    PERSIST_COMMITMENT_ACTIVITY,
    PERSIST_LETTER_ACTIVITY,
    RECORD_LAUNCH_ACTIVITY,
    CommitmentChange,
    CycleRecord,
    IssuedLetter,
    IssueLetterInput,
    LetterChange,
)
from services.cycle.plan import Plan
from services.cycle.store import (
    build_letter,
    get_cycle,
    load_letter,
    persist_commitment_change,
    persist_letter_change,
    record_cycle,
)
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import notify
from services.org.queries import get_org


@activity.defn(name=RECORD_LAUNCH_ACTIVITY)
def record_launch(rec: CycleRecord) -> bool:
    with session_scope(deps().engine) as session:
        return record_cycle(session, rec)


@activity.defn(name=ISSUE_LETTER_ACTIVITY)
def issue_letter(inp: IssueLetterInput) -> IssuedLetter:
    """Version 1 of the org's letter, from the cycle's plan; a retry returns what was stored."""
    d = deps()
    with session_scope(d.engine) as session:
        cycle = get_cycle(session, inp.cycle_id)
        plan = Plan.model_validate(cycle.plan)
        org = get_org(session, inp.org_id)
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
        sign_by = plan.calendar.sign_by
    if letter.head_person_id is not None:
        subject, body = texts.letter_issued(
            letter.org_name, cycle.title, len(letter.items), letter.content_hash, sign_by
        )
        spec = NotificationIn(
            dedupe_key=f"letter:{letter.letter_id}:issued",
            recipient_person_id=letter.head_person_id,
            kind="letter_issued",
            subject=subject,
            body=body,
            entity_type="letter",
            entity_id=letter.letter_id,
            org_path=letter.org_path,
            scheduled_for=inp.at,
            fired_at=inp.at,
        )
        with session_scope(d.engine) as session:
            notify(session, spec, d.settings)
    return IssuedLetter(
        snapshot=letter, calendar=plan.calendar, timezone=plan.timezone, policy=plan.reminders
    )


def _tell(key: str, org_path: str, entity: tuple[str, str], at_msg: tuple[str, str, str]) -> None:
    d = deps()
    person, subject, body = at_msg
    spec = NotificationIn(
        dedupe_key=key,
        recipient_person_id=person,
        kind="cycle",
        subject=subject,
        body=body,
        entity_type=entity[0],
        entity_id=entity[1],
        org_path=org_path,
    )
    with session_scope(d.engine) as session:
        notify(session, spec, d.settings)


@activity.defn(name=PERSIST_LETTER_ACTIVITY)
def persist_letter(ch: LetterChange) -> bool:
    with session_scope(deps().engine) as session:
        created = persist_letter_change(session, ch)
    if ch.notify is not None:
        _tell(ch.key, ch.snapshot.org_path, ("letter", ch.snapshot.letter_id), ch.notify)
    return created


@activity.defn(name=PERSIST_COMMITMENT_ACTIVITY)
def persist_commitment(ch: CommitmentChange) -> bool:
    with session_scope(deps().engine) as session:
        created = persist_commitment_change(session, ch)
    if ch.notify is not None:
        s = ch.snapshot
        _tell(ch.key, s.org_path, ("commitment", s.commitment_id), ch.notify)
    return created

"""The evaluation workflow's activities: phase changes (results computed when rating closes and
once more at publication, then frozen), reminders to raters who have not voted, and the
organizer told who is missing — by group, counts only."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

from sqlmodel import Session, col, select
from temporalio import activity

from activities.deps import ActivityDeps, heartbeating
from activities.rectification import flag
from services.core.db import session_scope
from services.evaluation.apply import record_poor_grades, weak_aspects
from services.evaluation.contracts import (
    CLOSE_RATING_ACTIVITY,
    PUBLISH_ACTIVITY,
    REMIND_DEBRIEFING_ACTIVITY,
    REMIND_RATERS_ACTIVITY,
    SET_PHASE_ACTIVITY,
    PhaseChange,
    ReminderSlot,
)
from services.evaluation.models import Evaluation, EvaluationInvitation, EvaluationSubject
from services.evaluation.results import compute_results
from services.evaluation.store import set_phase
from services.notify import texts
from services.notify.models import NotificationIn
from services.notify.store import notify
from services.rectification.contracts import FlagProblemInput

FLAG_BATCH = 20  # rectifications started at once when publishing
HEARTBEAT_EVERY = 5.0  # seconds; the workflow's heartbeat timeout is 30


def _missing(session: Session, evaluation_id: str) -> list[tuple[str, str]]:
    """(person, group) of every invitation not voted yet."""
    inv = EvaluationInvitation
    rows = session.exec(
        select(inv.person_id, inv.group).where(
            inv.evaluation_id == evaluation_id, col(inv.voted).is_(False)
        )
    ).all()
    return [(p, g) for p, g in rows]


class EvaluationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name=SET_PHASE_ACTIVITY)
    def set_evaluation_phase(self, change: PhaseChange) -> bool:
        with session_scope(self.deps.engine) as session:
            return set_phase(session, change)

    @activity.defn(name=CLOSE_RATING_ACTIVITY)
    def close_evaluation_rating(self, change: PhaseChange) -> int:
        """Calibration starts: results computed (the organizer's to review), the organizer told
        how many ballots are missing in each group."""
        with session_scope(self.deps.engine) as session:
            row = session.get(Evaluation, change.evaluation_id)
            assert row is not None
            set_phase(session, change)
            count = compute_results(session, row, change.at, tick=activity.heartbeat)
            missing = dict(Counter(g for _, g in _missing(session, row.id)))
            organizer, title, path = row.organizer_person_id, row.title, row.under_path
        if organizer is not None:
            message = texts.evaluation_rating_closed(title, missing)
            key = f"evaluation:{change.evaluation_id}:rating-closed"
            self._tell(key, organizer, "evaluation", message, change.evaluation_id, path)
        return count

    def _tell(
        self,
        key: str,
        person: str,
        kind: str,
        message: texts.Message,
        evaluation_id: str,
        org_path: str,
        at: datetime | None = None,
    ) -> None:
        """One message about the evaluation, once per ``key`` whatever the retries."""
        spec = NotificationIn(
            dedupe_key=key,
            recipient_person_id=person,
            kind=kind,
            **message.fields(),
            entity_type="evaluation",
            entity_id=evaluation_id,
            org_path=org_path,
            scheduled_for=at,
        )
        with session_scope(self.deps.engine) as session:
            notify(session, spec, self.deps.settings)

    @activity.defn(name=PUBLISH_ACTIVITY)
    async def publish_evaluation(self, change: PhaseChange) -> int:
        """The final computation, then published (the results never change again), and what
        they set in motion: poor grades on the heads' records, weak aspects as problems. A retry
        repeats none of it. Returns how many problems were opened or found."""
        flags = await heartbeating(asyncio.to_thread(self._publish, change), HEARTBEAT_EVERY)
        opened = 0
        for batch in range(0, len(flags), FLAG_BATCH):
            done = await asyncio.gather(
                *(flag(self.deps, f) for f in flags[batch : batch + FLAG_BATCH])
            )
            opened += len(done)
            activity.heartbeat(opened)
        return opened

    def _publish(self, change: PhaseChange) -> list[FlagProblemInput]:
        with session_scope(self.deps.engine) as session:
            row = session.get(Evaluation, change.evaluation_id)
            assert row is not None
            compute_results(session, row, change.at)
            set_phase(session, change)
            record_poor_grades(session, row)
            return weak_aspects(session, row, change.at)

    @activity.defn(name=REMIND_DEBRIEFING_ACTIVITY)
    def remind_evaluation_debriefing(self, slot: ReminderSlot) -> int:
        """One reminder per subject whose head has not handed in the debriefing report."""
        with session_scope(self.deps.engine) as session:
            row = session.get(Evaluation, slot.evaluation_id)
            assert row is not None
            owing = [
                (s.org_id, s.org_name, s.org_path, s.head_person_id)
                for s in session.exec(
                    select(EvaluationSubject).where(
                        EvaluationSubject.evaluation_id == row.id,
                        col(EvaluationSubject.debriefing_at).is_(None),
                    )
                )
                if s.head_person_id is not None
            ]
            title, due = row.title, row.debriefing_due or row.rating_deadline
        for org_id, name, path, head in owing:
            message = texts.evaluation_debriefing_reminder(title, name, due, slot.days_before)
            key = f"evaluation:{slot.evaluation_id}:debriefing:{slot.days_before}:{org_id}"
            self._tell(key, head, "reminder", message, slot.evaluation_id, path, slot.at)
        return len(owing)

    @activity.defn(name=REMIND_RATERS_ACTIVITY)
    def remind_evaluation_raters(self, slot: ReminderSlot) -> int:
        """One reminder per rater who still has ballots to cast (once per slot, whatever the
        retries: the dedupe key names the slot and the person)."""
        with session_scope(self.deps.engine) as session:
            row = session.get(Evaluation, slot.evaluation_id)
            assert row is not None
            per_person = Counter(p for p, _ in _missing(session, row.id))
            title, deadline, path = row.title, row.rating_deadline, row.under_path
        for person, count in sorted(per_person.items()):
            message = texts.evaluation_rating_reminder(title, count, deadline, slot.days_before)
            key = f"evaluation:{slot.evaluation_id}:remind:{slot.days_before}:{person}"
            self._tell(key, person, "reminder", message, slot.evaluation_id, path, slot.at)
        return len(per_person)

"""The overdue levels of letters and items, raised by the escalations of their deadlines
(``activities/deadlines``); a signature resets a letter's (``store.persist_letter_change``)."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from services.cycle.contracts import LetterState
from services.cycle.models import Item, Letter


def raise_letter_overdue(session: Session, letter_id: str, level: int) -> None:
    """An escalation of the signature deadline (never lowers the level: retries are no-ops).

    Not once the letter is signed: a signature resets the level, and an escalation whose write
    lands after it (a slot retried after its workflow took the signature) is about a signature
    no longer pending (its message and accountability record are still written)."""
    session.execute(
        update(Letter)
        .where(
            col(Letter.id) == letter_id,
            col(Letter.overdue_level) < level,
            col(Letter.state) != LetterState.signed.value,
        )
        .values(overdue_level=level)
    )


def raise_item_overdue(session: Session, item_id: str, level: int) -> None:
    session.execute(
        update(Item)
        .where(col(Item.id) == item_id, col(Item.overdue_level) < level)
        .values(overdue_level=level)
    )

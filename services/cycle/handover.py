"""A head changes mid-year: what it does to the org's letter (pure, like ``transitions``).

From the change on, the new head is the letter's head: they sign it if it is unsigned, and a
letter the former head signed stays signed (by them) and asks the new head to acknowledge it,
on the same content hash; nothing signed is lost or re-signed. A change of the parent org's head
makes a new issuer (who amends, confirms achievements and approves commitments).
"""

from __future__ import annotations

from datetime import datetime

from services.cycle.contracts import CurrentParties, LetterSnapshot, LetterState
from services.cycle.transitions import LetterStep
from services.notify import texts


def parties_changed(letter: LetterSnapshot, now: CurrentParties) -> LetterStep | None:
    """The letter with the org tree's head and issuer, or None when it names them already."""
    head_moved = now.head_person_id != letter.head_person_id
    if not head_moved and now.issuer_person_id == letter.issuer_person_id:
        return None
    update: dict[str, object] = {"issuer_person_id": now.issuer_person_id}
    owed = None
    if head_moved:
        update["head_person_id"] = now.head_person_id
        signed = letter.state is LetterState.signed
        acknowledge = signed and now.head_person_id not in (None, letter.signed_by)
        update["handover_to"] = now.head_person_id if acknowledge else None
        update["acknowledged_by"] = None
        update["acknowledged_at"] = None
        owed = (
            "acknowledge" if acknowledge else "sign" if letter.state is LetterState.issued else None
        )
    payload = {
        "head": [letter.head_person_id, now.head_person_id],
        "issuer": [letter.issuer_person_id, now.issuer_person_id],
        "handover": bool(update.get("handover_to")),
    }
    message = texts.head_taken_over(letter.org_name, letter.version, owed, letter.head_person_id)
    return LetterStep(
        new=letter.model_copy(update=update),
        action="parties_change",
        payload=payload,
        item_ids=[],
        tell=(now.head_person_id, *message) if head_moved and now.head_person_id else None,
    )


def acknowledged(letter: LetterSnapshot, person_id: str | None, at: datetime) -> LetterStep:
    new = letter.model_copy(
        update={"handover_to": None, "acknowledged_by": person_id, "acknowledged_at": at}
    )
    return LetterStep(
        new=new,
        action="acknowledge",
        payload={"acknowledged_by": person_id, "signed_by": letter.signed_by},
        item_ids=[],
    )

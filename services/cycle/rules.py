"""The annual cycle's rules: who may sign, return, amend, report and pledge, and when.

Pure functions of an org's workflow state and a request, raising domain errors (409 naming the
state, 403 naming who may, 422 naming the field). The org workflow runs them in its validators
and again under its lock (``services.core.failures.as_failure``); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from services.core.errors import Conflict, DomainError, Forbidden, Invalid
from services.cycle.contracts import (
    DECIDED_ITEM_STATES,
    Actor,
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    CommitmentSnapshot,
    CommitmentState,
    Confirmation,
    ConfirmRequest,
    CycleOrgState,
    ItemSnapshot,
    LetterState,
    ProgressRequest,
    ReturnRequest,
    SignRequest,
)
from services.cycle.plan import Responsibility


def _illegal(message: str, state: str) -> Conflict:
    return Conflict(message, state=state)


def _forbidden(message: str) -> Forbidden:
    return Forbidden(message)


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field, "message": message}])


def open_state(st: CycleOrgState | None, closed: bool) -> CycleOrgState:
    """The org's state, if it takes changes now: its letter issued, its year not closed."""
    if st is None:
        raise _illegal("the letter is still being issued; retry", "issuing")
    if closed:
        raise _illegal("the cycle's year has closed for this org", "closed")
    return st


class LetterParties(Protocol):
    """Who a letter concerns: a ``LetterSnapshot`` in the workflow, a ``Letter`` row in the API."""

    org_name: str
    head_person_id: str | None
    issuer_person_id: str | None


class ItemParties(Protocol):
    id: str
    assignee_person_id: str | None
    responsibility: Any  # a ``Responsibility`` in the workflow, its value in a row


def answerable(letter: LetterParties, item: ItemParties) -> str | None:
    """Who answers for an item: the org's head now for a primary one (a new head takes them
    over with the post), else its assignee, else (collective) the head."""
    if item.responsibility == Responsibility.primary:
        return letter.head_person_id
    return item.assignee_person_id or letter.head_person_id


def require_head(letter: LetterParties, actor: Actor, doing: str) -> None:
    if actor.person_id is None or actor.person_id != letter.head_person_id:
        raise _forbidden(
            f"only the head of {letter.org_name} ({letter.head_person_id or 'none set'}) "
            f"may {doing}"
        )


def require_issuer(letter: LetterParties, actor: Actor, doing: str) -> None:
    """The issuer is the parent org's head; the root's letter is issued by its committee."""
    if letter.issuer_person_id is None:
        if not actor.root_committee:
            raise _forbidden(f"only the committee of the cycle's root may {doing}")
    elif actor.person_id != letter.issuer_person_id:
        raise _forbidden(f"only the head of the parent org ({letter.issuer_person_id}) may {doing}")


def require_member(letter: LetterParties, actor: Actor, doing: str) -> None:
    if not (actor.org_member or actor.person_id == letter.head_person_id):
        raise _forbidden(f"only members of {letter.org_name} {doing}")


def require_reporter(letter: LetterParties, item: ItemParties, actor: Actor) -> None:
    """A collective item is reported on by any member; any other by its assignee."""
    if item.assignee_person_id is None:
        if not (actor.org_member or actor.person_id == letter.head_person_id):
            raise _forbidden(
                f"item {item.id!r} is collective: members of {letter.org_name} report on it"
            )
    elif actor.person_id != answerable(letter, item):
        raise _forbidden(f"only the assignee ({answerable(letter, item)}) reports on {item.id!r}")


def require_author(author_person_id: str, actor: Actor) -> None:
    if actor.person_id != author_person_id:
        raise _forbidden(f"only {author_person_id} may resubmit this commitment")


def check_sign(st: CycleOrgState, req: SignRequest) -> None:
    letter = st.letter
    require_head(st.letter, req.actor, "sign its letter")
    if letter.state is LetterState.signed:
        raise _illegal(
            f"version {letter.version} is already signed (by {letter.signed_by}); "
            "a second signature is not allowed",
            letter.state.value,
        )
    if letter.state is LetterState.returned:
        raise _illegal(
            f"version {letter.version} was returned for revision; wait for the reissued letter",
            letter.state.value,
        )
    if req.content_hash != letter.content_hash:
        raise _illegal(
            f"content_hash does not match version {letter.version} of the letter "
            f"(expected {letter.content_hash}); read the current letter and sign what you "
            "read",
            letter.state.value,
        )


def check_acknowledge(st: CycleOrgState, req: SignRequest) -> None:
    """A head who took over a signed letter acknowledges that very text (its content hash)."""
    letter = st.letter
    require_head(letter, req.actor, "acknowledge its letter")
    if letter.handover_to is None or letter.state is not LetterState.signed:
        raise _illegal(
            f"version {letter.version} of the letter awaits no acknowledgement "
            f"(it is {letter.state.value}"
            + (f", signed by {letter.signed_by})" if letter.state is LetterState.signed else ")"),
            letter.state.value,
        )
    if req.content_hash != letter.content_hash:
        raise _illegal(
            f"content_hash does not match version {letter.version} of the letter "
            f"(expected {letter.content_hash}); read the letter and acknowledge what you read",
            letter.state.value,
        )


def check_return(st: CycleOrgState, req: ReturnRequest) -> None:
    require_head(st.letter, req.actor, "return its letter")
    if st.letter.state is not LetterState.issued:
        raise _illegal(
            f"only an issued letter can be returned; version {st.letter.version} is "
            f"{st.letter.state.value}",
            st.letter.state.value,
        )


def check_amend(st: CycleOrgState, req: AmendRequest) -> None:
    require_issuer(st.letter, req.actor, "amend this letter")
    if not req.changes:
        raise _invalid("items", "name at least one item to add or change")
    seen: set[str] = set()
    for n, ch in enumerate(req.changes):
        if ch.template.due > st.calendar.closes_on:
            raise _invalid(
                f"items.{n}.due",
                f"{ch.template.due} is after the cycle closes ({st.calendar.closes_on})",
            )
        if ch.id is None:
            continue
        item = st.letter.item(ch.id)
        if item is None:
            raise _invalid(f"items.{n}.id", f"no item {ch.id!r} in this letter")
        if ch.id in seen:
            raise _invalid(f"items.{n}.id", f"item {ch.id!r} is changed twice")
        seen.add(ch.id)
        if item.state in DECIDED_ITEM_STATES:
            raise _illegal(
                f"item {ch.id!r} is already {item.state.value}; it cannot change",
                item.state.value,
            )


def check_progress(st: CycleOrgState, req: ProgressRequest) -> ItemSnapshot:
    item = st.letter.item(req.item_id)
    if item is None:
        raise _invalid("item_id", f"no item {req.item_id!r} in this letter")
    require_reporter(st.letter, item, req.actor)
    if not st.letter.ever_signed:
        raise _illegal(
            "the letter is not signed yet: its items are not in force", st.letter.state.value
        )
    if item.state in DECIDED_ITEM_STATES:
        raise _illegal(
            f"item {item.id!r} was decided ({item.state.value}) at its due date",
            item.state.value,
        )
    if (
        item.indicator.evidence_required
        and req.actual >= item.indicator.target
        and not (item.evidence or req.evidence)
    ):
        raise _invalid(
            "evidence",
            f"the standard of {item.id!r} asks for evidence: attach it when reporting that "
            "the target is reached",
        )
    return item


def check_confirm(st: CycleOrgState, req: ConfirmRequest) -> ItemSnapshot | None:
    """The issuer confirms or rejects an achievement reported (the target reached); the item
    when there is something to do, None for a repeated decision (a retry)."""
    item = st.letter.item(req.item_id)
    if item is None:
        raise _invalid("item_id", f"no item {req.item_id!r} in this letter")
    require_issuer(st.letter, req.actor, "confirm the achievements of its items")
    answers = answerable(st.letter, item)
    if req.actor.person_id is not None and req.actor.person_id == answers:
        raise _forbidden(f"{answers} answers for {item.id!r}: someone else confirms it")
    if item.confirmation is req.decision:
        return None
    if item.confirmation is Confirmation.confirmed:
        raise _illegal(f"the achievement of {item.id!r} is already confirmed", "confirmed")
    if not item.reached():
        raise _illegal(
            f"item {item.id!r} is not reported as reaching its target "
            f"({item.actual if item.actual is not None else 'nothing'} of "
            f"{item.indicator.target:g} {item.indicator.unit})",
            item.state.value,
        )
    if req.decision is Confirmation.rejected and not req.reason.strip():
        raise _invalid("reason", "say why the achievement is rejected")
    return item


def check_commit(st: CycleOrgState, req: CommitmentRequest) -> CommitmentSnapshot | None:
    """None for a new pledge; the existing one for a retried request."""
    require_member(st.letter, req.actor, "pledge on its items")
    if not st.letter.ever_signed:
        raise _illegal(
            "commitments follow the signature: the letter is not signed yet",
            st.letter.state.value,
        )
    existing = st.commitments.get(req.commitment_id)
    if existing is not None:
        if existing.person_id == req.actor.person_id and existing.text == req.text:
            return existing
        raise _illegal(f"commitment {req.commitment_id!r} exists", existing.state.value)
    for n, item_id in enumerate(req.item_ids):
        if st.letter.item(item_id) is None:
            raise _invalid(f"item_ids.{n}", f"no item {item_id!r} in this letter")
    return None


def check_decision(st: CycleOrgState, req: CommitmentDecision) -> CommitmentSnapshot:
    c = st.commitments.get(req.commitment_id)
    if c is None:
        raise _invalid("commitment_id", f"no commitment {req.commitment_id!r} here")
    if req.decision in ("approve", "return"):
        require_issuer(st.letter, req.actor, f"{req.decision} a commitment")
        if c.state is not CommitmentState.submitted:
            raise _illegal(
                f"commitment {c.commitment_id!r} is {c.state.value}; only a submitted one "
                f"can be {'approved' if req.decision == 'approve' else 'returned'}",
                c.state.value,
            )
    elif req.decision == "resubmit":
        require_author(c.person_id, req.actor)
        if c.state is not CommitmentState.returned:
            raise _illegal(
                f"commitment {c.commitment_id!r} is {c.state.value}; only a returned one "
                "can be resubmitted",
                c.state.value,
            )
        for n, item_id in enumerate(req.item_ids or []):
            if st.letter.item(item_id) is None:
                raise _invalid(f"item_ids.{n}", f"no item {item_id!r} in this letter")
    else:
        raise _invalid("decision", f"unknown decision {req.decision!r}")
    return c


# --- what a person may do now (pages show only these; the checks above still decide) ---------


class LetterNow(LetterParties, Protocol):
    state: str
    signed_version: int | None
    handover_to: str | None


def letter_steps(letter: LetterNow, actor: Actor) -> set[str]:
    """The steps open to ``actor`` on the letter: sign and return (its head, while issued),
    amend (its issuer), pledge (a member, once it was signed)."""
    steps: set[str] = set()
    head = actor.person_id is not None and actor.person_id == letter.head_person_id
    if head and letter.state == LetterState.issued.value:
        steps |= {"sign", "return"}
    if head and letter.state == LetterState.signed.value and letter.handover_to is not None:
        steps.add("acknowledge")
    if _allows(require_issuer, letter, actor):
        steps.add("amend")
    if letter.signed_version is not None and _allows(require_member, letter, actor):
        steps.add("pledge")
    return steps


def item_changeable(item_state: str) -> bool:
    """An item decided at its due date (achieved, missed) never changes."""
    return item_state not in {s.value for s in DECIDED_ITEM_STATES}


def commitment_steps(
    state: str, author_person_id: str, letter: LetterParties, actor: Actor
) -> set[str]:
    """approve and return (the issuer, on a submitted pledge), resubmit (its author, once
    returned)."""
    if state == CommitmentState.submitted.value and _allows(require_issuer, letter, actor):
        return {"approve", "return"}
    if state == CommitmentState.returned.value and actor.person_id == author_person_id:
        return {"resubmit"}
    return set()


def _allows(
    check: Callable[[LetterParties, Actor, str], None], letter: LetterParties, actor: Actor
) -> bool:
    try:
        check(letter, actor, "")
    except DomainError:
        return False
    return True

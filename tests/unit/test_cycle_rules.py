"""The annual cycle's rules and steps without a server: who may sign, return, amend, report and
pledge in which state, and what each step writes (the org workflow runs exactly these)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.core.errors import Conflict, Forbidden, Invalid
from services.cycle import transitions
from services.cycle.contracts import (
    Actor,
    AmendRequest,
    CommitmentDecision,
    CommitmentRequest,
    Confirmation,
    ConfirmRequest,
    CycleOrgState,
    ItemChange,
    ItemSnapshot,
    LetterSnapshot,
    LetterState,
    ProgressRequest,
    ReturnRequest,
    SignRequest,
    content_hash,
)
from services.cycle.plan import Calendar, Indicator, ItemTemplate
from services.cycle.rules import (
    check_amend,
    check_commit,
    check_confirm,
    check_decision,
    check_progress,
    check_return,
    check_sign,
    open_state,
)
from services.deadlines.contracts import ReminderPolicy

NOW = datetime(2027, 2, 1, 2, 0, tzinfo=UTC)
HEAD = Actor(account_id="a-head", person_id="p-head", org_member=True)
ISSUER = Actor(account_id="a-issuer", person_id="p-issuer")
MEMBER = Actor(account_id="a-m", person_id="p-m", org_member=True)
STRANGER = Actor(account_id="a-x", person_id="p-x")
ROOT_COMMITTEE = Actor(account_id="a-c", person_id="p-c", root_committee=True)


def _item(seq: int, assignee: str | None, target: float = 2) -> ItemSnapshot:
    return ItemSnapshot(
        id=f"c:b-1:{seq}",
        seq=seq,
        category="organization",
        responsibility="primary" if assignee else "collective",
        title=f"item {seq}",
        indicator=Indicator(metric="meetings", target=target, unit="times"),
        due=date(2027, 6, 30),
        assignee_person_id=assignee,
    )


def _state(**letter: object) -> CycleOrgState:
    items = [_item(1, "p-head"), _item(2, None)]
    base: dict[str, object] = {
        "letter_id": "c:b-1",
        "cycle_id": "c",
        "org_id": "b-1",
        "org_name": "Branch 1",
        "org_path": "/city/b-1/",
        "level": 1,
        "parent_org_id": "city",
        "head_person_id": "p-head",
        "issuer_person_id": "p-issuer",
        "version": 1,
        "content_hash": content_hash("c", "b-1", "Branch 1", items),
        "state": LetterState.issued,
        "items": items,
        "issued_at": NOW,
    }
    return CycleOrgState(
        letter=LetterSnapshot.model_validate({**base, **letter}),
        calendar=Calendar(
            sign_by=date(2027, 1, 31),
            commitments_by=date(2027, 2, 28),
            midyear=date(2027, 6, 30),
            yearend=date(2027, 12, 15),
            closes_on=date(2027, 12, 31),
        ),
        timezone="Asia/Shanghai",
        policy=ReminderPolicy(),
        events=1,
    )


def _signed() -> CycleOrgState:
    st = _state()
    st.letter = transitions.signed(st.letter, "p-head", NOW).new
    return st


def test_only_an_issued_open_letter_takes_changes() -> None:
    with pytest.raises(Conflict) as err:
        open_state(None, closed=False)
    assert err.value.extra["state"] == "issuing"
    with pytest.raises(Conflict) as err:
        open_state(_state(), closed=True)
    assert err.value.extra["state"] == "closed"


def test_the_head_signs_the_hash_they_read_once() -> None:
    st = _state()
    good = SignRequest(actor=HEAD, content_hash=st.letter.content_hash)
    check_sign(st, good)
    for actor in (ISSUER, MEMBER, STRANGER, ROOT_COMMITTEE):
        with pytest.raises(Forbidden, match="only the head of Branch 1"):
            check_sign(st, SignRequest(actor=actor, content_hash=st.letter.content_hash))
    with pytest.raises(Conflict, match="does not match version 1"):
        check_sign(st, SignRequest(actor=HEAD, content_hash="0" * 64))
    step = transitions.signed(st.letter, "p-head", NOW)
    assert step.new.state is LetterState.signed and step.new.signed_version == 1
    assert step.action == "sign" and step.item_ids == []
    st.letter = step.new
    with pytest.raises(Conflict, match="already signed"):
        check_sign(st, good)


def test_return_goes_to_the_issuer_and_blocks_signing_until_amended() -> None:
    st = _state()
    with pytest.raises(Forbidden):
        check_return(st, ReturnRequest(actor=MEMBER, reason="why"))
    check_return(st, ReturnRequest(actor=HEAD, reason="target too low"))
    step = transitions.returned(st.letter, "target too low")
    assert step.tell is not None and step.tell[0] == "p-issuer"
    assert "target too low" in step.tell[2]
    st.letter = step.new
    with pytest.raises(Conflict, match="returned for revision"):
        check_sign(st, SignRequest(actor=HEAD, content_hash=st.letter.content_hash))
    with pytest.raises(Conflict, match="only an issued letter"):
        check_return(st, ReturnRequest(actor=HEAD, reason="again"))


def _template(due: date = date(2027, 9, 30)) -> ItemTemplate:
    return ItemTemplate(
        category="conduct",
        responsibility="direct",
        title="new",
        indicator=Indicator(metric="talks", target=4, unit="times"),
        due=due,
    )


def test_the_issuer_amends_naming_the_api_fields_of_what_is_wrong() -> None:
    st = _signed()
    with pytest.raises(Forbidden, match="parent org"):
        check_amend(st, AmendRequest(actor=HEAD, changes=[ItemChange(template=_template())]))
    late = AmendRequest(actor=ISSUER, changes=[ItemChange(template=_template(date(2028, 1, 5)))])
    with pytest.raises(Invalid) as err:
        check_amend(st, late)
    assert err.value.extra["errors"][0]["field"] == "items.0.due"
    unknown = AmendRequest(actor=ISSUER, changes=[ItemChange(id="nope", template=_template())])
    with pytest.raises(Invalid) as err:
        check_amend(st, unknown)
    assert err.value.extra["errors"][0]["field"] == "items.0.id"
    req = AmendRequest(
        actor=ISSUER,
        changes=[ItemChange(template=_template()), ItemChange(id="c:b-1:1", template=_template())],
        reason="more",
    )
    check_amend(st, req)
    step = transitions.amended(st.letter, req)
    assert step.new.version == 2 and step.new.state is LetterState.issued
    assert step.new.content_hash != st.letter.content_hash
    assert [i.id for i in step.new.items] == ["c:b-1:1", "c:b-1:2", "c:b-1:3"]
    assert step.payload["items"] == ["c:b-1:3", "c:b-1:1"] and step.payload["was"] == "signed"
    assert step.tell is not None and step.tell[0] == "p-head"


def test_the_root_letter_is_amended_by_the_roots_committee() -> None:
    st = _state(issuer_person_id=None, level=0, parent_org_id=None)
    req = AmendRequest(actor=ROOT_COMMITTEE, changes=[ItemChange(template=_template())])
    check_amend(st, req)
    with pytest.raises(Forbidden, match="committee of the cycle's root"):
        check_amend(st, req.model_copy(update={"actor": ISSUER}))


def test_progress_needs_a_signature_and_the_right_reporter() -> None:
    def progress(actor: Actor, item: str) -> ProgressRequest:
        return ProgressRequest(actor=actor, item_id=item, actual=1, note="", evidence=[])

    with pytest.raises(Conflict, match="not signed yet"):
        check_progress(_state(), progress(HEAD, "c:b-1:1"))
    st = _signed()
    assert check_progress(st, progress(HEAD, "c:b-1:1")).id == "c:b-1:1"
    with pytest.raises(Forbidden, match="only the assignee"):
        check_progress(st, progress(MEMBER, "c:b-1:1"))
    check_progress(st, progress(MEMBER, "c:b-1:2"))  # collective: any member
    with pytest.raises(Forbidden, match="collective"):
        check_progress(st, progress(STRANGER, "c:b-1:2"))
    with pytest.raises(Invalid):
        check_progress(st, progress(HEAD, "c:b-1:9"))
    item = st.letter.item("c:b-1:1")
    assert item is not None
    step = transitions.progressed(st.letter, item, progress(HEAD, "c:b-1:1"))
    assert step.item_ids == ["c:b-1:1"] and step.new.items[0].actual == 1


def test_nobody_confirms_their_own_achievement_and_changes_ask_again() -> None:
    """The root's committee confirms the root letter's items, but not one its own person
    answers for; a rejection clears on the next report; an amended item is confirmed anew."""
    st = _state(issuer_person_id=None, level=0, parent_org_id=None)
    st.letter = transitions.signed(st.letter, "p-head", NOW).new
    own = ROOT_COMMITTEE.model_copy(update={"person_id": "p-head"})  # the head sits on it
    report = ProgressRequest(actor=HEAD, item_id="c:b-1:1", actual=2, note="", evidence=[])
    item = check_progress(st, report)
    st.letter = transitions.progressed(st.letter, item, report).new

    def confirm(actor: Actor, decision: Confirmation, reason: str = "") -> ConfirmRequest:
        return ConfirmRequest(actor=actor, item_id="c:b-1:1", decision=decision, reason=reason)

    with pytest.raises(Forbidden, match="someone else confirms it"):
        check_confirm(st, confirm(own, Confirmation.confirmed))
    with pytest.raises(Forbidden, match="committee of the cycle's root"):
        check_confirm(st, confirm(MEMBER, Confirmation.confirmed))
    rejected = check_confirm(st, confirm(ROOT_COMMITTEE, Confirmation.rejected, "no minutes"))
    assert rejected is not None
    st.letter = transitions.confirmed(
        st.letter, rejected, confirm(ROOT_COMMITTEE, Confirmation.rejected, "no minutes"), NOW
    ).new
    assert check_confirm(st, confirm(ROOT_COMMITTEE, Confirmation.rejected, "again")) is None
    item = check_progress(st, report)
    again = transitions.progressed(st.letter, item, report).new.items[0]
    assert (again.confirmation, again.confirmation_reason, again.confirmed_by) == (None, "", None)
    st.letter = transitions.confirmed(
        st.letter, item, confirm(ROOT_COMMITTEE, Confirmation.confirmed), NOW
    ).new
    assert st.letter.items[0].confirmation is Confirmation.confirmed
    change = ItemChange(id="c:b-1:1", template=_template())
    amended = transitions.amended(st.letter, AmendRequest(actor=ROOT_COMMITTEE, changes=[change]))
    assert amended.new.items[0].confirmation is None


def test_items_are_decided_at_the_end_of_their_due_day_in_the_cycles_timezone() -> None:
    st = _signed()
    st.letter.items[0].actual = 2  # reached
    # 30 June 23:59:59 in Shanghai is 15:59:59 UTC.
    assert (
        transitions.due_items_decided(
            st.letter, st.timezone, datetime(2027, 6, 30, 15, 59, tzinfo=UTC)
        )
        is None
    )
    step = transitions.due_items_decided(
        st.letter, st.timezone, datetime(2027, 6, 30, 16, 0, tzinfo=UTC)
    )
    assert step is not None
    assert step.payload == {"achieved": ["c:b-1:1"], "missed": ["c:b-1:2"]}
    problem = transitions.missed_item_problem(st, step.new.items[1], "wf", NOW)
    assert problem.problem_id == "IND-c:b-1:2" and problem.problem.source == "indicator"


def test_commitments_from_members_after_signing_decided_by_the_issuer() -> None:
    pledge = CommitmentRequest(
        actor=MEMBER, commitment_id="C-1", text="I will", item_ids=["c:b-1:2"]
    )
    with pytest.raises(Conflict, match="follow the signature"):
        check_commit(_state(), pledge)
    st = _signed()
    with pytest.raises(Forbidden, match="only members"):
        check_commit(st, pledge.model_copy(update={"actor": STRANGER}))
    assert check_commit(st, pledge) is None
    step = transitions.submitted(st.letter, pledge, NOW)
    st.commitments["C-1"] = step.new
    assert check_commit(st, pledge) == step.new  # a retried request finds its pledge
    with pytest.raises(Conflict, match="exists"):
        check_commit(st, pledge.model_copy(update={"text": "other"}))
    approve = CommitmentDecision(actor=ISSUER, commitment_id="C-1", decision="approve")
    with pytest.raises(Forbidden):
        check_decision(st, approve.model_copy(update={"actor": HEAD}))
    check_decision(st, approve)
    with pytest.raises(Conflict, match="only a returned one"):
        check_decision(
            st, CommitmentDecision(actor=MEMBER, commitment_id="C-1", decision="resubmit")
        )
    returned = transitions.decided(
        st.letter,
        step.new,
        approve.model_copy(update={"decision": "return", "reason": "vague"}),
        NOW,
    )
    st.commitments["C-1"] = returned.new
    with pytest.raises(Forbidden, match="only p-m"):
        check_decision(st, CommitmentDecision(actor=HEAD, commitment_id="C-1", decision="resubmit"))
    check_decision(st, CommitmentDecision(actor=MEMBER, commitment_id="C-1", decision="resubmit"))

"""The rectification rules without a server: every state × action × who asks, the transitions
each legal action makes, and the typed bodies that cross the workflow boundary."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.core.errors import Conflict, Forbidden
from services.rectification.contracts import (
    ActionRequest,
    ConfirmIn,
    ProblemSnapshot,
    ReasonIn,
    RecheckIn,
)
from services.rectification.rules import Action, Flags, RectState, check_action, next_state
from services.rectification.transitions import Clock, apply_action

A = Action
S = RectState
OWNER, OTHER = "p-owner", "p-other"

# The state machine as documented (docs/architecture.md), written out by hand.
ALLOWED: dict[tuple[RectState, bool, bool], set[Action]] = {
    # (state, extension pending, re-check window open): actions allowed
    (S.identified, False, False): {A.confirm, A.dismiss},
    (S.assigned, False, False): {A.assign, A.plan, A.extension},
    (S.assigned, True, False): {A.assign, A.plan, A.approve_extension, A.deny_extension},
    (S.plan_submitted, False, False): {A.assign, A.approve_plan, A.return_plan, A.extension},
    (S.plan_submitted, True, False): {
        A.assign,
        A.approve_plan,
        A.return_plan,
        A.approve_extension,
        A.deny_extension,
    },
    (S.in_progress, False, False): {A.assign, A.progress, A.extension, A.completion},
    (S.in_progress, True, False): {
        A.assign,
        A.progress,
        A.completion,
        A.approve_extension,
        A.deny_extension,
    },
    (S.completion_submitted, False, False): {A.verify},
    (S.closed, False, True): {A.reopen, A.recheck},
    (S.closed, False, False): set(),
    (S.dismissed, False, False): set(),
}
OWNER_ACTIONS = {A.plan, A.progress, A.extension, A.completion}


def _check(action: Action, key: tuple[RectState, bool, bool], person: str | None, role: str):
    state, ext, recheck = key
    flags = Flags(extension_pending=ext, recheck_open=recheck)
    check_action(action, state, flags, OWNER, person, role)


CASES = [(key, action) for key in ALLOWED for action in Action]


@pytest.mark.parametrize(
    ("key", "action"), CASES, ids=[f"{k[0]}-{k[1]}-{k[2]}-{a}" for k, a in CASES]
)
def test_every_state_action_and_party(key: tuple[RectState, bool, bool], action: Action) -> None:
    allowed = action in ALLOWED[key]
    if not allowed:
        for person, role in ((OWNER, "member"), (OTHER, "committee"), (None, "admin")):
            with pytest.raises(Conflict) as err:
                _check(action, key, person, role)
            assert err.value.extra["state"] == key[0].value
            assert set(err.value.extra["allowed_actions"]) == {a.value for a in ALLOWED[key]}
        return
    if action in OWNER_ACTIONS:
        _check(action, key, OWNER, "member")
        for person, role in ((OTHER, "committee"), (None, "admin"), (OTHER, "member")):
            with pytest.raises(Forbidden, match="only the owner"):
                _check(action, key, person, role)
        return
    _check(action, key, OTHER, "committee")
    _check(action, key, None, "admin")
    for role in ("member", "auditor"):
        with pytest.raises(Forbidden, match="committee or admin"):
            _check(action, key, OTHER, role)
    if action in (A.verify, A.recheck):  # segregation of duties, whatever the role
        with pytest.raises(Forbidden, match="segregation"):
            _check(action, key, OWNER, "committee")
    else:
        _check(action, key, OWNER, "committee")


def _snapshot(state: RectState, **over: object) -> ProblemSnapshot:
    base: dict[str, object] = {
        "problem_id": "P-1",
        "org_id": "b-1",
        "org_path": "/city/b-1/",
        "cycle_id": None,
        "item_id": None,
        "source": "inspection",
        "category": "conduct",
        "severity": "major",
        "title": "t",
        "description": "",
        "state": state,
        "owner_person_id": OWNER,
        "verifier_person_id": None,
        "due": date(2027, 5, 1),
        "opened_at": datetime(2027, 1, 1, tzinfo=UTC),
        "closed_at": None,
        "extension_pending": False,
        "requested_due": None,
        "recheck_due": None,
        "recheck_open": False,
        "progress_percent": 0,
        "plan": None,
        "version": 3,
        "created_by": "acc-1",
    }
    return ProblemSnapshot.model_validate({**base, **over})


CLOCK = Clock(
    now=datetime(2027, 3, 1, 17, 0, tzinfo=UTC), timezone="Asia/Shanghai", recheck_days=90
)


def test_verify_pass_closes_with_a_recheck_on_the_orgs_calendar_day() -> None:
    req = ActionRequest.model_validate(
        {"action": "verify", "actor": "acc-2", "actor_person_id": OTHER, "body": {"result": "pass"}}
    )
    new, payload = apply_action(_snapshot(S.completion_submitted), req, CLOCK)
    assert new.state is S.closed and new.version == 4 and new.recheck_open
    # 17:00 UTC is already 2 March in Shanghai: the re-check counts from there.
    assert new.recheck_due == date(2027, 5, 31)
    assert new.verifier_person_id == OTHER and payload == {"result": "pass", "comment": ""}


def test_recheck_not_held_reopens_with_the_new_due_date() -> None:
    req = ActionRequest(
        action=A.recheck,
        actor="acc-2",
        actor_person_id=OTHER,
        body=RecheckIn(held=False),
        reopen_due=date(2027, 4, 1),
    )
    s = _snapshot(S.closed, recheck_open=True, closed_at=CLOCK.now, overdue_level=2)
    new, payload = apply_action(s, req, CLOCK)
    assert new.state is S.in_progress and new.due == date(2027, 4, 1)
    assert new.closed_at is None and not new.recheck_open and new.overdue_level == 0
    assert payload["due"] == "2027-04-01" and payload["previous_due"] == "2027-05-01"


def test_an_old_request_with_the_due_date_inside_its_body_still_decodes() -> None:
    """Histories recorded before bodies were typed carry ``due`` in a reopen's body."""
    req = ActionRequest.model_validate(
        {
            "action": "reopen",
            "actor": "acc-2",
            "actor_person_id": OTHER,
            "body": {"reason": "not fixed", "due": "2027-04-01"},
        }
    )
    assert req.body == ReasonIn(reason="not fixed") and req.reopen_due == date(2027, 4, 1)
    assert req.actor_role is None


def test_confirm_names_the_owner_and_every_action_lands_where_the_diagram_says() -> None:
    req = ActionRequest(
        action=A.confirm, actor="a", actor_person_id=None, body=ConfirmIn(owner_person_id="p-9")
    )
    new, _ = apply_action(_snapshot(S.identified, owner_person_id=None), req, CLOCK)
    assert new.state is S.assigned and new.owner_person_id == "p-9"
    assert next_state(A.plan, S.assigned) is S.plan_submitted
    assert next_state(A.approve_plan, S.plan_submitted) is S.in_progress
    assert next_state(A.return_plan, S.plan_submitted) is S.assigned
    assert next_state(A.completion, S.in_progress) is S.completion_submitted
    assert next_state(A.verify, S.completion_submitted, False) is S.in_progress
    assert next_state(A.dismiss, S.identified) is S.dismissed
    for keeps in (A.assign, A.progress, A.extension, A.approve_extension, A.deny_extension):
        assert next_state(keeps, S.in_progress) is S.in_progress

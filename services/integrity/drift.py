"""Drift: read-model rows that no longer say what their audit events say.

Every state change of a problem, letter, item, commitment, evaluation and hand-recorded
accountability is an event in the hash chain carrying the fields it set. ``find_drift`` replays
those fields per entity (the last event that set each one wins) and compares them with the
stored row, naming each field that differs — so a ``problems.state`` edited in SQL is caught
even though the chain itself is intact. A problem's periods (its fields over time, which the
ledger as of a past day reads) are rebuilt from its events by the rule its writes follow
(``services.rectification.history``); the last of them is its row, and each is compared with
the stored one. Rows are read in pages of ids; events grouped per page, read once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel
from sqlalchemy import Row
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from services.audit.chain import AuditEvent, verify_chain
from services.cycle.models import Commitment, Item, Letter
from services.deadlines.accountability import Accountability
from services.evaluation.models import Evaluation
from services.integrity.checkpoints import verify_stored
from services.rectification.history import HISTORY_FIELDS, ProblemPeriod, periods_from_events
from services.rectification.models import Problem

PAGE = 500
MAX_REPORTED = 1000  # a wholesale rewrite is named by its first rows, not all of them


class Drift(BaseModel):
    entity_type: str
    entity_id: str
    field: str
    stored: Any
    from_events: Any


Event = Row[Any]  # an audit event's entity_id, action, payload and time
Fold = Callable[[dict[str, Any], Event], None]


def _letter(state: dict[str, Any], ev: Event) -> None:
    p = ev.payload
    for k in ("state", "version", "content_hash"):
        if k in p:
            state[k] = p[k]


def _commitment(state: dict[str, Any], ev: Event) -> None:
    for k in ("state", "version"):
        if k in ev.payload:
            state[k] = ev.payload[k]


def _evaluation(state: dict[str, Any], ev: Event) -> None:
    if ev.action == "evaluation_create":
        state["phase"] = "open"
    elif "phase" in ev.payload:
        state["phase"] = ev.payload["phase"]


def _accountability(state: dict[str, Any], ev: Event) -> None:
    if ev.action == "accountability_appeal_decided":
        state["overturned"] = ev.payload.get("decision") == "overturned"
    elif ev.action == "accountability_recorded":
        state.setdefault("overturned", False)


def _letter_items(state: dict[str, dict[str, Any]], ev: Event) -> None:
    """Item fields set by the letter's events: progress (actual), decisions, confirmations."""
    p = ev.payload
    if ev.action == "progress" and "item_id" in p:
        item = state.setdefault(p["item_id"], {})
        item["actual"] = p.get("actual")
        if "confirmation" in item and item["confirmation"] != "confirmed":
            item["confirmation"] = None  # a new report asks again after a rejection
    elif ev.action == "amend":
        for item_id in p.get("items", []):
            if "confirmation" in state.get(item_id, {}):
                state[item_id]["confirmation"] = None  # a changed item is confirmed anew
    elif ev.action == "decide":
        for key in ("achieved", "missed"):
            for item_id in p.get(key, []):
                state.setdefault(item_id, {})["state"] = key
    elif ev.action.startswith("achievement_") and "item_id" in p:
        state.setdefault(p["item_id"], {})["confirmation"] = p.get("decision")


def _events(session: Session, entity_type: str, ids: list[str]) -> Iterator[Event]:
    """The events of these entities in order, as plain rows of what the folds read (loaded
    objects, one per event and per period, were half of the check's time)."""
    E = AuditEvent
    yield from session.execute(
        sa_select(col(E.entity_id), col(E.action), col(E.payload), col(E.at))
        .where(col(E.entity_type) == entity_type, col(E.entity_id).in_(ids))
        .order_by(col(E.seq))
    )


def _pages(
    session: Session, table: type[SQLModel], key: Any, only: set[str] | None = None
) -> Iterator[list[Any]]:
    after: Any = None
    while True:
        q = select(table).order_by(key).limit(PAGE)
        if only is not None:
            q = q.where(key.in_(sorted(only)))
        if after is not None:
            q = q.where(key > after)
        rows = list(session.exec(q).all())
        if not rows:
            return
        yield rows
        after = getattr(rows[-1], key.key)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _compare(entity_type: str, rows: list[Any], fold: Fold, session: Session) -> Iterator[Drift]:
    ids = [str(r.id) for r in rows]
    rebuilt: dict[str, dict[str, Any]] = {i: {} for i in ids}
    seen: set[str] = set()
    for ev in _events(session, entity_type, ids):
        seen.add(ev.entity_id)
        fold(rebuilt[ev.entity_id], ev)
    for r in rows:
        rid = str(r.id)
        state = rebuilt[rid]
        if rid not in seen:
            # Every row of these tables is written with its event (accountability the system
            # records is written with its slot's event, under the entity it is about).
            if entity_type != "accountability":
                yield Drift(
                    entity_type=entity_type,
                    entity_id=rid,
                    field="*",
                    stored="row",
                    from_events=None,
                )
            continue
        for field, value in state.items():
            stored = _plain(getattr(r, field))
            if stored != value:
                yield Drift(
                    entity_type=entity_type,
                    entity_id=rid,
                    field=field,
                    stored=stored,
                    from_events=value,
                )


def _item_drift(session: Session, letters: list[Letter]) -> Iterator[Drift]:
    ids = [letter.id for letter in letters]
    rebuilt: dict[str, dict[str, Any]] = {}
    for ev in _events(session, "letter", ids):
        _letter_items(rebuilt, ev)
    if not rebuilt:
        return
    items = session.exec(select(Item).where(col(Item.id).in_(list(rebuilt)))).all()
    for item in items:
        for field, value in rebuilt[item.id].items():
            stored = getattr(item, field)
            if stored != value:
                yield Drift(
                    entity_type="item",
                    entity_id=item.id,
                    field=field,
                    stored=stored,
                    from_events=value,
                )


PERIOD_KEYS = ("valid_from", "valid_to", *HISTORY_FIELDS)


def _problem_drift(session: Session, problems: list[Problem]) -> Iterator[Drift]:
    """Each problem against its events, read once: the periods they make
    (``periods_from_events``, the rule the steps and escalations write by) give the row's fields
    (the last, present period) and its periods, which the ledger as of a past day reads. A
    period that differs is named by the first (``periods[i]``), or a missing or extra one."""
    ids = [p.id for p in problems]
    events: dict[str, list[tuple[str, dict[str, Any], datetime]]] = {i: [] for i in ids}
    for ev in _events(session, "problem", ids):
        events[ev.entity_id].append((ev.action, ev.payload, ev.at))
    stored: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    PP = ProblemPeriod
    columns = [PP.__table__.c[key] for key in PERIOD_KEYS]  # type: ignore[attr-defined]
    for problem_id, *values in session.execute(
        sa_select(col(PP.problem_id), *columns)
        .where(col(PP.problem_id).in_(ids))
        .order_by(col(PP.problem_id), col(PP.valid_from), col(PP.id))
    ):
        stored[problem_id].append(dict(zip(PERIOD_KEYS, values, strict=True)))
    for problem in problems:
        pid = problem.id
        if not events[pid]:  # every problem is written with its event
            yield Drift(
                entity_type="problem", entity_id=pid, field="*", stored="row", from_events=None
            )
            continue
        have, want = stored[pid], periods_from_events(events[pid])
        for field in HISTORY_FIELDS if want else ():
            row, value = _plain(getattr(problem, field)), _plain(want[-1][field])
            if row != value:
                yield Drift(
                    entity_type="problem", entity_id=pid, field=field, stored=row, from_events=value
                )
        if have == want:
            continue
        at = next((i for i, (h, w) in enumerate(zip(have, want, strict=False)) if h != w), None)
        i = at if at is not None else min(len(have), len(want))
        yield Drift(
            entity_type="problem",
            entity_id=pid,
            field=f"periods[{i}]",
            stored=_plain_period(have[i]) if i < len(have) else None,
            from_events=_plain_period(want[i]) if i < len(want) else None,
        )


def _plain_period(period: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in period.items()}


def find_drift(session: Session, only: dict[str, set[str]] | None = None) -> Iterator[Drift]:
    """Every field of every row the chain describes that differs from its events (``only``:
    just these ids per entity type; items go with their letters)."""
    if only is None or "problem" in only:
        ids = only.get("problem") if only is not None else None
        for problems in _pages(session, Problem, col(Problem.id), ids):
            yield from _problem_drift(session, problems)
    checks: list[tuple[str, type[SQLModel], Any, Fold]] = [
        ("letter", Letter, col(Letter.id), _letter),
        ("commitment", Commitment, col(Commitment.id), _commitment),
        ("evaluation", Evaluation, col(Evaluation.id), _evaluation),
        ("accountability", Accountability, col(Accountability.id), _accountability),
    ]
    for entity_type, table, key, fold in checks:
        if only is not None and entity_type not in only:
            continue
        ids = only.get(entity_type) if only is not None else None
        if ids is not None and entity_type == "accountability":
            ids = {i for i in ids if i.isdigit()}
            key_ids: Any = {int(i) for i in ids}
        else:
            key_ids = ids
        for rows in _pages(session, table, key, key_ids):
            yield from _compare(entity_type, rows, fold, session)
            if entity_type == "letter":
                yield from _item_drift(session, rows)


def drift_report(session: Session) -> list[Drift]:
    """The fields that differ, each confirmed by a second look at just those rows: a row and
    its event are written in one transaction, but a scan of many pages can read a row before a
    concurrent commit and its events after it (or the other way round); a tampered field still
    differs the second time, a write in flight no longer does."""
    first: list[Drift] = []
    for d in find_drift(session):
        first.append(d)
        if len(first) >= MAX_REPORTED:
            break
    if not first:
        return []
    session.expire_all()
    session.commit()  # end the read, so the second look sees what was committed since
    only: dict[str, set[str]] = {}
    for d in first:
        kind = "letter" if d.entity_type == "item" else d.entity_type
        ident = d.entity_id.rsplit(":", 1)[0] if d.entity_type == "item" else d.entity_id
        only.setdefault(kind, set()).add(ident)
    again = {(d.entity_type, d.entity_id, d.field) for d in find_drift(session, only)}
    return [d for d in first if (d.entity_type, d.entity_id, d.field) in again]


class IntegrityReport(BaseModel):
    """The chain verified link by link, against its signed checkpoints, and the read model
    against the chain."""

    ok: bool
    events_checked: int
    first_bad_event: int | None = None
    problem: str | None = None
    checkpoints_checked: int = 0
    first_bad_checkpoint: int | None = None
    drift: list[Drift]
    drift_truncated: bool  # more than MAX_REPORTED fields drifted; the first are listed


def integrity_report(
    session: Session, trusted: dict[str, Ed25519PublicKey] | None = None
) -> IntegrityReport:
    """``trusted``: the public keys checkpoints may be signed with (None: checkpoints are not
    checked — for callers that hold no key)."""
    chain = verify_chain(session)
    signed = verify_stored(session, trusted) if trusted is not None else None
    drift = drift_report(session)
    problems = [
        chain.problem,
        signed.problem if signed else None,
        f"{len(drift)} stored field(s) differ from their audit events" if drift else None,
    ]
    return IntegrityReport(
        ok=chain.ok and (signed is None or signed.ok) and not drift,
        events_checked=chain.events_checked,
        first_bad_event=chain.first_bad_event,
        problem="; ".join(p for p in problems if p) or None,
        checkpoints_checked=signed.checkpoints_checked if signed else 0,
        first_bad_checkpoint=signed.first_bad_checkpoint if signed else None,
        drift=drift,
        drift_truncated=len(drift) >= MAX_REPORTED,
    )


def for_reader(report: IntegrityReport, scope_path: str) -> IntegrityReport:
    """What a reader scoped to a subtree may see: the verdict and the counts, not the drifted
    rows (their ids and values span every subtree); installation-wide readers see it all."""
    if scope_path == "/" or not report.drift:
        return report
    return report.model_copy(
        update={
            "drift": [],
            "problem": (report.problem or "")
            + " (the fields are listed to installation-wide auditors and admins)",
        }
    )

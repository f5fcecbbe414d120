"""The audit chain on SQLite and PostgreSQL: idempotent appends, a linear chain under concurrency,
and tampering (update, delete, insert) detected and named."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.audit.chain import append_event, entity_timeline, verify_chain
from services.core.db import session_scope

T0 = datetime(2027, 1, 5, 9, 30, tzinfo=UTC)


def _append(engine: Engine, key: str, entity: str = "P-1", action: str = "confirm") -> bool:
    with session_scope(engine) as s:
        _, created = append_event(
            s,
            idempotency_key=key,
            actor="acc-1",
            action=action,
            entity_type="problem",
            entity_id=entity,
            payload={"note": "满足要求", "n": 1},
            at=T0,
            org_path="/city/",
        )
    return created


def test_append_is_idempotent_and_verifies(engine: Engine) -> None:
    assert _append(engine, "P-1:1")
    assert not _append(engine, "P-1:1")  # a retried activity writes nothing twice
    assert _append(engine, "P-1:2", action="assign")
    with Session(engine) as s:
        result = verify_chain(s)
        timeline = entity_timeline(s, "problem", "P-1")
    assert result.ok and result.events_checked == 2
    assert [e.action for e in timeline] == ["confirm", "assign"]
    assert timeline[1].prev_hash == timeline[0].hash


def test_concurrent_appends_keep_one_linear_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        for i in range(15):
            for _attempt in range(20):  # an activity would be retried the same way
                try:
                    _append(engine, f"w{w}:{i}", entity=f"P-{w}")
                    break
                except Exception as exc:  # SQLite "database is locked" under contention
                    last = exc
            else:
                errors.append(last)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Session(engine) as s:
        result = verify_chain(s)
    assert result.ok, result
    assert result.events_checked == 60


def _seed(engine: Engine, n: int = 5) -> None:
    for i in range(1, n + 1):
        _append(engine, f"P-1:{i}", action=f"step{i}")


def _verify(engine: Engine):
    with Session(engine) as s:
        return verify_chain(s)


def test_modified_event_is_named(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 3 and "modified" in (r.problem or "")


def test_deleted_event_is_named(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 2 and "missing" in (r.problem or "")


def test_reordered_events_are_named(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:  # events 2 and 3 swap places (seq), each keeping its own hash
        c.execute(text("UPDATE audit_events SET seq = 100 WHERE seq = 2"))
        c.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        c.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 100"))
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 2, r


def test_deleted_tail_is_detected(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 5


def test_inserted_event_is_named(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:
        # Shift the tail up by one and forge an event into the gap, with a self-consistent hash.
        for seq in (5, 4):
            c.execute(text(f"UPDATE audit_events SET seq = {seq + 1} WHERE seq = {seq}"))
        c.execute(
            text(
                "INSERT INTO audit_events (seq, idempotency_key, actor, action, entity_type, entity_id,"
                " org_path, payload, at, prev_hash, hash) SELECT 4, 'forged', actor, 'forged', entity_type,"
                " entity_id, org_path, payload, at, hash, hash FROM audit_events WHERE seq = 3"
            )
        )
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 4


def test_an_event_appended_beyond_the_head_is_named(engine: Engine) -> None:
    _seed(engine)
    with engine.begin() as c:  # a row written past the chain, its head left alone
        c.execute(
            text(
                "INSERT INTO audit_events (seq, idempotency_key, actor, action, entity_type, entity_id,"
                " org_path, payload, at, prev_hash, hash) SELECT 6, 'appended', actor, 'forged', entity_type,"
                " entity_id, org_path, payload, at, hash, hash FROM audit_events WHERE seq = 5"
            )
        )
    r = _verify(engine)
    assert not r.ok and r.first_bad_event == 6 and "beyond the chain head" in (r.problem or "")


def test_verifying_while_the_service_appends_is_never_a_false_alarm(engine: Engine) -> None:
    """The service keeps writing while an auditor verifies: events committed between reading
    the chain and reading its head must not read as a forged tail (they did on PostgreSQL)."""
    _seed(engine)
    done = threading.Event()

    def writer() -> None:
        n = 0
        while not done.is_set():
            n += 1
            _append(engine, f"live:{n}", entity=f"P-{n}")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        verdicts = [_verify(engine) for _ in range(40)]
    finally:
        done.set()
        thread.join()
    assert [v.problem for v in verdicts if not v.ok] == []
    assert _verify(engine).ok

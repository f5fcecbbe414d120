"""Notification channels against real peers, and one message per slot whatever the retries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.deadlines import DeadlineActivities
from activities.deps import ActivityDeps
from services.audit.chain import verify_chain
from services.core.db import session_scope
from services.core.settings import Settings
from services.deadlines.accountability import Accountability
from services.deadlines.contracts import (
    DeadlineTarget,
    FireSlotInput,
    ReminderPolicy,
    slot_key,
    slots_for,
)
from services.deadlines.rules import escalation_chain
from services.notify import texts
from services.notify.models import (
    DeliveryFailure,
    Notification,
    NotificationDelivery,
    NotificationIn,
)
from services.notify.retries import MAX_ATTEMPTS, _claim, retry_due
from services.notify.store import notify
from services.org.models import Person
from tests.support.peers import smtp_server, webhook_server
from tests.unit.conftest import count_rows


def spec(key: str = "k1", person: str = "p-008") -> NotificationIn:
    return NotificationIn(
        dedupe_key=key,
        recipient_person_id=person,
        kind="reminder",
        subject="Due soon",
        body="Body 正文",
        entity_type="problem",
        entity_id="P-1",
        org_path="/city/gb-1/gb-1-b1/",
    )


def to_webhook(settings: Settings, url: str, secret: str, channels: list[str]) -> Settings:
    """The settings with the webhook receiver at ``url`` among the channels."""
    return settings.model_copy(
        update={
            "notify_channels": channels,
            "webhook_url": url,
            "webhook_secret": SecretStr(secret),
        }
    )


def one_failure(engine: Engine) -> DeliveryFailure:
    with Session(engine) as s:
        return s.exec(select(DeliveryFailure)).one()


def test_smtp_delivers_once_with_stable_message_id(tree_engine: Engine, settings: Settings) -> None:
    with smtp_server() as (sink, port):
        cfg = settings.model_copy(
            update={"notify_channels": ["log", "smtp"], "smtp_host": "127.0.0.1", "smtp_port": port}
        )
        for _ in range(3):  # retries of the same slot
            with session_scope(tree_engine) as s:
                notify(s, spec(), cfg)
        with session_scope(tree_engine) as s:
            notify(s, spec("k2"), cfg)
    assert len(sink.messages) == 2
    first = sink.messages[0]
    assert first["To"] == "p-008@demo.example.org" and first["Subject"] == "Due soon"
    assert first["Message-ID"] != sink.messages[1]["Message-ID"]
    assert count_rows(tree_engine, Notification) == 2
    assert count_rows(tree_engine, NotificationDelivery) == 4  # 2 notifications x (log, smtp)


def _parts(message: Message) -> dict[str, str]:
    out = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_subtype()] = payload.decode(part.get_content_charset() or "utf-8")
    return out


def test_email_in_the_recipients_language_as_html_and_text_with_its_link(
    tree_engine: Engine, settings: Settings
) -> None:
    with Session(tree_engine) as s:
        person = s.get(Person, "p-005")
        assert person is not None
        person.language = "en"
        s.add(person)
        s.commit()
    message = texts.letter_returned("General Branch 1", 1, "too few debriefings")
    with smtp_server() as (sink, port):
        cfg = settings.model_copy(
            update={
                "notify_channels": ["smtp"],
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "console_url": "https://duty.example.org/",
            }
        )
        for person_id in ("p-008", "p-005"):  # Chinese by default; p-005 chose English
            with session_scope(tree_engine) as s:
                notify(
                    s,
                    NotificationIn(
                        dedupe_key=f"returned:{person_id}",
                        recipient_person_id=person_id,
                        kind="cycle",
                        **message.fields(),
                        entity_type="letter",
                        entity_id="city-2027:gb-1",
                        org_path="/city/gb-1/",
                    ),
                    cfg,
                )
    chinese, english = sink.messages
    assert (
        str(make_header(decode_header(chinese["Subject"]))) == "责任书被退回修改——General Branch 1"
    )
    zh = _parts(chinese)
    assert "退回了第1版责任书" in zh["plain"] and "退回了第1版责任书" in zh["html"]
    link = "https://duty.example.org/letters/city-2027/gb-1"
    assert link in zh["plain"] and f'href="{link}"' in zh["html"] and "在系统中查看" in zh["html"]
    subject = str(make_header(decode_header(english["Subject"])))
    assert subject == "Letter returned for revision — General Branch 1"
    en = _parts(english)
    assert "returned version 1" in en["plain"] and f'href="{link}"' in en["html"]


def test_webhook_signed_retried_without_duplicates(tree_engine: Engine, settings: Settings) -> None:
    with webhook_server("s3cret", fail_first=3) as (sink, url):
        cfg = to_webhook(settings, url, "s3cret", ["log", "webhook"])
        # The receiver fails twice: notify records the failure and returns (it never raises);
        # the retries come on their schedule, a retried notify sends nothing twice.
        with session_scope(tree_engine) as s:
            notify(s, spec(), cfg)
        with session_scope(tree_engine) as s:
            notify(s, spec(), cfg)
        failure = one_failure(tree_engine)
        assert (failure.state, failure.attempts, failure.permanent) == ("retrying", 1, False)
        assert failure.last_error == "webhook: HTTP 503"
        first = failure.next_attempt_at
        assert first is not None
        with Session(tree_engine) as s:
            assert retry_due(s, cfg, first - timedelta(seconds=1)) == 0  # not due yet
            assert retry_due(s, cfg, first) == 1  # fails again: 5 minutes later
        failure = one_failure(tree_engine)
        assert failure.state == "retrying" and failure.attempts == 2
        assert failure.next_attempt_at == first + timedelta(minutes=5)
        with Session(tree_engine) as s:
            assert retry_due(s, cfg, first + timedelta(minutes=5)) == 1  # delivered
            assert retry_due(s, cfg, first + timedelta(days=1)) == 0
        with session_scope(tree_engine) as s:
            notify(s, spec(), cfg)  # already delivered: nothing sent
        assert one_failure(tree_engine).state == "delivered"
    assert sink.bad_signatures == 0
    assert [r["delivery"] for r in sink.received] == ["k1"]
    assert (
        sink.received[0]["subject"] == "Due soon"
        and sink.received[0]["recipient_email"] == "p-008@demo.example.org"
    )
    with Session(tree_engine) as s:
        n = s.exec(select(Notification)).one()
        assert n.sent_at is not None
        assert sorted(d.channel for d in s.exec(select(NotificationDelivery)).all()) == [
            "log",
            "webhook",
        ]


def test_wrong_secret_is_refused_by_the_receiver(tree_engine: Engine, settings: Settings) -> None:
    with webhook_server("right") as (sink, url):
        cfg = to_webhook(settings, url, "wrong", ["webhook"])
        with session_scope(tree_engine) as s:
            notify(s, spec(), cfg)
        failure = one_failure(tree_engine)
        assert (failure.state, failure.permanent, failure.next_attempt_at) == (
            "gave_up",
            True,
            None,
        )
        assert "401" in failure.last_error
        with Session(tree_engine) as s:
            assert retry_due(s, cfg, datetime.now(UTC) + timedelta(days=1)) == 0  # never again
    assert sink.received == [] and sink.bad_signatures == 1  # a refusal is not retried


def test_escalation_chain_skips_repeats() -> None:
    assert escalation_chain("p-9", ["p-8", "p-2", "p-1"]) == ["p-9", "p-8", "p-2", "p-1"]
    assert escalation_chain("p-8", ["p-8", "p-2", "p-1"]) == ["p-8", "p-2", "p-1"]
    assert escalation_chain(None, [None, "p-1"]) == ["p-1"]


async def test_fire_slot_retried_sends_one_message_and_one_record(
    tree_engine: Engine, settings: Settings
) -> None:
    with smtp_server() as (sink, port):
        cfg = settings.model_copy(
            update={"notify_channels": ["smtp"], "smtp_host": "127.0.0.1", "smtp_port": port}
        )
        deadlines = DeadlineActivities(ActivityDeps(engine=tree_engine, settings=cfg))
        due = date(2027, 5, 31)
        slots = slots_for(due, "Asia/Shanghai", ReminderPolicy())
        talk = next(s for s in slots if s.accountability == "reminder_talk")
        target = DeadlineTarget(
            entity_type="commitment",
            entity_id="C-1",
            org_id="gb-1-b1",
            title="Fix minutes",
            what="rectification",
        )
        inp = FireSlotInput(
            target=target,
            owner_person_id="p-009",
            due=due,
            timezone="Asia/Shanghai",
            slot=talk,
            dedupe_key=slot_key("commitment:C-1", due, talk),
            fired_at=talk.at,
        )
        env = ActivityEnvironment()
        results = [await env.run(deadlines.fire_deadline_slot, inp) for _ in range(3)]
    # chain: owner p-009 → branch head p-008 → gb-1 head p-005 → city head p-001; level 3 = p-001
    assert {r.recipient_person_id for r in results} == {"p-001"}
    assert [r.accountability_created for r in results] == [True, False, False]
    assert len(sink.messages) == 1
    assert count_rows(tree_engine, Accountability) == 1
    with Session(tree_engine) as s:
        acc = s.exec(select(Accountability)).one()
        assert (acc.kind, acc.person_id, acc.org_id, acc.overdue_days) == (
            "reminder_talk",
            "p-009",
            "gb-1-b1",
            7,
        )
        assert verify_chain(s).events_checked == 1
        n = s.exec(select(Notification)).one()
        assert n.scheduled_for is not None and n.scheduled_for.replace(tzinfo=UTC) == datetime(
            2027, 6, 7, 15, 59, 59, tzinfo=UTC
        )


async def test_a_failing_receiver_never_holds_up_a_deadline(
    tree_engine: Engine, settings: Settings
) -> None:
    """The escalation, its accountability record, audit event and inbox row are written and the
    deadline's activity completes while the webhook answers 503; the delivery is retried on its
    bounded schedule and given up after the last attempt, visible to operators."""
    with webhook_server("s3cret", fail_first=1000) as (sink, url):
        cfg = to_webhook(settings, url, "s3cret", ["log", "webhook"])
        deadlines = DeadlineActivities(ActivityDeps(engine=tree_engine, settings=cfg))
        due = date(2027, 5, 31)
        slots = slots_for(due, "Asia/Shanghai", ReminderPolicy())
        talk = next(s for s in slots if s.accountability == "reminder_talk")
        target = DeadlineTarget(
            entity_type="problem", entity_id="P-1", org_id="gb-1-b1", title="Fix", what="x"
        )
        inp = FireSlotInput(
            target=target,
            owner_person_id="p-009",
            due=due,
            timezone="Asia/Shanghai",
            slot=talk,
            dedupe_key=slot_key("problem:P-1", due, talk),
            fired_at=talk.at,
        )
        result = await ActivityEnvironment().run(deadlines.fire_deadline_slot, inp)
        assert result.accountability_created
        assert (
            count_rows(tree_engine, Notification) == 1
            and count_rows(tree_engine, Accountability) == 1
        )
        at = datetime.now(UTC)
        with Session(tree_engine) as s:
            for _ in range(MAX_ATTEMPTS + 2):
                at += timedelta(days=1)
                retry_due(s, cfg, at)
        failure = one_failure(tree_engine)
        assert (failure.state, failure.attempts) == ("gave_up", MAX_ATTEMPTS)
        assert sink.attempts == MAX_ATTEMPTS  # the first try, then one per step, no more
        with Session(tree_engine) as s:
            delivered = s.exec(select(NotificationDelivery.channel)).all()
        assert delivered == ["log"]  # the log channel went out at once


def test_two_workers_never_try_the_same_delivery(tree_engine: Engine, settings: Settings) -> None:
    """Both read the row as due; only the first claim takes it, the other leaves it alone."""
    with webhook_server("s3cret", fail_first=1000) as (sink, url):
        cfg = to_webhook(settings, url, "s3cret", ["webhook"])
        with session_scope(tree_engine) as s:
            notify(s, spec(), cfg)
        failure = one_failure(tree_engine)
        assert failure.id is not None and failure.next_attempt_at is not None
        due = failure.next_attempt_at
        with Session(tree_engine) as a, Session(tree_engine) as b:
            assert _claim(a, failure.id, due, due)
            assert not _claim(b, failure.id, due, due)  # the same read, a moment later
        with Session(tree_engine) as s:
            assert retry_due(s, cfg, due) == 0  # leased: not due again until the lease ends
        assert sink.attempts == 1  # only notify's own first try reached the receiver

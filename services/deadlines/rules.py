"""Firing one deadline slot: who hears about it, the accountability it creates, the overdue flag.

Idempotent end to end: the notification and the accountability record are keyed by the slot's
dedupe key, the escalation's audit event by the same key, and the overdue level only ever rises to
the slot's level, so a retried activity or a restarted worker changes nothing the second time."""

from __future__ import annotations


def escalation_chain(owner: str | None, heads: list[str | None]) -> list[str | None]:
    """owner → org head → parent org head → … → root head, without repeating a person in a row."""
    chain: list[str | None] = []
    for person in [owner, *heads]:
        if person is None or (chain and chain[-1] == person):
            continue
        chain.append(person)
    return chain or [None]

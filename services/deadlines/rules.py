"""Who hears about a deadline slot: the escalation chain of heads (pure)."""

from __future__ import annotations


def escalation_chain(owner: str | None, heads: list[str | None]) -> list[str | None]:
    """owner → org head → parent org head → … → root head, without repeating a person in a row."""
    chain: list[str | None] = []
    for person in [owner, *heads]:
        if person is None or (chain and chain[-1] == person):
            continue
        chain.append(person)
    return chain or [None]

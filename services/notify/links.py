"""Where in the console a notification leads: a path per kind of thing it is about, computed
from ids alone (the notify domain reads no other domain's tables)."""

from __future__ import annotations


def letter_link(cycle_id: str, org_id: str) -> str:
    return f"/letters/{cycle_id}/{org_id}"


def console_link(entity_type: str, entity_id: str) -> str:
    """The page of the thing: a letter (``cycle:org``; deadlines on its commitments and items
    lead there too), a rectification; anything else leads to the person's own work."""
    if entity_type in ("letter", "handover", "commitments", "items") and entity_id.count(":") >= 1:
        cycle_id, org_id = entity_id.split(":")[:2]
        return letter_link(cycle_id, org_id)
    if entity_type == "problem":
        return f"/problems/{entity_id}"
    if entity_type == "evaluation":
        return f"/evaluations/{entity_id}"
    return "/me"

"""Keeping or dropping last year's missed items on this year's letter (the issuer's step, by
the API and the console alike): the decision is claimed first, a kept item is added to the
letter by the org's workflow (a new version to sign), then the outcome is recorded."""

from __future__ import annotations

from sqlmodel import Session
from temporalio.client import Client

from services.accounts.principal import Principal
from services.core.clock import utcnow
from services.core.errors import Conflict, Forbidden, Invalid
from services.cycle import client as cycle_client
from services.cycle.access import actor_for, letter_in_scope
from services.cycle.carried_items import (
    CarriedItemOut,
    Decision,
    as_template,
    carried_item,
    claim,
    record,
    release,
)
from services.cycle.contracts import AmendRequest, ItemChange
from services.cycle.rules import require_issuer
from services.cycle.store import get_cycle


async def decide_carried(
    session: Session,
    temporal: Client,
    principal: Principal,
    cycle_id: str,
    org_id: str,
    item_id: str,
    decision: Decision,
) -> CarriedItemOut:
    row = letter_in_scope(session, principal, cycle_id, org_id)
    actor = actor_for(session, principal, row)
    require_issuer(row, actor, "keep or drop last year's missed items")
    cycle = get_cycle(session, cycle_id)
    carried = carried_item(session, cycle, org_id, item_id)
    at = utcnow()
    token = claim(session, cycle, org_id, carried, decision, principal.account_id, at)
    session.commit()
    new_item_id = None
    if decision is Decision.keep:
        change = ItemChange(id=None, template=as_template(carried, cycle))
        reason = f"carried from {carried.cycle_id}: missed last year"
        req = AmendRequest(actor=actor, changes=[change], reason=reason)
        update_id = f"carried:{cycle_id}:{item_id}:{token}"  # a retried keep adds it once
        try:
            letter = await cycle_client.amend(temporal, cycle_id, org_id, req, update_id)
        except (Conflict, Forbidden, Invalid):  # refused: nothing added, the claim given back
            release(session, cycle, item_id, token)
            session.commit()
            raise
        new_item_id = letter.items[-1].id
    record(session, cycle, row.org_path, carried, new_item_id, principal.account_id, at)
    session.commit()
    return carried_item(session, cycle, org_id, item_id)

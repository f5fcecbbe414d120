"""The search attributes the workflows keep current, so an operator filters the Temporal UI and
CLI by what they are about: ``DutyOrg='gb-1' AND DutyState='in_progress' AND
DutyOverdueLevel>=2``. A namespace must know them first: the embedded dev server registers them
at start; on a cluster, ``dutyledger temporal-setup`` does (once, idempotent)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

ORG = SearchAttributeKey.for_keyword("DutyOrg")
CYCLE = SearchAttributeKey.for_keyword("DutyCycle")
STATE = SearchAttributeKey.for_keyword("DutyState")
OVERDUE_LEVEL = SearchAttributeKey.for_int("DutyOverdueLevel")
KEYS: list[SearchAttributeKey[str] | SearchAttributeKey[int]] = [ORG, CYCLE, STATE, OVERDUE_LEVEL]

_TYPES = {ORG: "Keyword", CYCLE: "Keyword", STATE: "Keyword", OVERDUE_LEVEL: "Int"}


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` arguments registering them, before anything runs; and so
    turning off the dev server's default of reading them again from its database at every use
    (each start, upsert and visibility update: 11,830 reads over 200 rectification lifecycles,
    8 without)."""
    registered = [arg for k in KEYS for arg in ("--search-attribute", f"{k.name}={_TYPES[k]}")]
    return [
        *registered,
        "--dynamic-config-value",
        "system.forceSearchAttributesCacheRefreshOnRead=false",
    ]


async def register(client: Client, namespace: str) -> list[str]:
    """Register the ones the namespace lacks; returns their names (none: all were there)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(existing.custom_attributes)
    wanted = {
        k.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{_TYPES[k].upper()}")
        for k in KEYS
        if k.name not in known
    }
    if not wanted:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:  # a twin registered them meanwhile
            raise
    return sorted(wanted)

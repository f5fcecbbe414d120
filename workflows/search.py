"""Search attributes kept current by the workflows (``services.core.search``): the org, the
cycle, the state and, for rectifications, the overdue level. Upserted only when the workflow was
started with them registered (its input says so) and only in runs that know this patch, so
histories recorded before it replay unchanged. Workflow code."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from services.core.search import CYCLE, ORG, OVERDUE_LEVEL, STATE

PATCH = "search-attributes"


def keep_current(
    enabled: bool,
    *,
    org_id: str,
    cycle_id: str | None,
    state: str,
    overdue_level: int | None = None,
) -> None:
    if not enabled or not workflow.patched(PATCH):
        return
    updates: list[SearchAttributeUpdate[Any]] = [ORG.value_set(org_id), STATE.value_set(state)]
    if cycle_id:
        updates.append(CYCLE.value_set(cycle_id))
    if overdue_level is not None:
        updates.append(OVERDUE_LEVEL.value_set(overdue_level))
    workflow.upsert_search_attributes(updates)

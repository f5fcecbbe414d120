"""The annual Schedule: one per root org, launching that root's cycle every year."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from services.core.settings import Settings
from services.cycle.annual import AnnualCycleInput
from services.cycle.contracts import ANNUAL_WORKFLOW


def annual_schedule_id(root_org_id: str) -> str:
    return f"annual-cycle:{root_org_id}"


async def create_annual_schedule(
    client: Client,
    settings: Settings,
    inp: AnnualCycleInput,
    *,
    month: int,
    day: int,
    hour: int = 0,
) -> ScheduleHandle:
    """A Schedule that launches ``inp.root_org_id``'s cycle every year on month/day (plan's
    timezone). Creating it again for the same root replaces its spec and plan."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ANNUAL_WORKFLOW,
            inp,
            id=f"annual-cycle:{inp.root_org_id}:launch",
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(month)],
                    day_of_month=[ScheduleRange(day)],
                    hour=[ScheduleRange(hour)],
                    comment=f"launch {inp.root_org_id}'s annual cycle",
                )
            ],
            time_zone_name=inp.plan.timezone,
        ),
        # A missed launch (server down that day) still happens when it comes back, within a week.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=7)),
    )
    sid = annual_schedule_id(inp.root_org_id)
    try:
        return await client.create_schedule(sid, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(sid)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle

"""AnnualCycleWorkflow: what the annual Temporal Schedule starts, once a year per root org.

It moves the plan file's dates to the year it runs in (in the plan's timezone) and launches that
year's cycle through the ``launch_cycle`` activity, which is idempotent per root and year: a
schedule that fires twice, or a cycle already launched by hand, starts nothing new."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from services.core.clock import local_date
    from services.cycle.annual import AnnualCycleInput, LaunchInput, LaunchResult
    from services.cycle.contracts import ANNUAL_WORKFLOW, LAUNCH_ACTIVITY
    from services.cycle.plan import plan_for_year


@workflow.defn(name=ANNUAL_WORKFLOW)
class AnnualCycleWorkflow:
    @workflow.run
    async def run(self, inp: AnnualCycleInput) -> LaunchResult:
        year = local_date(workflow.now(), inp.plan.timezone).year
        plan = plan_for_year(inp.plan, year)
        result: LaunchResult = await workflow.execute_activity(
            LAUNCH_ACTIVITY,
            LaunchInput(
                root_org_id=inp.root_org_id,
                year=year,
                title=inp.title.replace("{year}", str(year)),
                plan=plan.model_dump(mode="json"),
                launched_by=f"schedule:{inp.created_by}",
                at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(minutes=2),
            result_type=LaunchResult,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
        return result

"""``dutyledger orgs change|heads`` and ``dutyledger people change``: the org tree and its people
over the years, through the same change workflow as ``PATCH /api/v1/orgs/{id}`` (checked first,
written with its audit event, the running letters told)."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated, Any

import typer

from api.command_runner import run_command, settings_from_env
from services.core.db import make_engine, session_scope

people_app = typer.Typer(no_args_is_help=True, help="People of the org tree.")
ACTOR = "cli"


def _changed(subject: str, subject_id: str, fields: dict[str, Any]) -> None:
    """Check the change, run it through its workflow, print what changed."""

    async def body() -> None:
        from services.changes.client import run_change
        from services.changes.contracts import ChangeInput, OrgPatch, PersonPatch, Subject
        from services.changes.orgs import check_org_patch
        from services.changes.people import check_person_patch, get_person
        from services.core.clock import utcnow
        from services.core.ids import keyed_id
        from services.core.temporal import connect
        from services.org.queries import get_org

        settings = settings_from_env()
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            if subject == Subject.org:
                diff = check_org_patch(
                    session, get_org(session, subject_id), OrgPatch.model_validate(fields)
                )
            else:
                person = get_person(session, subject_id)
                diff = check_person_patch(session, person, PersonPatch.model_validate(fields))
        if not diff:
            print(json.dumps({"changed": {}}))
            return
        inp = ChangeInput(
            key=keyed_id("C", ACTOR, None),
            subject=Subject(subject),
            subject_id=subject_id,
            fields=fields,
            actor=ACTOR,
            at=utcnow(),
        )
        result = await run_change(await connect(settings), settings, inp)
        print(result.model_dump_json())

    run_command(lambda: asyncio.run(body()))


def org_change(
    org_id: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option(help="new name")] = None,
    kind: Annotated[str | None, typer.Option(help="new kind")] = None,
    head: Annotated[str | None, typer.Option(help="the new head (person id)")] = None,
    vacant: Annotated[bool, typer.Option(help="the head's post falls vacant")] = False,
    deputy: Annotated[str | None, typer.Option(help="the person in charge of daily work")] = None,
    parent: Annotated[str | None, typer.Option(help="move under this org (between cycles)")] = None,
) -> None:
    """Change ORG_ID: name, kind, head, deputy, or parent."""
    fields: dict[str, Any] = {
        k: v
        for k, v in (("name", name), ("kind", kind), ("deputy_person_id", deputy))
        if v is not None
    }
    if head is not None or vacant:
        fields["head_person_id"] = None if vacant else head
    if parent is not None:
        fields["parent_id"] = parent
    _changed("org", org_id, fields)


def org_heads(org_id: Annotated[str, typer.Argument()]) -> None:
    """Print who headed ORG_ID from when until when (JSON lines, oldest first)."""

    def body() -> None:
        from services.changes.orgs import heads_of
        from services.org.queries import get_org

        settings = settings_from_env()
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            get_org(session, org_id)
            for line in heads_of(session, org_id):
                print(line.model_dump_json())

    run_command(body)


@people_app.command("change")
def person_change(
    person_id: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    org: Annotated[str | None, typer.Option(help="the org the person belongs to now")] = None,
    left_on: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD: the person left (work goes back to heads)")
    ] = None,
) -> None:
    """Change PERSON_ID's details or org, or record the day they left."""
    fields: dict[str, Any] = {
        k: v
        for k, v in (("name", name), ("title", title), ("email", email), ("org_id", org))
        if v is not None
    }
    if left_on is not None:
        fields["left_on"] = date.fromisoformat(left_on).isoformat()
    _changed("person", person_id, fields)

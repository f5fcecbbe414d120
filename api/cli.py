"""The ``dutyledger`` command line.

Every command configures itself from the environment (``DUTYLEDGER_*``), does its work and leaves
with ``os._exit`` after a clean shutdown: the Temporal client's native runtime can crash at
interpreter exit otherwise (sdk-python#300).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import col, select

from api.audit_cli import audit_app
from api.changes_cli import org_change, org_heads, people_app
from api.command_runner import run_command, settings_from_env
from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.core.db import make_engine, session_scope
from services.core.logging import get_logger
from services.core.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
orgs_app = typer.Typer(no_args_is_help=True, help="The organization tree.")
accounts_app = typer.Typer(no_args_is_help=True, help="API accounts and tokens.")
app.add_typer(orgs_app, name="orgs")
app.add_typer(accounts_app, name="accounts")
schedule_app = typer.Typer(no_args_is_help=True, help="Temporal Schedules (the annual cycle).")
app.add_typer(schedule_app, name="schedule")
app.add_typer(audit_app, name="audit")
app.add_typer(people_app, name="people")
orgs_app.command("change")(org_change)
orgs_app.command("heads")(org_heads)

log = get_logger("dutyledger.cli")
_settings, _run = settings_from_env, run_command


@app.command()
def migrate() -> None:
    """Apply database migrations to the read model (idempotent)."""

    def body() -> None:
        from services.schema import migrate as do_migrate

        settings = _settings()
        engine = make_engine(settings.resolved_database_url)
        do_migrate(engine)
        log.info("migrated", url=engine.url.render_as_string(hide_password=True))

    _run(body)


@app.command()
def dev(
    demo: Annotated[
        bool | None,
        typer.Option("--demo/--no-demo", help="load the demo org (default: when the DB is empty)"),
    ] = None,
) -> None:
    """Run everything on this machine: Temporal dev server, migrations, worker and API."""
    _run(lambda: asyncio.run(_dev(_settings(), demo)))


async def _dev(settings: Settings, demo: bool | None) -> None:
    from api.app import create_app
    from api.runtime import DevTemporalServer, serve
    from services.demo import load_demo
    from services.org.models import Org
    from services.schema import migrate as do_migrate

    server = DevTemporalServer(settings)
    server.start()
    try:
        engine = make_engine(settings.resolved_database_url)
        await asyncio.to_thread(do_migrate, engine)
        client = await server.wait_ready()
        with session_scope(engine) as session:
            empty = session.exec(select(Org.id).limit(1)).first() is None
            loaded = load_demo(session) if (demo if demo is not None else empty) and empty else None
        if demo and not empty:
            log.info("demo_skipped", reason="the database already has orgs")
        base = f"http://{settings.api_host}:{settings.api_port}"
        _print_banner(settings, base, loaded)
        # The sign-in page lists the demo people only on this embedded default with demo data.
        demo_file = settings.data_dir / "demo-tokens.json"
        settings = settings.model_copy(update={"console_demo_signin": demo_file.exists()})
        app_ = create_app(settings, engine=engine, temporal=client)
        await serve(settings, engine, client, run_worker=True, app=app_)
    finally:
        server.stop()


def _print_banner(settings: Settings, base: str, demo: Any) -> None:
    lines = [
        "",
        "dutyledger is running",
        f"  Console        {base}/signin",
        f"  API            {base}   (docs: {base}/docs)",
        f"  Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}",
        f"  Temporal gRPC  {settings.resolved_temporal_address}",
        f"  data           {settings.data_dir.resolve()}",
    ]
    if demo is not None:
        tokens_file = settings.data_dir / "demo-tokens.json"
        tokens_file.write_text(
            json.dumps([a.model_dump(mode="json") for a in demo.accounts], indent=2)
        )
        tokens_file.chmod(0o600)
        lines += ["", f"demo organization loaded: {demo.orgs} orgs, {demo.people} people. Tokens:"]
        for a in demo.accounts[:4]:
            lines.append(f"  {a.role.value:<10} scope={a.scope_org_id or '*':<8} {a.token}")
        lines.append(
            f"  … and {len(demo.accounts) - 4} heads and members more: sign in as any of them "
            f"with one click at {base}/signin"
        )
        committee = next(a.token for a in demo.accounts if a.role is Role.committee)
        auditor = next(a.token for a in demo.accounts if a.role is Role.auditor)
        flag = (
            '{"org_id":"gb-1-b1","source":"inspection","category":"conduct","severity":"major",'
            '"title":"Branch meeting minutes not filed"}'
        )
        lines += [
            "",
            "try:",
            f"  curl -s -H 'Authorization: Bearer {committee}' -H 'Content-Type: application/json' "
            f"-d '{flag}' {base}/api/v1/problems",
            f"  curl -s -H 'Authorization: Bearer {auditor}' "
            f"'{base}/api/v1/rectifications?org=gb-1'",
            f"  curl -s -H 'Authorization: Bearer {auditor}' {base}/api/v1/audit/verify",
            f"(tokens are also in {tokens_file}; they are shown only when first created)",
        ]
    lines.append("Ctrl-C stops everything.\n")
    print("\n".join(lines), flush=True)


@app.command("temporal-setup")
def temporal_setup() -> None:
    """Make the Temporal namespace if the cluster lacks it and register dutyledger's search
    attributes in it (once per cluster; the embedded dev server needs neither). Idempotent."""

    async def body(settings: Settings) -> None:
        from datetime import timedelta

        from services.core.namespace import ensure_namespace
        from services.core.search import register
        from services.core.temporal import connect_patiently

        def failed(attempt: int, exc: Exception) -> None:
            log.warning("temporal_unreachable", attempt=attempt, error=str(exc)[:300])

        client = await connect_patiently(settings, on_failure=failed)  # compose starts us early
        namespace = settings.temporal_namespace
        retention = timedelta(days=settings.temporal_retention_days)
        made = await ensure_namespace(client, namespace, retention)
        added = await register(client, namespace)
        print(json.dumps({"namespace": namespace, "created": made, "registered": added}))

    _run(lambda: asyncio.run(body(_settings())))


@app.command()
def worker() -> None:
    """Run a worker (production): Temporal and the DB are configured by the environment."""

    async def body(settings: Settings) -> None:
        from api.runtime import serve
        from api.worker_health import WorkerHealth, serve_health
        from services.core.temporal import connect_patiently, metrics_runtime
        from services.core.tracing import tracing_from

        def failed(attempt: int, exc: Exception) -> None:
            health.temporal = f"connecting (attempt {attempt}): {type(exc).__name__}"
            log.warning("temporal_unreachable", attempt=attempt, error=str(exc)[:300])

        engine = make_engine(settings.resolved_database_url)
        health = WorkerHealth(engine)
        probes = None  # kept: a task nobody holds may be collected
        if settings.worker_health_address:  # alive from the start, ready once connected
            probes = serve_health(health, settings.worker_health_address)
        runtime = metrics_runtime(settings)  # the SDK's metrics, on their own port
        tracing = tracing_from(settings, "dutyledger-worker")
        if tracing is not None:
            tracing.instrument_engine(engine)
        # Started before Temporal (compose, an outage): wait for it rather than exit.
        client = await connect_patiently(
            settings, on_failure=failed, runtime=runtime, tracing=tracing
        )
        health.temporal = "connected"
        log.info("worker_probes", served=probes is not None)
        log.info("temporal_connected", address=settings.resolved_temporal_address)
        await serve(settings, engine, client, run_worker=True, app=None)

    _run(lambda: asyncio.run(body(_settings())))


@app.command()
def api() -> None:
    """Run the HTTP API (production)."""

    async def body(settings: Settings) -> None:
        from api.app import create_app
        from api.runtime import api_server
        from services.core.tracing import tracing_from

        tracing = tracing_from(settings, "dutyledger-api")
        await api_server(create_app(settings, tracing=tracing), settings).serve()

    _run(lambda: asyncio.run(body(_settings())))


@orgs_app.command("import")
def orgs_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="a .json, .csv or .xlsx file")
    ],
) -> None:
    """Import an org tree (and people) from JSON, CSV or an XLSX workbook, all or nothing."""

    def body() -> None:
        from services.org.store import import_tree, parse_csv, parse_json
        from services.org.workbook import import_workbook, parse_workbook

        settings = _settings()
        engine = make_engine(settings.resolved_database_url)
        if file.suffix.lower() == ".xlsx":
            book = parse_workbook(file.read_bytes())
            with session_scope(engine) as session:
                result = import_workbook(session, book, "cli")
            print(f"imported {result.orgs_created} orgs and {result.people_created} people")
            return
        text = file.read_text(encoding="utf-8-sig")
        tree = parse_csv(text) if file.suffix.lower() == ".csv" else parse_json(json.loads(text))
        with session_scope(engine) as session:
            result = import_tree(session, tree, "cli")
        print(f"imported {result.orgs_created} orgs and {result.people_created} people")

    _run(body)


@accounts_app.command("create")
def accounts_create(
    role: Annotated[Role, typer.Option(help="admin, committee, member or auditor")],
    scope: Annotated[str | None, typer.Option(help="org id of the subtree it acts in")] = None,
    person: Annotated[str | None, typer.Option(help="person id of the account holder")] = None,
    label: Annotated[str, typer.Option()] = "",
) -> None:
    """Create an account and print its token (shown this once, stored only as a hash)."""

    def body() -> None:
        settings = _settings()
        spec = AccountIn(role=role, scope_org_id=scope, person_id=person, label=label)
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            created = create_account(session, spec)
        print(json.dumps(created.model_dump(mode="json")))

    _run(body)


@accounts_app.command("list")
def accounts_list() -> None:
    """Every account (never a token), one JSON object per line."""

    def body() -> None:
        from services.accounts.models import Account, AccountOut

        settings = _settings()
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            for account in session.exec(select(Account).order_by(col(Account.created_at))).all():
                print(AccountOut.of(account).model_dump_json())

    _run(body)


@accounts_app.command("disable")
def accounts_disable(account_id: Annotated[str, typer.Argument()]) -> None:
    """Disable an account: its token is refused from now on."""
    _run(lambda: _admin_step(account_id, "disable"))


@accounts_app.command("rotate")
def accounts_rotate(account_id: Annotated[str, typer.Argument()]) -> None:
    """Give an account a new token (printed once); the old one is refused from now on."""
    _run(lambda: _admin_step(account_id, "rotate"))


def _admin_step(account_id: str, step: str) -> None:
    """The CLI acts as an installation-wide admin (whoever runs it holds the database)."""
    from services.accounts.admin import disable_account, rotate_token
    from services.accounts.principal import Principal
    from services.core.clock import utcnow

    settings = _settings()
    cli = Principal("cli", Role.admin, None, "/", None)
    with session_scope(make_engine(settings.resolved_database_url)) as session:
        act = disable_account if step == "disable" else rotate_token
        answer = act(session, cli, account_id, utcnow()).model_dump_json()
        session.commit()  # the new token works before it is shown
    print(answer)


@schedule_app.command("annual")
def schedule_annual(
    root: Annotated[str, typer.Option(help="the root org whose cycle is launched each year")],
    month: Annotated[int, typer.Option(min=1, max=12, help="launch month")],
    day: Annotated[int, typer.Option(min=1, max=31, help="launch day of the month")],
    plan: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="plan JSON or workbook (any year's dates)"),
    ],
    title: Annotated[str, typer.Option(help="'{year}' becomes the year")] = (
        "{year} responsibility cycle"
    ),
    hour: Annotated[int, typer.Option(min=0, max=23, help="launch hour (plan's timezone)")] = 0,
) -> None:
    """Create (or replace) the Schedule that launches ROOT's cycle every year on MONTH/DAY."""

    async def body(settings: Settings) -> None:
        from services.core.errors import Invalid
        from services.core.temporal import connect
        from services.cycle.annual import AnnualCycleInput
        from services.cycle.plan_workbook import parse_plan_workbook
        from services.cycle.schedule import create_annual_schedule
        from services.cycle.store import CycleIn, checked_plan
        from services.evaluation.defaults import plan_rubric_errors

        if plan.suffix.lower() == ".xlsx":
            raw = parse_plan_workbook(plan.read_bytes())
        else:
            raw = json.loads(plan.read_text(encoding="utf-8"))
        year = int(str(raw.get("calendar", {}).get("sign_by", "2000"))[:4] or 2000)
        body = CycleIn(root_org_id=root, year=year, title=title, plan=raw)
        with session_scope(make_engine(settings.resolved_database_url)) as session:
            _, checked = checked_plan(session, body)  # refuse now, not next January
        if errors := plan_rubric_errors(checked):
            raise Invalid("the plan's rubric is not valid", errors=errors)
        client = await connect(settings)
        handle = await create_annual_schedule(
            client,
            settings,
            AnnualCycleInput(root_org_id=root, title=title, plan=checked, created_by="cli"),
            month=month,
            day=day,
            hour=hour,
        )
        desc = await handle.describe()
        out = {
            "schedule_id": handle.id,
            "next_launches": [t.isoformat() for t in desc.info.next_action_times[:3]],
        }
        print(json.dumps(out))

    _run(lambda: asyncio.run(body(_settings())))


@schedule_app.command("show")
def schedule_show(root: Annotated[str, typer.Option(help="the root org")]) -> None:
    """Print the annual Schedule of ROOT: next launches and the recent ones."""

    async def body(settings: Settings) -> None:
        from services.core.temporal import connect
        from services.cycle.schedule import annual_schedule_id

        client = await connect(settings)
        desc = await client.get_schedule_handle(annual_schedule_id(root)).describe()
        out = {
            "schedule_id": desc.id,
            "next_launches": [t.isoformat() for t in desc.info.next_action_times[:3]],
            "recent": [
                {"scheduled": a.scheduled_at.isoformat(), "workflow_id": a.action.workflow_id}
                for a in desc.info.recent_actions
                if hasattr(a.action, "workflow_id")
            ],
        }
        print(json.dumps(out))

    _run(lambda: asyncio.run(body(_settings())))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``interop-hub``: the operator's command line. Other tools script against it: with ``--json``
every command prints exactly one JSON object on stdout (an error envelope on failure, exit 1)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import typer

from interop_hub.cli.application_commands import COMMANDS as APPLICATION_COMMANDS
from interop_hub.cli.context import OPERATOR, open_hub, unit_of_work
from interop_hub.cli.doctor import doctor_command
from interop_hub.cli.ingest_commands import ingest_command, ingestions_app, worker_command
from interop_hub.cli.output import JsonFlag, emit, err_console, fail, invalid
from interop_hub.cli.quickstart_command import quickstart_command
from interop_hub.cli.schedule_commands import schedules_app
from interop_hub.cli.scoping_commands import scoping_command
from interop_hub.cli.serving import run_server
from interop_hub.cli.task_commands import tasks_app
from interop_hub.clouds.schemas import CloudCreate
from interop_hub.kit import migrate
from interop_hub.kit.errors import HubError
from interop_hub.kit.settings import ConfigurationError, Settings
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate, ConnectorCreate, TenantInstall
from interop_hub.runtime import build_hub
from interop_hub.tenants import lifecycle
from interop_hub.tenants import service as tenants

app = typer.Typer(help="Interop Hub: a K-12 data-sync hub.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (districts, vendors, operators).", no_args_is_help=True)
clouds_app = typer.Typer(help="Interop Clouds.", no_args_is_help=True)
connectors_app = typer.Typer(help="A cloud's data sources.", no_args_is_help=True)
tenants_app = typer.Typer(help="Integrations installed in clouds.", no_args_is_help=True)
app.command("ingest")(ingest_command)
app.command("worker")(worker_command)
app.command("doctor")(doctor_command)
app.command("quickstart")(quickstart_command)
for sub, name in (
    (ingestions_app, "ingestions"),
    (db_app, "db"),
    (accounts_app, "accounts"),
    (clouds_app, "clouds"),
    (connectors_app, "connectors"),
    (tenants_app, "tenants"),
    (tasks_app, "tasks"),
    (schedules_app, "schedules"),
):
    app.add_typer(sub, name=name)
for command_name, command in APPLICATION_COMMANDS.items():
    tenants_app.command(command_name)(command)
tenants_app.command("scoping")(scoping_command)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the HTTP service (migrating the embedded default database first)."""
    run_server(open_hub(), host, port)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Migrate the database named by INTEROP_HUB_DATABASE_URL to the newest schema."""
    try:
        hub = build_hub(Settings())
    except ConfigurationError as exc:
        err_console.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    before = migrate.current_revision(hub.engine)
    migrate.upgrade(hub.engine)
    after = migrate.current_revision(hub.engine)
    hub.engine.dispose()
    emit({"from": before, "to": after}, as_json=as_json, title="database upgraded")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="Account name.")],
    type: Annotated[
        str, typer.Option(help="developer | education_agency | operator")
    ] = "education_agency",
    as_json: JsonFlag = False,
) -> None:
    """Create an account and its first API key (shown once)."""
    try:
        body = AccountCreate(name=name, type=type)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with unit_of_work() as (_, session):
            created = platform.create_account(session, body)
    except HubError as exc:
        fail(exc, as_json=as_json)
    out = created.model_dump(mode="json", include={"id", "name", "type", "api_key", "public_id"})
    emit(out, as_json=as_json, title="account")


@clouds_app.command("create")
def clouds_create(
    account: Annotated[uuid.UUID, typer.Option(help="Owning account id.")],
    name: Annotated[str, typer.Option(help="Cloud name.")],
    userdata: Annotated[str | None, typer.Option(help="Free text for your own use.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an Interop Cloud for an account."""
    try:
        body = CloudCreate(name=name, userdata=userdata)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with unit_of_work() as (_, session):
            cloud = platform.create_cloud(session, account, body)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(cloud, as_json=as_json, title="cloud")


@connectors_app.command("create")
def connectors_create(
    cloud: Annotated[uuid.UUID, typer.Option(help="Cloud id.")],
    source: Annotated[str, typer.Option(help="Folder or .zip of the OneRoster bundle.")],
    type: Annotated[str, typer.Option(help="Connector type.")] = "oneroster-csv",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a connector (a data source) to a cloud."""
    try:
        body = ConnectorCreate(type=type, source=source, name=name)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with unit_of_work() as (hub, session):
            connector = platform.create_connector(session, hub.keyring, cloud, body)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(connector, as_json=as_json, title="connector")


@tenants_app.command("install")
def tenants_install(
    cloud: Annotated[uuid.UUID, typer.Option(help="Cloud id.")],
    integration: Annotated[uuid.UUID, typer.Option(help="Integration id.")],
    version: Annotated[str | None, typer.Option(help="Version (default: the current one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Install an integration version in a cloud; prints the tenant's credentials once."""
    try:
        body = TenantInstall(cloud_id=cloud, integration_id=integration, version=version)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with unit_of_work() as (hub, session):
            installed = platform.install_tenant(session, hub.keyring, body, hub.now())
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(installed, as_json=as_json, title="tenant installed")


def _transition(
    tenant_id: uuid.UUID, action: Literal["activate", "suspend", "uninstall"], as_json: bool
) -> None:
    try:
        with unit_of_work() as (hub, session):
            tenant = lifecycle.transition(session, tenant_id, action, hub.now())
            info = tenants.tenant_infos(session, OPERATOR, [tenant], hub.keyring)[0]
    except HubError as exc:
        fail(exc, as_json=as_json)
    out = info.model_dump(mode="json", exclude={"auth", "app_auth"})
    emit(out, as_json=as_json, title=f"tenant {action}d")


@tenants_app.command("activate")
def tenants_activate(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Activate a tenant (from setup or suspended)."""
    _transition(tenant_id, "activate", as_json)


@tenants_app.command("suspend")
def tenants_suspend(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Suspend a tenant: nothing but lifecycle tasks is delivered."""
    _transition(tenant_id, "suspend", as_json)


@tenants_app.command("uninstall")
def tenants_uninstall(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Uninstall a tenant: its credentials stop working and nothing more is delivered."""
    _transition(tenant_id, "uninstall", as_json)


@tenants_app.command("resend")
def tenants_resend(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Send the tenant everything it sees again, as one sync with origin "resend"."""
    try:
        with unit_of_work() as (hub, session):
            sent = platform.resend(session, tenant_id, hub.now())
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(sent, as_json=as_json, title="data resent")


@tenants_app.command("state")
def tenants_state(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Whether the tenant's tasks are delivered now, and if not, why (its /tenant/state)."""
    try:
        with unit_of_work() as (_, session):
            state = tenants.tenant_state(session, lifecycle.get_tenant(session, tenant_id))
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(state, as_json=as_json, title="tenant state")


def main() -> None:
    app()

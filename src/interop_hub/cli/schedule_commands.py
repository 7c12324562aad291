"""``interop-hub schedules ...``: a cloud's daily collection schedules (#42–#48).

The rules are those of ``/v2/interop/tenant/schedules`` (``schedules.service``); the operator
acts as the cloud named by ``--cloud``, as an installed actor of that cloud would. A cloud that
does not exist is a 404, and so is another cloud's schedule.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.cli.context import OPERATOR, unit_of_work
from interop_hub.cli.output import JsonFlag, console, emit, fail, invalid
from interop_hub.cli.task_commands import first_page
from interop_hub.clouds import service as clouds
from interop_hub.ingest.queries import ingestion_out
from interop_hub.kit.errors import HubError
from interop_hub.runtime import Hub
from interop_hub.schedules import service
from interop_hub.schedules.schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate

schedules_app = typer.Typer(
    help="A cloud's daily collection schedules: list, create, show, enable, disable, delete, run.",
    no_args_is_help=True,
)
CloudOption = Annotated[uuid.UUID, typer.Option("--cloud", help="Cloud id.")]


@contextmanager
def as_cloud(cloud_id: uuid.UUID) -> Iterator[tuple[Hub, Session, Principal]]:
    """One unit of work acting as the cloud: the principal an installed actor of it would be."""
    with unit_of_work() as (hub, session):
        cloud = clouds.find_cloud(session, OPERATOR, cloud_id)
        yield hub, session, Principal(kind="actor", cloud_id=cloud.id)


def _schedules_table(rows: list[ScheduleOut], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True, min_width=36)
    for header in ("hour (UTC)", "days", "type", "enabled", "last executed"):
        table.add_column(header, no_wrap=True)
    for s in rows:
        last = None if s.last_executed_at is None else str(s.last_executed_at)[:19]
        cells = (s.id, f"{s.hour:02d}:00", s.days, s.type, s.enabled, last)
        table.add_row(*(Text("" if c is None else str(c)) for c in cells))
    return table


@schedules_app.command("list")
def list_command(
    cloud: CloudOption,
    limit: Annotated[int, typer.Option(min=1, help="How many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """A cloud's schedules."""
    try:
        with as_cloud(cloud) as (_, session, principal):
            page = service.list_schedules(session, principal, first_page(limit))
            rows = [service.schedule_out(s) for s in page.items]
    except HubError as exc:
        fail(exc, as_json=as_json)
    more = page.next is not None
    if as_json:
        emit({"data": [s.model_dump(mode="json") for s in rows], "more": more}, as_json=True)
        return
    table = _schedules_table(rows, title=f"schedules of cloud {cloud}")
    if more:
        table.caption = f"the first {limit}; there are more (--limit)"
    console.print(table)


@schedules_app.command("create")
def create_command(
    cloud: CloudOption,
    hour: Annotated[int, typer.Option(help="Hour of the day, in UTC (0–23).")],
    as_json: JsonFlag = False,
) -> None:
    """A daily collection of the cloud's connector source at --hour (409 if one is there)."""
    try:
        body = ScheduleCreate(hour=hour)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with as_cloud(cloud) as (hub, session, principal):
            out = service.schedule_out(service.create_schedule(session, principal, body, hub.now()))
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(out, as_json=as_json, title="schedule")


@schedules_app.command("show")
def show_command(schedule_id: uuid.UUID, cloud: CloudOption, as_json: JsonFlag = False) -> None:
    """One schedule."""
    try:
        with as_cloud(cloud) as (_, session, principal):
            out = service.schedule_out(service.find_schedule(session, principal, schedule_id))
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(out, as_json=as_json, title="schedule")


def _set_enabled(schedule_id: uuid.UUID, cloud: uuid.UUID, enabled: bool, as_json: bool) -> None:
    try:
        with as_cloud(cloud) as (hub, session, principal):
            body = ScheduleUpdate(enabled=enabled)
            found = service.update_schedule(session, principal, schedule_id, body, hub.now())
            out = service.schedule_out(found)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(out, as_json=as_json, title="schedule")


@schedules_app.command("enable")
def enable_command(schedule_id: uuid.UUID, cloud: CloudOption, as_json: JsonFlag = False) -> None:
    """Let the worker run the schedule again."""
    _set_enabled(schedule_id, cloud, True, as_json)


@schedules_app.command("disable")
def disable_command(schedule_id: uuid.UUID, cloud: CloudOption, as_json: JsonFlag = False) -> None:
    """Stop the worker from running the schedule (it is kept)."""
    _set_enabled(schedule_id, cloud, False, as_json)


@schedules_app.command("delete")
def delete_command(schedule_id: uuid.UUID, cloud: CloudOption, as_json: JsonFlag = False) -> None:
    """Remove a schedule."""
    try:
        with as_cloud(cloud) as (_, session, principal):
            service.delete_schedule(session, principal, schedule_id)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit({"schedule_id": str(schedule_id), "deleted": True}, as_json=as_json, title="deleted")


@schedules_app.command("run")
def run_command(schedule_id: uuid.UUID, cloud: CloudOption, as_json: JsonFlag = False) -> None:
    """Queue a collection of the cloud's connector source now; a worker runs it."""
    try:
        with as_cloud(cloud) as (hub, session, principal):
            ingestion = service.run_schedule(session, principal, schedule_id, hub.now())
            out = ingestion_out(ingestion)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(out, as_json=as_json, title="ingestion queued")

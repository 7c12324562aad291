"""``interop-hub tenants scoping``: what the district shares with a tenant (DESIGN §3.6).

The same service as ``/v2/platform/tenants/{id}/scoping``. Schools and courses are named by
their source id (``sourcedId``) or their ``$sys.id``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from interop_hub.cli.context import unit_of_work
from interop_hub.cli.output import JsonFlag, console, emit, fail
from interop_hub.kit.errors import BadRequest, HubError
from interop_hub.scoping import service


def scoping_command(
    tenant_id: uuid.UUID,
    school: Annotated[
        list[str] | None,
        typer.Option("--school", help="Select this school (source id or id; repeat for more)."),
    ] = None,
    course: Annotated[
        list[str] | None,
        typer.Option("--course", help="Select this course (source id or id; repeat for more)."),
    ] = None,
    whole_district: Annotated[
        bool, typer.Option(help="Select nothing: the tenant sees the whole district.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a tenant's scoping, or replace it with the given schools and courses (an
    activated tenant then gets the difference as one sync)."""
    changing = bool(school or course or whole_district)
    try:
        if whole_district and (school or course):
            raise BadRequest(
                "--whole-district selects nothing; it cannot go with --school/--course."
            )
        with unit_of_work() as (hub, session):
            queued = None
            if changing:
                schools = service.named(session, tenant_id, service.SCHOOLS, school or [])
                courses = service.named(session, tenant_id, service.COURSES, course or [])
                queued = service.replace_selection(session, tenant_id, schools, courses, hub.now())
            found: dict[str, Any] = service.selected(session, tenant_id)
    except HubError as exc:
        fail(exc, as_json=as_json)
    if queued is not None:
        found["tasks_queued"] = queued
    if as_json:
        emit(found, as_json=True)
        return
    _show(found)


def _show(found: dict[str, Any]) -> None:
    if found["whole_district"]:
        console.print("Nothing is selected: the tenant sees the whole district.")
    for half, id_field in (("schools", "school_ref_id"), ("courses", "course_ref_id")):
        if not found[half]:
            continue
        table = Table(title=f"selected {half}")
        for column in ("source id", "name", "id"):
            table.add_column(column)
        for entry in found[half]:
            table.add_row(entry[id_field], entry["name"], str(entry[f"{half[:-1]}_id"]))
        console.print(table)
    if "tasks_queued" in found:
        console.print(f"{found['tasks_queued']} tasks queued for the tenant.")

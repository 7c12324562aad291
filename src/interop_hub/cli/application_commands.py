"""``interop-hub tenants app|app-set|app-auth|app-sessions``: a tenant's application.

The same service as ``/v2/platform/tenants/{id}/application`` (:mod:`interop_hub.tenants.
application`), made as the operator. Secret properties are never printed; to keep them out of
the shell's history and the process list, ``app-auth --props-file -`` reads them as a JSON
object on stdin.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError

from interop_hub.cli.context import OPERATOR, unit_of_work
from interop_hub.cli.output import JsonFlag, emit, fail
from interop_hub.cli.task_commands import first_page
from interop_hub.kit.errors import BadRequest, HubError
from interop_hub.tenants import application, lifecycle
from interop_hub.tenants.schemas import ApplicationSettings, AuthSessionOpen

PropOption = Annotated[
    list[str] | None,
    typer.Option("--prop", help="A property as NAME=VALUE (repeat for more)."),
]


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs or ():
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise BadRequest(f"{what} must be NAME=VALUE, not {name.strip() or pair!r}.")
        found[name.strip()] = value
    return found


def refused(exc: ValidationError) -> BadRequest:
    """A 400 for refused properties or options that never repeats their values (secrets)."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return BadRequest(f"The input is not valid: {where}", details=errors)


def read_props_file(path: str) -> dict[str, Any]:
    """A JSON object of properties from a file, or from stdin for ``-``."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        value = orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BadRequest(f"--props-file: cannot read a JSON object from {path}.") from exc
    if not isinstance(value, dict):
        raise BadRequest("--props-file must hold a JSON object of NAME: VALUE.")
    return value


def show_command(tenant_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """A tenant's application: delivery, options and authentication (secrets masked)."""
    try:
        with unit_of_work() as (hub, session):
            tenant = lifecycle.get_tenant(session, tenant_id)
            found = application.view(session, hub.keyring, tenant, reveal=False)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(found, as_json=as_json, title="tenant application")


def set_command(
    tenant_id: uuid.UUID,
    deliver_tasks: Annotated[
        bool | None,
        typer.Option(
            "--deliver-tasks/--no-deliver-tasks",
            help="Deliver tasks, or hold every task (in order) until turned on again.",
        ),
    ] = None,
    validate_tasks: Annotated[
        bool | None, typer.Option("--validate-tasks/--no-validate-tasks")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="An option as NAME=VALUE; replaces all options."),
    ] = None,
    clear_options: Annotated[bool, typer.Option(help="Remove every option.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Change a tenant application's settings (what is not given stays)."""
    try:
        options = parse_pairs(option, "--option") if option or clear_options else None
        body = ApplicationSettings(
            deliver_tasks=deliver_tasks, validate_tasks=validate_tasks, options=options
        )
    except BadRequest as exc:
        fail(exc, as_json=as_json)
    except ValidationError as exc:
        fail(refused(exc), as_json=as_json)
    try:
        with unit_of_work() as (hub, session):
            found = application.change_settings(session, hub.keyring, tenant_id, body)
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(found, as_json=as_json, title="tenant application")


def auth_command(
    tenant_id: uuid.UUID,
    prop: PropOption = None,
    props_file: Annotated[
        str | None,
        typer.Option(help="A JSON object of properties, from a file or '-' for stdin."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the application's pending credentials: the tenant's driver is asked to check them
    (an authenticate task) and confirms or refuses them."""
    try:
        props = {**(read_props_file(props_file) if props_file else {})}
        props.update(parse_pairs(prop, "--prop"))
        body = AuthSessionOpen.model_validate({"auth_props": props})
    except BadRequest as exc:
        fail(exc, as_json=as_json)
    except ValidationError as exc:
        fail(refused(exc), as_json=as_json)
    try:
        with unit_of_work() as (hub, session):
            opened = application.open_session(
                session, hub.keyring, tenant_id, dict(body.auth_props), OPERATOR, hub.now()
            )
            tenant = lifecycle.get_tenant(session, tenant_id)
            found = application.view(session, hub.keyring, tenant, reveal=False)
    except HubError as exc:
        fail(exc, as_json=as_json)
    out = {"session_id": str(opened.id), **found.model_dump(mode="json")}
    emit(out, as_json=as_json, title="authentication session opened")


def sessions_command(
    tenant_id: uuid.UUID,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The audit trail of the application's authentication sessions, newest first."""
    try:
        with unit_of_work() as (_, session):
            page = application.sessions(session, tenant_id, first_page(limit))
    except HubError as exc:
        fail(exc, as_json=as_json)
    rows = [s.model_dump(mode="json") for s in page.items]
    emit({"data": rows, "more": page.next is not None}, as_json=as_json, title="sessions")


COMMANDS: dict[str, Callable[..., None]] = {
    "app": show_command,
    "app-set": set_command,
    "app-auth": auth_command,
    "app-sessions": sessions_command,
}
"""Registered on ``interop-hub tenants`` by :mod:`interop_hub.cli.main`."""

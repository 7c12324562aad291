"""``interop-hub tasks ...``: a tenant's task queue and its acknowledgement history.

The views are those of ``/v2/platform/tenants/{id}/tasks`` and ``.../task-history`` (the same
platform service functions); ack and delete are the Data API's admin ack and delete
(``tasks.service``), made as the operator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from time import monotonic, sleep
from typing import Annotated, Any, Literal

import orjson
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from interop_hub.cli.context import OPERATOR, open_hub, unit_of_work
from interop_hub.cli.output import JsonFlag, console, emit, err_console, fail, invalid
from interop_hub.kit.errors import HubError, NotFound
from interop_hub.kit.paging import Page, PageRequest
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import QueuedTaskOut
from interop_hub.tasks import service as tasks
from interop_hub.tasks.schemas import AckIn, TaskAckOut
from interop_hub.tenants import lifecycle

tasks_app = typer.Typer(
    help="A tenant's task queue: list, history, ack, delete, tail.", no_args_is_help=True
)
TenantOption = Annotated[uuid.UUID, typer.Option("--tenant", help="Tenant id.")]
TAIL_BATCH = 500
UNBROKEN = frozenset({"seq", "acked at", "leased until"})


def first_page(size: int, after: int | None = None) -> PageRequest:
    """A page of a list for the command line: the first ``size`` rows (after the sequence
    ``after``). It builds no links; ``more`` in the output says the list goes on."""
    cursor = None if after is None else [after]
    return PageRequest(page=0, page_size=size, cursor=cursor, base_url="", query={})


def _cell(value: object) -> Text:
    """A table cell as plain text: a label such as ``[x]`` is not rich markup."""
    return Text("" if value is None else str(value))


def _time(value: object) -> str | None:
    return None if value is None else str(value)[:19].replace("T", " ")


def _table(title: str, *headers: str) -> Table:
    """A table whose ids are never cut (they are what ``ack`` and ``delete`` take); on a narrow
    terminal the other cells fold onto more lines rather than losing text."""
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for header in headers:
        if header.endswith("id"):
            table.add_column(header, no_wrap=True, min_width=36)
        elif header in UNBROKEN:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def _tasks_table(rows: Iterable[QueuedTaskOut], title: str) -> Table:
    table = _table(
        title, "id", "seq", "type", "action", "object type", "label", "deliveries", "leased until"
    )
    for t in rows:
        table.add_row(
            *map(_cell, (t.id, t.sequence, t.type, t.action, t.object_type, t.label)),
            _cell(t.deliveries), _cell(_time(t.leased_until)),
        )  # fmt: skip
    return table


def _history_table(rows: Iterable[TaskAckOut], title: str) -> Table:
    table = _table(
        title, "acked at", "seq", "type", "action", "status", "message", "acked by", "task id"
    )
    for a in rows:
        table.add_row(
            *map(_cell, (_time(a.acked_at), a.sequence, a.type, a.action, a.status)),
            *map(_cell, (a.message, a.acked_by, a.task_id)),
        )  # fmt: skip
    return table


def _show(page: Page[Any], table: Callable[[], Table], cut: str, *, as_json: bool) -> None:
    """A first page: one JSON object (``more`` says it was cut at ``--limit``) or a table whose
    caption says so."""
    more = page.next is not None
    if as_json:
        items = [item.model_dump(mode="json") for item in page.items]
        emit({"data": items, "more": more}, as_json=True)
        return
    shown = table()
    if more:
        shown.caption = cut
    console.print(shown)


@tasks_app.command("list")
def list_command(
    tenant: TenantOption,
    limit: Annotated[int, typer.Option(min=1, help="How many, oldest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """A tenant's queued tasks, oldest first, with their delivery state (nothing is leased)."""
    try:
        with unit_of_work() as (_, session):
            page = platform.tenant_tasks(session, tenant, first_page(limit))
    except HubError as exc:
        fail(exc, as_json=as_json)
    _show(
        page,
        lambda: _tasks_table(page.items, title=f"queued tasks of tenant {tenant}"),
        f"the first {limit}; more are queued (--limit)",
        as_json=as_json,
    )


@tasks_app.command("history")
def history_command(
    tenant: TenantOption,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """A tenant's acknowledgements and admin deletes, newest first."""
    try:
        with unit_of_work() as (_, session):
            page = platform.task_history(session, tenant, first_page(limit))
    except HubError as exc:
        fail(exc, as_json=as_json)
    _show(
        page,
        lambda: _history_table(page.items, title=f"task history of tenant {tenant}"),
        f"the newest {limit}; there is more (--limit)",
        as_json=as_json,
    )


@tasks_app.command("ack")
def ack_command(
    task_id: uuid.UUID,
    status: Annotated[
        Literal["success", "error", "retry"],
        typer.Option(help="success and error remove the task; retry delivers it again later."),
    ] = "success",
    message: Annotated[str | None, typer.Option(help="Kept in the task's history.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Acknowledge a task as the operator (the admin ack: delivered or not)."""
    try:
        ack = AckIn(task_id=task_id, status=status, message=message)
    except ValueError as exc:
        fail(invalid(exc), as_json=as_json)
    try:
        with unit_of_work() as (hub, session):
            [outcome] = tasks.acknowledge(
                session, OPERATOR, [ack], hub.settings, hub.now(), admin=True
            )
            if outcome.status == 404:
                raise NotFound(outcome.message, code="task_not_outstanding")
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(outcome, as_json=as_json, title="task acknowledged")


@tasks_app.command("delete")
def delete_command(task_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Remove a task without processing it (its history says ``deleted``)."""
    try:
        with unit_of_work() as (hub, session):
            tasks.admin_delete(session, OPERATOR, task_id, hub.now())
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit({"task_id": str(task_id), "deleted": True}, as_json=as_json, title="task deleted")


def _print_task(task: QueuedTaskOut, as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(task.model_dump(mode="json")).decode())
        return
    line = (
        f"{task.sequence:>8}  {task.type:<15}  {task.action or '':<18}  "
        f"{task.object_type or '':<24}  {task.label or ''}  ({task.id})"
    )
    console.print(Text(line.rstrip()), highlight=False, soft_wrap=True)


@tasks_app.command("tail")
def tail_command(
    tenant: TenantOption,
    after: Annotated[
        int | None,
        typer.Option(min=0, help="Start after this sequence (default: after the newest so far)."),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between polls.")] = 1.0,
    seconds: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this long (default: at Ctrl-C).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Poll once, then exit.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each task as one JSON object on a line.")
    ] = False,
) -> None:
    """Print a tenant's tasks as they are queued, until Ctrl-C.

    A task queued and acknowledged between two polls is not seen: this follows the queue, the
    history has every acknowledgement (``tasks history``).
    """
    hub = open_hub()
    try:
        with unit_of_work(hub) as (_, session):
            last = lifecycle.get_tenant(session, tenant).task_seq if after is None else after
        if not as_json:
            err_console.print(f"following tenant {tenant} after sequence {last} (Ctrl-C to stop)")
        deadline = None if seconds is None else monotonic() + seconds
        while True:
            with unit_of_work(hub) as (_, session):
                page = platform.tenant_tasks(session, tenant, first_page(TAIL_BATCH, last))
            for task in page.items:
                _print_task(task, as_json)
                last = task.sequence
            if page.next is not None:
                continue  # a burst (a sync): print the rest before waiting
            if once or (deadline is not None and monotonic() >= deadline):
                return
            sleep(interval)
    except KeyboardInterrupt:
        return
    except HubError as exc:
        fail(exc, as_json=as_json)
    finally:
        hub.engine.dispose()

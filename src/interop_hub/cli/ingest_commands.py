"""``interop-hub ingest``, ``ingestions ...`` and ``worker``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from interop_hub.cli.context import open_hub, unit_of_work
from interop_hub.cli.output import JsonFlag, console, emit, err_console, fail
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion, IngestionError
from interop_hub.ingest.queries import ingestion_out
from interop_hub.kit.db import write_transaction
from interop_hub.kit.errors import HubError, NotFound
from interop_hub.kit.logs import configure_logging
from interop_hub.runtime import Hub
from interop_hub.tasks import renderings

ingestions_app = typer.Typer(help="Ingestions: list, show errors, approve or reject.")


def _run_now(hub: Hub, ingestion_id: uuid.UUID, show_progress: bool) -> Ingestion:
    with write_transaction(hub.sessions) as session:
        if not ingest.claim(session, ingestion_id, hub.now()):
            raise HubError(f"Ingestion {ingestion_id} was taken by another process.")
    if not show_progress:
        result = ingest.run(hub, ingestion_id)
        if result.state != "failed":  # a failed one changed nothing
            renderings.refresh_quietly(hub, result.cloud_id)
        return result
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("collecting", total=None)
        result = ingest.run(
            hub, ingestion_id, lambda phase: progress.update(task, description=phase)
        )
        if result.state != "failed":  # it committed: store what the query API serves
            progress.update(task, description="rendering for the query API")
            renderings.refresh_quietly(hub, result.cloud_id)
        progress.update(task, description=result.state)
    return result


def ingest_command(
    path: Annotated[Path, typer.Argument(help="A OneRoster CSV folder or .zip bundle.")],
    cloud: Annotated[uuid.UUID, typer.Option(help="Cloud id.")],
    wait: Annotated[
        bool, typer.Option("--wait/--queue", help="Run it now (default) or leave it to a worker.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Collect a bundle into a cloud's Repository."""
    try:
        with unit_of_work() as (hub, session):
            ingestion = ingest.queue_ingestion(
                session, cloud, str(path.expanduser().resolve()), now=hub.now()
            )
            ingestion_id = ingestion.id
        if wait:
            hub = open_hub()
            try:
                done = _run_now(
                    hub, ingestion_id, show_progress=not as_json and console.is_terminal
                )
            finally:
                hub.engine.dispose()
        else:
            done = ingestion
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(ingestion_out(done), as_json=as_json, title="ingestion")
    if done.state == "failed":
        raise typer.Exit(code=1)


@ingestions_app.command("list")
def list_command(
    cloud: Annotated[uuid.UUID | None, typer.Option(help="Only this cloud.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest ingestions."""

    with unit_of_work() as (_, session):
        stmt = select(Ingestion).order_by(Ingestion.id.desc()).limit(limit)
        if cloud is not None:
            stmt = stmt.where(Ingestion.cloud_id == cloud)
        rows = [ingestion_out(i) for i in session.scalars(stmt)]
    if as_json:
        emit({"data": [r.model_dump(mode="json") for r in rows]}, as_json=True)
        return
    table = Table("id", "cloud", "state", "read", "rejected", "added", "updated", "deleted")
    for r in rows:
        c = r.counts
        table.add_row(
            str(r.id), str(r.cloud_id), r.state, str(c.rows_read), str(c.rows_rejected),
            str(c.objects_added), str(c.objects_updated), str(c.objects_deleted),
        )  # fmt: skip
    console.print(table)


@ingestions_app.command("show")
def show_command(
    ingestion_id: uuid.UUID,
    errors: Annotated[int, typer.Option(help="How many row errors to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """One ingestion and its first row errors."""

    try:
        with unit_of_work() as (_, session):
            found = session.get(Ingestion, ingestion_id)
            if found is None:
                raise NotFound(f"Ingestion {ingestion_id} was not found.")
            out = ingestion_out(found).model_dump(mode="json")
            rows = session.scalars(
                select(IngestionError)
                .where(IngestionError.ingestion_id == ingestion_id)
                .order_by(IngestionError.id)
                .limit(errors)
            ).all()
            out["errors"] = [
                {"file": e.file, "line": e.line, "column": e.column, "reason": e.reason}
                for e in rows
            ]
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(out, as_json=as_json, title="ingestion")


@ingestions_app.command("approve")
def approve_command(
    ingestion_id: uuid.UUID,
    wait: Annotated[bool, typer.Option("--wait/--queue", help="Apply it now.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Approve a collection held as a mass change; it applies everything it changes."""
    try:
        with unit_of_work() as (_, session):
            ingestion = ingest.approve(session, ingestion_id)
        if wait:
            hub = open_hub()
            try:
                ingestion = _run_now(hub, ingestion_id, show_progress=False)
            finally:
                hub.engine.dispose()
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(ingestion_out(ingestion), as_json=as_json, title="ingestion")


@ingestions_app.command("reject")
def reject_command(ingestion_id: uuid.UUID, as_json: JsonFlag = False) -> None:
    """Reject a collection held as a mass change; nothing of it is applied."""
    try:
        with unit_of_work() as (hub, session):
            ingestion = ingest.reject(session, ingestion_id, hub.now())
    except HubError as exc:
        fail(exc, as_json=as_json)
    emit(ingestion_out(ingestion), as_json=as_json, title="ingestion")


def worker_command(
    once: Annotated[bool, typer.Option(help="Run what is queued, then exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls.")] = 5.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /metrics on this port (needs INTEROP_HUB_METRICS_TOKEN; not with --once)."
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface of /metrics.")] = "127.0.0.1",
) -> None:
    """Run queued ingestions (safe to run several at once)."""
    from interop_hub.observability.exporter import start_exporter
    from interop_hub.worker import run_pending, serve_forever

    hub = open_hub()
    token = hub.settings.metrics_token
    if metrics_port is not None and token is None:
        hub.engine.dispose()
        err_console.print(
            "[red]configuration error[/red]: --metrics-port needs INTEROP_HUB_METRICS_TOKEN, "
            "the bearer token scrapers send."
        )
        raise typer.Exit(code=2)
    configure_logging(hub.settings.log_level, hub.settings.log_format)
    exporter = None
    try:
        if metrics_port is not None and token is not None and not once:
            exporter = start_exporter(metrics_host, metrics_port, token)
        if once:
            ran = run_pending(hub)
            console.print(f"ran {ran} ingestion(s)")
        else:
            serve_forever(hub, poll)
    finally:
        if exporter is not None:
            exporter.shutdown()
        hub.engine.dispose()

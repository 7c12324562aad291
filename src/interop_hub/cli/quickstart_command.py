"""``interop-hub quickstart``: a demo district and a demo driver on the hub, then the server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from interop_hub.cli.context import open_hub
from interop_hub.cli.output import console, fail
from interop_hub.cli.serving import run_server
from interop_hub.demo import quickstart
from interop_hub.demo.roster_mirror import is_membership
from interop_hub.kit.errors import HubError
from interop_hub.kit.logs import configure_logging


def quickstart_command(
    once: Annotated[
        bool, typer.Option("--once", help="Set up the demo, print what happened and exit.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to serve on afterwards.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on afterwards.")] = 8080,
    students: Annotated[
        int, typer.Option(help="Students of the demo district (its first run only).")
    ] = quickstart.STUDENTS,
) -> None:
    """Migrate the database, collect a demo district, install a demo integration, mirror its
    roster with the example driver, show what happened — then serve (unless --once).

    Runs on the embedded default or whatever INTEROP_HUB_DATABASE_URL names; running it again
    reuses the demo."""
    hub = open_hub(migrate_any=True)
    # The demo's own requests (thousands, in-process) are not worth a log line each.
    configure_logging("WARNING", hub.settings.log_format)
    console.print(f"database: {hub.engine.url.render_as_string(hide_password=True)} (migrated)")
    try:
        with console.status("collecting the demo district and mirroring it..."):
            demo = quickstart.run(hub, hub.settings.data_dir / "demo", students)
    except HubError as exc:
        hub.engine.dispose()
        fail(exc, as_json=False)
    show(demo, f"http://{host}:{port}")
    if once:
        hub.engine.dispose()
        return
    run_server(hub, host, port)


def show(demo: quickstart.Demo, url: str) -> None:
    console.print(
        f"collected [bold]{demo.district_dir}[/bold]: ingestion {demo.collection.id} "
        f"{demo.collection.state}"
    )
    objects = Table(title="The demo tenant's mirror, by topic")
    objects.add_column("topic")
    objects.add_column("objects", justify="right")
    for topic, count in sorted(demo.objects.items(), key=lambda t: (is_membership(t[0]), t[0])):
        objects.add_row(topic, str(count))
    objects.add_row("[bold]total[/bold]", f"[bold]{sum(demo.objects.values())}[/bold]")
    console.print(objects)
    acked = ", ".join(f"{n} {status}" for status, n in sorted(demo.stats.acknowledged.items()))
    console.print(
        f"tasks delivered: [bold]{demo.stats.delivered}[/bold]; "
        f"acknowledged: [bold]{sum(demo.stats.acknowledged.values())}[/bold] ({acked or 'none'})"
    )
    console.print(f"mirror database: [bold]{demo.mirror_path}[/bold] (table objects)")
    credentials = f"--client-id {demo.client_id} --client-secret {demo.client_secret}"
    console.print(
        Panel(
            "\n".join(
                [
                    f"API docs:         {url}/docs",
                    f"the roster:       {url}/v2/interop/data/rostering/students",
                    "                  (a bearer token from POST /oauth/token with the tenant's"
                    " credentials)",
                    f"demo cloud:       {demo.cloud_id}",
                    f"demo tenant:      {demo.tenant_id}",
                    f"  client id:      {demo.client_id}",
                    f"  client secret:  {demo.client_secret}",
                    f"operator API key: {demo.operator_api_key}",
                    f"  curl -u '{demo.operator_api_key}:' {url}/v2/platform/accounts",
                    "",
                    "serve:            interop-hub serve",
                    f"example driver:   python examples/roster_mirror.py --hub {url} {credentials}"
                    " --db mirror.db",
                    "docs:             docs/quickstart.md, docs/writing-a-driver.md",
                ]
            ),
            title="Where to look next",
        )
    )

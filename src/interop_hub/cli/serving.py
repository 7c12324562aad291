"""Running the HTTP service (``interop-hub serve``, and ``quickstart`` after its demo)."""

from __future__ import annotations

from interop_hub.cli.output import console
from interop_hub.kit.logs import configure_logging
from interop_hub.runtime import Hub


def run_server(hub: Hub, host: str, port: int) -> None:
    import uvicorn

    from interop_hub.app import create_app

    settings = hub.settings
    configure_logging(settings.log_level, settings.log_format)
    console.print(f"Interop Hub on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    console.print(f"database: {hub.engine.url.render_as_string(hide_password=True)}")
    uvicorn.run(
        create_app(hub),
        host=host,
        port=port,
        log_config=None,  # the hub's own logging (configure_logging), JSON lines or text
        log_level=settings.log_level.lower(),
        access_log=False,  # the hub writes its own access line, with the request id
    )

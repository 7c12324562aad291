"""Opening the hub from the CLI: settings from the environment, schema checked or migrated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.cli.output import err_console
from interop_hub.kit import migrate
from interop_hub.kit.db import transaction
from interop_hub.kit.errors import Conflict, Unavailable
from interop_hub.kit.settings import ConfigurationError, Settings
from interop_hub.runtime import Hub, build_hub

OPERATOR = Principal(kind="account", account_type="operator")
"""Whoever can run the command line can act as an operator."""


def open_hub(*, migrate_any: bool = False) -> Hub:
    """Build the hub; the embedded default is migrated on the spot, any other database must
    already be at the newest schema (``interop-hub db upgrade``) unless ``migrate_any``."""
    try:
        hub = build_hub(Settings())
    except ConfigurationError as exc:
        err_console.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    try:
        if migrate_any or hub.settings.is_embedded_default:
            migrate.upgrade(hub.engine)
            return hub
        current = migrate.current_revision(hub.engine)
    except OperationalError as exc:
        hub.engine.dispose()
        err_console.print(f"[red]cannot use the database[/red]: {str(exc.orig).strip()}")
        raise typer.Exit(code=2) from exc
    if current != migrate.head_revision():
        hub.engine.dispose()
        err_console.print(
            "[red]the database schema is not up to date[/red]: run `interop-hub db upgrade`."
        )
        raise typer.Exit(code=2)
    return hub


@contextmanager
def unit_of_work(hub: Hub | None = None) -> Iterator[tuple[Hub, Session]]:
    """One committed transaction; database failures become hub errors (a clean message, or an
    error envelope under ``--json``) instead of tracebacks. Without ``hub`` it opens the hub
    and closes it after; a long-running command passes its own hub to keep one engine."""
    current = hub or open_hub()
    try:
        with transaction(current.sessions) as session:
            yield current, session
    except IntegrityError as exc:
        raise Conflict("The change conflicts with the current state; retry it.") from exc
    except OperationalError as exc:
        raise Unavailable(f"The database cannot be used: {str(exc.orig).strip()}") from exc
    finally:
        if hub is None:
            current.engine.dispose()

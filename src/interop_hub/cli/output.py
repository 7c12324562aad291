"""How the CLI prints: one JSON object on stdout with ``--json``, rich tables otherwise."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from interop_hub.kit.errors import BadRequest, HubError

console = Console()
err_console = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def invalid(exc: Exception) -> HubError:
    """A validation error of command-line input, as the 400 the HTTP API would answer."""
    return BadRequest(str(exc).splitlines()[0] if str(exc) else "invalid input", details=str(exc))


def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def emit(value: Any, *, as_json: bool, title: str | None = None) -> None:
    data = plain(value)
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode())
        return
    if isinstance(data, dict):
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, item in data.items():
            shown = item if isinstance(item, str) else orjson.dumps(item).decode()
            table.add_row(key, shown)
        console.print(table)
    else:
        console.print(data)


def fail(error: HubError, *, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(orjson.dumps(error.envelope()).decode())
    else:
        err_console.print(f"[red]error[/red] ({error.status} {error.code}): {error.message}")
    raise typer.Exit(code=1)

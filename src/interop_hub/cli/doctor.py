"""``interop-hub doctor``: is this installation ready to run, and if not, what to change.

Each check reports ``ok``, ``warn`` (works, but look at it) or ``fail`` (the hub will not run
correctly); the command exits 1 when any check fails. It only reads: it never migrates, never
creates the database, the data directory or the secret key file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import typer
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from interop_hub.cli.output import JsonFlag, console, emit
from interop_hub.kit import migrate
from interop_hub.kit.db import create_db_engine, normalize_url
from interop_hub.kit.settings import (
    MIN_SECRET_LENGTH,
    SECRET_KEY_FILE,
    ConfigurationError,
    Settings,
)

Status = Literal["ok", "warn", "fail"]
UPGRADE = "run `interop-hub db upgrade`"
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str


def doctor_command(as_json: JsonFlag = False) -> None:
    """Check the database, its schema, the secret key and the data directory."""
    checks = run_checks()
    worst: Status = (
        "fail"
        if any(c.status == "fail" for c in checks)
        else "warn"
        if any(c.status == "warn" for c in checks)
        else "ok"
    )
    if as_json:
        emit({"status": worst, "checks": [asdict(c) for c in checks]}, as_json=True)
    else:
        colors = {"ok": "green", "warn": "yellow", "fail": "red"}
        table = Table("check", "status", "message", title="interop-hub doctor")
        for c in checks:
            table.add_row(c.name, f"[{colors[c.status]}]{c.status}[/]", c.message)
        console.print(table)
    if worst == "fail":
        raise typer.Exit(code=1)


def run_checks() -> list[Check]:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"INTEROP_HUB_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        return [Check("settings", "fail", f"The settings are not valid: {problems}.")]
    checks = [Check("settings", "ok", f"{settings.mode} mode")]
    with _database(settings) as (database, engine):
        checks.append(database)
        checks.append(_migrations(engine, settings.is_embedded_default))
    checks.append(_secret_key(settings))
    checks.append(_data_dir(settings.data_dir))
    return checks


# --- the database -------------------------------------------------------------------------------


@contextmanager
def _database(settings: Settings) -> Iterator[tuple[Check, Engine | None]]:
    """The database check, and an engine on it when it answered (disposed after)."""
    try:
        url = make_url(normalize_url(settings.resolved_database_url))
    except ConfigurationError as exc:
        yield Check("database", "fail", str(exc)), None
        return
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            yield Check("database", "warn", "an in-memory SQLite database: nothing is kept"), None
            return
        if not Path(path).exists():
            if settings.is_embedded_default:
                message = f"no database yet at {path}: it is created when the hub first starts"
                yield Check("database", "warn", message), None
            else:
                yield Check("database", "fail", f"the SQLite file {path} does not exist"), None
            return
    elif "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    engine = create_db_engine(url.render_as_string(hide_password=False))
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            yield Check("database", "fail", f"cannot connect to {shown}: {reason}"), None
            return
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(
            engine.dialect.name, engine.dialect.name
        )
        version = ".".join(str(part) for part in engine.dialect.server_version_info or ())
        yield Check("database", "ok", f"{name} {version} at {shown}"), engine
    finally:
        engine.dispose()


def _migrations(engine: Engine | None, embedded: bool) -> Check:
    if engine is None:
        return Check("migrations", "warn", "not checked: the database cannot be used")
    head = migrate.head_revision()
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        return Check("migrations", "fail", f"cannot read the schema revision: {exc}")
    # The embedded default is migrated by every command and by `serve`: only a warning.
    behind: Status = "warn" if embedded else "fail"
    if current == head:
        return Check("migrations", "ok", f"at head ({head})")
    if current is None:
        return Check("migrations", behind, f"the database has no schema: {UPGRADE}")
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    try:
        scripts.get_revision(current)
        steps = sum(1 for _ in scripts.iterate_revisions(head, current))
    except CommandError:
        return Check(
            "migrations",
            "fail",
            f"the database is at revision {current}, which this release does not know "
            f"(head is {head}): was it migrated by a newer release?",
        )
    return Check(
        "migrations",
        behind,
        f"at {current}, {steps} migration(s) behind head ({head}): {UPGRADE}",
    )


# --- the secret key -----------------------------------------------------------------------------


def _secret_key(settings: Settings) -> Check:
    if settings.secret_key is not None or settings.mode == "production":
        try:  # set in the environment, or required: this checks it and never writes a file
            value = settings.resolved_secret_key()
        except ConfigurationError as exc:
            return Check("secret key", "fail", str(exc))
        if len(value) < MIN_SECRET_LENGTH:
            return Check(
                "secret key",
                "warn",
                f"INTEROP_HUB_SECRET_KEY is {len(value)} characters long; production mode needs "
                f"at least {MIN_SECRET_LENGTH}",
            )
        return Check("secret key", "ok", f"set in INTEROP_HUB_SECRET_KEY ({len(value)} characters)")
    path = settings.data_dir.resolve() / SECRET_KEY_FILE
    if not path.exists():
        return Check(
            "secret key", "warn", f"none yet: one is generated into {path} when the hub starts"
        )
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        length = len(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError) as exc:
        return Check("secret key", "fail", f"{path} cannot be read: {exc}")
    if mode & 0o077:
        return Check(
            "secret key",
            "fail",
            f"{path} has mode {mode:04o}: others can read it; `chmod 600 {path}`",
        )
    if length < MIN_SECRET_LENGTH:
        return Check(
            "secret key",
            "fail",
            f"{path} is damaged (too short); restore it from a backup: without it, stored "
            "credentials cannot be decrypted",
        )
    return Check("secret key", "ok", f"the generated file {path} (mode 0600)")


# --- the data directory -------------------------------------------------------------------------


def _data_dir(data_dir: Path) -> Check:
    path = data_dir.resolve()
    if not path.exists():
        parent = next(p for p in path.parents if p.exists())
        if os.access(parent, os.W_OK | os.X_OK):
            return Check("data dir", "warn", f"{path} does not exist yet: it is created on start")
        return Check("data dir", "fail", f"{path} cannot be created: {parent} is not writable")
    if not path.is_dir():
        return Check("data dir", "fail", f"{path} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check("data dir", "fail", f"{path} is not writable: {exc.strerror or exc}")
    return Check("data dir", "ok", f"{path} is writable")

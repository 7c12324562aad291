"""Alembic environment: one history for SQLite and PostgreSQL.

Run through ``interop-hub db upgrade`` (or :func:`interop_hub.kit.migrate.upgrade`), which passes
an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from interop_hub.kit.db import create_db_engine
from interop_hub.kit.settings import get_settings
from interop_hub.models import metadata
from interop_hub.repository.models import in_schema

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
        include_object=lambda obj, name, type_, reflected, compare_to: (
            type_ != "index" or in_schema(connection.dialect.name, str(name))
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(get_settings().resolved_database_url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit(
        "Offline (SQL script) migrations are not supported; run `interop-hub db upgrade`."
    )
run_migrations_online()

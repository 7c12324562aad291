"""The migrations and the models describe the same schema, on each backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from interop_hub.kit import migrate
from interop_hub.models import metadata
from tests.conftest import Database


def test_models_match_migrations(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations drift; add a migration: {diff}"


def test_database_is_at_head(database: Database) -> None:
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_payload_bodies_compressed_with_lz4_where_the_server_has_it(database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite does not compress")
    with database.engine.connect() as connection:
        methods = connection.scalar(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        )
        method = connection.scalar(
            text(
                "SELECT attcompression FROM pg_attribute"
                " WHERE attrelid = 'task_payloads'::regclass AND attname = 'body'"
            )
        )
    assert method == ("l" if "lz4" in methods else "")

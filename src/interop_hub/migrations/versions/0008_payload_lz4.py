"""task payloads compressed with lz4 where the server has it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

A payload's JSON (a student with its sections is ~3 KB) is stored compressed. PostgreSQL's
default, pglz, costs ~12 µs to decompress a student's body on every delivery and makes storing
the payloads of a full sync about twice as slow as lz4 (a 20,000-student activation: 7.6–8.0 s
against 3.6 s for the same COPY). The setting applies to values written from now on; older
values stay readable as they are. A server built without lz4 keeps pglz. Storage settings are
not part of the models (SQLAlchemy has no notion of them); SQLite does not compress.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _has_lz4() -> bool:
    methods = op.get_bind().scalar(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    )
    return methods is not None and "lz4" in methods


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _has_lz4():
        op.execute("ALTER TABLE task_payloads ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE task_payloads ALTER COLUMN body SET COMPRESSION default")

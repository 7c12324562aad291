"""the lines a cloud's last collection accepted, for the next one to skip

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

``ingest_remembered_lines`` (``interop_hub.ingest.models.RememberedLines``): per cloud and
file, a key of each line the last applied collection accepted and the line's ``sourcedId``. A
nightly parses only the lines it does not find there (BENCHMARKS, issue 3: reading and checking
every row was half of a nightly). On PostgreSQL both large columns are stored uncompressed
(``STORAGE EXTERNAL``): the keys are random bytes, and the ids would cost more to compress each
night than the space saved is worth.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_remembered_lines",
        sa.Column("cloud_id", sa.Uuid(), nullable=False),
        sa.Column("file", sa.String(length=64), nullable=False),
        sa.Column("ingestion_id", sa.Uuid(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("source_ids", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["clouds.id"],
            name=op.f("fk_ingest_remembered_lines_cloud_id_clouds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cloud_id", "file", name=op.f("pk_ingest_remembered_lines")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for column in ("keys", "source_ids"):
            op.execute(
                f"ALTER TABLE ingest_remembered_lines ALTER COLUMN {column} SET STORAGE EXTERNAL"
            )


def downgrade() -> None:
    op.drop_table("ingest_remembered_lines")

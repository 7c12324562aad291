"""remembered lines stored as a base and the nightly changes to it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

``ingest_remembered_lines`` gets a ``seq`` (in its primary key) and ``stretches``: row 0 of a
file holds its lines whole, each later row how the next collection's lines differ
(``interop_hub.ingest.models.RememberedLines``). The table is a cache of what the last
collection accepted, and this release reads every file whole once anyway (its reader's code
changed: ``interop_hub.ingest.oneroster.lines.context``), so it is created anew, empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _create(with_changes: bool) -> None:
    key = ["cloud_id", "file", "seq"] if with_changes else ["cloud_id", "file"]
    op.create_table(
        "ingest_remembered_lines",
        sa.Column("cloud_id", sa.Uuid(), nullable=False),
        sa.Column("file", sa.String(length=64), nullable=False),
        *([sa.Column("seq", sa.Integer(), nullable=False)] if with_changes else []),
        sa.Column("ingestion_id", sa.Uuid(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("source_ids", sa.Text(), nullable=False),
        *([sa.Column("stretches", sa.LargeBinary(), nullable=True)] if with_changes else []),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["clouds.id"],
            name=op.f("fk_ingest_remembered_lines_cloud_id_clouds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_ingest_remembered_lines")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for column in ("keys", "source_ids"):
            op.execute(
                f"ALTER TABLE ingest_remembered_lines ALTER COLUMN {column} SET STORAGE EXTERNAL"
            )


def upgrade() -> None:
    op.drop_table("ingest_remembered_lines")
    _create(with_changes=True)


def downgrade() -> None:
    op.drop_table("ingest_remembered_lines")
    _create(with_changes=False)

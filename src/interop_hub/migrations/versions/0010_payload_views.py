"""stored projections of the renderings (task_payload_views)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

The query API parsed and projected each ~3 KB stored rendering for a tenant whose topic keeps
only some attributes (~12 ms of a 1,000-student page); the renderings pass now stores each
projection once, a row per payload and projection (``interop_hub.rostering.views``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_payload_views",
        sa.Column(
            "payload_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("view", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payload_id"],
            ["task_payloads.id"],
            name=op.f("fk_task_payload_views_payload_id_task_payloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("payload_id", "view", name=op.f("pk_task_payload_views")),
    )


def downgrade() -> None:
    op.drop_table("task_payload_views")

"""collection schedules and their ticks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cloud_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("days", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_executed_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.CheckConstraint("type IN ('collection')", name=op.f("ck_schedules_type")),
        sa.CheckConstraint("hour >= 0 AND hour <= 23", name=op.f("ck_schedules_hour")),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["clouds.id"],
            name=op.f("fk_schedules_cloud_id_clouds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("cloud_id", "hour", name=op.f("uq_schedules_cloud_id_hour")),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("tick", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ingestion_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('queued', 'skipped')", name=op.f("ck_schedule_ticks_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["ingestion_id"],
            ["ingestions.id"],
            name=op.f("fk_schedule_ticks_ingestion_id_ingestions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_ticks_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "tick", name=op.f("pk_schedule_ticks")),
    )


def downgrade() -> None:
    op.drop_table("schedule_ticks")
    op.drop_table("schedules")

"""the task queue: tasks, their shared payloads, the acknowledgement history, app ids,
tenant sequences

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_payloads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("cloud_id", sa.Uuid(), nullable=True),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["clouds.id"],
            name=op.f("fk_task_payloads_cloud_id_clouds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_payloads")),
    )
    op.create_index(
        "ix_task_payloads_current",
        "task_payloads",
        ["cloud_id", "epoch", "object_id", "id"],
        unique=False,
    )
    op.create_table(
        "task_acks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("app_id", sa.String(length=255), nullable=True),
        sa.Column("acked_by", sa.String(length=64), nullable=False),
        sa.Column("acked_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('success', 'error', 'retry', 'reauthenticate', 'deleted')",
            name=op.f("ck_task_acks_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_task_acks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_acks")),
    )
    op.create_index("ix_task_acks_acked_at", "task_acks", ["acked_at"], unique=False)
    op.create_index("ix_task_acks_tenant", "task_acks", ["tenant_id", "id"], unique=False)
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=True),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("label", sa.String(length=400), nullable=True),
        sa.Column("payload_id", sa.BigInteger(), nullable=True),
        sa.Column("prior_payload_id", sa.BigInteger(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_until", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "type IN ('lifecycle_event', 'sync_event', 'data_event', 'authenticate', "
            "'grades_export', 'grades_query', 'request')",
            name=op.f("ck_tasks_type"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tasks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("tenant_id", "sequence", name=op.f("uq_tasks_tenant_id_sequence")),
    )
    op.create_table(
        "tenant_app_ids",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.String(length=255), nullable=False),
        sa.Column("updated_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_app_ids_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "object_id", name=op.f("pk_tenant_app_ids")),
    )
    op.add_column(
        "clouds", sa.Column("render_epoch", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "tenants", sa.Column("task_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("tenants", sa.Column("delivery_paused", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "delivery_paused")
    op.drop_column("tenants", "task_seq")
    op.drop_column("clouds", "render_epoch")
    op.drop_table("tenant_app_ids")
    op.drop_table("tasks")
    op.drop_index("ix_task_acks_tenant", table_name="task_acks")
    op.drop_index("ix_task_acks_acked_at", table_name="task_acks")
    op.drop_table("task_acks")
    op.drop_index("ix_task_payloads_current", table_name="task_payloads")
    op.drop_table("task_payloads")

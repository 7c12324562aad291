"""rollovers: a tenant's school-year transition windows, and the tenant's rollover mode

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollovers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("start_date", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_date", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("status_change_failure_count", sa.Integer(), nullable=False),
        sa.Column("attempted_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('upcoming', 'active', 'completed', 'failed')",
            name=op.f("ck_rollovers_status"),
        ),
        sa.CheckConstraint("type IN ('new_year')", name=op.f("ck_rollovers_type")),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_rollovers_window")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rollovers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollovers")),
    )
    op.create_index("ix_rollovers_due", "rollovers", ["status", "start_date"], unique=False)
    op.create_index("ix_rollovers_tenant", "rollovers", ["tenant_id", "start_date"], unique=False)
    op.add_column(
        "tenants",
        sa.Column(
            "rollover_mode_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column("tenants", "rollover_mode_enabled")
    op.drop_index("ix_rollovers_tenant", table_name="rollovers")
    op.drop_index("ix_rollovers_due", table_name="rollovers")
    op.drop_table("rollovers")

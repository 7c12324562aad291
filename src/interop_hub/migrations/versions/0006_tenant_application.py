"""the tenant application: deliver_tasks, validate_tasks, options, the authentication state and
credentials (active and pending, encrypted), and the audit trail of authentication sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('updating', 'confirmed', 'error', 'superseded')",
            name=op.f("ck_tenant_auth_sessions_state"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_auth_sessions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_auth_sessions")),
    )
    op.create_index(
        "ix_tenant_auth_sessions_tenant", "tenant_auth_sessions", ["tenant_id", "id"], unique=False
    )
    op.add_column(
        "tenants",
        sa.Column("deliver_tasks", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column(
        "tenants",
        sa.Column("validate_tasks", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("tenants", sa.Column("app_options", sa.JSON(), nullable=True))
    op.add_column(
        "tenants",
        sa.Column("auth_state", sa.String(length=16), server_default="unspecified", nullable=False),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "auth_state_pending", sa.String(length=16), server_default="unspecified", nullable=False
        ),
    )
    op.add_column("tenants", sa.Column("auth_session_id_pending", sa.Uuid(), nullable=True))
    op.add_column("tenants", sa.Column("auth_message", sa.Text(), nullable=True))
    op.add_column("tenants", sa.Column("app_auth_pending_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "app_auth_pending_enc")
    op.drop_column("tenants", "auth_message")
    op.drop_column("tenants", "auth_session_id_pending")
    op.drop_column("tenants", "auth_state_pending")
    op.drop_column("tenants", "auth_state")
    op.drop_column("tenants", "app_options")
    op.drop_column("tenants", "validate_tasks")
    op.drop_column("tenants", "deliver_tasks")
    op.drop_index("ix_tenant_auth_sessions_tenant", table_name="tenant_auth_sessions")
    op.drop_table("tenant_auth_sessions")

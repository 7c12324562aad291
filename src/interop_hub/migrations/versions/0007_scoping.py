"""scoping: a tenant's selected schools and courses, and the objects it therefore sees

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_scoping",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("selected_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('school', 'course')", name=op.f("ck_tenant_scoping_kind")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_scoping_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "object_id", name=op.f("pk_tenant_scoping")),
    )
    op.create_table(
        "tenant_visible",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_visible_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "object_id", name=op.f("pk_tenant_visible")),
    )


def downgrade() -> None:
    op.drop_table("tenant_visible")
    op.drop_table("tenant_scoping")

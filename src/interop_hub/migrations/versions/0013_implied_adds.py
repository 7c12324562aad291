"""a change set entry may stand for every row of a kind a collection added to an empty cloud

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

``repo_changes`` gets ``rows`` and ``created_at``, and ``object_id`` may be NULL: an entry with
``rows`` stands for that many adds, the cloud's rows of its kind written at ``created_at`` by a
collection that found none (``interop_hub.ingest.models.RepoChange``). Existing entries name
one row each and stay as they are; the downgrade spells implied entries out into one row per
add still in the Repository.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import interop_hub.kit.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

IMPLIED = (
    "(rows IS NULL AND object_id IS NOT NULL) OR (rows IS NOT NULL AND object_id IS NULL"
    " AND created_at IS NOT NULL AND action = 'ADD')"
)


def upgrade() -> None:
    with op.batch_alter_table("repo_changes") as batch_op:
        batch_op.add_column(sa.Column("rows", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("created_at", interop_hub.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("object_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_check_constraint(op.f("ck_repo_changes_implied"), IMPLIED)


def downgrade() -> None:
    bind = op.get_bind()
    changes = sa.table(
        "repo_changes",
        sa.column("id", sa.BigInteger()),
        sa.column("ingestion_id", sa.Uuid()),
        sa.column("cloud_id", sa.Uuid()),
        sa.column("seq", sa.Integer()),
        sa.column("entity", sa.String()),
        sa.column("object_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("subtype", sa.String()),
        sa.column("action", sa.String()),
        sa.column("rows", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    implied = bind.execute(sa.select(changes).where(changes.c.rows.is_not(None))).all()
    for entry in implied:
        if entry.entity == "membership":
            rows = sa.table(
                "repo_memberships",
                sa.column("id", sa.Uuid()),
                sa.column("cloud_id", sa.Uuid()),
                sa.column("role", sa.String()),
                sa.column("created_at", sa.DateTime(timezone=True)),
            )
            subtype = rows.c.role
            where = [rows.c.cloud_id == entry.cloud_id]
        else:
            rows = sa.table(
                "repo_objects",
                sa.column("id", sa.Uuid()),
                sa.column("cloud_id", sa.Uuid()),
                sa.column("kind", sa.String()),
                sa.column("subtype", sa.String()),
                sa.column("created_at", sa.DateTime(timezone=True)),
            )
            subtype = rows.c.subtype
            where = [rows.c.cloud_id == entry.cloud_id, rows.c.kind == entry.kind]
        added = bind.execute(
            sa.select(rows.c.id, subtype)
            .where(*where, rows.c.created_at == entry.created_at)
            .order_by(rows.c.id)
        ).all()
        if added:
            op.bulk_insert(
                changes,
                [
                    {
                        "ingestion_id": entry.ingestion_id,
                        "cloud_id": entry.cloud_id,
                        "seq": entry.seq + position,
                        "entity": entry.entity,
                        "object_id": row[0],
                        "kind": entry.kind,
                        "subtype": row[1],
                        "action": "ADD",
                    }
                    for position, row in enumerate(added)
                ],
            )
        bind.execute(sa.delete(changes).where(changes.c.id == entry.id))
    with op.batch_alter_table("repo_changes") as batch_op:
        batch_op.drop_constraint(op.f("ck_repo_changes_implied"), type_="check")
        batch_op.alter_column("object_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("created_at")
        batch_op.drop_column("rows")

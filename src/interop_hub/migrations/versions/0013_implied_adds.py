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


CHANGES = sa.table(
    "repo_changes",
    *(sa.column(name, sa.Uuid()) for name in ("ingestion_id", "cloud_id", "object_id")),
    sa.column("id", sa.BigInteger()),
    sa.column("seq", sa.Integer()),
    *(sa.column(name, sa.String()) for name in ("entity", "kind", "subtype", "action")),
    sa.column("rows", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _rows(name: str, *more: str) -> sa.TableClause:
    """A Repository table with what an implied entry selects its rows by."""
    return sa.table(
        name,
        sa.column("id", sa.Uuid()),
        sa.column("cloud_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(column, sa.String()) for column in more),
    )


OBJECTS = _rows("repo_objects", "kind", "subtype")
MEMBERSHIPS = _rows("repo_memberships", "role")


def downgrade() -> None:
    c = CHANGES.c
    bind = op.get_bind()
    for entry in bind.execute(sa.select(CHANGES).where(c.rows.is_not(None))).all():
        if entry.entity == "membership":
            rows, subtype, where = MEMBERSHIPS, MEMBERSHIPS.c.role, []
        else:
            rows, subtype, where = OBJECTS, OBJECTS.c.subtype, [OBJECTS.c.kind == entry.kind]
        added = sa.select(
            sa.literal(entry.ingestion_id, sa.Uuid()),
            sa.literal(entry.cloud_id, sa.Uuid()),
            sa.literal(entry.seq - 1) + sa.func.row_number().over(order_by=rows.c.id),
            sa.literal(entry.entity),
            rows.c.id,
            sa.literal(entry.kind),
            subtype,
            sa.literal("ADD"),
        ).where(rows.c.cloud_id == entry.cloud_id, rows.c.created_at == entry.created_at, *where)
        columns = ["ingestion_id", "cloud_id", "seq", "entity", "object_id", "kind", "subtype"]
        bind.execute(sa.insert(CHANGES).from_select([*columns, "action"], added))
        bind.execute(sa.delete(CHANGES).where(c.id == entry.id))
    with op.batch_alter_table("repo_changes") as batch_op:
        batch_op.drop_constraint(op.f("ck_repo_changes_implied"), type_="check")
        batch_op.alter_column("object_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("created_at")
        batch_op.drop_column("rows")

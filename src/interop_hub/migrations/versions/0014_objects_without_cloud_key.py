"""repo_objects without its foreign key to clouds

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

An initial collection writes ~140,000 objects for 100,000 students, and the server checked each
one's cloud (a lookup per row: ~0.5 s of it, BENCHMARKS session 8). Objects are written only
by collections, into the cloud being collected, and the deletion of a cloud now deletes its
objects itself (``interop_hub.ingest.apply.purge_cloud``), as 0009 did for links, memberships
and change sets. The downgrade first deletes objects whose cloud is gone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KEY = "fk_repo_objects_cloud_id_clouds"


def upgrade() -> None:
    with op.batch_alter_table("repo_objects") as batch_op:
        batch_op.drop_constraint(KEY, type_="foreignkey")


def downgrade() -> None:
    objects = sa.table("repo_objects", sa.column("cloud_id", sa.Uuid()))
    clouds = sa.table("clouds", sa.column("id", sa.Uuid()))
    op.execute(sa.delete(objects).where(objects.c.cloud_id.not_in(sa.select(clouds.c.id))))
    with op.batch_alter_table("repo_objects") as batch_op:
        batch_op.create_foreign_key(KEY, "clouds", ["cloud_id"], ["id"], ondelete="CASCADE")

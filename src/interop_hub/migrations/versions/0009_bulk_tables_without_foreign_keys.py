"""the bulk-written tables lose their per-row foreign keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

A collection writes ``repo_memberships``, ``repo_links`` and ``repo_changes`` by the hundred
thousand; checking each row's foreign keys cost the server ~46 s of a 100,000-student initial
collection (BENCHMARKS, issue 3), several times what the rows themselves cost. The references
are sound by construction (the reader refuses dangling ones; ids are derived, not looked up),
and what the cascades did is now done set-based by the code that deletes: a collection deleting
objects (``ingest.apply``) and the deletion of a cloud (``ingest.apply.purge_cloud``).

``repo_objects`` keeps its key to ``clouds`` (objects are written once per collection, and a
deleted cloud's objects still go with it).

``repo_memberships`` also loses its unique key on ``(cloud_id, source_id)``, for an index on
``cloud_id``: the primary key already makes it unique (a membership's id is derived from its
cloud and source id, ``repository.models.membership_id``), and with its wide keys it was the
costliest of the table's five indexes to maintain (731,000 rows inserted: 13.6 s with it, 7.0 s
with the narrow index instead, on the development machine).

The downgrade first deletes the rows the restored keys would refuse (what the cascades would
have deleted, and ``school_id`` set to NULL where its school is gone).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (table, column, referred table, ON DELETE)
KEYS = (
    ("repo_links", "from_id", "repo_objects", "CASCADE"),
    ("repo_links", "to_id", "repo_objects", "CASCADE"),
    ("repo_links", "cloud_id", "clouds", "CASCADE"),
    ("repo_memberships", "person_id", "repo_objects", "CASCADE"),
    ("repo_memberships", "section_id", "repo_objects", "CASCADE"),
    ("repo_memberships", "school_id", "repo_objects", "SET NULL"),
    ("repo_memberships", "cloud_id", "clouds", "CASCADE"),
    ("repo_changes", "ingestion_id", "ingestions", "CASCADE"),
    ("repo_changes", "cloud_id", "clouds", "CASCADE"),
)
TABLES = ("repo_links", "repo_memberships", "repo_changes")


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


UNIQUE = "uq_repo_memberships_cloud_id_source_id"
CLOUD_INDEX = "ix_repo_memberships_cloud"


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for _, column, referred, _ in (key for key in KEYS if key[0] == table):
                batch_op.drop_constraint(_name(table, column, referred), type_="foreignkey")
            if table == "repo_memberships":
                batch_op.drop_constraint(UNIQUE, type_="unique")
                batch_op.create_index(CLOUD_INDEX, ["cloud_id"])


def downgrade() -> None:
    for table, column, referred, on_delete in KEYS:
        rows = sa.table(table, sa.column(column))
        missing = rows.c[column].not_in(sa.select(sa.table(referred, sa.column("id")).c.id))
        if on_delete == "SET NULL":
            op.execute(sa.update(rows).where(missing).values({column: None}))
        else:
            op.execute(sa.delete(rows).where(missing))
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for _, column, referred, on_delete in (key for key in KEYS if key[0] == table):
                batch_op.create_foreign_key(
                    _name(table, column, referred),
                    referred,
                    [column],
                    ["id"],
                    ondelete=on_delete,
                )
            if table == "repo_memberships":
                batch_op.drop_index(CLOUD_INDEX)
                batch_op.create_unique_constraint(UNIQUE, ["cloud_id", "source_id"])

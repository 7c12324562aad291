"""repo_memberships is partitioned by cloud on PostgreSQL

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

A cloud's first collection writes its memberships by the hundred thousand, and keeping the
table's five B-trees up to date row by row was most of the server's work. With a partition per
cloud, that collection loads its rows into a bare table, indexes it, then attaches it
(``interop_hub.repository.partitions``). The primary key becomes ``(id, cloud_id)``: a
partitioned table's keys must include its partition key (the id alone is still unique: it is
derived from the cloud and the source id). SQLite gets the same key and no partitions.

The upgrade moves the existing rows, a partition per cloud that has any; the downgrade moves
them back into one plain table.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLE = "repo_memberships"
OLD = "repo_memberships_unpartitioned"
PK = "pk_repo_memberships"
INDEXES = (
    ("ix_repo_memberships_cloud", "cloud_id"),
    ("ix_repo_memberships_person", "person_id"),
    ("ix_repo_memberships_school", "school_id"),
    ("ix_repo_memberships_section", "section_id, role"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.drop_constraint(PK, type_="primary")
            batch_op.create_primary_key(PK, ["id", "cloud_id"])
        return
    _set_aside()
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY LIST (cloud_id)")
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {PK} PRIMARY KEY (id, cloud_id)")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {TABLE} ({columns})")
    found = text(f"SELECT DISTINCT cloud_id FROM {OLD}")  # noqa: S608
    clouds = op.get_bind().execute(found).scalars()
    for cloud_id in list(clouds):
        part = f"{TABLE}_{cloud_id.hex}"
        op.execute(f'CREATE TABLE "{part}" (LIKE {TABLE} INCLUDING DEFAULTS)')
        rows = f"SELECT * FROM {OLD} WHERE cloud_id = '{cloud_id}'"  # noqa: S608
        op.execute(f'INSERT INTO "{part}" {rows}')
        op.execute(f'ALTER TABLE "{part}" ADD PRIMARY KEY (id, cloud_id)')
        for number, (_, columns) in enumerate(INDEXES, 1):
            op.execute(f'CREATE INDEX "{part}_ix{number}" ON "{part}" ({columns})')
        op.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION \"{part}\" FOR VALUES IN ('{cloud_id}')")
        # Without statistics the planner takes a lookup of 5,000 ids for most of the table and
        # scans it all, comparing each row with every id: minutes per nightly batch.
        op.execute(f'ANALYZE "{part}"')
    op.execute(f"DROP TABLE {OLD}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table(TABLE) as batch_op:
            batch_op.drop_constraint(PK, type_="primary")
            batch_op.create_primary_key(PK, ["id"])
        return
    _set_aside()
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {PK} PRIMARY KEY (id)")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {TABLE} ({columns})")
    op.execute(f"DROP TABLE {OLD}")  # and its partitions
    op.execute(f"ANALYZE {TABLE}")


def _set_aside() -> None:
    """Rename the table out of the way, without its key and indexes (their names are reused)."""
    op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {PK}")
    for name, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")

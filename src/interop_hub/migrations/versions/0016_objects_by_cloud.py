"""repo_objects and repo_links are partitioned by cloud on PostgreSQL

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

As for the memberships (0015): a cloud's first collection writes its objects and links by the
hundred thousand, and keeping the tables' B-trees up to date row by row cost the server more
than the rows themselves (139,671 objects and 221,084 links at 100,000 students). With a
partition per cloud, that collection loads its rows into bare tables, indexes them, then
attaches them (``interop_hub.repository.partitions``). The primary keys gain ``cloud_id``: a
partitioned table's keys must include its partition key (the ids alone are still unique: an
object's is derived from the cloud). SQLite gets the same keys and no partitions.

The upgrade moves the existing rows, a partition per cloud that has any; the downgrade moves
them back into plain tables. On PostgreSQL the links' and the memberships' indexes by cloud go
(every row of a partition is of one cloud: they found whole partitions and cost their upkeep);
the downgrade builds them again.
"""

from __future__ import annotations

from typing import NamedTuple

from alembic import op
from sqlalchemy import text

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


class _Layout(NamedTuple):
    table: str
    pk: str
    key: str
    """The primary key's columns before this migration; ``cloud_id`` is added to them."""
    indexes: tuple[tuple[str, str], ...]
    """(name, columns), in the order of their names (as partitions number them)."""
    uniques: tuple[tuple[str, str], ...] = ()
    by_cloud: tuple[tuple[str, str], ...] = ()
    """Indexes by cloud the plain table has and the partitioned one has not (every row of a
    partition is of one cloud)."""

    @property
    def old(self) -> str:
        return f"{self.table}_unpartitioned"


TABLES = (
    _Layout(
        "repo_objects",
        "pk_repo_objects",
        "id",
        (("ix_repo_objects_listing", "cloud_id, kind, subtype, id"),),
        (("uq_repo_objects_cloud_id_kind_source_id", "cloud_id, kind, source_id"),),
    ),
    _Layout(
        "repo_links",
        "pk_repo_links",
        "from_id, rel, to_id",
        (("ix_repo_links_to", "to_id, rel, from_id"),),
        by_cloud=(("ix_repo_links_cloud_id", "cloud_id"),),
    ),
)
MEMBERSHIPS_BY_CLOUD = ("ix_repo_memberships_cloud", "repo_memberships", "cloud_id")
"""The memberships' index by cloud (0015), useless in their partitions as well."""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for layout in TABLES:
        if postgres:
            _partition(layout)
        else:
            _key(layout, f"{layout.key}, cloud_id")
    if postgres:
        op.execute(f"DROP INDEX {MEMBERSHIPS_BY_CLOUD[0]}")  # and its partitions'


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for layout in TABLES:
        if postgres:
            _unpartition(layout)
        else:
            _key(layout, layout.key)
    if postgres:
        name, table, columns = MEMBERSHIPS_BY_CLOUD
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")


def _key(layout: _Layout, columns: str) -> None:
    with op.batch_alter_table(layout.table) as batch_op:
        batch_op.drop_constraint(layout.pk, type_="primary")
        batch_op.create_primary_key(layout.pk, [c.strip() for c in columns.split(",")])


def _partition(layout: _Layout) -> None:
    table, old = layout.table, layout.old
    _set_aside(layout, plain=True)
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY LIST (cloud_id)")
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {layout.pk} PRIMARY KEY ({layout.key}, cloud_id)"
    )
    for name, columns in layout.uniques:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns})")
    for name, columns in layout.indexes:
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    found = text(f"SELECT DISTINCT cloud_id FROM {old}")  # noqa: S608
    for cloud_id in list(op.get_bind().execute(found).scalars()):
        part = f"{table}_{cloud_id.hex}"
        op.execute(f'CREATE TABLE "{part}" (LIKE {table} INCLUDING DEFAULTS)')
        rows = f"SELECT * FROM {old} WHERE cloud_id = '{cloud_id}'"  # noqa: S608
        op.execute(f'INSERT INTO "{part}" {rows}')
        op.execute(f'ALTER TABLE "{part}" ADD PRIMARY KEY ({layout.key}, cloud_id)')
        for number, (_, columns) in enumerate(layout.uniques, 1):
            op.execute(
                f'ALTER TABLE "{part}" ADD CONSTRAINT "{part}_uq{number}" UNIQUE ({columns})'
            )
        for number, (_, columns) in enumerate(layout.indexes, 1):
            op.execute(f'CREATE INDEX "{part}_ix{number}" ON "{part}" ({columns})')
        op.execute(f"ALTER TABLE {table} ATTACH PARTITION \"{part}\" FOR VALUES IN ('{cloud_id}')")
        op.execute(f'ANALYZE "{part}"')  # lookups by id would scan a partition without them
    op.execute(f"DROP TABLE {old}")


def _unpartition(layout: _Layout) -> None:
    table, old = layout.table, layout.old
    _set_aside(layout, plain=False)
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {layout.pk} PRIMARY KEY ({layout.key})")
    for name, columns in layout.uniques:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns})")
    for name, columns in (*layout.indexes, *layout.by_cloud):
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    op.execute(f"DROP TABLE {old}")  # and its partitions
    op.execute(f"ANALYZE {table}")


def _set_aside(layout: _Layout, *, plain: bool) -> None:
    """Rename the table out of the way, without its keys and indexes (their names are reused);
    ``plain``: the table before the upgrade (it has the indexes by cloud)."""
    op.execute(f"ALTER TABLE {layout.table} DROP CONSTRAINT {layout.pk}")
    for name, _ in layout.uniques:
        op.execute(f"ALTER TABLE {layout.table} DROP CONSTRAINT {name}")
    for name, _ in (*layout.indexes, *(layout.by_cloud if plain else ())):
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE {layout.table} RENAME TO {layout.old}")

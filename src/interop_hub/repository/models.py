"""Repository tables.

One table holds every object (orgs, persons, courses, sections, terms, grading categories):
the hot paths (diff, apply, fan-out, list queries) then work on one shape with set-based SQL.
Relationships are rows of ``repo_links`` (from → to, by relationship name), so roll-ups and
per-org lists are joins rather than JSON searches. Section memberships (OneRoster enrollments)
have their own table because they carry their own source id, role and dates.

Ids are derived from the cloud and the source id (:func:`object_id`), so the same source object
keeps its ``$sys.id`` across collections and a reference can be resolved without a lookup.

``repo_links`` and ``repo_memberships`` have no foreign keys (migration 0009), and
``repo_objects`` none to its cloud (0014): a collection writes them by the hundred thousand and
a per-row check cost more than the rows. What the cascades did is done set-based where objects
and clouds are deleted
(:func:`interop_hub.ingest.apply.apply_plan`, :func:`interop_hub.ingest.apply.purge_cloud`):
links from or to a deleted object and memberships of a deleted person or section go with it, and
a membership whose school is deleted keeps no ``school_id``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.repository import ids

REPOSITORY_NAMESPACE = ids.NAMESPACE


@lru_cache(maxsize=2**16)
def object_id(cloud_id: uuid.UUID, kind: str, source_id: str) -> uuid.UUID:
    """The stable ``$sys.id`` of a source object in a cloud:
    ``uuid5(REPOSITORY_NAMESPACE, f"{cloud_id}/{kind}/{source_id}")``, computed as
    :mod:`interop_hub.repository.ids` does (a collection uses its per-collection cache instead).
    """
    return ids.object_id(cloud_id, kind, source_id)


def membership_id(cloud_id: uuid.UUID, source_id: str) -> uuid.UUID:
    """``uuid5(REPOSITORY_NAMESPACE, f"{cloud_id}/membership/{source_id}")``."""
    return ids.membership_id(cloud_id, source_id)


SQLITE_ONLY_INDEXES = frozenset({"ix_repo_memberships_cloud", "ix_repo_links_cloud_id"})
"""Indexes by cloud that only SQLite has: on PostgreSQL every row of a partition is of one
cloud, so they would find the whole partition, and cost their upkeep (migration 0016)."""


def in_schema(dialect: str, index: str) -> bool:
    """Whether the migrated schema of ``dialect`` has index ``index`` (for schema diffs)."""
    return dialect == "sqlite" or index not in SQLITE_ONLY_INDEXES


class RepoObject(Base):
    """One object of a cloud. On PostgreSQL the table is partitioned by cloud (migration 0016,
    :mod:`interop_hub.repository.partitions`), so its primary key includes ``cloud_id``."""

    __tablename__ = "repo_objects"
    __table_args__ = (
        UniqueConstraint("cloud_id", "kind", "source_id"),
        Index("ix_repo_objects_listing", "cloud_id", "kind", "subtype", "id"),
        {"postgresql_partition_by": "LIST (cloud_id)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cloud_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subtype: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(400))
    school_year: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepoLink(Base):
    """``from_id`` refers to ``to_id`` through ``rel`` (``position`` keeps the source's order).
    Partitioned by cloud on PostgreSQL, as the objects are (migration 0016)."""

    __tablename__ = "repo_links"
    __table_args__ = (
        Index("ix_repo_links_to", "to_id", "rel", "from_id"),
        Index("ix_repo_links_cloud_id", "cloud_id").ddl_if(dialect="sqlite"),
        {"postgresql_partition_by": "LIST (cloud_id)"},
    )

    from_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rel: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cloud_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)


class RepoMembership(Base):
    """A person's membership of a section, with its role (student, teacher, ...).

    On PostgreSQL the table is partitioned by cloud (migration 0015,
    :mod:`interop_hub.repository.partitions`), so its primary key includes ``cloud_id``.
    """

    __tablename__ = "repo_memberships"
    __table_args__ = (
        # No unique key on (cloud_id, source_id): the id is derived from them (membership_id),
        # so the primary key is that key, and a second, wide one cost more than any other index
        # to maintain (migration 0009).
        Index("ix_repo_memberships_cloud", "cloud_id").ddl_if(dialect="sqlite"),
        Index("ix_repo_memberships_section", "section_id", "role"),
        Index("ix_repo_memberships_person", "person_id"),
        # Deleting an object sets the school of its memberships to NULL: without this index
        # every deleted object scans all memberships.
        Index("ix_repo_memberships_school", "school_id"),
        {"postgresql_partition_by": "LIST (cloud_id)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cloud_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[uuid.UUID] = mapped_column()
    section_id: Mapped[uuid.UUID] = mapped_column()
    school_id: Mapped[uuid.UUID | None] = mapped_column()
    role: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

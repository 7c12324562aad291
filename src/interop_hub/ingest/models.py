"""Ingestions, their row errors, and the change sets they applied.

``repo_changes`` is the durable change set of each applied collection, written in the same
transaction as the Repository change and read through :mod:`interop_hub.ingest.changes`. The
fan-out (:mod:`interop_hub.tasks.fanout`) queues tenants' tasks in that transaction from the
collection's plan, which holds the same changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

INGESTION_TYPES = ("collection", "bulk_load", "event_bundle", "bulk_attr_change", "mirror")
INGESTION_STATES = (
    "preparing",
    "scheduled",
    "executing",
    "success",
    "failed",
    "cancelled",
    "timeout",
)
# An auto-incrementing 64-bit key; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Ingestion(Base):
    __tablename__ = "ingestions"
    __table_args__ = (
        CheckConstraint(
            "type IN ('collection', 'bulk_load', 'event_bundle', 'bulk_attr_change', 'mirror')",
            name="type",
        ),
        CheckConstraint(
            "state IN ('preparing', 'scheduled', 'executing', 'success', 'failed', "
            "'cancelled', 'timeout')",
            name="state",
        ),
        Index("ix_ingestions_cloud", "cloud_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cloud_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clouds.id", ondelete="CASCADE"))
    connector_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL")
    )
    type: Mapped[str] = mapped_column(String(24), default="collection")
    state: Mapped[str] = mapped_column(String(16), default="preparing")
    source: Mapped[str] = mapped_column(String(4096))
    message: Mapped[str | None] = mapped_column(Text)
    mass_change_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    objects_added: Mapped[int] = mapped_column(Integer, default=0)
    objects_updated: Mapped[int] = mapped_column(Integer, default=0)
    objects_deleted: Mapped[int] = mapped_column(Integer, default=0)
    external_import_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str | None] = mapped_column(String(255))  # "host:pid" of the running process
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IngestionError(Base):
    """A rejected row of an ingestion."""

    __tablename__ = "ingestion_errors"
    __table_args__ = (Index("ix_ingestion_errors_ingestion", "ingestion_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ingestion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ingestions.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    source_id: Mapped[str | None] = mapped_column(String(255))


class RepoChange(Base):
    """One entry of an applied change set, in the order the fan-out must send it.

    ``prior`` holds the prior values of the fields that changed (updates) or the whole prior
    object (deletes); adds have none.

    An entry with ``rows`` stands for that many adds: every row of ``kind`` (``membership``:
    memberships) in the cloud, which had none before this collection wrote them at
    ``created_at`` (migration 0013). An initial collection would otherwise log ~870,000 adds
    for 100,000 students, ~3.5 s of its writing, for rows the Repository itself already tells
    apart. :func:`interop_hub.ingest.changes.change_set` reads a change set with these entries
    spelled out.

    No foreign keys (migration 0009: a collection writes one row per change, ~870,000 for an
    initial one); the rows of a deleted cloud's ingestions are deleted with it
    (:func:`interop_hub.ingest.apply.purge_cloud`).
    """

    __tablename__ = "repo_changes"
    __table_args__ = (
        CheckConstraint("action IN ('ADD', 'UPDATE', 'DELETE')", name="action"),
        CheckConstraint(
            "(rows IS NULL AND object_id IS NOT NULL) OR (rows IS NOT NULL AND object_id IS NULL"
            " AND created_at IS NOT NULL AND action = 'ADD')",
            name="implied",
        ),
        Index("ix_repo_changes_ingestion", "ingestion_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ingestion_id: Mapped[uuid.UUID] = mapped_column()
    cloud_id: Mapped[uuid.UUID] = mapped_column()
    seq: Mapped[int] = mapped_column(Integer)
    entity: Mapped[str] = mapped_column(String(16))  # "object" | "membership"
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(24))
    subtype: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(8))
    prior: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rows: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RememberedLines(Base):
    """The lines of one file that a cloud's last applied collection accepted
    (:mod:`interop_hub.ingest.oneroster.lines`): an 8-byte key per line and the lines'
    ``sourcedId``s, newline-separated, in the file's order.

    ``seq`` 0 holds them whole; each later ``seq`` holds only how the next collection's lines
    differ from those before (``stretches``: packed pairs of a position and a length to copy
    from them, or -1 and the number of lines of this row's ``keys``/``source_ids`` to take).
    A nightly changes ~1 % of the lines: it writes kilobytes, not the ~35 MB of a
    100,000-student district; every few nights the lines are written whole again
    (:mod:`interop_hub.ingest.remembered`).

    Every applied collection writes a row for each file it remembers (and drops the rows of
    the others), in the transaction that applies it, so the newest rows describe the
    Repository as it is; ``ingestion_id`` says which collection wrote a row. Stored
    uncompressed on PostgreSQL (migration 0011): the keys do not compress, and compressing ~30
    MB of ids costs more than it saves.
    """

    __tablename__ = "ingest_remembered_lines"

    cloud_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clouds.id", ondelete="CASCADE"), primary_key=True
    )
    file: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingestion_id: Mapped[uuid.UUID] = mapped_column()
    context: Mapped[str] = mapped_column(Text)
    keys: Mapped[bytes] = mapped_column(LargeBinary)
    source_ids: Mapped[str] = mapped_column(Text)
    stretches: Mapped[bytes | None] = mapped_column(LargeBinary)

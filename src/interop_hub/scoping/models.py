"""A tenant's scoping: what the district selected, and what the tenant therefore sees.

``tenant_scoping`` holds the selection (schools and courses, by Repository id). A selection
names objects by id without a foreign key on purpose: when a selected school leaves the
Repository the selection stays (the tenant sees less, never the whole district) and applies
again if the school comes back (its id derives from its source id).

``tenant_visible`` is the selection worked out against the Repository: every object the tenant
sees (section memberships are seen when their person and section are). It holds rows only for a
scoped tenant — a tenant without a selection sees the whole district — and is refreshed after
every collection of the cloud and every change of the selection (:mod:`.service`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow

SCOPING_KINDS = ("school", "course")


class TenantScoping(Base):
    __tablename__ = "tenant_scoping"
    __table_args__ = (CheckConstraint("kind IN ('school', 'course')", name="kind"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    selected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantVisible(Base):
    __tablename__ = "tenant_visible"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

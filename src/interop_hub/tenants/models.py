from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

OP_STATES = ("setup", "active", "suspended", "uninstalled")


class Tenant(Base):
    """One Integration version installed in one Cloud, with its own actor.

    ``op_state``: ``setup`` after install (setup mode: only lifecycle tasks), ``active``,
    ``suspended``, ``uninstalled`` (kept for history; its actor is revoked).
    """

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(
            "op_state IN ('setup', 'active', 'suspended', 'uninstalled')", name="op_state"
        ),
        Index(
            "uq_tenants_installed_cloud_integration",
            "cloud_id",
            "integration_id",
            unique=True,
            sqlite_where=text("op_state <> 'uninstalled'"),
            postgresql_where=text("op_state <> 'uninstalled'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cloud_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clouds.id", ondelete="CASCADE"), index=True
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_versions.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    op_state: Mapped[str] = mapped_column(String(16), default="setup")
    setup_state: Mapped[str] = mapped_column(String(16), default="pending")
    license_status: Mapped[str] = mapped_column(String(16), default="active")
    license_valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    license_valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    app_auth_enc: Mapped[str | None] = mapped_column(Text)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    task_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The last task sequence allocated to this tenant (see :mod:`interop_hub.tasks.queue`)."""
    delivery_paused: Mapped[str | None] = mapped_column(String(32))
    """Why task delivery is paused (``reauthenticate``: the app's credentials must be set up
    again), or None."""
    rollover_mode_enabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """True while one of the tenant's rollovers is active: its data events are held (see
    :mod:`interop_hub.rollovers`)."""

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
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

OP_STATES = ("setup", "active", "suspended", "uninstalled")
AUTH_STATES = ("unspecified", "updating", "confirmed", "error")
SESSION_STATES = ("updating", "confirmed", "error", "superseded")


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
    """The application's active credentials (``auth_props``): a JSON object, encrypted."""
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
    deliver_tasks: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """False: nothing is delivered to the tenant (its tasks wait, in order) until it is true."""
    validate_tasks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    app_options: Mapped[dict[str, str] | None] = mapped_column(JSON)
    """The application's configuration options (``options``), set by the district."""
    auth_state: Mapped[str] = mapped_column(
        String(16), default="unspecified", server_default="unspecified"
    )
    auth_state_pending: Mapped[str] = mapped_column(
        String(16), default="unspecified", server_default="unspecified"
    )
    auth_session_id_pending: Mapped[uuid.UUID | None] = mapped_column()
    """The authentication session that is ``updating`` (None when none is)."""
    auth_message: Mapped[str | None] = mapped_column(Text)
    app_auth_pending_enc: Mapped[str | None] = mapped_column(Text)
    """The credentials being tried (``auth_props_pending``): a JSON object, encrypted."""


class TenantAuthSession(Base):
    """The audit trail of a tenant application's authentication sessions (DESIGN §3.7): who
    opened each, when, which properties it set (names only), and how and when it closed."""

    __tablename__ = "tenant_auth_sessions"
    __table_args__ = (
        CheckConstraint("state IN ('updating', 'confirmed', 'error', 'superseded')", name="state"),
        Index("ix_tenant_auth_sessions_tenant", "tenant_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    """The session id (``auth_session_id_pending``, the authenticate task's ``session_id``);
    time-ordered, so the newest session has the largest id."""
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="updating")
    properties: Mapped[list[Any]] = mapped_column(JSON)
    """The names of the properties the session set (never their values)."""
    task_id: Mapped[uuid.UUID | None] = mapped_column()
    """Its authenticate task."""
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

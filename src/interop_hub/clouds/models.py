from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

ACTOR_TYPES = ("connector", "integration", "repository", "application")
CONNECTOR_TYPES = ("oneroster-csv",)


class Cloud(Base):
    """One district's hub. ``generation`` counts its versions."""

    __tablename__ = "clouds"
    __table_args__ = (CheckConstraint("generation >= 1", name="generation_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    userdata: Mapped[str | None] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    env: Mapped[str] = mapped_column(String(32), default="production")
    last_collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    render_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Which task payloads still render the Repository as it is (see ``TaskPayload``)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Actor(Base):
    """Something installed in a cloud with its own OAuth2 client credentials.

    The client secret is stored encrypted (the spec returns it with ``include_credentials``).
    """

    __tablename__ = "actors"
    __table_args__ = (
        CheckConstraint(
            "type IN ('connector', 'integration', 'repository', 'application')", name="type"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cloud_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clouds.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    connector_type: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_enc: Mapped[str] = mapped_column(Text)
    secret_updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

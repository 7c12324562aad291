"""Interop Clouds and Actors (#1–#7)."""

from __future__ import annotations

import datetime as dt
import uuid

from interop_hub.client.models.base import Model


class Cloud(Model):
    id: uuid.UUID
    name: str
    userdata: str | None = None
    generation: int = 1
    account_id: uuid.UUID | None = None
    env: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class ActorAuth(Model):
    type: str = "oauth2"
    client_id: str
    client_secret: str | None = None
    """Only where the caller may see it, with ``include_credentials``."""
    updated_at: dt.datetime | None = None


class Actor(Model):
    id: uuid.UUID
    name: str
    type: str
    """``connector``, ``integration``, ``repository`` or ``application``."""
    connector_type: str | None = None
    cloud_id: uuid.UUID | None = None
    auth: ActorAuth | None = None
    created_at: dt.datetime | None = None

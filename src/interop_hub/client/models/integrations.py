"""Integrations and their versions (#8–#17)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from interop_hub.client.models.base import Model


class Integration(Model):
    id: uuid.UUID
    name: str
    title: str | None = None
    version: str | None = None
    account_id: uuid.UUID | None = None
    lti_developer_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class IntegrationVersion(Model):
    version: str
    title: str | None = None
    release_state: str = "unspecified"
    """``unspecified``, ``development``, ``beta``, ``released`` or ``deprecated``."""
    id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None
    topics: list[str] = Field(default_factory=list)
    """The topics the version's blueprint subscribes to."""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

"""Tenants: TenantInfo (#18–#20), TenantState (#21) and the Tenant Application (#34–#35)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from interop_hub.client.models.base import Model
from interop_hub.client.models.clouds import ActorAuth


class TenantAccount(Model):
    id: uuid.UUID
    name: str
    public_id: str | None = None
    timezone: str | None = None
    userdata: str | None = None


class CloudEnv(Model):
    id: uuid.UUID
    name: str


class TenantCloud(Model):
    id: uuid.UUID
    name: str
    generation: int | None = None
    env: CloudEnv | None = None


class TenantIntegration(Model):
    id: uuid.UUID
    name: str
    version: str | None = None


class TenantLicense(Model):
    status: str
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None


class TenantStatus(Model):
    op_state: str
    setup_state: str | None = None
    last_sync_at: dt.datetime | None = None


class AppAuth(Model):
    scheme: str | None = None
    token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None


class TenantInfo(Model):
    id: uuid.UUID
    name: str
    actor_id: uuid.UUID
    account: TenantAccount | None = None
    """The district account that owns the cloud."""
    cloud: TenantCloud | None = None
    integration: TenantIntegration | None = None
    license: TenantLicense | None = None
    status: TenantStatus | None = None
    sis_status: TenantStatus | None = None
    auth: ActorAuth | None = None
    app_auth: AppAuth | None = None
    lti_developer_id: str | None = None


class TenantState(Model):
    rollover_mode_enabled: bool
    synchronization_suspended: bool
    setup_mode_enabled: bool
    mass_change_pending: bool
    delivery_paused: str | None = None
    """Why task delivery is paused (a hub extension), or None."""
    reason: str | None = None
    """In words, why data events are not delivered now (a hub extension)."""


class TenantApplication(Model):
    account_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    deliver_tasks: bool | None = None
    validate_tasks: bool | None = None
    auth_type: str | None = None
    auth_state: str | None = None
    options: dict[str, Any] | None = None
    auth_props: dict[str, Any] | None = None
    auth_session_id_pending: uuid.UUID | None = None
    auth_message: str | None = None
    auth_props_pending: dict[str, Any] | None = None
    auth_state_pending: str | None = None

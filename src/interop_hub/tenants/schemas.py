from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from interop_hub.clouds.schemas import ActorAuth


class TenantAccount(BaseModel):
    id: uuid.UUID
    name: str
    public_id: str
    timezone: str
    userdata: str | None


class CloudEnv(BaseModel):
    id: uuid.UUID
    name: str


class TenantCloud(BaseModel):
    id: uuid.UUID
    name: str
    generation: int
    env: CloudEnv


class TenantIntegration(BaseModel):
    id: uuid.UUID
    name: str
    version: str


class TenantLicense(BaseModel):
    status: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None


class TenantStatus(BaseModel):
    op_state: str
    setup_state: str
    last_sync_at: dt.datetime | None


class AppAuth(BaseModel):
    scheme: str | None = None
    token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None


class TenantInfo(BaseModel):
    """The public view of a tenant: the union of both pages of the spec."""

    id: uuid.UUID
    name: str
    actor_id: uuid.UUID
    account: TenantAccount = Field(description="The district account that owns the cloud")
    cloud: TenantCloud
    integration: TenantIntegration
    license: TenantLicense
    status: TenantStatus
    sis_status: TenantStatus
    auth: ActorAuth
    app_auth: AppAuth | None
    lti_developer_id: str | None


class TenantState(BaseModel):
    rollover_mode_enabled: bool
    synchronization_suspended: bool
    setup_mode_enabled: bool
    mass_change_pending: bool
    delivery_paused: str | None = Field(
        default=None, description="Why task delivery is paused (extension), or null"
    )
    reason: str | None = Field(
        default=None, description="In words, why data events are not delivered now (extension)"
    )

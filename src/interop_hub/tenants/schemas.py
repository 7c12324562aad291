from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from interop_hub.clouds.schemas import ActorAuth
from interop_hub.kit.types import SafeStr


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


# --- the tenant application (#34, #35) and its operator side -------------------------------------

PropName = Annotated[SafeStr, StringConstraints(min_length=1, max_length=100)]
PropValue = Annotated[SafeStr, StringConstraints(max_length=10_000)]
Props = Annotated[dict[PropName, PropValue], Field(max_length=50)]
"""Application properties and options: names to text (the spec's ``{"ANY": "text"}``)."""


class TenantApplication(BaseModel):
    """#34: the tenant application's authentication and configuration. ``validate_tasks`` is
    the compact page's; the fields with ``_pending`` belong to the authentication session."""

    account_id: uuid.UUID = Field(description="The district account that owns the cloud")
    tenant_id: uuid.UUID
    deliver_tasks: bool
    validate_tasks: bool
    auth_type: str = Field(
        description="From the blueprint: oauth2, basic, api_key, none or unspecified"
    )
    auth_state: str = Field(description="unspecified, confirmed (or error)")
    options: dict[str, str]
    auth_props: dict[str, str]
    auth_session_id_pending: uuid.UUID | None
    auth_message: str | None
    auth_props_pending: dict[str, str]
    auth_state_pending: str = Field(description="unspecified, updating, confirmed or error")


READ_ONLY = frozenset(
    set(TenantApplication.model_fields)
    - {"auth_message", "auth_state_pending", "auth_props_pending", "auth_session_id_pending"}
)


class ApplicationUpdate(BaseModel):
    """#35: what the driver may change during an authentication session."""

    model_config = ConfigDict(extra="forbid")

    auth_message: SafeStr | None = Field(default=None, max_length=4000)
    auth_state_pending: str | None = Field(default=None, description="confirmed or error")
    auth_props_pending: Props | None = Field(
        default=None, description="Merged into the pending properties"
    )
    auth_session_id_pending: uuid.UUID | None = Field(
        default=None,
        description="Read-only; when given, the session this answers (409 if it is not the one "
        "updating)",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            named = sorted(READ_ONLY & set(value))
            if named:
                raise ValueError(f"read-only, cannot be changed here: {', '.join(named)}")
        return value


class ApplicationSettings(BaseModel):
    """The district's settings of a tenant application (operator surface); an omitted field
    keeps its value, ``options`` replaces the options."""

    model_config = ConfigDict(extra="forbid")

    deliver_tasks: bool | None = None
    validate_tasks: bool | None = None
    options: Props | None = None


class AuthSessionOpen(BaseModel):
    """New credentials for the tenant's application: they become ``auth_props_pending`` and the
    driver is asked to check them (an ``authenticate`` task)."""

    model_config = ConfigDict(extra="forbid")

    auth_props: Props = Field(min_length=1)


class AuthSessionOut(BaseModel):
    """One authentication session, from the audit trail (property names, never values)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    state: str = Field(description="updating, confirmed, error or superseded")
    properties: list[str]
    task_id: uuid.UUID | None = Field(description="Its authenticate task")
    opened_by: str
    opened_at: dt.datetime
    message: str | None
    closed_by: str | None
    closed_at: dt.datetime | None

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from interop_hub.kit.types import SafeStr


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeStr = Field(min_length=1, max_length=200)
    type: Literal["developer", "education_agency", "operator"]
    timezone: SafeStr = Field(default="UTC", min_length=1, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as UTC)") from exc
        return value

    userdata: SafeStr | None = Field(default=None, max_length=10_000)


class AccountOut(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    public_id: str
    timezone: str
    userdata: str | None
    created_at: dt.datetime


class AccountWithKey(AccountOut):
    api_key: str = Field(description="Shown once; only a digest is stored")


class ApiKeyOut(BaseModel):
    account_id: uuid.UUID
    api_key: str = Field(description="Shown once; only a digest is stored")


class ConnectorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["oneroster-csv"]
    source: SafeStr = Field(min_length=1, max_length=4096, description="A folder or a .zip bundle")
    name: SafeStr | None = Field(default=None, max_length=200)


class ConnectorOut(BaseModel):
    id: uuid.UUID
    cloud_id: uuid.UUID
    name: str
    type: str
    connector_type: str
    source: str
    client_id: str
    client_secret: str


class TenantInstall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: uuid.UUID
    integration_id: uuid.UUID
    version: SafeStr | None = Field(default=None, min_length=1, max_length=64)


class InstalledTenant(BaseModel):
    id: uuid.UUID
    actor_id: uuid.UUID
    client_id: str
    client_secret: str
    cloud_id: uuid.UUID
    integration_id: uuid.UUID
    version: str
    name: str
    op_state: str


class ResendOut(BaseModel):
    tenant_id: uuid.UUID
    tasks_queued: int


class QueuedTaskOut(BaseModel):
    """A task waiting in a tenant's queue, as the operator sees it: with its delivery state
    (``deliveries``, ``leased_until``, ``available_at``), which the vendor's view leaves out."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    sequence: int
    type: str
    action: str | None
    origin: str | None
    group_id: uuid.UUID | None
    object_id: uuid.UUID | None
    object_type: str | None
    label: str | None
    app_id: str | None = Field(description="The app's own id for the object, from an ack")
    data: Any = Field(description="As the tenant's driver receives it")
    changes: dict[str, Any] | None
    created_at: dt.datetime
    deliveries: int
    leased_until: dt.datetime | None = Field(description="Leased to a driver until then")
    available_at: dt.datetime | None = Field(description="Held until then after a retry ack")

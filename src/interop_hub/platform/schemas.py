from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: Literal["developer", "education_agency", "operator"]
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    userdata: str | None = Field(default=None, max_length=10_000)


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
    source: str = Field(min_length=1, max_length=4096, description="A folder or a .zip bundle")
    name: str | None = Field(default=None, max_length=200)


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
    version: str | None = Field(default=None, min_length=1, max_length=64)


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

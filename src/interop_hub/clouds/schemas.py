from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from interop_hub.kit.types import INT32_MAX, SafeStr


class CloudCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: SafeStr = Field(min_length=1, max_length=200)
    userdata: SafeStr | None = Field(default=None, max_length=10_000)
    generation: int = Field(default=1, ge=1, le=INT32_MAX)


class CloudOut(BaseModel):
    id: uuid.UUID
    name: str
    userdata: str | None
    generation: int
    account_id: uuid.UUID
    env: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ActorAuth(BaseModel):
    type: str = "oauth2"
    client_id: str
    client_secret: str | None = Field(
        default=None, description="Only with include_credentials (or where the spec returns it)"
    )
    updated_at: dt.datetime


class ActorOut(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    connector_type: str | None
    cloud_id: uuid.UUID
    auth: ActorAuth
    created_at: dt.datetime

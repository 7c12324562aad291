from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interop_hub.kit.types import SafeStr

ReleaseState = Literal["unspecified", "development", "beta", "released", "deprecated"]


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: SafeStr = Field(min_length=1, max_length=200)
    title: SafeStr | None = Field(default=None, max_length=200)
    version: SafeStr | None = Field(default=None, min_length=1, max_length=64)


class IntegrationUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: SafeStr | None = Field(default=None, min_length=1, max_length=200)
    title: SafeStr | None = Field(default=None, max_length=200)
    version: SafeStr | None = Field(default=None, min_length=1, max_length=64)


class IntegrationOut(BaseModel):
    id: uuid.UUID
    name: str
    title: str | None
    version: str | None
    account_id: uuid.UUID
    lti_developer_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class IntegrationVersionUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: SafeStr | None = Field(default=None, min_length=1, max_length=64)
    title: SafeStr | None = Field(default=None, max_length=200)
    release_state: ReleaseState | None = None


class IntegrationVersionOut(BaseModel):
    id: uuid.UUID
    integration_id: uuid.UUID
    version: str
    title: str | None
    release_state: str
    topics: list[str] = Field(description="The canonical topics the blueprint subscribes to")
    created_at: dt.datetime
    updated_at: dt.datetime

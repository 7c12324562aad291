from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

INT32_MAX = 2**31 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it on every backend instead of failing with a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]


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

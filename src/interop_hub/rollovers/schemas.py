"""Request and response bodies of the rollover operations (#36–#41)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

RolloverType = Literal["new_year"]
RolloverStatus = Literal["upcoming", "active", "completed", "failed"]


class RolloverWrite(BaseModel):
    """What a client sets: ``name``, ``type`` and the window. The hub owns ``status``,
    ``failure_reason``, ``status_change_failure_count`` and the stamps; they (and anything else
    the spec's body shows, e.g. ``metadata``) are ignored, so that a client that echoes a whole
    rollover back is understood. ``cloud_id`` and ``actor_id``, when given, must be those of the
    calling tenant."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    type: RolloverType = "new_year"
    start_date: dt.datetime = Field(description="Start of the window (UTC if no offset is given)")
    end_date: dt.datetime = Field(description="End of the window, after its start")
    cloud_id: uuid.UUID | None = Field(default=None, description="The tenant's cloud, if given")
    actor_id: uuid.UUID | None = Field(default=None, description="The tenant's actor, if given")

    @field_validator("name")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("start_date", "end_date")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    @model_validator(mode="after")
    def _window(self) -> RolloverWrite:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class RolloverCreate(RolloverWrite):
    pass


class RolloverUpdate(RolloverWrite):
    version: StrictInt = Field(
        ge=1,
        description="The `version` of the rollover as the client read it; if the rollover has "
        "changed since (another client, or the hub starting or ending it), the update is "
        "refused with 409 and nothing changes.",
    )


class RolloverStamps(BaseModel):
    created: dt.datetime
    updated: dt.datetime


class RolloverOut(BaseModel):
    id: uuid.UUID
    cloud_id: uuid.UUID
    actor_id: uuid.UUID
    name: str
    type: RolloverType
    start_date: dt.datetime
    end_date: dt.datetime
    status: RolloverStatus
    status_change_failure_count: int = Field(
        description="How many times the hub failed to start the rollover"
    )
    failure_reason: str | None = Field(
        description="Why the rollover is failed (e.g. alreadyInRolloverMode, tenantNotActive)"
    )
    version: int = Field(description="Grows with every change; send it back to update (#40)")
    metadata: RolloverStamps
    created_at: dt.datetime
    updated_at: dt.datetime

"""Request and response bodies of the schedule operations (#42–#48)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator


class ScheduleCreate(BaseModel):
    """Only ``hour`` is taken (spec: "only the hour field is expected"); anything else is
    ignored, so a client that echoes a whole schedule back still creates one."""

    model_config = ConfigDict(extra="ignore")

    # Strict: "3" or 3.0 is not an hour; the spec types it as an integer.
    hour: StrictInt = Field(ge=0, le=23, description="Hour of the day, in UTC (0–23)")


class ScheduleUpdate(BaseModel):
    """Only ``enabled`` may be updated; any other field is a 400 rather than silently
    ignored, so that a client believing it moved a schedule's hour learns it did not."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None  # absent: no change

    @field_validator("enabled", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be true or false, not null")
        return value


class ScheduleOut(BaseModel):
    id: uuid.UUID
    cloud_id: uuid.UUID
    type: str
    hour: int
    days: str
    enabled: bool
    last_executed_at: dt.datetime | None
    metadata: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

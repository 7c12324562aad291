"""Request and response shapes of the task endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AckStatus = Literal["success", "error", "retry", "reauthenticate"]


class AckIn(BaseModel):
    """A TaskAck. ``task_id`` is required when several acks are sent in one request."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    task_id: uuid.UUID | None = None
    status: AckStatus | None = Field(
        default=None, description="Task processing status (default: success)"
    )
    message: str | None = Field(default=None, max_length=10_000)
    app_id: str | None = Field(
        default=None,
        alias="$sys.app_id",
        min_length=1,
        max_length=255,
        description="The app's own id for the task's object; later events carry it as app_id",
    )
    error: Any = None
    problem: Any = None
    params: dict[str, Any] | None = None


class AckOutcome(BaseModel):
    task_id: uuid.UUID
    status: int = Field(
        description="200 when applied, 404 when the task is not yours or not outstanding"
    )
    message: str
    app_id: str | None = None


class AckResult(BaseModel):
    acknowledged: int
    failed: list[AckOutcome]


class TaskAckOut(BaseModel):
    """One entry of a tenant's acknowledgement history (operator surface)."""

    model_config = ConfigDict(from_attributes=True)

    task_id: uuid.UUID
    tenant_id: uuid.UUID
    sequence: int
    type: str
    action: str | None
    object_id: uuid.UUID | None
    status: str
    message: str | None
    error: Any
    params: dict[str, Any] | None
    app_id: str | None
    acked_by: str
    acked_at: dt.datetime

"""Request and response shapes of the task endpoints."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

import orjson
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


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PLAIN_KEYS = frozenset({"task_id", "status"})


def plain_successes(raw: bytes, most: int) -> list[str] | None:
    """The task ids of a batch of at most ``most`` acks that are each ``{"task_id": <a UUID as
    the hub writes it>, "status": "success"}`` (the status may be left out): what a driver
    sends for a batch it processed, and what :class:`AckIn` would accept as it is. None for
    any other body — one to validate as a list of :class:`AckIn`."""
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(items) is not list or not 0 < len(items) <= most:
        return None
    ids = []
    for item in items:
        if type(item) is not dict or not _PLAIN_KEYS.issuperset(item):
            return None
        task_id, status = item.get("task_id"), item.get("status", "success")
        if status not in ("success", None) or type(task_id) is not str:
            return None
        if _CANONICAL_UUID.fullmatch(task_id) is None:
            return None
        ids.append(task_id)
    return ids

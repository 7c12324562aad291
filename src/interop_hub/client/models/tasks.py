"""Tasks (#52–#59): the nested task shape of the Data API, its events, and acknowledgements.

A task is ``{"<type>": event, "schema": ..., "type": "<type>"}``, one key per event type; the
hub's ``flat`` schema puts the event's fields next to ``type`` instead, and is read into the same
model. ``task.event`` is the event whichever the type.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, model_validator

from interop_hub.client.models.base import Model
from interop_hub.client.models.rostering import RosterObject, roster_object

AckStatus = Literal["success", "error", "retry", "reauthenticate"]
EVENT_KEYS = (
    "lifecycle_event",
    "sync_event",
    "data_event",
    "authenticate",
    "grades_export",
    "grades_query",
    "request",
)


class Event(Model):
    id: uuid.UUID
    tenant_id: uuid.UUID
    sequence: int
    created_at: dt.datetime


class LifecycleEvent(Event):
    action: str
    """``TENANT_INSTALLED``, ``TENANT_ACTIVATED``, ``TENANT_UNINSTALLED``, ..."""


class SyncEvent(Event):
    action: str
    """``SYNC_START`` or ``SYNC_END``."""
    group_id: str | None = None
    origin: str | None = None
    """``initial``, ``ingestion`` or ``resend``."""


class DataEvent(Event):
    action: str
    """``ADD``, ``UPDATE`` or ``DELETE``."""
    object_id: str
    object_type: str
    group_id: str | None = None
    origin: str | None = None
    app_id: str | None = None
    label: str | None = None
    data: dict[str, Any] | None = None
    changes: dict[str, Any] | None = None
    """The prior values of the attributes that changed."""

    def object(self) -> RosterObject | None:
        """``data`` as the rostering model of ``object_type`` (None without data)."""
        return roster_object(self.data, self.object_type) if self.data is not None else None


class AuthenticateEvent(Event):
    session_id: str | None = None
    data: dict[str, Any] | None = None


class PayloadEvent(Event):
    """``grades_export``, ``grades_query`` and ``request`` events."""

    data: Any = None


class Task(Model):
    type: str
    task_schema: str | None = Field(default=None, alias="schema")
    lifecycle_event: LifecycleEvent | None = None
    sync_event: SyncEvent | None = None
    data_event: DataEvent | None = None
    authenticate: AuthenticateEvent | None = None
    grades_export: PayloadEvent | None = None
    grades_query: PayloadEvent | None = None
    request: PayloadEvent | None = None

    @model_validator(mode="before")
    @classmethod
    def _nest_flat(cls, value: Any) -> Any:
        """The flat schema's event fields, moved under the key of the task's type."""
        if not isinstance(value, dict):
            return value
        kind = value.get("type")
        if kind in EVENT_KEYS and kind not in value and "id" in value:
            keep = {"type", "schema"}
            event = {k: v for k, v in value.items() if k not in keep}
            return {**{k: value[k] for k in keep if k in value}, kind: event}
        return value

    @property
    def event(self) -> Event:
        found = getattr(self, self.type, None) if self.type in EVENT_KEYS else None
        if not isinstance(found, Event):
            raise ValueError(f"a task of type {self.type!r} without its event")
        return found

    @property
    def id(self) -> uuid.UUID:
        return self.event.id

    @property
    def sequence(self) -> int:
        return self.event.sequence

    def ack(
        self,
        status: AckStatus = "success",
        *,
        message: str | None = None,
        app_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> TaskAck:
        """This task's acknowledgement, for :meth:`ack_tasks`."""
        return TaskAck(
            task_id=self.id, status=status, message=message, app_id=app_id, params=params
        )


class TaskAck(Model):
    """A TaskAck: ``task_id`` is required when several are sent at once."""

    task_id: uuid.UUID | None = None
    status: AckStatus = "success"
    message: str | None = None
    app_id: str | None = Field(default=None, alias="$sys.app_id")
    """The application's own id for the task's object; later events carry it as ``app_id``."""
    error: Any = None
    problem: Any = None
    params: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class AckOutcome(Model):
    task_id: uuid.UUID
    status: int
    """200 when applied, 404 when the task is not the caller's or not outstanding."""
    message: str | None = None
    app_id: str | None = None


class AckResult(Model):
    acknowledged: int
    failed: list[AckOutcome] = Field(default_factory=list)

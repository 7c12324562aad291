"""A task's JSON in each task schema (DESIGN §4).

``nested`` (the default) is the shape of the Data API page: one key named after the task's
type holding the event, next to ``schema`` and ``type``. ``flat`` puts the event's fields at the
top level next to ``type`` and ``schema``, for drivers that prefer one level.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

SCHEMAS = ("nested", "flat")
DEFAULT_SCHEMA = "nested"


class TaskRow(Protocol):
    """A task's columns: a :class:`~interop_hub.tasks.models.Task` or a row selected with them."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def sequence(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def action(self) -> str | None: ...
    @property
    def group_id(self) -> uuid.UUID | None: ...
    @property
    def origin(self) -> str | None: ...
    @property
    def object_id(self) -> uuid.UUID | None: ...
    @property
    def object_type(self) -> str | None: ...
    @property
    def label(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def created_at(self) -> dt.datetime: ...


def event_fields(
    task: TaskRow, data: Any, changes: dict[str, Any] | None, app_id: str | None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": task.id,
        "tenant_id": task.tenant_id,
        "sequence": task.sequence,
        "created_at": task.created_at,
    }
    if task.type == "lifecycle_event":
        event["action"] = task.action
    elif task.type == "sync_event":
        event.update(action=task.action, group_id=task.group_id, origin=task.origin)
    elif task.type == "data_event":
        event.update(
            action=task.action,
            object_id=task.object_id,
            object_type=task.object_type,
            group_id=task.group_id,
            origin=task.origin,
            app_id=app_id,
            label=task.label,
            data=data,
            changes=changes,
        )
    elif task.type == "authenticate":
        event.update(data=data, session_id=task.session_id)
    else:
        event["data"] = data
    return event


def task_json(
    task: TaskRow,
    schema: str,
    *,
    data: Any = None,
    changes: dict[str, Any] | None = None,
    app_id: str | None = None,
) -> dict[str, Any]:
    event = event_fields(task, data, changes, app_id)
    if schema == "flat":
        return {"type": task.type, "schema": schema, **event}
    return {task.type: event, "schema": schema, "type": task.type}


def data_event_frame(schema: str) -> tuple[str, str]:
    """The JSON text of a data event's task around its event's fields (``"id":...``), as
    :func:`task_json` serialized by orjson puts it: for the database to write the rest."""
    if schema == "flat":
        return f'{{"type":"data_event","schema":"{schema}",', "}"
    return '{"data_event":{', f'}},"schema":"{schema}","type":"data_event"}}'

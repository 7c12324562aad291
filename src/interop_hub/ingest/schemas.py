from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interop_hub.kit.types import SafeStr


class IngestionCounts(BaseModel):
    rows_read: int
    rows_rejected: int
    objects_added: int
    objects_updated: int
    objects_deleted: int


class IngestionOut(BaseModel):
    """An ingestion with the fields of the spec, plus its outcome and counts."""

    id: uuid.UUID
    cloud_id: uuid.UUID
    type: str
    state: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    external_import_ids: list[str]
    has_pending_task: bool
    mass_change_pending: bool
    message: str | None
    counts: IngestionCounts
    metadata: dict[str, Any]


class RowErrorOut(BaseModel):
    file: str
    line: int
    column: str | None
    reason: str
    source_id: str | None


class IngestionStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: SafeStr | None = Field(
        default=None,
        max_length=4096,
        description="A folder or .zip on the server; default: the cloud's connector source",
    )

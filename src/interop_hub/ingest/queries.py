"""Reading ingestions and their row errors, as the caller may see them."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from interop_hub.auth.access import clouds_visible
from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import Cloud
from interop_hub.ingest.models import Ingestion, IngestionError
from interop_hub.ingest.schemas import IngestionCounts, IngestionOut, RowErrorOut
from interop_hub.kit.errors import NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate

PENDING = ("preparing", "scheduled", "executing")


def ingestion_out(ingestion: Ingestion) -> IngestionOut:
    return IngestionOut(
        id=ingestion.id,
        cloud_id=ingestion.cloud_id,
        type=ingestion.type,
        state=ingestion.state,
        started_at=ingestion.started_at,
        finished_at=ingestion.finished_at,
        external_import_ids=list(ingestion.external_import_ids or []),
        has_pending_task=ingestion.state in PENDING,
        mass_change_pending=ingestion.mass_change_pending,
        message=ingestion.message,
        counts=IngestionCounts(
            rows_read=ingestion.rows_read,
            rows_rejected=ingestion.rows_rejected,
            objects_added=ingestion.objects_added,
            objects_updated=ingestion.objects_updated,
            objects_deleted=ingestion.objects_deleted,
        ),
        metadata={"scheduled": ingestion.details.get("scheduled")},
    )


def error_out(error: IngestionError) -> RowErrorOut:
    return RowErrorOut.model_validate(error, from_attributes=True)


def list_ingestions(session: Session, p: Principal, req: PageRequest) -> Page[Ingestion]:
    stmt = select(Ingestion).join(Cloud, Cloud.id == Ingestion.cloud_id).where(clouds_visible(p))
    return paginate(session, stmt, [Ingestion.id], req)


def count_ingestions(session: Session, p: Principal) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Ingestion)
        .join(Cloud, Cloud.id == Ingestion.cloud_id)
        .where(clouds_visible(p))
    )
    return int(count or 0)


def find_ingestion(session: Session, p: Principal, ingestion_id: uuid.UUID) -> Ingestion:
    found = session.scalar(
        select(Ingestion)
        .join(Cloud, Cloud.id == Ingestion.cloud_id)
        .where(Ingestion.id == ingestion_id, clouds_visible(p))
    )
    if found is None:
        raise NotFound(f"Ingestion {ingestion_id} was not found.")
    return found


def list_errors(
    session: Session, p: Principal, ingestion_id: uuid.UUID, req: PageRequest
) -> Page[IngestionError]:
    ingestion = find_ingestion(session, p, ingestion_id)
    stmt = select(IngestionError).where(IngestionError.ingestion_id == ingestion.id)
    return paginate(session, stmt, [IngestionError.id], req)

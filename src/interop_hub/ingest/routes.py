"""Interop API #49–#51 (ingestions) and their row errors (an extension)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from interop_hub.auth.dependencies import PrincipalDep, SessionDep
from interop_hub.ingest import queries
from interop_hub.ingest.schemas import IngestionOut, RowErrorOut
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, many, one
from interop_hub.kit.paging import PageRequest, paging_params

router = APIRouter(prefix="/v2/interop", tags=["Interop API: ingestions"])
Paging = Annotated[PageRequest, Depends(paging_params)]


@router.get(
    "/ingestions",
    operation_id="listIngestions",
    summary="List Ingestions",
    responses=ERROR_RESPONSES,
)
def list_ingestions(
    session: SessionDep, principal: PrincipalDep, paging: Paging
) -> ListEnvelope[IngestionOut]:
    return many(queries.list_ingestions(session, principal, paging), queries.ingestion_out)


@router.get(
    "/ingestions/count",
    operation_id="countIngestions",
    summary="Count Ingestions",
    responses=ERROR_RESPONSES,
)
def count_ingestions(session: SessionDep, principal: PrincipalDep) -> int:
    return queries.count_ingestions(session, principal)


@router.get(
    "/ingestions/{id}",
    operation_id="findIngestion",
    summary="Find an Ingestion by id",
    responses=ERROR_RESPONSES,
)
def find_ingestion(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[IngestionOut]:
    return one(queries.ingestion_out(queries.find_ingestion(session, principal, id)))


@router.get(
    "/ingestions/{id}/errors",
    operation_id="listIngestionErrors",
    summary="List an Ingestion's rejected rows (extension)",
    responses=ERROR_RESPONSES,
)
def list_errors(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep, paging: Paging
) -> ListEnvelope[RowErrorOut]:
    return many(queries.list_errors(session, principal, id, paging), queries.error_out)

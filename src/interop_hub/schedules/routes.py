"""Interop API #42–#48: the collection schedules of the caller's cloud."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, many, one
from interop_hub.kit.paging import PageRequest, paging_params
from interop_hub.schedules import service
from interop_hub.schedules.schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate

router = APIRouter(prefix="/v2/interop/tenant/schedules", tags=["Interop API: schedules"])
Paging = Annotated[PageRequest, Depends(paging_params)]

FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: ERROR_RESPONSES[400] | {"description": "Account credentials: an actor's are needed"}
}
RESPONSES = {**ERROR_RESPONSES, **FORBIDDEN}


@router.get(
    "",
    operation_id="listSchedules",
    summary="List Schedules",
    response_model=ListEnvelope[ScheduleOut],
    responses=RESPONSES,
)
def list_schedules(
    session: SessionDep, principal: PrincipalDep, paging: Paging
) -> ListEnvelope[ScheduleOut]:
    return many(service.list_schedules(session, principal, paging), service.schedule_out)


@router.post(
    "",
    operation_id="createSchedule",
    summary="Create a collection Schedule",
    status_code=201,
    response_model=DataEnvelope[ScheduleOut],
    responses={
        **RESPONSES,
        409: ERROR_RESPONSES[400] | {"description": "Overlaps another schedule of the cloud"},
    },
)
def create_schedule(
    body: ScheduleCreate, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[ScheduleOut]:
    """Only ``hour`` (0–23, UTC) is taken; the schedule collects daily at that hour."""
    return one(service.schedule_out(service.create_schedule(session, principal, body, hub.now())))


@router.get(
    "/count",
    operation_id="countSchedules",
    summary="Count Schedules",
    responses=RESPONSES,
)
def count_schedules(session: SessionDep, principal: PrincipalDep) -> int:
    return service.count_schedules(session, principal)


@router.post(
    "/{id}/run",
    operation_id="runSchedule",
    summary="Run a schedule",
    status_code=204,
    response_class=Response,
    responses={
        **RESPONSES,
        409: ERROR_RESPONSES[400]
        | {"description": "Not run: the schedule is disabled or an ingestion is pending"},
    },
)
def run_schedule(
    id: uuid.UUID, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> Response:
    """Queue a collection of the cloud's connector source now (the request body is ignored)."""
    service.run_schedule(session, principal, id, hub.now())
    return Response(status_code=204)


@router.get(
    "/{id}",
    operation_id="findSchedule",
    summary="Find a Schedule by id",
    response_model=DataEnvelope[ScheduleOut],
    responses=RESPONSES,
)
def find_schedule(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[ScheduleOut]:
    return one(service.schedule_out(service.find_schedule(session, principal, id)))


@router.patch(
    "/{id}",
    operation_id="updateSchedule",
    summary="Update Schedule (only enabled)",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
)
def update_schedule(
    id: uuid.UUID,
    body: ScheduleUpdate,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
) -> Response:
    service.update_schedule(session, principal, id, body, hub.now())
    return Response(status_code=204)


@router.delete(
    "/{id}",
    operation_id="deleteSchedule",
    summary="Delete Schedule",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
)
def delete_schedule(id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    service.delete_schedule(session, principal, id)
    return Response(status_code=204)

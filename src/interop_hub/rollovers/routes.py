"""Interop API #36–#41: the school-year rollovers of the caller's tenant."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, listing, one
from interop_hub.kit.paging import PageRequest, paging_params
from interop_hub.rollovers import service
from interop_hub.rollovers.schemas import RolloverCreate, RolloverOut, RolloverUpdate
from interop_hub.tenants.service import own_tenant

router = APIRouter(prefix="/v2/interop/tenant/rollovers", tags=["Interop API: rollovers"])
Paging = Annotated[PageRequest, Depends(paging_params)]

ERROR = ERROR_RESPONSES[400]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: ERROR | {"description": "Not a tenant's actor credentials"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: ERROR
    | {
        "description": "Overlaps another rollover of the tenant, or the rollover changed since "
        "it was read (concurrent modification)"
    }
}
ABOUT_WRITES = (
    "Only `name`, `type` (`new_year`), `start_date` and `end_date` are taken (times without an "
    "offset are UTC; the window must end after it starts); the hub owns `status`, "
    "`failure_reason` and `status_change_failure_count`, and ignores them and anything else in "
    "the body. `cloud_id` and `actor_id`, when given, must be the tenant's. Two rollovers of a "
    "tenant cannot overlap (409), except with a completed one."
)


@router.get(
    "",
    operation_id="listRollovers",
    summary="List Rollovers",
    response_model=ListEnvelope[RolloverOut],
    responses=RESPONSES,
)
def list_rollovers(
    session: SessionDep,
    principal: PrincipalDep,
    paging: Paging,
    sort: Annotated[
        str | None,
        Query(
            description="Sorting criteria: one of "
            + ", ".join(service.SORT_FIELDS)
            + f"; prefix with - for descending order (default {service.DEFAULT_SORT}).",
            examples=["-name"],
        ),
    ] = None,
) -> ListEnvelope[RolloverOut]:
    tenant = own_tenant(session, principal)
    page = service.list_rollovers(session, tenant, paging, sort)
    return listing((service.rollover_out(item, tenant) for item in page.items), page.next)


@router.post(
    "",
    operation_id="createRollover",
    summary="Create a rollover for the tenant identified by actor authentication credentials",
    status_code=201,
    response_model=DataEnvelope[RolloverOut],
    responses={**RESPONSES, **CONFLICT},
    description=f"A new rollover is `upcoming`; it must end in the future. {ABOUT_WRITES}",
)
def create_rollover(
    body: RolloverCreate, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[RolloverOut]:
    tenant = own_tenant(session, principal)
    created = service.create_rollover(session, tenant, body, hub.now())
    return one(service.rollover_out(created, tenant))


@router.get(
    "/count",
    operation_id="countRollovers",
    summary="Count Rollovers",
    responses=RESPONSES,
)
def count_rollovers(session: SessionDep, principal: PrincipalDep) -> int:
    return service.count_rollovers(session, own_tenant(session, principal))


@router.get(
    "/{id}",
    operation_id="getRollover",
    summary="Get a Rollover",
    response_model=DataEnvelope[RolloverOut],
    responses=RESPONSES,
)
def get_rollover(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[RolloverOut]:
    tenant = own_tenant(session, principal)
    return one(service.rollover_out(service.find_rollover(session, tenant, id), tenant))


@router.put(
    "/{id}",
    operation_id="updateRollover",
    summary="Update a rollover for the tenant identified by actor authentication credentials",
    response_model=DataEnvelope[RolloverOut],
    responses={**RESPONSES, **CONFLICT},
    description=(
        "**Concurrency**: send the `version` you read (a GET, or the answer to a create or an "
        "update, returns it; echoing the whole rollover back works). The update is applied only "
        "if the rollover is still at that version — checked and applied in one conditional "
        "update — and is refused with 409 (`version_mismatch`, the current version in "
        "`details`) if anyone changed it since, including the hub starting or ending it; read it "
        "again and retry. Each change increments `version`.\n\n"
        "An upcoming rollover's window must still end in the future; a failed one is re-armed "
        "(`upcoming`, its failure count reset). An active rollover keeps its `start_date` (409 "
        "`rollover_started` otherwise); moving its `end_date` to the past ends it at the "
        "worker's next run. A completed rollover cannot change (409 `rollover_completed`). "
        + ABOUT_WRITES
    ),
)
def update_rollover(
    id: uuid.UUID, body: RolloverUpdate, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[RolloverOut]:
    tenant = own_tenant(session, principal)
    updated = service.update_rollover(session, tenant, id, body, hub.now())
    return one(service.rollover_out(updated, tenant))


@router.delete(
    "/{id}",
    operation_id="deleteRollover",
    summary="Delete a rollover for the tenant identified by actor authentication credentials",
    status_code=204,
    response_class=Response,
    responses={
        **RESPONSES,
        409: ERROR | {"description": "Conflict due to trying to delete an active rollover"},
    },
)
def delete_rollover(id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    service.delete_rollover(session, own_tenant(session, principal), id)
    return Response(status_code=204)

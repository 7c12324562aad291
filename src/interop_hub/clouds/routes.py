"""Interop API #1–#7: actors and clouds."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.clouds import service
from interop_hub.clouds.schemas import ActorOut, CloudCreate, CloudOut
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, listing, many, one
from interop_hub.kit.paging import PageRequest, paging_params
from interop_hub.kit.types import INT32_MAX, SafeStr

router = APIRouter(prefix="/v2/interop", tags=["Interop API: clouds and actors"])
Paging = Annotated[PageRequest, Depends(paging_params)]
IncludeCredentials = Annotated[
    bool, Query(description="Include actor credentials (only those the caller may see)")
]


@router.get(
    "/actors",
    operation_id="listActors",
    summary="List Actors",
    response_model=ListEnvelope[ActorOut],
    responses=ERROR_RESPONSES,
)
def list_actors(
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    paging: Paging,
    include_credentials: IncludeCredentials = False,
) -> ListEnvelope[ActorOut]:
    page = service.list_actors(session, principal, paging)
    data = service.actors_out(
        session, principal, page.items, hub.keyring, include_credentials=include_credentials
    )
    return listing(data, page.next)


@router.get(
    "/clouds",
    operation_id="listClouds",
    summary="List Interop Clouds",
    response_model=ListEnvelope[CloudOut],
    responses=ERROR_RESPONSES,
)
def list_clouds(
    session: SessionDep, principal: PrincipalDep, paging: Paging
) -> ListEnvelope[CloudOut]:
    return many(service.list_clouds(session, principal, paging), service.cloud_out)


@router.post(
    "/clouds",
    operation_id="createCloud",
    summary="Create an Interop Cloud",
    response_model=DataEnvelope[CloudOut],
    responses=ERROR_RESPONSES,
)
def create_cloud(
    body: CloudCreate, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[CloudOut]:
    return one(service.cloud_out(service.create_cloud_for(session, principal, body)))


@router.get(
    "/clouds/search",
    operation_id="searchClouds",
    summary="Search Interop Clouds",
    response_model=ListEnvelope[CloudOut],
    responses=ERROR_RESPONSES,
)
def search_clouds(
    session: SessionDep,
    principal: PrincipalDep,
    paging: Paging,
    generation: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="Clouds of this generation")
    ] = None,
    userdata: Annotated[SafeStr | None, Query(description="Clouds with this userdata")] = None,
    name: Annotated[SafeStr | None, Query(description="Clouds with this name")] = None,
) -> ListEnvelope[CloudOut]:
    page = service.search_clouds(
        session, principal, paging, generation=generation, userdata=userdata, name=name
    )
    return many(page, service.cloud_out)


@router.get(
    "/clouds/{id}",
    operation_id="findCloud",
    summary="Find an Interop Cloud",
    response_model=DataEnvelope[CloudOut],
    responses=ERROR_RESPONSES,
)
def find_cloud(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[CloudOut]:
    return one(service.cloud_out(service.find_cloud(session, principal, id)))


@router.delete(
    "/clouds/{id}",
    operation_id="deleteCloud",
    summary="Delete an Interop Cloud",
    status_code=204,
    response_class=Response,
    responses={**ERROR_RESPONSES, 409: ERROR_RESPONSES[400] | {"description": "Tenants installed"}},
)
def delete_cloud(id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    service.delete_cloud(session, principal, id)
    return Response(status_code=204)


@router.get(
    "/clouds/{id}/actors",
    operation_id="listActorsByCloud",
    summary="List all Actors in an Interop Cloud",
    response_model=ListEnvelope[ActorOut],
    responses=ERROR_RESPONSES,
)
def list_cloud_actors(
    id: uuid.UUID,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    paging: Paging,
    include_credentials: IncludeCredentials = False,
) -> ListEnvelope[ActorOut]:
    page = service.list_cloud_actors(session, principal, id, paging)
    data = service.actors_out(
        session, principal, page.items, hub.keyring, include_credentials=include_credentials
    )
    return listing(data, page.next)

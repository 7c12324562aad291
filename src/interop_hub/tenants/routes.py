"""Interop API #18–#21: tenants visible to the caller; #34–#35: the tenant application."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, listing, one
from interop_hub.kit.paging import PageRequest, paging_params
from interop_hub.tenants import application, service
from interop_hub.tenants.schemas import (
    ApplicationUpdate,
    TenantApplication,
    TenantInfo,
    TenantState,
)

router = APIRouter(prefix="/v2/interop", tags=["Interop API: tenants"])
Paging = Annotated[PageRequest, Depends(paging_params)]


@router.get(
    "/tenants",
    operation_id="listInteropTenants",
    summary="List Interop Tenants",
    response_model=ListEnvelope[TenantInfo],
    responses=ERROR_RESPONSES,
)
def list_tenants(
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    paging: Paging,
    accounts: Annotated[
        list[str] | None, Query(description="Only tenants in clouds of these accounts")
    ] = None,
    integration: Annotated[
        list[str] | None, Query(description="Only tenants of these integrations (ids or names)")
    ] = None,
    integrations: Annotated[
        list[str] | None, Query(description="Same as integration (older spelling)")
    ] = None,
) -> ListEnvelope[TenantInfo]:
    page = service.list_tenants(
        session,
        principal,
        paging,
        accounts=service.parse_id_list(accounts, "accounts"),
        integrations=service.split_list([*(integration or ()), *(integrations or ())]),
    )
    return listing(service.tenant_infos(session, principal, page.items, hub.keyring), page.next)


@router.get(
    "/tenants/{id}",
    operation_id="findInteropTenant",
    summary="Find Interop Tenant",
    response_model=DataEnvelope[TenantInfo],
    responses=ERROR_RESPONSES,
)
def find_tenant(
    id: uuid.UUID, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[TenantInfo]:
    tenant = service.find_tenant(session, principal, id)
    return one(service.tenant_infos(session, principal, [tenant], hub.keyring)[0])


@router.get(
    "/tenant",
    operation_id="findInteropTenantByActor",
    summary="Find Interop Tenant by actor authentication credentials",
    response_model=DataEnvelope[TenantInfo],
    responses=ERROR_RESPONSES,
)
def find_own_tenant(
    session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[TenantInfo]:
    tenant = service.own_tenant(session, principal)
    return one(service.tenant_infos(session, principal, [tenant], hub.keyring)[0])


@router.get(
    "/tenant/state",
    operation_id="getTenantState",
    summary="Get tenant state by actor authentication credentials",
    response_model=DataEnvelope[TenantState],
    responses=ERROR_RESPONSES,
)
def tenant_state(session: SessionDep, principal: PrincipalDep) -> DataEnvelope[TenantState]:
    """Whether the tenant's data events are held, and why (``reason``)."""
    return one(service.tenant_state(session, service.own_tenant(session, principal)))


@router.get(
    "/tenant/application",
    operation_id="getTenantApplication",
    summary="Get Tenant Application",
    response_model=DataEnvelope[TenantApplication],
    responses=ERROR_RESPONSES,
)
def get_application(
    session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[TenantApplication]:
    """The application's authentication (as the blueprint defines it) and options; the
    credentials in clear, for the tenant's own driver."""
    tenant = service.own_tenant(session, principal)
    return one(application.view(session, hub.keyring, tenant, reveal=True))


@router.patch(
    "/tenant/application",
    operation_id="updateTenantApplication",
    summary="Update Tenant Application (auth setup workflow)",
    status_code=204,
    response_class=Response,
    responses={**ERROR_RESPONSES, 409: {"description": "No authentication session is updating"}},
)
def update_application(
    body: ApplicationUpdate, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> Response:
    """The driver's answer to an authentication session: ``auth_message``, the pending
    properties, and ``auth_state_pending`` ``confirmed`` (the pending properties become the
    active ones) or ``error``. 409 unless a session is ``updating``."""
    tenant = service.own_tenant(session, principal)
    application.update(session, hub.keyring, tenant.id, body, principal, hub.now())
    return Response(status_code=204)

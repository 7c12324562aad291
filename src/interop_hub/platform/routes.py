"""``/v2/platform``: the operator surface over HTTP. Every route needs an operator credential."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from interop_hub.accounts import service as accounts
from interop_hub.auth.dependencies import HubDep, OperatorDep, SessionDep
from interop_hub.clouds.schemas import CloudCreate, CloudOut
from interop_hub.ingest import service as ingest
from interop_hub.ingest.queries import ingestion_out
from interop_hub.ingest.schemas import IngestionOut, IngestionStart
from interop_hub.ingest.uploads import save_upload
from interop_hub.kit.db import write_transaction
from interop_hub.kit.envelope import (
    ERROR_RESPONSES,
    DataEnvelope,
    ListEnvelope,
    listing,
    many,
    one,
)
from interop_hub.kit.errors import BadRequest
from interop_hub.kit.paging import PageRequest, page_request_from, paging_params
from interop_hub.platform import service
from interop_hub.platform.schemas import (
    AccountCreate,
    AccountOut,
    AccountWithKey,
    ApiKeyOut,
    ConnectorCreate,
    ConnectorOut,
    InstalledTenant,
    QueuedTaskOut,
    ResendOut,
    TenantInstall,
)
from interop_hub.runtime import Hub
from interop_hub.scoping import service as scoping
from interop_hub.scoping.schemas import ScopingChanged, ScopingSelection, ScopingSelectionIn
from interop_hub.tasks.schemas import TaskAckOut
from interop_hub.tenants import application, lifecycle
from interop_hub.tenants import service as tenants
from interop_hub.tenants.schemas import (
    ApplicationSettings,
    AuthSessionOpen,
    AuthSessionOut,
    TenantApplication,
    TenantInfo,
)

router = APIRouter(
    prefix="/v2/platform",
    tags=["Platform (operator)"],
    responses={**ERROR_RESPONSES, 403: {"description": "Not an operator credential"}},
)
Paging = Annotated[PageRequest, Depends(paging_params)]


@router.post("/accounts", status_code=201, operation_id="platformCreateAccount")
def create_account(
    body: AccountCreate, session: SessionDep, _: OperatorDep
) -> DataEnvelope[AccountWithKey]:
    return one(service.create_account(session, body))


@router.get("/accounts", operation_id="platformListAccounts")
def list_accounts(
    session: SessionDep,
    _: OperatorDep,
    paging: Paging,
    type: Annotated[Literal["developer", "education_agency", "operator"] | None, Query()] = None,
) -> ListEnvelope[AccountOut]:
    return many(accounts.list_accounts(session, paging, type), service.account_out)


@router.get("/accounts/{id}", operation_id="platformFindAccount")
def find_account(id: uuid.UUID, session: SessionDep, _: OperatorDep) -> DataEnvelope[AccountOut]:
    return one(service.account_out(accounts.get_account(session, id)))


@router.post("/accounts/{id}/api-keys", status_code=201, operation_id="platformCreateApiKey")
def create_api_key(
    id: uuid.UUID,
    session: SessionDep,
    _: OperatorDep,
    label: Annotated[str | None, Body(embed=True, max_length=200)] = None,
) -> DataEnvelope[ApiKeyOut]:
    return one(service.create_api_key(session, id, label))


@router.delete(
    "/accounts/{id}/api-keys/{key_id}",
    status_code=204,
    response_class=Response,
    operation_id="platformRevokeApiKey",
)
def revoke_api_key(
    id: uuid.UUID, key_id: str, session: SessionDep, hub: HubDep, _: OperatorDep
) -> Response:
    accounts.revoke_api_key(session, id, key_id, hub.now())
    return Response(status_code=204)


@router.post("/accounts/{id}/clouds", status_code=201, operation_id="platformCreateCloud")
def create_cloud(
    id: uuid.UUID, body: CloudCreate, session: SessionDep, _: OperatorDep
) -> DataEnvelope[CloudOut]:
    return one(service.create_cloud(session, id, body))


@router.post("/clouds/{id}/connectors", status_code=201, operation_id="platformCreateConnector")
def create_connector(
    id: uuid.UUID, body: ConnectorCreate, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[ConnectorOut]:
    return one(service.create_connector(session, hub.keyring, id, body))


@router.post(
    "/clouds/{id}/ingestions",
    status_code=202,
    operation_id="platformStartIngestion",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": IngestionStart.model_json_schema()},
            }
        }
    },
)
async def start_ingestion(
    id: uuid.UUID, request: Request, hub: HubDep, _: OperatorDep
) -> DataEnvelope[IngestionOut]:
    """Queue a collection: upload a bundle (a zip body), or name a source on the server
    (JSON ``{"source": PATH}``), or send nothing to collect the cloud's connector source."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in (
        "application/zip",
        "application/octet-stream",
        "application/x-zip-compressed",
    ):
        path = await save_upload(
            request, hub.settings.data_dir / "uploads", hub.settings.max_upload_bytes
        )
        return await run_in_threadpool(_queue, hub, id, str(path), None)
    body = await request.body()
    try:
        start = IngestionStart.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise BadRequest(
            "The request body is not valid.", details=exc.errors(include_input=False)
        ) from exc
    return await run_in_threadpool(_queue, hub, id, start.source, None)


def _queue(
    hub: Hub, cloud_id: uuid.UUID, source: str | None, connector_id: uuid.UUID | None
) -> DataEnvelope[IngestionOut]:
    with write_transaction(hub.sessions) as session:
        if source is None:
            connector_id, source = ingest.connector_source(session, cloud_id)
        ingestion = ingest.queue_ingestion(
            session, cloud_id, source, now=hub.now(), connector_id=connector_id
        )
        return one(ingestion_out(ingestion))


@router.post("/ingestions/{id}/{decision}", operation_id="platformDecideIngestion")
def decide_ingestion(
    id: uuid.UUID,
    decision: Literal["approve", "reject"],
    session: SessionDep,
    hub: HubDep,
    _: OperatorDep,
) -> DataEnvelope[IngestionOut]:
    """Approve (queue again, applying everything) or reject a collection held as a mass change."""
    if decision == "approve":
        return one(ingestion_out(ingest.approve(session, id)))
    return one(ingestion_out(ingest.reject(session, id, hub.now())))


@router.post("/tenants", status_code=201, operation_id="platformInstallTenant")
def install_tenant(
    body: TenantInstall, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[InstalledTenant]:
    return one(service.install_tenant(session, hub.keyring, body, hub.now()))


@router.post("/tenants/{id}/resend", operation_id="platformResendTenant")
def resend_tenant(
    id: uuid.UUID, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[ResendOut]:
    """Send the tenant everything it sees again, as one sync with ``origin`` = ``resend``."""
    return one(service.resend(session, id, hub.now()))


@router.get("/tenants/{id}/tasks", operation_id="platformListTenantTasks")
def list_tenant_tasks(
    id: uuid.UUID,
    request: Request,
    session: SessionDep,
    hub: HubDep,
    _: OperatorDep,
    page: Annotated[int, Query(ge=0, le=2**31 - 1, description="Page number, 0-based")] = 0,
    page_size: Annotated[
        int | None, Query(ge=1, description="Page size (default and cap: MAX_TASK_PAGE_SIZE)")
    ] = None,
    cursor: Annotated[str | None, Query(description="Keyset cursor from paging.next")] = None,
) -> ListEnvelope[QueuedTaskOut]:
    """The tenant's queued tasks, oldest first, with their delivery state; nothing is leased."""
    paging = page_request_from(request, page, page_size, cursor, hub.settings.max_task_page_size)
    found = service.tenant_tasks(session, id, paging)
    return listing(found.items, found.next)


@router.get("/tenants/{id}/task-history", operation_id="platformListTenantTaskHistory")
def list_tenant_task_history(
    id: uuid.UUID, session: SessionDep, _: OperatorDep, paging: Paging
) -> ListEnvelope[TaskAckOut]:
    """The tenant's acknowledgements and admin deletes, newest first (kept
    ``TASK_HISTORY_DAYS``)."""
    found = service.task_history(session, id, paging)
    return listing(found.items, found.next)


@router.get("/tenants/{id}/application", operation_id="platformGetTenantApplication")
def get_tenant_application(
    id: uuid.UUID, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[TenantApplication]:
    """The tenant application (#34's shape), its secret properties masked."""
    tenant = lifecycle.get_tenant(session, id)
    return one(application.view(session, hub.keyring, tenant, reveal=False))


@router.patch("/tenants/{id}/application", operation_id="platformUpdateTenantApplication")
def update_tenant_application(
    id: uuid.UUID, body: ApplicationSettings, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[TenantApplication]:
    """The district's settings: ``deliver_tasks`` (false holds every task until it is true
    again), ``validate_tasks``, ``options``."""
    return one(application.change_settings(session, hub.keyring, id, body))


@router.post(
    "/tenants/{id}/application/sessions",
    status_code=201,
    operation_id="platformOpenTenantAuthSession",
    responses={409: {"description": "Uninstalled, or the blueprint declares no authentication"}},
)
def open_tenant_auth_session(
    id: uuid.UUID, body: AuthSessionOpen, session: SessionDep, hub: HubDep, principal: OperatorDep
) -> DataEnvelope[TenantApplication]:
    """Set the application's pending credentials: ``auth_state_pending`` becomes ``updating``
    under a new ``auth_session_id_pending`` and the tenant's driver gets an ``authenticate``
    task to check them (a session still updating is superseded)."""
    application.open_session(session, hub.keyring, id, dict(body.auth_props), principal, hub.now())
    tenant = lifecycle.get_tenant(session, id)
    return one(application.view(session, hub.keyring, tenant, reveal=False))


@router.get("/tenants/{id}/application/sessions", operation_id="platformListTenantAuthSessions")
def list_tenant_auth_sessions(
    id: uuid.UUID, session: SessionDep, _: OperatorDep, paging: Paging
) -> ListEnvelope[AuthSessionOut]:
    """The audit trail of the application's authentication sessions, newest first."""
    found = application.sessions(session, id, paging)
    return listing(found.items, found.next)


@router.get("/tenants/{id}/scoping", operation_id="platformGetTenantScoping")
def get_tenant_scoping(
    id: uuid.UUID, session: SessionDep, _: OperatorDep
) -> DataEnvelope[ScopingSelection]:
    """The schools and courses selected for the tenant (``whole_district``: none is)."""
    return one(ScopingSelection.model_validate(scoping.selected(session, id)))


@router.put("/tenants/{id}/scoping", operation_id="platformSetTenantScoping")
def set_tenant_scoping(
    id: uuid.UUID, body: ScopingSelectionIn, session: SessionDep, hub: HubDep, _: OperatorDep
) -> DataEnvelope[ScopingChanged]:
    """Replace the tenant's selection (schools and courses by id or source id; empty lists:
    the whole district). An activated tenant gets the difference as one sync (``origin`` =
    ``scoping``); a school or course the district does not have is 400."""
    queued = scoping.replace_selection(session, id, body.schools, body.courses, hub.now())
    found = scoping.selected(session, id)
    return one(ScopingChanged.model_validate({**found, "tasks_queued": queued}))


@router.post("/tenants/{id}/{action}", operation_id="platformTenantTransition")
def tenant_transition(
    id: uuid.UUID,
    action: Literal["activate", "suspend", "uninstall"],
    session: SessionDep,
    hub: HubDep,
    principal: OperatorDep,
) -> DataEnvelope[TenantInfo]:
    tenant = lifecycle.transition(session, id, action, hub.now())
    return one(tenants.tenant_infos(session, principal, [tenant], hub.keyring)[0])

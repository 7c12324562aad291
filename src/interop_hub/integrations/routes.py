"""Interop API #8–#17: integrations, their versions and blueprints."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.integrations import service
from interop_hub.integrations.schemas import (
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationVersionOut,
    IntegrationVersionUpdate,
)
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, many, one
from interop_hub.kit.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from interop_hub.kit.paging import PageRequest, paging_params

router = APIRouter(prefix="/v2/interop", tags=["Interop API: integrations"])
Paging = Annotated[PageRequest, Depends(paging_params)]
XML_TYPES = ("application/xml", "text/xml", "application/octet-stream", "text/plain")
XML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/xml": {"schema": {"type": "string"}}},
        "description": "An Integration Blueprint document",
    }
}
RESPONSES_WITH_409 = {**ERROR_RESPONSES, 409: {"description": "Conflict"}}


async def blueprint_body(request: Request, hub: HubDep) -> bytes:
    """The raw blueprint: an XML body (or, as some clients send it, a JSON string)."""
    limit = hub.settings.max_blueprint_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"A blueprint may be at most {limit} bytes.")
    # Read in chunks so that a body without a Content-Length (chunked) is cut off at the limit
    # instead of being buffered whole.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"A blueprint may be at most {limit} bytes.")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("The body is not valid JSON.") from exc
        if not isinstance(value, str):
            raise BadRequest("Send the blueprint as application/xml (or a JSON string).")
        return value.encode("utf-8")
    if content_type and content_type not in XML_TYPES and not content_type.endswith("+xml"):
        raise UnsupportedMediaType(
            f"The blueprint must be sent as application/xml, not {content_type}."
        )
    return body


BlueprintBody = Annotated[bytes, Depends(blueprint_body)]


@router.get(
    "/integrations",
    operation_id="listIntegrations",
    summary="List Integrations",
    response_model=ListEnvelope[IntegrationOut],
    responses=ERROR_RESPONSES,
)
def list_integrations(
    session: SessionDep,
    principal: PrincipalDep,
    paging: Paging,
    name: Annotated[str | None, Query(description="Find an Integration by name")] = None,
) -> ListEnvelope[IntegrationOut]:
    page = service.list_integrations(session, principal, paging, name)
    return many(page, service.integration_out)


@router.post(
    "/integrations",
    operation_id="createIntegration",
    summary="Create Integration",
    response_model=DataEnvelope[IntegrationOut],
    responses=RESPONSES_WITH_409,
)
def create_integration(
    body: IntegrationCreate, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[IntegrationOut]:
    return one(service.integration_out(service.create_integration(session, principal, body)))


@router.get(
    "/integrations/{id}/versions",
    operation_id="listIntegrationVersions",
    summary="List Integration Versions",
    response_model=ListEnvelope[IntegrationVersionOut],
    responses=ERROR_RESPONSES,
)
def list_versions(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep, paging: Paging
) -> ListEnvelope[IntegrationVersionOut]:
    return many(service.list_versions(session, principal, id, paging), service.version_out)


@router.post(
    "/integrations/{id}/versions",
    operation_id="createIntegrationVersion",
    summary="Create Integration Version",
    response_model=DataEnvelope[IntegrationVersionOut],
    responses=RESPONSES_WITH_409,
    openapi_extra=XML_BODY,
)
def create_version(
    id: uuid.UUID, document: BlueprintBody, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[IntegrationVersionOut]:
    return one(service.version_out(service.create_version(session, principal, id, document)))


@router.patch(
    "/integrations/{id}/versions/{version}",
    operation_id="updateIntegrationVersion",
    summary="Update Integration Version",
    status_code=204,
    response_class=Response,
    responses=ERROR_RESPONSES,
)
def update_version(
    id: uuid.UUID,
    version: str,
    body: IntegrationVersionUpdate,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    service.update_version(session, principal, id, version, body)
    return Response(status_code=204)


@router.delete(
    "/integrations/{id}/versions/{version}",
    operation_id="deleteIntegrationVersion",
    summary="Delete Integration Version",
    status_code=204,
    response_class=Response,
    responses=RESPONSES_WITH_409,
)
def delete_version(
    id: uuid.UUID, version: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    service.delete_version(session, principal, id, version)
    return Response(status_code=204)


@router.put(
    "/integrations/{id}/versions/{version}/blueprint",
    operation_id="updateIntegrationBlueprint",
    summary="Update Integration Blueprint",
    response_model=DataEnvelope[IntegrationVersionOut],
    responses=ERROR_RESPONSES,
    openapi_extra=XML_BODY,
)
def replace_blueprint(
    id: uuid.UUID,
    version: str,
    document: BlueprintBody,
    session: SessionDep,
    principal: PrincipalDep,
) -> DataEnvelope[IntegrationVersionOut]:
    updated = service.replace_blueprint(session, principal, id, version, document)
    return one(service.version_out(updated))


@router.get(
    "/integrations/{id}/versions/{version}/blueprint",
    operation_id="getIntegrationBlueprint",
    summary="Get an Integration Version's blueprint (extension)",
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {"application/xml": {}}}},
)
def get_blueprint(
    id: uuid.UUID, version: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    found = service.find_version(session, principal, id, version)
    return Response(found.blueprint_xml, media_type="application/xml")


@router.get(
    "/integrations/{id}",
    operation_id="findIntegration",
    summary="Find an Integration",
    response_model=DataEnvelope[IntegrationOut],
    responses=ERROR_RESPONSES,
)
def find_integration(
    id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DataEnvelope[IntegrationOut]:
    return one(service.integration_out(service.find_integration(session, principal, id)))


@router.patch(
    "/integrations/{id}",
    operation_id="updateIntegration",
    summary="Update Integration",
    status_code=204,
    response_class=Response,
    responses=RESPONSES_WITH_409,
)
def update_integration(
    id: uuid.UUID, body: IntegrationUpdate, session: SessionDep, principal: PrincipalDep
) -> Response:
    service.update_integration(session, principal, id, body)
    return Response(status_code=204)


@router.delete(
    "/integrations/{id}",
    operation_id="deleteIntegration",
    summary="Delete an Integration",
    status_code=204,
    response_class=Response,
    responses=RESPONSES_WITH_409,
)
def delete_integration(id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    service.delete_integration(session, principal, id)
    return Response(status_code=204)

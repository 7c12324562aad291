"""Rules for integrations, their versions and blueprints."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from interop_hub.auth.access import integrations_visible
from interop_hub.auth.principal import Principal
from interop_hub.integrations.blueprint import Blueprint, BlueprintError, parse_blueprint
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.integrations.schemas import (
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationVersionOut,
    IntegrationVersionUpdate,
)
from interop_hub.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.tenants.models import Tenant


def integration_out(integration: Integration) -> IntegrationOut:
    return IntegrationOut.model_validate(integration, from_attributes=True)


def version_out(version: IntegrationVersion) -> IntegrationVersionOut:
    return IntegrationVersionOut(
        id=version.id,
        integration_id=version.integration_id,
        version=version.version,
        title=version.title,
        release_state=version.release_state,
        topics=list(Blueprint.from_json(version.blueprint).topics),
        created_at=version.created_at,
        updated_at=version.updated_at,
    )


# The widths of IntegrationVersion.version and .title: longer values must be a 400, not a
# database error (PostgreSQL refuses them; SQLite would silently store them).
MAX_VERSION_LENGTH = 64
MAX_TITLE_LENGTH = 200


def _line_of(document: bytes, pattern: bytes) -> int | None:
    found = re.search(pattern, document)
    return None if found is None else document.count(b"\n", 0, found.start()) + 1


def read_blueprint(document: bytes) -> Blueprint:
    try:
        blueprint = parse_blueprint(document)
        if len(blueprint.version) > MAX_VERSION_LENGTH or "/" in blueprint.version:
            # A "/" would make the version unreachable at .../versions/{version}.
            raise BlueprintError(
                f"Version may be at most {MAX_VERSION_LENGTH} characters and may not contain '/'",
                _line_of(document, rb"\bVersion\s*="),
            )
        if blueprint.title is not None and len(blueprint.title) > MAX_TITLE_LENGTH:
            raise BlueprintError(
                f"<Title> may be at most {MAX_TITLE_LENGTH} characters",
                _line_of(document, rb"<(?:[\w.-]+:)?Title[\s>]"),
            )
    except BlueprintError as exc:
        raise BadRequest(
            f"The blueprint is not valid: {exc.message}",
            code="invalid_blueprint",
            details={"line": exc.line},
        ) from exc
    return blueprint


def list_integrations(
    session: Session, p: Principal, req: PageRequest, name: str | None
) -> Page[Integration]:
    stmt: Select[Any] = select(Integration).where(integrations_visible(p))
    if name is not None:
        stmt = stmt.where(Integration.name == name)
    return paginate(session, stmt, [Integration.id], req)


def find_integration(session: Session, p: Principal, integration_id: uuid.UUID) -> Integration:
    integration = session.scalar(
        select(Integration).where(Integration.id == integration_id, integrations_visible(p))
    )
    if integration is None:
        raise NotFound(f"Integration {integration_id} was not found.")
    return integration


def _owned_integration(session: Session, p: Principal, integration_id: uuid.UUID) -> Integration:
    integration = find_integration(session, p, integration_id)
    if not (p.is_operator or (p.kind == "account" and integration.account_id == p.account_id)):
        raise Forbidden("Only the integration's owner can change it.")
    return integration


def _check_name_free(session: Session, account_id: uuid.UUID, name: str) -> None:
    taken = session.scalar(
        select(Integration.id).where(Integration.account_id == account_id, Integration.name == name)
    )
    if taken is not None:
        raise Conflict(f"An integration named {name!r} already exists in this account.")


def create_integration(session: Session, p: Principal, body: IntegrationCreate) -> Integration:
    if not p.is_vendor or p.account_id is None:
        raise Forbidden("Integrations are created by developer (vendor) accounts.")
    _check_name_free(session, p.account_id, body.name)
    integration = Integration(
        account_id=p.account_id, name=body.name, title=body.title, version=body.version
    )
    session.add(integration)
    session.flush()
    return integration


def update_integration(
    session: Session, p: Principal, integration_id: uuid.UUID, body: IntegrationUpdate
) -> Integration:
    integration = _owned_integration(session, p, integration_id)
    if body.name is not None and body.name != integration.name:
        _check_name_free(session, integration.account_id, body.name)
        integration.name = body.name
    if "title" in body.model_fields_set:
        integration.title = body.title
    if body.version is not None:
        _find_version(session, integration, body.version)
        integration.version = body.version
    session.flush()
    return integration


def _installed_count(session: Session, *conditions: Any) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Tenant)
        .where(Tenant.op_state != "uninstalled", *conditions)
    )
    return int(count or 0)


def delete_integration(session: Session, p: Principal, integration_id: uuid.UUID) -> None:
    integration = _owned_integration(session, p, integration_id)
    installed = _installed_count(session, Tenant.integration_id == integration.id)
    if installed:
        raise Conflict(
            f"Integration {integration.id} is installed in {installed} tenant(s); "
            "uninstall them first.",
            details={"installed_tenants": installed},
        )
    session.delete(integration)
    session.flush()


def list_versions(
    session: Session, p: Principal, integration_id: uuid.UUID, req: PageRequest
) -> Page[IntegrationVersion]:
    integration = find_integration(session, p, integration_id)
    stmt = select(IntegrationVersion).where(IntegrationVersion.integration_id == integration.id)
    return paginate(session, stmt, [IntegrationVersion.id], req)


def _find_version(session: Session, integration: Integration, version: str) -> IntegrationVersion:
    found = session.scalar(
        select(IntegrationVersion).where(
            IntegrationVersion.integration_id == integration.id,
            IntegrationVersion.version == version,
        )
    )
    if found is None:
        raise NotFound(f"Integration {integration.id} has no version {version!r}.")
    return found


def find_version(
    session: Session, p: Principal, integration_id: uuid.UUID, version: str
) -> IntegrationVersion:
    return _find_version(session, find_integration(session, p, integration_id), version)


def create_version(
    session: Session, p: Principal, integration_id: uuid.UUID, document: bytes
) -> IntegrationVersion:
    integration = _owned_integration(session, p, integration_id)
    blueprint = read_blueprint(document)
    exists = session.scalar(
        select(IntegrationVersion.id).where(
            IntegrationVersion.integration_id == integration.id,
            IntegrationVersion.version == blueprint.version,
        )
    )
    if exists is not None:
        raise Conflict(
            f"Integration {integration.id} already has version {blueprint.version!r}; "
            "replace its blueprint with PUT .../versions/{version}/blueprint."
        )
    version = IntegrationVersion(
        integration_id=integration.id,
        version=blueprint.version,
        title=blueprint.title,
        blueprint_xml=document.decode("utf-8", errors="replace"),
        blueprint=blueprint.to_json(),
    )
    session.add(version)
    if integration.version is None or _dangling(session, integration):
        integration.version = blueprint.version
    session.flush()
    return version


def _dangling(session: Session, integration: Integration) -> bool:
    """The integration names a current version that was never uploaded."""
    found = session.scalar(
        select(IntegrationVersion.id).where(
            IntegrationVersion.integration_id == integration.id,
            IntegrationVersion.version == integration.version,
        )
    )
    return found is None


def update_version(
    session: Session,
    p: Principal,
    integration_id: uuid.UUID,
    version_name: str,
    body: IntegrationVersionUpdate,
) -> IntegrationVersion:
    integration = _owned_integration(session, p, integration_id)
    version = _find_version(session, integration, version_name)
    if body.version is not None and body.version != version.version:
        raise BadRequest(
            "A version's name comes from its blueprint and cannot be changed; "
            "create a new version instead."
        )
    if "title" in body.model_fields_set:
        version.title = body.title
    if body.release_state is not None:
        version.release_state = body.release_state
    session.flush()
    return version


def replace_blueprint(
    session: Session, p: Principal, integration_id: uuid.UUID, version_name: str, document: bytes
) -> IntegrationVersion:
    integration = _owned_integration(session, p, integration_id)
    version = _find_version(session, integration, version_name)
    blueprint = read_blueprint(document)
    if blueprint.version != version.version:
        raise BadRequest(
            f"The blueprint declares Version={blueprint.version!r} but is uploaded to version "
            f"{version.version!r}.",
            code="invalid_blueprint",
        )
    version.blueprint_xml = document.decode("utf-8", errors="replace")
    version.blueprint = blueprint.to_json()
    version.title = blueprint.title
    session.flush()
    return version


def delete_version(
    session: Session, p: Principal, integration_id: uuid.UUID, version_name: str
) -> None:
    integration = _owned_integration(session, p, integration_id)
    version = _find_version(session, integration, version_name)
    installed = _installed_count(session, Tenant.version_id == version.id)
    if installed:
        raise Conflict(
            f"Version {version.version!r} is installed in {installed} tenant(s); "
            "uninstall them first.",
            details={"installed_tenants": installed},
        )
    session.delete(version)
    session.flush()
    if integration.version == version.version:
        integration.version = session.scalar(
            select(IntegrationVersion.version)
            .where(IntegrationVersion.integration_id == integration.id)
            .order_by(IntegrationVersion.id.desc())
            .limit(1)
        )
        session.flush()

"""Tenants: the TenantInfo view (#18, #19) and the lifecycle the operator drives.

Lifecycle: ``setup`` (installed, setup mode) → ``active`` ⇄ ``suspended``; any of these →
``uninstalled`` (the actor's credentials are revoked; the row stays as history).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session, aliased

from interop_hub.accounts.models import Account
from interop_hub.auth.access import tenants_visible
from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import Actor, Cloud
from interop_hub.clouds.schemas import ActorAuth
from interop_hub.ingest.models import Ingestion
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.kit import crypto
from interop_hub.kit.errors import BadRequest, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.tasks import sealed
from interop_hub.tenants import application
from interop_hub.tenants.models import Tenant
from interop_hub.tenants.schemas import (
    AppAuth,
    CloudEnv,
    TenantAccount,
    TenantCloud,
    TenantInfo,
    TenantIntegration,
    TenantLicense,
    TenantState,
    TenantStatus,
)

ENV_NAMESPACE = uuid.UUID("6f1c4a52-3f0e-4c1e-9a43-0d4f2f6b9e11")


def list_tenants(
    session: Session,
    p: Principal,
    req: PageRequest,
    *,
    accounts: Sequence[uuid.UUID] = (),
    integrations: Sequence[str] = (),
) -> Page[Tenant]:
    # The list holds licensed, installed tenants; an uninstalled one stays findable by id.
    stmt: Select[Any] = select(Tenant).where(tenants_visible(p), Tenant.op_state != "uninstalled")
    if accounts:
        stmt = stmt.where(
            exists().where(Cloud.id == Tenant.cloud_id, Cloud.account_id.in_(list(accounts)))
        )
    if integrations:
        ids: list[uuid.UUID] = []
        names: list[str] = []
        for value in integrations:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                names.append(value)
        stmt = stmt.where(
            exists().where(
                Integration.id == Tenant.integration_id,
                or_(Integration.id.in_(ids), Integration.name.in_(names)),
            )
        )
    return paginate(session, stmt, [Tenant.id], req)


def find_tenant(session: Session, p: Principal, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id, tenants_visible(p)))
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return tenant


def own_tenant(session: Session, p: Principal) -> Tenant:
    """The tenant of the calling actor (#20, #21 and the /tenant/* operations)."""
    if p.kind != "actor" or p.tenant_id is None:
        raise Forbidden(
            "This operation identifies the tenant by its actor's credentials (a token for the "
            "tenant's client id and secret).",
            code="actor_required",
        )
    tenant = session.get(Tenant, p.tenant_id)
    if tenant is None:
        raise NotFound("The tenant of these credentials no longer exists.")
    return tenant


def tenant_state(session: Session, tenant: Tenant) -> TenantState:
    held = session.scalar(
        select(
            exists().where(
                Ingestion.cloud_id == tenant.cloud_id, Ingestion.mass_change_pending.is_(True)
            )
        )
    )
    setup = tenant.op_state == "setup"
    suspended = tenant.op_state in ("suspended", "uninstalled")
    reasons = []
    if setup:
        reasons.append("the tenant is in setup mode: an operator must activate it")
    if suspended:
        reasons.append(f"the tenant is {tenant.op_state}")
    if not tenant.deliver_tasks:
        reasons.append("the application's deliver_tasks is off: nothing is delivered")
    if tenant.delivery_paused == "reauthenticate":
        reasons.append("the application must be authenticated again (a reauthenticate ack)")
    if held:
        reasons.append("a collection is held for an operator's approval (mass change)")
    if tenant.rollover_mode_enabled:
        reasons.append("a rollover is active: data events are held until it completes")
    return TenantState(
        rollover_mode_enabled=tenant.rollover_mode_enabled,
        synchronization_suspended=(
            suspended or tenant.delivery_paused is not None or not tenant.deliver_tasks
        ),
        setup_mode_enabled=setup,
        mass_change_pending=bool(held),
        delivery_paused=tenant.delivery_paused,
        reason="; ".join(reasons) or None,
    )


def tenant_infos(
    session: Session, p: Principal, tenants: Sequence[Tenant], keyring: crypto.Keyring
) -> list[TenantInfo]:
    """TenantInfo for each tenant, loaded with one query.

    The actor's client secret goes to the operator, the integration's vendor and the actor
    itself (drivers use it to act for the tenant); the application credentials also go to the
    district that owns the cloud. Everyone else sees them redacted.
    """
    if not tenants:
        return []
    district = aliased(Account)
    connector = aliased(Actor)
    has_connector = (
        exists()
        .where(connector.cloud_id == Cloud.id, connector.type == "connector")
        .correlate(Cloud)
    )
    rows = session.execute(
        select(Tenant, Cloud, district, Integration, IntegrationVersion, Actor, has_connector)
        .join(Cloud, Cloud.id == Tenant.cloud_id)
        .join(district, district.id == Cloud.account_id)
        .join(Integration, Integration.id == Tenant.integration_id)
        .join(IntegrationVersion, IntegrationVersion.id == Tenant.version_id)
        .join(Actor, Actor.id == Tenant.actor_id)
        .where(Tenant.id.in_([t.id for t in tenants]))
    ).all()
    by_id = {row[0].id: row for row in rows}
    infos = []
    for tenant in tenants:
        _, cloud, account, integration, version, actor, connected = by_id[tenant.id]
        sees_secret = (
            p.is_operator
            or (p.kind == "account" and p.account_id == integration.account_id)
            or (p.kind == "actor" and p.actor_id == actor.id)
        )
        sees_app_auth = sees_secret or (p.kind == "account" and p.account_id == cloud.account_id)
        infos.append(
            TenantInfo(
                id=tenant.id,
                name=tenant.name,
                actor_id=actor.id,
                account=TenantAccount.model_validate(account, from_attributes=True),
                cloud=TenantCloud(
                    id=cloud.id,
                    name=cloud.name,
                    generation=cloud.generation,
                    env=CloudEnv(id=uuid.uuid5(ENV_NAMESPACE, cloud.env), name=cloud.env),
                ),
                integration=TenantIntegration(
                    id=integration.id, name=integration.name, version=version.version
                ),
                license=TenantLicense(
                    status=tenant.license_status,
                    valid_from=tenant.license_valid_from,
                    valid_to=tenant.license_valid_to,
                ),
                status=TenantStatus(
                    op_state=tenant.op_state,
                    setup_state=tenant.setup_state,
                    last_sync_at=tenant.last_sync_at,
                ),
                sis_status=TenantStatus(
                    op_state="active" if connected else "unconfigured",
                    setup_state="complete" if connected else "pending",
                    last_sync_at=cloud.last_collected_at,
                ),
                auth=ActorAuth(
                    client_id=actor.client_id,
                    client_secret=keyring.decrypt(actor.client_secret_enc) if sees_secret else None,
                    updated_at=actor.secret_updated_at,
                ),
                app_auth=_app_auth(tenant, version, keyring) if sees_app_auth else None,
                lti_developer_id=integration.lti_developer_id,
            )
        )
    return infos


def _app_auth(
    tenant: Tenant, version: IntegrationVersion, keyring: crypto.Keyring
) -> AppAuth | None:
    """The application's active credentials (``auth_props``, confirmed by its driver) in the
    TenantInfo shape: ``scheme`` is the blueprint's auth type; properties of the shape's names
    fill their fields."""
    if tenant.app_auth_enc is None:
        return None
    props = sealed.decrypt_props(keyring, tenant.app_auth_enc)
    fields = {name: props[name] for name in AppAuth.model_fields if name in props}
    fields["scheme"] = application.auth_type(application.auth_spec(version.blueprint))
    return AppAuth.model_validate(fields)


def parse_id_list(values: Sequence[str] | None, what: str) -> list[uuid.UUID]:
    """Ids from repeated and/or comma-separated query values; a malformed one is a 400."""
    result = []
    for value in split_list(values):
        try:
            result.append(uuid.UUID(value))
        except ValueError as exc:
            raise BadRequest(f"{what}: {value!r} is not a UUID.") from exc
    return result


def split_list(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]

"""Installing, activating, suspending and uninstalling a tenant (operator actions).

The task pipeline hooks into these transitions (lifecycle tasks, the initial sync); each
function runs inside the caller's transaction, so whatever it enqueues commits with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Actor, Cloud
from interop_hub.clouds.service import new_actor
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.kit import crypto
from interop_hub.kit.errors import BadRequest, Conflict, NotFound
from interop_hub.scoping.queries import stored_scope
from interop_hub.tasks import fanout, queue
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants.models import Tenant

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "activate": ("setup", "suspended"),
    "suspend": ("setup", "active"),
    "uninstall": ("setup", "active", "suspended"),
}


@dataclass(frozen=True)
class Installation:
    tenant: Tenant
    client_id: str
    client_secret: str
    version: str


def install(
    session: Session,
    keyring: crypto.Keyring,
    *,
    cloud_id: uuid.UUID,
    integration_id: uuid.UUID,
    version: str | None,
    now: dt.datetime,
) -> Installation:
    cloud = session.get(Cloud, cloud_id)
    if cloud is None:
        raise NotFound(f"Interop Cloud {cloud_id} was not found.")
    integration = session.get(Integration, integration_id)
    if integration is None:
        raise NotFound(f"Integration {integration_id} was not found.")
    chosen = _choose_version(session, integration, version)
    already = session.scalar(
        select(Tenant.id).where(
            Tenant.cloud_id == cloud.id,
            Tenant.integration_id == integration.id,
            Tenant.op_state != "uninstalled",
        )
    )
    if already is not None:
        raise Conflict(
            f"Integration {integration.name!r} is already installed in cloud {cloud.name!r} "
            f"(tenant {already})."
        )
    name = integration.title or integration.name
    actor, secret = new_actor(cloud.id, name, "integration", keyring)
    session.add(actor)
    session.flush()
    tenant = Tenant(
        cloud_id=cloud.id,
        integration_id=integration.id,
        version_id=chosen.id,
        actor_id=actor.id,
        name=name,
        op_state="setup",
        setup_state="pending",
        license_valid_from=now,
        installed_at=now,
    )
    session.add(tenant)
    session.flush()
    queue.lifecycle(session, tenant.id, "TENANT_INSTALLED", now)
    return Installation(tenant, actor.client_id, secret, chosen.version)


def _choose_version(
    session: Session, integration: Integration, version: str | None
) -> IntegrationVersion:
    wanted = version or integration.version
    stmt = select(IntegrationVersion).where(IntegrationVersion.integration_id == integration.id)
    if wanted is not None:
        found = session.scalar(stmt.where(IntegrationVersion.version == wanted))
        if found is None:
            raise BadRequest(f"Integration {integration.name!r} has no version {wanted!r}.")
        return found
    latest = session.scalar(stmt.order_by(IntegrationVersion.id.desc()).limit(1))
    if latest is None:
        raise BadRequest(
            f"Integration {integration.name!r} has no versions yet; upload a blueprint first."
        )
    return latest


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return tenant


def locked(session: Session, tenant_id: uuid.UUID) -> Tenant:
    """The tenant, with its cloud's row and then its own locked, in the order collections lock
    them (a collection holds the cloud, then allocates the tenant's sequences)."""
    cloud_id = session.scalar(select(Tenant.cloud_id).where(Tenant.id == tenant_id))
    if cloud_id is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    session.scalar(select(Cloud.id).where(Cloud.id == cloud_id).with_for_update())
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return tenant


def full_sync(session: Session, tenant: Tenant, origin: str, now: dt.datetime) -> int:
    """Send the tenant everything it sees, as one sync with ``origin``; returns the tasks
    written."""
    version = session.get(IntegrationVersion, tenant.version_id)
    assert version is not None  # a foreign key
    view = TenantView.from_json(version.blueprint)
    scope = stored_scope(session, tenant.id)
    return fanout.full_sync(session, tenant.cloud_id, tenant.id, view, origin, now, scope)


def transition(session: Session, tenant_id: uuid.UUID, action: str, now: dt.datetime) -> Tenant:
    """Apply ``activate``, ``suspend`` or ``uninstall``; a move the state does not allow is 409.

    Each move enqueues its lifecycle task; the first activation also sends the initial sync
    (a suspended tenant's tasks kept queuing, so re-activation only resumes delivery).
    """
    tenant = locked(session, tenant_id)
    allowed = TRANSITIONS[action]
    if tenant.op_state not in allowed:
        raise Conflict(
            f"Tenant {tenant.id} is {tenant.op_state}; it can {action} only when "
            f"{' or '.join(allowed)}."
        )
    if action == "activate":
        first = tenant.activated_at is None
        tenant.op_state = "active"
        tenant.setup_state = "complete"
        tenant.activated_at = now
        tenant.suspended_at = None
        queue.lifecycle(session, tenant.id, "TENANT_ACTIVATED", now)
        if first:
            full_sync(session, tenant, "initial", now)
    elif action == "suspend":
        tenant.op_state = "suspended"
        tenant.suspended_at = now
        queue.lifecycle(session, tenant.id, "TENANT_SUSPENDED", now)
    else:
        queue.lifecycle(session, tenant.id, "TENANT_UNINSTALLED", now)
        tenant.op_state = "uninstalled"
        tenant.uninstalled_at = now
        tenant.license_status = "revoked"
        tenant.license_valid_to = now
        actor = session.get(Actor, tenant.actor_id)
        if actor is not None:
            actor.revoked_at = now
    session.flush()
    return tenant


def resend(session: Session, tenant_id: uuid.UUID, now: dt.datetime) -> int:
    """Send the tenant everything it sees again, as one sync with ``origin`` = ``resend``;
    returns the number of tasks queued."""
    tenant = locked(session, tenant_id)
    if not receives_full_syncs(tenant):
        raise Conflict(
            f"Tenant {tenant.id} is {tenant.op_state}; data is resent only to a tenant that has "
            "been activated and is not uninstalled."
        )
    return full_sync(session, tenant, "resend", now)


def receives_full_syncs(tenant: Tenant) -> bool:
    """Whether a full sync (a resend, a rollover's) goes to the tenant: it has been activated
    (its initial sync came with that) and is not uninstalled."""
    return tenant.op_state in ("active", "suspended") and tenant.activated_at is not None

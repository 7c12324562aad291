"""What each principal may see (DESIGN §8), as SQL conditions.

- an operator sees everything;
- an account sees the clouds it owns, the integrations it owns, the tenants in its clouds or of
  its integrations, and the actors of those clouds and tenants;
- an actor sees itself, its cloud, its tenant and that tenant's integration.

Anything outside these answers 404, so ids never leak.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true

from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import Actor, Cloud
from interop_hub.integrations.models import Integration
from interop_hub.kit.errors import Forbidden
from interop_hub.tenants.models import Tenant


def clouds_visible(p: Principal) -> ColumnElement[bool]:
    if p.is_operator:
        return true()
    if p.kind == "account":
        return Cloud.account_id == p.account_id
    return Cloud.id == p.cloud_id


def integrations_visible(p: Principal) -> ColumnElement[bool]:
    if p.is_operator:
        return true()
    if p.kind == "account":
        return Integration.account_id == p.account_id
    if p.integration_id is None:
        return false()
    return Integration.id == p.integration_id


def tenants_visible(p: Principal) -> ColumnElement[bool]:
    if p.is_operator:
        return true()
    if p.kind == "account":
        own_cloud = exists().where(Cloud.id == Tenant.cloud_id, Cloud.account_id == p.account_id)
        own_integration = exists().where(
            Integration.id == Tenant.integration_id, Integration.account_id == p.account_id
        )
        return or_(own_cloud, own_integration)
    if p.tenant_id is None:
        return false()
    return Tenant.id == p.tenant_id


def actors_visible(p: Principal) -> ColumnElement[bool]:
    if p.is_operator:
        return true()
    if p.kind == "account":
        in_own_cloud = exists().where(Cloud.id == Actor.cloud_id, Cloud.account_id == p.account_id)
        of_own_integration = Actor.id.in_(
            select(Tenant.actor_id)
            .join(Integration, Integration.id == Tenant.integration_id)
            .where(Integration.account_id == p.account_id)
        )
        return or_(in_own_cloud, of_own_integration)
    return Actor.id == p.actor_id


def require_account(p: Principal, action: str) -> None:
    """Management writes are made by accounts, not by installed actors."""
    if p.kind != "account":
        raise Forbidden(f"Actor credentials cannot {action}; use an account's credentials.")

"""Rules for clouds and their actors. Services never commit: the caller's transaction does."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from interop_hub.auth.access import actors_visible, clouds_visible
from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import CONNECTOR_TYPES, Actor, Cloud
from interop_hub.clouds.schemas import ActorAuth, ActorOut, CloudCreate, CloudOut
from interop_hub.ingest.apply import purge_cloud
from interop_hub.integrations.models import Integration
from interop_hub.kit import crypto
from interop_hub.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.tenants.models import Tenant

CLIENT_ID_PREFIX = "ihc_"


def cloud_out(cloud: Cloud) -> CloudOut:
    return CloudOut.model_validate(cloud, from_attributes=True)


def actor_out(actor: Actor, keyring: crypto.Keyring, *, with_secret: bool) -> ActorOut:
    return ActorOut(
        id=actor.id,
        name=actor.name,
        type=actor.type,
        connector_type=actor.connector_type,
        cloud_id=actor.cloud_id,
        created_at=actor.created_at,
        auth=ActorAuth(
            client_id=actor.client_id,
            client_secret=keyring.decrypt(actor.client_secret_enc) if with_secret else None,
            updated_at=actor.secret_updated_at,
        ),
    )


def list_clouds(session: Session, p: Principal, req: PageRequest) -> Page[Cloud]:
    return paginate(session, select(Cloud).where(clouds_visible(p)), [Cloud.id], req)


def search_clouds(
    session: Session,
    p: Principal,
    req: PageRequest,
    *,
    generation: int | None,
    userdata: str | None,
    name: str | None,
) -> Page[Cloud]:
    stmt: Select[Any] = select(Cloud).where(clouds_visible(p))
    if generation is not None:
        stmt = stmt.where(Cloud.generation == generation)
    if userdata is not None:
        stmt = stmt.where(Cloud.userdata == userdata)
    if name is not None:
        stmt = stmt.where(Cloud.name == name)
    return paginate(session, stmt, [Cloud.id], req)


def find_cloud(session: Session, p: Principal, cloud_id: uuid.UUID) -> Cloud:
    cloud = session.scalar(select(Cloud).where(Cloud.id == cloud_id, clouds_visible(p)))
    if cloud is None:
        raise NotFound(f"Interop Cloud {cloud_id} was not found.")
    return cloud


def create_cloud(session: Session, account_id: uuid.UUID, body: CloudCreate) -> Cloud:
    cloud = Cloud(
        account_id=account_id, name=body.name, userdata=body.userdata, generation=body.generation
    )
    session.add(cloud)
    session.flush()
    return cloud


def create_cloud_for(session: Session, p: Principal, body: CloudCreate) -> Cloud:
    if p.kind != "account" or p.account_id is None:
        raise Forbidden("Actor credentials cannot create clouds; use an account's credentials.")
    if p.is_operator:
        raise Forbidden(
            "An operator creates a cloud for an account: POST /v2/platform/accounts/{id}/clouds."
        )
    return create_cloud(session, p.account_id, body)


def delete_cloud(session: Session, p: Principal, cloud_id: uuid.UUID) -> None:
    cloud = find_cloud(session, p, cloud_id)
    if not (p.is_operator or (p.kind == "account" and cloud.account_id == p.account_id)):
        raise Forbidden("Only the cloud's owner can delete it.")
    installed = session.scalar(
        select(func.count())
        .select_from(Tenant)
        .where(Tenant.cloud_id == cloud.id, Tenant.op_state != "uninstalled")
    )
    if installed:
        raise Conflict(
            f"Interop Cloud {cloud.id} has {installed} installed tenant(s); uninstall them first.",
            details={"installed_tenants": installed},
        )
    purge_cloud(session, cloud.id)  # what has no foreign key to cascade from the cloud
    session.delete(cloud)
    session.flush()


def list_actors(session: Session, p: Principal, req: PageRequest) -> Page[Actor]:
    # Revoked actors (an uninstalled tenant's) are no longer installed and their secrets are dead.
    stmt = select(Actor).where(actors_visible(p), Actor.revoked_at.is_(None))
    return paginate(session, stmt, [Actor.id], req)


def list_cloud_actors(
    session: Session, p: Principal, cloud_id: uuid.UUID, req: PageRequest
) -> Page[Actor]:
    cloud = find_cloud(session, p, cloud_id)
    stmt = select(Actor).where(
        Actor.cloud_id == cloud.id, actors_visible(p), Actor.revoked_at.is_(None)
    )
    return paginate(session, stmt, [Actor.id], req)


def actors_out(
    session: Session,
    p: Principal,
    actors: list[Actor],
    keyring: crypto.Keyring,
    *,
    include_credentials: bool,
) -> list[ActorOut]:
    """Actors as the spec shows them; secrets only when asked for and the caller may see them.

    The secret of an actor goes to the operator, the actor itself, the owner of its cloud, and
    (for a tenant's actor) the vendor that owns the integration.
    """
    owners: dict[uuid.UUID, set[uuid.UUID]] = {}
    if include_credentials and p.kind == "account" and not p.is_operator and actors:
        rows = session.execute(
            select(Actor.id, Cloud.account_id, Integration.account_id)
            .join(Cloud, Cloud.id == Actor.cloud_id)
            .outerjoin(Tenant, Tenant.actor_id == Actor.id)
            .outerjoin(Integration, Integration.id == Tenant.integration_id)
            .where(Actor.id.in_([a.id for a in actors]))
        )
        for actor_id, cloud_owner, integration_owner in rows:
            owners[actor_id] = {cloud_owner, integration_owner} - {None}

    def allowed(actor: Actor) -> bool:
        if not include_credentials:
            return False
        if p.is_operator:
            return True
        if p.kind == "actor":
            return p.actor_id == actor.id
        return p.account_id in owners.get(actor.id, set())

    return [actor_out(a, keyring, with_secret=allowed(a)) for a in actors]


def new_actor(
    cloud_id: uuid.UUID,
    name: str,
    actor_type: str,
    keyring: crypto.Keyring,
    *,
    connector_type: str | None = None,
    source: dict[str, Any] | None = None,
) -> tuple[Actor, str]:
    """A new actor and its plaintext client secret (shown once to whoever created it)."""
    secret = crypto.random_secret()
    actor = Actor(
        cloud_id=cloud_id,
        name=name,
        type=actor_type,
        connector_type=connector_type,
        source=source,
        client_id=CLIENT_ID_PREFIX + uuid.uuid4().hex[:24],
        client_secret_enc=keyring.encrypt(secret),
    )
    return actor, secret


def create_connector(
    session: Session,
    keyring: crypto.Keyring,
    cloud_id: uuid.UUID,
    *,
    connector_type: str,
    source: str,
    name: str | None = None,
) -> tuple[Actor, str]:
    """A connector actor with its source (a folder or a .zip bundle on this machine)."""
    cloud = session.get(Cloud, cloud_id)
    if cloud is None:
        raise NotFound(f"Interop Cloud {cloud_id} was not found.")
    if connector_type not in CONNECTOR_TYPES:
        raise BadRequest(
            f"Unknown connector type {connector_type!r}; known: {', '.join(CONNECTOR_TYPES)}."
        )
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise BadRequest(f"The source {path} does not exist.")
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        raise BadRequest(f"The source {path} must be a folder or a .zip file.")
    actor, secret = new_actor(
        cloud.id,
        name or f"{connector_type} ({path.name})",
        "connector",
        keyring,
        connector_type=connector_type,
        source={"path": str(path)},
    )
    session.add(actor)
    session.flush()
    return actor, secret

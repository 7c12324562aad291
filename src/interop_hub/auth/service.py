"""Checking credentials and turning them into principals.

Two kinds of credentials exist:
- an account API key ``ihk_<id>.<secret>`` (vendors, districts, operators): only a digest of the
  secret is stored;
- an actor's OAuth2 client credentials (``client_id`` / ``client_secret``): the secret is stored
  encrypted because the spec returns it to the actor's owners.

Either one can be exchanged at ``/oauth/token`` for a bearer token, or sent as HTTP Basic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from interop_hub.accounts.models import Account, ApiKey
from interop_hub.auth.principal import Principal
from interop_hub.auth.tokens import TokenClaims
from interop_hub.clouds.models import Actor
from interop_hub.kit import crypto
from interop_hub.kit.errors import Unauthorized
from interop_hub.tenants.models import Tenant

API_KEY_PREFIX = "ihk_"
BAD_CREDENTIALS = "The client credentials are not valid."


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """``ihk_<id>.<secret>`` → (key id, secret), or None if it does not look like one."""
    key_id, dot, secret = api_key.partition(".")
    if not key_id.startswith(API_KEY_PREFIX) or not dot or not secret:
        return None
    return key_id, secret


def authenticate_client(
    session: Session, keyring: crypto.Keyring, client_id: str, client_secret: str
) -> Principal:
    """Check a client id and secret: an API key's two halves, or an actor's credentials."""
    if not client_id or not client_secret:
        raise Unauthorized(BAD_CREDENTIALS, scheme_error="invalid_client")
    if client_id.startswith(API_KEY_PREFIX):
        return authenticate_api_key(session, client_id, client_secret)
    actor = session.scalar(select(Actor).where(Actor.client_id == client_id))
    if actor is None or actor.revoked_at is not None:
        raise Unauthorized(BAD_CREDENTIALS, scheme_error="invalid_client")
    if not crypto.same(keyring.decrypt(actor.client_secret_enc), client_secret):
        raise Unauthorized(BAD_CREDENTIALS, scheme_error="invalid_client")
    return _actor_principal(session, actor)


def authenticate_api_key(session: Session, key_id: str, secret: str) -> Principal:
    row = session.execute(
        select(ApiKey, Account)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.key_id == key_id)
    ).one_or_none()
    if row is None:
        # Spend the same work as a real check so that timing does not reveal key ids.
        crypto.same(crypto.digest(secret), "0" * 64)
        raise Unauthorized(BAD_CREDENTIALS, scheme_error="invalid_client")
    key, account = row
    if not crypto.same(crypto.digest(secret), key.secret_digest) or key.revoked_at is not None:
        raise Unauthorized(BAD_CREDENTIALS, scheme_error="invalid_client")
    return Principal(
        kind="account", account_id=account.id, account_type=account.type, api_key_id=key.key_id
    )


def principal_for_claims(session: Session, claims: TokenClaims) -> Principal:
    """Re-check a token's subject: a deleted account, a revoked API key or a revoked actor
    loses access at once."""
    if claims.kind == "account":
        account = session.get(Account, claims.ident)
        if account is None:
            raise Unauthorized("The access token's account no longer exists.")
        if claims.key_id is not None:
            key = session.scalar(
                select(ApiKey).where(
                    ApiKey.key_id == claims.key_id, ApiKey.account_id == account.id
                )
            )
            if key is None or key.revoked_at is not None:
                raise Unauthorized("The API key this access token was issued for is revoked.")
        return Principal(
            kind="account",
            account_id=account.id,
            account_type=account.type,
            api_key_id=claims.key_id,
        )
    return actor_principal(
        claims, session.execute(ACTOR_AND_TENANT, {"actor": claims.ident}).first()
    )


def actor_principal(claims: TokenClaims, row: Sequence[Any] | None) -> Principal:
    """The principal of an actor's token, given the first columns of :data:`ACTOR_AND_TENANT`
    for it (None: no such actor)."""
    if row is None or row[0] is not None:
        raise Unauthorized("The access token's actor has been removed or revoked.")
    return Principal(
        kind="actor",
        actor_id=claims.ident,
        cloud_id=row[1],
        tenant_id=row[2],
        integration_id=row[3],
    )


ACTORS = cast(Table, Actor.__table__)
TENANTS = cast(Table, Tenant.__table__)
ACTOR_AND_TENANT = (
    select(ACTORS.c.revoked_at, ACTORS.c.cloud_id, TENANTS.c.id, TENANTS.c.integration_id)
    .select_from(ACTORS.outerjoin(TENANTS, TENANTS.c.actor_id == ACTORS.c.id))
    .where(ACTORS.c.id == bindparam("actor", type_=ACTORS.c.id.type))
)
"""An actor and its tenant in one round trip (every request of a driver runs it), as a Core
statement built once; a caller may add columns of its own (``:actor``: the actor's id)."""


def _actor_principal(session: Session, actor: Actor) -> Principal:
    tenant = session.scalar(select(Tenant).where(Tenant.actor_id == actor.id))
    return Principal(
        kind="actor",
        actor_id=actor.id,
        cloud_id=actor.cloud_id,
        tenant_id=tenant.id if tenant else None,
        integration_id=tenant.integration_id if tenant else None,
    )

"""Accounts and API keys. An API key is ``ihk_<id>.<secret>``; only its digest is stored."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from interop_hub.accounts.models import Account, ApiKey
from interop_hub.auth.service import API_KEY_PREFIX
from interop_hub.kit import crypto
from interop_hub.kit.errors import Conflict, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate


def _public_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "account"
    return f"{slug}-{secrets.token_hex(3)}"


def create_account(
    session: Session,
    *,
    name: str,
    type: str,
    timezone: str = "UTC",
    userdata: str | None = None,
) -> Account:
    account = Account(
        name=name, type=type, public_id=_public_id(name), timezone=timezone, userdata=userdata
    )
    session.add(account)
    session.flush()
    return account


def issue_api_key(session: Session, account: Account, label: str | None = None) -> str:
    """Create a key and return it in full; it cannot be shown again."""
    key_id = API_KEY_PREFIX + secrets.token_hex(8)
    secret = crypto.random_secret()
    session.add(
        ApiKey(
            account_id=account.id,
            key_id=key_id,
            secret_digest=crypto.digest(secret),
            label=label,
        )
    )
    session.flush()
    return f"{key_id}.{secret}"


def revoke_api_key(session: Session, account_id: uuid.UUID, key_id: str, now: Any) -> None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.account_id == account_id, ApiKey.key_id == key_id)
    )
    if key is None:
        raise NotFound(f"Account {account_id} has no API key {key_id}.")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key_id} is already revoked.")
    key.revoked_at = now
    session.flush()


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"Account {account_id} was not found.")
    return account


def list_accounts(session: Session, req: PageRequest, type: str | None = None) -> Page[Account]:
    stmt: Select[Any] = select(Account)
    if type is not None:
        stmt = stmt.where(Account.type == type)
    return paginate(session, stmt, [Account.id], req)

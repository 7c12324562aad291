"""Signed, expiring bearer tokens (JWT, HS256, key derived from the secret key)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt

from interop_hub.kit.errors import Unauthorized

ISSUER = "interop-hub"
AUDIENCE = "interop-hub/api"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 5


@dataclass(frozen=True)
class TokenClaims:
    kind: str
    ident: uuid.UUID
    key_id: str | None = None  # the API key an account token was issued for


def issue_token(
    signing_key: bytes,
    subject: str,
    lifetime_seconds: int,
    now: dt.datetime,
    *,
    key_id: str | None = None,
) -> str:
    """A signed token for ``subject``; ``key_id`` names the API key it was exchanged for, so
    that revoking the key also ends its tokens."""
    payload: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime_seconds,
        "jti": uuid.uuid4().hex,
    }
    if key_id is not None:
        payload["key"] = key_id
    return jwt.encode(payload, signing_key, algorithm=ALGORITHM)


def read_token(signing_key: bytes, token: str, now: dt.datetime) -> TokenClaims:
    """Check the signature, issuer and audience, then the expiry against the hub's clock."""
    try:
        payload = _verified(signing_key, token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The access token is not valid.") from exc
    moment = int(now.timestamp())
    try:
        expires, not_before = int(payload["exp"]), int(payload.get("nbf", payload["iat"]))
    except (TypeError, ValueError) as exc:
        raise Unauthorized("The access token is not valid.") from exc
    if moment >= expires + LEEWAY_SECONDS:
        raise Unauthorized("The access token has expired; request a new one.")
    if moment + LEEWAY_SECONDS < not_before:
        raise Unauthorized("The access token is not valid yet.")
    kind, _, ident = str(payload["sub"]).partition(":")
    try:
        parsed = uuid.UUID(ident)
    except ValueError as exc:
        raise Unauthorized("The access token is not valid.") from exc
    if kind not in ("account", "actor"):
        raise Unauthorized("The access token is not valid.")
    key_id = payload.get("key")
    if key_id is not None and not isinstance(key_id, str):
        raise Unauthorized("The access token is not valid.")
    return TokenClaims(kind=kind, ident=parsed, key_id=key_id)


@lru_cache(maxsize=4096)
def _verified(signing_key: bytes, token: str) -> Mapping[str, Any]:
    """The claims of a token whose signature, issuer and audience hold for ``signing_key``.

    The same token comes with every request of a client (a driver's pages: ~0.1 ms of a ~2 ms
    page to verify again); what is checked here depends on the token and the key only, so it is
    kept for both. Whatever depends on the time (expiry) or on the database (a revoked actor or
    key) is checked on every request. Refused tokens are not kept (an exception is never
    cached)."""
    payload = jwt.decode(
        token,
        signing_key,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={
            "require": ["exp", "iat", "sub", "iss", "aud"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )
    return MappingProxyType(payload)

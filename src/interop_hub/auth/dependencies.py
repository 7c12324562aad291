"""FastAPI dependencies: the request's database session and its principal."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from interop_hub.auth import service
from interop_hub.auth.principal import Principal
from interop_hub.auth.tokens import TokenClaims, read_token
from interop_hub.kit.db import WRITE_OPTION
from interop_hub.kit.errors import Forbidden, Unauthorized
from interop_hub.runtime import Hub

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LEASING_PATHS = frozenset({"/v2/interop/data/tasks"})
"""GETs that write (the managed task queue leases what it returns)."""


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def get_hub(request: Request) -> Hub:
    """``async``: FastAPI runs a plain ``def`` dependency in its threadpool, a thread hop for
    reading an attribute."""
    return hub_of(request)


@contextmanager
def request_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the handler returns and rolled back otherwise."""
    hub = hub_of(request)
    with hub.sessions() as session:
        if request.method not in READ_METHODS or request.url.path in LEASING_PATHS:
            session.connection(execution_options={WRITE_OPTION: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session(request: Request) -> Iterator[Session]:
    """:func:`request_session` as a dependency."""
    with request_session(request) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is never a 2xx.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
HubDep = Annotated[Hub, Depends(get_hub)]


def parse_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("The Basic credentials are not valid base64.") from exc
    username, colon, password = decoded.partition(":")
    if not colon:
        raise Unauthorized("The Basic credentials must be 'username:password'.")
    return username, password


def basic_principal(session: Session, hub: Hub, username: str, password: str) -> Principal:
    """Basic accepts an API key (as the username, the password, or split in two halves)
    or an actor's client id and secret."""
    for candidate in (username, password):
        parts = service.split_api_key(candidate)
        if parts is not None:
            return service.authenticate_api_key(session, *parts)
    return service.authenticate_client(session, hub.keyring, username, password)


def bearer_claims(request: Request, hub: Hub) -> TokenClaims | None:
    """The checked claims of the request's Bearer token; None when it has other credentials,
    or none (:func:`get_principal` then answers as it does)."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return read_token(hub.keyring.signing_key, value, hub.now())


def get_principal(request: Request, session: SessionDep, hub: HubDep) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Authentication is required.", scheme_error="")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        claims = read_token(hub.keyring.signing_key, value, hub.now())
        principal = service.principal_for_claims(session, claims)
    elif scheme.lower() == "basic" and value:
        principal = basic_principal(session, hub, *parse_basic(value))
    else:
        raise Unauthorized(
            "Use a Bearer token or Basic credentials.", scheme_error="invalid_request"
        )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_operator(principal: PrincipalDep) -> Principal:
    if not principal.is_operator:
        raise Forbidden("This operation needs an operator credential.")
    return principal


OperatorDep = Annotated[Principal, Depends(get_operator)]

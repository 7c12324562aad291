"""Credentials: an API key sent as HTTP Basic, or OAuth2 client credentials exchanged for bearer
tokens at ``POST /oauth/token`` (an actor's client id and secret, or an API key's two halves).

:class:`TokenAuth` is an :class:`httpx.Auth` flow, as httpx's own auth classes are, so the token
request goes through the client's transport (in tests, the app in-process) and one flow serves
the sync and the async client. A token is fetched when there is none, again shortly before it
expires (by the client's clock, from ``expires_in``), and once more when the hub answers 401
anyway (a key rotation, a clock that disagrees): the request is then sent a second time, never a
third. If the token endpoint itself refuses, its answer is the call's answer (a 401 becomes
:class:`~interop_hub.client.errors.AuthenticationError`, a 503 is retried like any other).

No lock is held: two calls that find the token stale at once may each fetch one, and the later
one is kept; both are valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from interop_hub.client.errors import InteropError

API_KEY_PREFIX = "ihk_"
REFRESH_MARGIN = 60.0
"""At most this many seconds before a token expires, a new one is fetched (at most a tenth of its
lifetime before)."""

Flow = Generator[httpx.Request, httpx.Response, None]


@dataclass(frozen=True)
class Token:
    value: str
    refresh_at: float | None
    """Clock reading from which a new token is fetched first (None: only after a 401)."""


class TokenAuth(httpx.Auth):
    requires_response_body = True

    def __init__(
        self,
        token_url: httpx.URL,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: Token | None = None
        self.fetched = 0
        """How many tokens were fetched (for tests and logs)."""

    def auth_flow(self, request: httpx.Request) -> Flow:
        token = yield from self._obtain(request)
        if token is None:
            return
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        if self._token is token:
            self._token = None
        token = yield from self._obtain(request)
        if token is None:
            return
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request

    def _obtain(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, Token | None]:
        """The current token, or a new one; None when the token endpoint refused (its
        response is then the last one of the flow)."""
        token = self._token
        if token is not None and (token.refresh_at is None or self._clock() < token.refresh_at):
            return token
        response = yield self._token_request(request)
        if response.status_code != 200:
            return None
        self._token = self._accept(response)
        self.fetched += 1
        return self._token

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            },
            headers={"Accept": "application/json"},
            # The call's timeout applies to its token request too.
            extensions=dict(request.extensions),
        )

    def _accept(self, response: httpx.Response) -> Token:
        try:
            body: Any = response.json()
            value = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InteropError(f"{self.token_url} answered without an access_token") from exc
        lifetime = body.get("expires_in")
        refresh_at = None
        if isinstance(lifetime, int | float) and lifetime > 0:
            refresh_at = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 10)
        return Token(str(value), refresh_at)


def make_auth(
    token_url: httpx.URL,
    *,
    client_id: str | None,
    client_secret: str | None,
    api_key: str | None,
    exchange_api_key: bool,
    clock: Callable[[], float],
) -> httpx.Auth:
    """The auth of the credentials given: exactly one of a client id and secret, or an API key
    (``ihk_<id>.<secret>``; sent as Basic, or exchanged for tokens with ``exchange_api_key``)."""
    if api_key is not None:
        if client_id is not None or client_secret is not None:
            raise ValueError("Give either client_id and client_secret, or api_key, not both.")
        key_id, dot, secret = api_key.partition(".")
        if not key_id.startswith(API_KEY_PREFIX) or not dot or not secret:
            raise ValueError("An API key looks like ihk_<id>.<secret>.")
        if exchange_api_key:
            return TokenAuth(token_url, key_id, secret, clock=clock)
        return httpx.BasicAuth(api_key, "")
    if client_id is None or client_secret is None:
        raise ValueError("Give client_id and client_secret, or api_key.")
    return TokenAuth(token_url, client_id, client_secret, clock=clock)

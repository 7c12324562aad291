"""A scripted stand-in for the hub, for what the real one does not do on demand (429, 503,
connection errors, tokens that expire early): an ``httpx.MockTransport`` handler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

import httpx

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]

BASE_URL = "http://hub.test"
CLIENT_ID = "tenant-client"
CLIENT_SECRET = "tenant-secret"


def ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": data})


def failure(status: int, code: str, message: str = "", **headers: str) -> httpx.Response:
    envelope = {
        "error": {
            "status": status,
            "code": code,
            "message": message or code,
            "ext_message": None,
            "details": None,
        }
    }
    return httpx.Response(status, json=envelope, headers=headers)


def expired() -> httpx.Response:
    return failure(401, "unauthorized", "The access token has expired; request a new one.")


class FakeHub:
    """``/oauth/token`` answers from ``token_script`` first, then issues ``t1``, ``t2``, ...
    Every other request takes the next answer of ``script``: a response, an exception to raise
    (a connection error), or a function of the request."""

    def __init__(
        self,
        script: Sequence[Answer],
        *,
        token_script: Sequence[httpx.Response] = (),
        expires_in: int = 3600,
    ) -> None:
        self.script = list(script)
        self.token_script = list(token_script)
        self.expires_in = expires_in
        self.issued = 0
        self.requests: list[httpx.Request] = []
        self.token_requests: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_requests.append(parse_qs(request.content.decode()))
            if self.token_script:
                return self.token_script.pop(0)
            self.issued += 1
            token = {"access_token": f"t{self.issued}", "token_type": "Bearer"}
            return httpx.Response(200, json={**token, "expires_in": self.expires_in})
        # A copy: the client sends the same request object again when it retries.
        copy = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.read()
        )
        self.requests.append(copy)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bearers(self) -> list[str]:
        return [r.headers.get("Authorization", "") for r in self.requests]


def valid_token(token: str, answer: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """``answer`` for a request with ``token``, 401 for any other."""

    def check(request: httpx.Request) -> httpx.Response:
        return answer if request.headers.get("Authorization") == f"Bearer {token}" else expired()

    return check

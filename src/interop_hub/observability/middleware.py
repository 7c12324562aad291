"""Request ids, one access log line and one latency observation per HTTP request.

A plain ASGI middleware (not ``BaseHTTPMiddleware``): the request id it sets in a context
variable is seen by the route, its threadpool and every log record of the request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interop_hub.kit import metrics
from interop_hub.kit.logs import REQUEST_ID_HEADER, request_id_from, request_id_var

log = logging.getLogger("interop_hub.access")
UNMATCHED = "<unmatched>"
"""The route label of a request no route matched (its raw path would explode cardinality)."""


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The server's error handler answers after this frame, in the same task: leave the
            # request id set so that its log line and its 500 carry it too.
            _finished(scope, 500, started)
            raise
        _finished(scope, status, started)
        request_id_var.reset(token)


def _finished(scope: Scope, status: int, started: float) -> None:
    seconds = time.perf_counter() - started
    route = getattr(scope.get("route"), "path", None) or UNMATCHED
    method: str = scope["method"]
    metrics.observe_request(route, method, status, seconds)
    principal: Any = scope.get("state", {}).get("principal")
    path: str = scope["path"]  # never the query string: it may carry secrets
    log.log(
        logging.WARNING if status >= 500 else logging.INFO,
        "%s %s %d %.1fms",
        method,
        path,
        status,
        seconds * 1000,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "principal": principal.subject if principal is not None else None,
        },
    )

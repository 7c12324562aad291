"""The HTTP service: every route answers with the envelopes of DESIGN §9, errors included."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from interop_hub import __version__
from interop_hub.auth.routes import router as auth_router
from interop_hub.clouds.routes import router as clouds_router
from interop_hub.ingest.routes import router as ingest_router
from interop_hub.integrations.routes import router as integrations_router
from interop_hub.kit.crypto import DecryptionError
from interop_hub.kit.errors import HubError, Unauthorized, error_envelope
from interop_hub.kit.logs import REQUEST_ID_HEADER, current_request_id, ensure_logging
from interop_hub.observability.middleware import RequestContextMiddleware
from interop_hub.observability.routes import router as observability_router
from interop_hub.platform.routes import router as platform_router
from interop_hub.rollovers.routes import router as rollovers_router
from interop_hub.rostering.routes import router as rostering_router
from interop_hub.runtime import Hub, build_hub
from interop_hub.schedules.routes import router as schedules_router
from interop_hub.scoping.routes import router as scoping_router
from interop_hub.tasks.routes import router as tasks_router
from interop_hub.tenants.routes import router as tenants_router

log = logging.getLogger("interop_hub.http")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
REALM = 'realm="interop-hub"'


def create_app(hub: Hub | None = None) -> FastAPI:
    hub = hub or build_hub()
    ensure_logging(hub.settings.log_level, hub.settings.log_format)
    app = FastAPI(
        lifespan=_heap_frozen_while_serving,
        title="Interop Hub",
        version=__version__,
        description=(
            "A self-hostable K-12 data-sync hub implementing the Interop API (`/v2/interop`) and "
            "the Interop Data API (`/v2/interop/data`), plus an operator surface "
            "(`/v2/platform`). Authenticate with a bearer token from `POST /oauth/token` or "
            "HTTP Basic with an API key."
        ),
    )
    app.state.hub = hub
    app.state.max_page_size = hub.settings.max_page_size
    app.state.public_base_url = (hub.settings.public_base_url or "").rstrip("/") or None
    _install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    # FastAPI tries the routers in the order they are included, each route of each: the lists
    # drivers page through and the task queue they poll come first (their paths are theirs
    # alone). Matching the rostering lists from 11th place cost ~0.3 ms of a ~2.5 ms page.
    for router in (
        rostering_router,
        tasks_router,
        auth_router,
        clouds_router,
        integrations_router,
        tenants_router,
        scoping_router,
        ingest_router,
        schedules_router,
        rollovers_router,
    ):
        app.include_router(router)
    app.include_router(platform_router)
    app.include_router(observability_router)
    _describe_security(app)

    @app.get("/health", tags=["Service"], operation_id="health")
    def health(request: Request) -> JSONResponse:
        try:
            with hub.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError:
            log.exception("health check: database unreachable")
            body = {"status": "unavailable", "database": "unreachable", "version": __version__}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    return app


@asynccontextmanager
async def _heap_frozen_while_serving(_: FastAPI) -> AsyncIterator[None]:
    """Serve with what exists at startup out of the collector's reach (:func:`gc.freeze`).

    The modules, the routes, the models and the engine — some 150,000 objects — live as long
    as the process, yet every full collection walked them all again: a request that tipped one
    over paused for 80-100 ms (a page of 1,000 students allocates ~20,000 objects, so paging
    met one every few pages). Frozen, a full collection walks only what came after. Unfrozen
    on shutdown, so that an app started and stopped within a longer process (the tests') hands
    its objects back."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _describe_security(app: FastAPI) -> None:
    """Declare the schemes the routes accept, so that /docs can authorize and clients see them.

    Authentication itself is done by :func:`interop_hub.auth.dependencies.get_principal`.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "OAuth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
                },
                "BasicApiKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "An account API key as the user name (empty password)",
                },
            }
            public = {"/oauth/token", "/health"}
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    if path not in public:
                        operation["security"] = [{"OAuth2": []}, {"BasicApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error(status: int, message: str, *, code: str | None = None, **kw: Any) -> JSONResponse:
    headers = kw.pop("headers", None)
    body = error_envelope(status, code or HTTP_CODES.get(status, "error"), message, **kw)
    return JSONResponse(body, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route answers on this path (for the ``Allow`` header of a 405).

    Each method is its own route, so the route that raised the 405 knows only its own method;
    ask every route, through the public ``matches``, whether it takes each method here.
    """
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def hub_error(_: Request, exc: HubError) -> JSONResponse:
        headers = None
        if isinstance(exc, Unauthorized):
            bearer = f"Bearer {REALM}"
            if exc.scheme_error:
                bearer += f', error="{exc.scheme_error}"'
            headers = {"WWW-Authenticate": f"{bearer}, Basic {REALM}"}
        return JSONResponse(exc.envelope(), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTP_CODES.get(exc.status_code, "")
        if exc.status_code == 404 and message == "Not Found":
            message = "No such resource."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return _error(exc.status_code, message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "location": ".".join(str(part) for part in err.get("loc", ())),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d['location']}: {d['message']}" for d in details[:5])
        return _error(400, f"The request is not valid: {summary}", details=details)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return _error(409, "The change conflicts with the current state; retry it.")

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        log.warning("data error: %s", exc.orig)
        return _error(400, "A value in the request cannot be stored or compared by the database.")

    @app.exception_handler(DecryptionError)
    async def decryption_error(_: Request, exc: DecryptionError) -> JSONResponse:
        log.error("decryption failed: %s", exc)
        return _error(500, "A stored secret cannot be decrypted; the operator must check the key.")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        request_id = current_request_id()  # still set: see observability.middleware
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        return _error(500, "An internal error occurred.", headers=headers)

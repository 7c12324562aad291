"""``POST /oauth/token``: OAuth2 client credentials (RFC 6749 §4.4).

The client id and secret may come in the form body (what drivers in the wild send), in a JSON
body, or in a Basic header. The answer is the plain OAuth2 JSON, not the data envelope.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from interop_hub.auth import service
from interop_hub.auth.dependencies import HubDep, SessionDep, parse_basic
from interop_hub.auth.tokens import issue_token
from interop_hub.kit.errors import BadRequest, Unauthorized

router = APIRouter(tags=["Authentication"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


async def _read_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise BadRequest("The request body is not valid JSON.", code="invalid_request") from exc
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", code="invalid_request")
        return body
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    raise BadRequest(
        "Send the token request as application/x-www-form-urlencoded.", code="invalid_request"
    )


@router.post(
    "/oauth/token",
    operation_id="getAccessToken",
    response_model=TokenResponse,
    summary="Exchange client credentials for a bearer access token",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def issue_access_token(request: Request, session: SessionDep, hub: HubDep) -> JSONResponse:
    body = await _read_body(request)
    grant_type = str(body.get("grant_type") or "client_credentials")
    if grant_type != "client_credentials":
        raise BadRequest(
            f"grant_type {grant_type!r} is not supported; use client_credentials.",
            code="unsupported_grant_type",
        )
    client_id = body.get("client_id")
    client_secret = body.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        client_id, client_secret = parse_basic(header[6:].strip())
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        raise Unauthorized(
            "Send client_id and client_secret in the form body or a Basic header.",
            scheme_error="invalid_client",
        )
    principal = service.authenticate_client(session, hub.keyring, client_id, client_secret)
    lifetime = hub.settings.token_lifetime_seconds
    token = issue_token(
        hub.keyring.signing_key,
        principal.subject,
        lifetime,
        hub.now(),
        key_id=principal.api_key_id,
    )
    return JSONResponse(
        TokenResponse(access_token=token, expires_in=lifetime).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )

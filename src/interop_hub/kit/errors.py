"""Errors that carry their HTTP status, and the error envelope of DESIGN §9.

Services raise these; the HTTP layer turns every one of them (and every framework error) into
``{"error": {"status", "code", "message", "ext_message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        ext_message: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.ext_message = ext_message
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.status, self.code, self.message, self.ext_message, self.details)


class BadRequest(HubError):
    status = 400
    code = "bad_request"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, scheme_error: str = "invalid_token", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.scheme_error = scheme_error


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Conflict(HubError):
    status = 409
    code = "conflict"


class Unavailable(HubError):
    status = 503
    code = "unavailable"


class PayloadTooLarge(HubError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HubError):
    status = 415
    code = "unsupported_media_type"


def error_envelope(
    status: int,
    code: str,
    message: str,
    ext_message: str | None = None,
    details: Any = None,
) -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "ext_message": ext_message,
            "details": details,
        }
    }

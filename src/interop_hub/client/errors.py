"""The SDK's one exception hierarchy (modelled on httpx's: one base class to catch).

::

    InteropError
    ├── TransportError          the hub could not be reached, or the connection broke
    ├── UnexpectedResponse      a 2xx answer whose body is not what the operation returns
    └── APIError                the hub answered with an error envelope
        ├── BadRequest          400
        ├── AuthenticationError 401
        ├── PermissionDenied    403
        ├── NotFound            404 (also what the hub answers for what the caller may not see)
        ├── Conflict            409
        ├── RateLimited         429
        └── ServerError         5xx

An :class:`APIError` carries the envelope's ``status``, ``code``, ``message``, ``ext_message`` and
``details``, and the :class:`httpx.Response` it came from.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from typing import Any

import httpx


class InteropError(Exception):
    """Anything the SDK raises."""


class TransportError(InteropError):
    """No answer from the hub: it could not be reached, timed out or broke the connection
    (after the retries an idempotent call is allowed)."""


class UnexpectedResponse(InteropError):
    """A successful answer whose body is not the shape the operation returns."""


class APIError(InteropError):
    """The hub answered with an error status; the fields are those of its error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        ext_message: str | None = None,
        details: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.ext_message = ext_message
        self.details = details
        self.response = response


class BadRequest(APIError):
    """400: the request is not valid."""


class AuthenticationError(APIError):
    """401: missing, wrong, revoked or expired credentials (after one token refresh)."""


class PermissionDenied(APIError):
    """403: the credentials are valid but not of the kind the operation needs."""


class NotFound(APIError):
    """404: no such object, one the caller may not see, or an operation the hub does not
    serve."""


class Conflict(APIError):
    """409: the change conflicts with the current state."""


class RateLimited(APIError):
    """429: too many requests. ``retry_after`` is the wait the hub asked for, in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after(self.response) if self.response is not None else None


class ServerError(APIError):
    """5xx: the hub (or a proxy in front of it) failed."""


BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_class(status: int) -> type[APIError]:
    if status >= 500:
        return ServerError
    return BY_STATUS.get(status, APIError)


def error_from_response(response: httpx.Response) -> APIError:
    """The error a non-2xx answer stands for. A body that is not the hub's envelope (a proxy's
    HTML page, say) still gives an error of the right class, with the reason phrase."""
    status = response.status_code
    envelope = _envelope(response)
    cls = error_class(status)
    if envelope is None:
        text = response.text.strip()[:200]
        message = text or response.reason_phrase or f"HTTP {status}"
        return cls(status, f"http_{status}", message, response=response)
    return cls(
        status,
        str(envelope.get("code") or f"http_{status}"),
        str(envelope.get("message") or response.reason_phrase),
        ext_message=envelope.get("ext_message"),
        details=envelope.get("details"),
        response=response,
    )


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def retry_after(response: httpx.Response, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP date (RFC 9110 §10.2.3) counted
    from ``now``; None when absent or unreadable. Never negative."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())

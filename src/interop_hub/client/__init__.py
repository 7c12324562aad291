"""The Python client of the Interop API and the Interop Data API.

:class:`InteropClient` (blocking) and :class:`AsyncInteropClient` (asyncio) have the same
operations, named after the spec's (``list_clouds``, ``create_cloud``, ``find_cloud``, ...,
``list_tasks``, ``ack_task``, ``list_students``, ``find_person``, ...), which return typed models
(:mod:`interop_hub.client.models`); list operations return a :class:`Page` and have an ``iter_*``
twin that follows ``paging.next``. Every failure is an :class:`InteropError`. :class:`Driver`
is a driver runtime on top: handlers by task type, topic and action, polling and acknowledging.
"""

from interop_hub.client.answers import Page
from interop_hub.client.async_client import AsyncInteropClient
from interop_hub.client.driver import (
    RETRY,
    AppId,
    Context,
    Driver,
    Reauthenticate,
    Retry,
    TenantStats,
    is_full_sync,
)
from interop_hub.client.errors import (
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    InteropError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from interop_hub.client.retry import RetryPolicy
from interop_hub.client.sync_client import InteropClient

__all__ = [
    "RETRY",
    "APIError",
    "AppId",
    "AsyncInteropClient",
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "Context",
    "Driver",
    "InteropClient",
    "InteropError",
    "NotFound",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "Reauthenticate",
    "Retry",
    "RetryPolicy",
    "ServerError",
    "TenantStats",
    "TransportError",
    "UnexpectedResponse",
    "is_full_sync",
]

"""The operations of both clients, by area: each builds a call; the clients send it.

:class:`Operations` gathers them, with :meth:`Operations.request` for any other path (the
operator surface under ``/v2/platform``, the hub's extensions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interop_hub.client.answers import anything
from interop_hub.client.api.clouds import CloudOperations
from interop_hub.client.api.integrations import IntegrationOperations
from interop_hub.client.api.rostering import RosteringOperations
from interop_hub.client.api.schedules import ScheduleOperations
from interop_hub.client.api.scoping import ScopingOperations
from interop_hub.client.api.tasks import TaskOperations
from interop_hub.client.api.tenants import TenantOperations
from interop_hub.client.binding import operation
from interop_hub.client.calls import Call


class Operations(
    CloudOperations,
    IntegrationOperations,
    TenantOperations,
    ScopingOperations,
    ScheduleOperations,
    TaskOperations,
    RosteringOperations,
):
    @operation
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Call[Any]:
        """Any call, with the client's credentials, retries and errors: the answer's JSON
        as it is (None when empty)."""
        return Call(
            method.upper(),
            path,
            anything,
            params=params,
            json=json,
            content=content,
            headers=headers,
        )

"""Interop API #18–#21 and #34–#35: tenants, a tenant's state and its application."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interop_hub.client.answers import Page, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import Call, Id, body, get, get_page, interop, paging, patch
from interop_hub.client.models import TenantApplication, TenantInfo, TenantState


class TenantOperations:
    @operation
    def list_tenants(
        self,
        *,
        accounts: Sequence[Id] | None = None,
        integrations: Sequence[str] | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[TenantInfo]]:
        """#18 List Interop Tenants, optionally of some district ``accounts`` and some
        ``integrations`` (ids or names)."""
        params = paging(page, page_size, accounts=accounts, integration=integrations)
        return get_page(interop("/tenants"), TenantInfo, params)

    @operation
    def find_tenant(self, tenant_id: Id) -> Call[TenantInfo]:
        """#19 Find Interop Tenant."""
        return get(interop("/tenants/{}", tenant_id), one(TenantInfo))

    @operation
    def get_tenant(self) -> Call[TenantInfo]:
        """#20 Find Interop Tenant by actor authentication credentials: the caller's own."""
        return get(interop("/tenant"), one(TenantInfo))

    @operation
    def get_tenant_state(self) -> Call[TenantState]:
        """#21 Get tenant state by actor authentication credentials."""
        return get(interop("/tenant/state"), one(TenantState))

    @operation
    def get_tenant_application(self) -> Call[TenantApplication]:
        """#34 Get Tenant Application: its authentication parameters and options."""
        return get(interop("/tenant/application"), one(TenantApplication))

    @operation
    def update_tenant_application(
        self,
        *,
        auth_state_pending: str | None = None,
        auth_message: str | None = None,
        auth_props_pending: Mapping[str, Any] | None = None,
    ) -> Call[None]:
        """#35 Update Tenant Application, in the authentication setup workflow: answer an
        ``authenticate`` task with ``auth_state_pending`` ``confirmed`` or ``error`` (409 unless
        a session is ``updating``)."""
        json = body(
            auth_state_pending=auth_state_pending,
            auth_message=auth_message,
            auth_props_pending=auth_props_pending,
        )
        return patch(interop("/tenant/application"), json)

    iter_tenants = pages(list_tenants)

"""Interop API #8–#17: a vendor's Integrations and their versions (each with its blueprint)."""

from __future__ import annotations

from interop_hub.client.answers import Page, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import (
    Call,
    Id,
    body,
    delete,
    get,
    get_page,
    interop,
    paging,
    patch,
    post,
    xml,
)
from interop_hub.client.models import Integration, IntegrationVersion


class IntegrationOperations:
    @operation
    def list_integrations(
        self, *, name: str | None = None, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Integration]]:
        """#8 List Integrations (``name``: the one of that name)."""
        return get_page(interop("/integrations"), Integration, paging(page, page_size, name=name))

    @operation
    def create_integration(
        self, name: str, *, title: str | None = None, version: str | None = None
    ) -> Call[Integration]:
        """#9 Create Integration (a vendor's credentials)."""
        json = body(name=name, title=title, version=version)
        return post(interop("/integrations"), one(Integration), json)

    @operation
    def list_integration_versions(
        self, integration_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[IntegrationVersion]]:
        """#10 List Integration Versions."""
        url = interop("/integrations/{}/versions", integration_id)
        return get_page(url, IntegrationVersion, paging(page, page_size))

    @operation
    def create_integration_version(
        self, integration_id: Id, blueprint: str | bytes
    ) -> Call[IntegrationVersion]:
        """#11 Create Integration Version from its Integration Blueprint (XML); the version is
        the blueprint's ``Version``."""
        url = interop("/integrations/{}/versions", integration_id)
        return xml("POST", url, one(IntegrationVersion), blueprint)

    @operation
    def update_integration_version(
        self,
        integration_id: Id,
        version: str,
        *,
        new_version: str | None = None,
        title: str | None = None,
        release_state: str | None = None,
    ) -> Call[None]:
        """#12 Update Integration Version: its ``title``, ``release_state`` (``development``,
        ``beta``, ``released``, ``deprecated``) or version name (``new_version``); None leaves a
        field as it is."""
        url = interop("/integrations/{}/versions/{}", integration_id, version)
        return patch(url, body(version=new_version, title=title, release_state=release_state))

    @operation
    def delete_integration_version(self, integration_id: Id, version: str) -> Call[None]:
        """#13 Delete Integration Version."""
        return delete(interop("/integrations/{}/versions/{}", integration_id, version))

    @operation
    def update_integration_blueprint(
        self, integration_id: Id, version: str, blueprint: str | bytes
    ) -> Call[IntegrationVersion]:
        """#14 Update Integration Blueprint (XML) of a version."""
        url = interop("/integrations/{}/versions/{}/blueprint", integration_id, version)
        return xml("PUT", url, one(IntegrationVersion), blueprint)

    @operation
    def find_integration(self, integration_id: Id) -> Call[Integration]:
        """#15 Find an Integration."""
        return get(interop("/integrations/{}", integration_id), one(Integration))

    @operation
    def update_integration(
        self,
        integration_id: Id,
        *,
        name: str | None = None,
        title: str | None = None,
        version: str | None = None,
    ) -> Call[None]:
        """#16 Update Integration; None leaves a field as it is."""
        url = interop("/integrations/{}", integration_id)
        return patch(url, body(name=name, title=title, version=version))

    @operation
    def delete_integration(self, integration_id: Id) -> Call[None]:
        """#17 Delete an Integration."""
        return delete(interop("/integrations/{}", integration_id))

    iter_integrations = pages(list_integrations)
    iter_integration_versions = pages(list_integration_versions)

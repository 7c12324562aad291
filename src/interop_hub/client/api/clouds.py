"""Interop API #1–#7: actors and Interop Clouds."""

from __future__ import annotations

from interop_hub.client.answers import Page, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import Call, Id, body, delete, get, get_page, interop, paging, post
from interop_hub.client.models import Actor, Cloud


class CloudOperations:
    @operation
    def list_actors(
        self,
        *,
        include_credentials: bool | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Actor]]:
        """#1 List Actors: the actors in the clouds visible to the caller."""
        params = paging(page, page_size, include_credentials=include_credentials)
        return get_page(interop("/actors"), Actor, params)

    @operation
    def list_clouds(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Cloud]]:
        """#2 List Interop Clouds."""
        return get_page(interop("/clouds"), Cloud, paging(page, page_size))

    @operation
    def create_cloud(
        self, name: str, *, userdata: str | None = None, generation: int | None = None
    ) -> Call[Cloud]:
        """#3 Create an Interop Cloud (a district's credentials)."""
        json = body(name=name, userdata=userdata, generation=generation)
        return post(interop("/clouds"), one(Cloud), json)

    @operation
    def search_clouds(
        self,
        *,
        generation: int | None = None,
        userdata: str | None = None,
        name: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Cloud]]:
        """#4 Search Interop Clouds by generation, userdata and name."""
        params = paging(page, page_size, generation=generation, userdata=userdata, name=name)
        return get_page(interop("/clouds/search"), Cloud, params)

    @operation
    def find_cloud(self, cloud_id: Id) -> Call[Cloud]:
        """#5 Find an Interop Cloud."""
        return get(interop("/clouds/{}", cloud_id), one(Cloud))

    @operation
    def delete_cloud(self, cloud_id: Id) -> Call[None]:
        """#6 Delete an Interop Cloud (409 while tenants are installed in it)."""
        return delete(interop("/clouds/{}", cloud_id))

    @operation
    def list_cloud_actors(
        self,
        cloud_id: Id,
        *,
        include_credentials: bool | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Actor]]:
        """#7 List all Actors in an Interop Cloud (``include_credentials``: with secrets)."""
        params = paging(page, page_size, include_credentials=include_credentials)
        return get_page(interop("/clouds/{}/actors", cloud_id), Actor, params)

    iter_actors = pages(list_actors)
    iter_clouds = pages(list_clouds)
    iter_search_clouds = pages(search_clouds)
    iter_cloud_actors = pages(list_cloud_actors)

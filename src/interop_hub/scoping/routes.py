"""Interop API #22–#33: a tenant's scoping schools and courses (HTTP only).

The tenant is the one of the calling actor's credentials. ``{id}`` is the school's or course's
``$sys.id`` or its source id (``school_ref_id``, ``course_ref_id``). Writes that name a school
or course the district does not have are 400; finding one is 404.

The two halves are the same six operations; :func:`_half` registers them for each (this module
does not postpone annotations, so the handlers' parameter types are the half's own models).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from interop_hub.auth.dependencies import HubDep, PrincipalDep, SessionDep
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope, listing, one
from interop_hub.kit.paging import PageRequest, paging_params
from interop_hub.scoping import service
from interop_hub.scoping.schemas import (
    ScopingCourse,
    ScopingCourseIn,
    ScopingCoursesIn,
    ScopingSchool,
    ScopingSchoolIn,
    ScopingSchoolsIn,
)
from interop_hub.tenants.service import own_tenant

router = APIRouter(prefix="/v2/interop/tenant/scoping", tags=["Interop API: scoping"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {**ERROR_RESPONSES[401], "description": "Not the tenant's actor credentials"},
}
Paging = Annotated[PageRequest, Depends(paging_params)]
Replace = Annotated[
    bool,
    Query(
        description="true to replace existing selections, false to add to them (an item with "
        "`selected` false then leaves that one out)"
    ),
]
Selected = Annotated[
    bool | None, Query(description="Only the selected (true) or unselected (false) ones")
]
ABOUT_WRITES = (
    " A change of scoping sends the tenant one sync (`origin` = `scoping`): `ADD` for what it "
    "now sees, `DELETE` for what it no longer sees, `UPDATE` for what shows references that "
    "came or went."
)


def _half(
    half: service.Half,
    *,
    out: type[BaseModel],
    item_in: type[BaseModel],
    items_in: type[BaseModel],
    about_list: str,
) -> None:
    """Register #22–#27 (schools) or #28–#33 (courses)."""
    noun, path = half.noun, f"/{half.noun}s"
    title, titles = f"Scoping {noun.capitalize()}", f"Scoping {noun.capitalize()}s"
    operation, operations = title.replace(" ", ""), titles.replace(" ", "")
    deleted = {"status_code": 204, "response_class": Response, "responses": RESPONSES}

    @router.get(
        path,
        operation_id=f"list{operations}",
        summary=f"List {titles}",
        description=about_list,
        response_model=ListEnvelope[out],  # type: ignore[valid-type]
        responses=RESPONSES,
    )
    def list_all(
        session: SessionDep, principal: PrincipalDep, paging: Paging, selected: Selected = None
    ) -> ListEnvelope[Any]:
        page = service.listing(session, own_tenant(session, principal), half, paging, selected)
        return listing(page.items, page.next)

    @router.post(
        path,
        operation_id=f"create{operations}",
        summary=f"Create {titles} (replace, default true)",
        description=f"Select {noun}s by `{half.id_field}` or `{half.ref_field}`." + ABOUT_WRITES,
        response_model=ListEnvelope[out],  # type: ignore[valid-type]
        responses=RESPONSES,
    )
    def post(
        body: items_in,  # type: ignore[valid-type]
        session: SessionDep,
        hub: HubDep,
        principal: PrincipalDep,
        replace: Replace = True,
    ) -> ListEnvelope[Any]:
        tenant = own_tenant(session, principal)
        items = body.data  # type: ignore[attr-defined]
        return listing(
            service.post(session, tenant.id, half, items, replace=replace, now=hub.now())
        )

    @router.delete(
        path,
        operation_id=f"delete{operations}",
        summary=f"Delete {titles}",
        description=f"Unselect every {noun}." + ABOUT_WRITES,
        **deleted,  # type: ignore[arg-type]
    )
    def delete_all(session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
        service.remove(session, own_tenant(session, principal).id, half, None, hub.now())
        return Response(status_code=204)

    @router.get(
        path + "/{id}",
        operation_id=f"find{operation}",
        summary=f"Find {title}",
        response_model=DataEnvelope[out],  # type: ignore[valid-type]
        responses=RESPONSES,
    )
    def find(id: str, session: SessionDep, principal: PrincipalDep) -> DataEnvelope[Any]:
        return one(service.find(session, own_tenant(session, principal), half, id))

    @router.put(
        path + "/{id}",
        operation_id=f"update{operation}",
        summary=f"Update {title}",
        description=f"`selected` true selects the {noun}, false leaves it out." + ABOUT_WRITES,
        response_model=DataEnvelope[out],  # type: ignore[valid-type]
        responses=RESPONSES,
    )
    def put(
        id: str,
        body: item_in,  # type: ignore[valid-type]
        session: SessionDep,
        hub: HubDep,
        principal: PrincipalDep,
    ) -> DataEnvelope[Any]:
        tenant = own_tenant(session, principal)
        return one(service.put(session, tenant.id, half, id, body, hub.now()))

    @router.delete(
        path + "/{id}",
        operation_id=f"delete{operation}",
        summary=f"Delete {title}",
        description=f"Unselect the {noun}." + ABOUT_WRITES,
        **deleted,  # type: ignore[arg-type]
    )
    def delete_one(id: str, session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
        service.remove(session, own_tenant(session, principal).id, half, id, hub.now())
        return Response(status_code=204)


_half(
    service.SCHOOLS,
    out=ScopingSchool,
    item_in=ScopingSchoolIn,
    items_in=ScopingSchoolsIn,
    about_list="The district's schools, each with `selected`. With none selected the tenant "
    "sees the whole district.",
)
_half(
    service.COURSES,
    out=ScopingCourse,
    item_in=ScopingCourseIn,
    items_in=ScopingCoursesIn,
    about_list="The district's courses, each with `selected`. Selected courses narrow the "
    "sections (and their members) the tenant sees.",
)

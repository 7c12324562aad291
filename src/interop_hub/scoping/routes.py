"""Interop API #22–#33: a tenant's scoping schools and courses (HTTP only).

The tenant is the one of the calling actor's credentials. ``{id}`` is the school's or course's
``$sys.id`` or its source id (``school_ref_id``, ``course_ref_id``). Writes that name a school
or course the district does not have are 400; finding one is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

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


# --- schools ----------------------------------------------------------------------------------


@router.get(
    "/schools",
    operation_id="listScopingSchools",
    summary="List Scoping Schools",
    response_model=ListEnvelope[ScopingSchool],
    responses=RESPONSES,
)
def list_schools(
    session: SessionDep, principal: PrincipalDep, paging: Paging, selected: Selected = None
) -> ListEnvelope[Any]:
    """The district's schools, each with `selected`. With none selected the tenant sees the
    whole district."""
    tenant = own_tenant(session, principal)
    page = service.listing(session, tenant, service.SCHOOLS, paging, selected)
    return listing(page.items, page.next)


@router.post(
    "/schools",
    operation_id="createScopingSchools",
    summary="Create Scoping Schools (replace, default true)",
    response_model=ListEnvelope[ScopingSchool],
    responses=RESPONSES,
    description="Select schools by `school_id` or `school_ref_id`." + ABOUT_WRITES,
)
def post_schools(
    body: ScopingSchoolsIn,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    replace: Replace = True,
) -> ListEnvelope[Any]:
    tenant = own_tenant(session, principal)
    found = service.post(
        session, tenant.id, service.SCHOOLS, body.data, replace=replace, now=hub.now()
    )
    return listing(found)


@router.delete(
    "/schools",
    operation_id="deleteScopingSchools",
    summary="Delete Scoping Schools",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
    description="Unselect every school." + ABOUT_WRITES,
)
def delete_schools(session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
    tenant = own_tenant(session, principal)
    service.remove(session, tenant.id, service.SCHOOLS, None, hub.now())
    return Response(status_code=204)


@router.get(
    "/schools/{id}",
    operation_id="findScopingSchool",
    summary="Find Scoping School",
    response_model=DataEnvelope[ScopingSchool],
    responses=RESPONSES,
)
def find_school(id: str, session: SessionDep, principal: PrincipalDep) -> DataEnvelope[Any]:
    tenant = own_tenant(session, principal)
    return one(service.find(session, tenant, service.SCHOOLS, id))


@router.put(
    "/schools/{id}",
    operation_id="updateScopingSchool",
    summary="Update Scoping School",
    response_model=DataEnvelope[ScopingSchool],
    responses=RESPONSES,
    description="`selected` true selects the school, false leaves it out." + ABOUT_WRITES,
)
def put_school(
    id: str, body: ScopingSchoolIn, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[Any]:
    tenant = own_tenant(session, principal)
    return one(service.put(session, tenant.id, service.SCHOOLS, id, body, hub.now()))


@router.delete(
    "/schools/{id}",
    operation_id="deleteScopingSchool",
    summary="Delete Scoping School",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
    description="Unselect the school." + ABOUT_WRITES,
)
def delete_school(id: str, session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
    tenant = own_tenant(session, principal)
    service.remove(session, tenant.id, service.SCHOOLS, id, hub.now())
    return Response(status_code=204)


# --- courses ----------------------------------------------------------------------------------


@router.get(
    "/courses",
    operation_id="listScopingCourses",
    summary="List Scoping Courses",
    response_model=ListEnvelope[ScopingCourse],
    responses=RESPONSES,
)
def list_courses(
    session: SessionDep, principal: PrincipalDep, paging: Paging, selected: Selected = None
) -> ListEnvelope[Any]:
    """The district's courses, each with `selected`. Selected courses narrow the sections
    (and their members) the tenant sees."""
    tenant = own_tenant(session, principal)
    page = service.listing(session, tenant, service.COURSES, paging, selected)
    return listing(page.items, page.next)


@router.post(
    "/courses",
    operation_id="createScopingCourses",
    summary="Create Scoping Courses (replace, default true)",
    response_model=ListEnvelope[ScopingCourse],
    responses=RESPONSES,
    description="Select courses by `course_id` or `course_ref_id`." + ABOUT_WRITES,
)
def post_courses(
    body: ScopingCoursesIn,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    replace: Replace = True,
) -> ListEnvelope[Any]:
    tenant = own_tenant(session, principal)
    found = service.post(
        session, tenant.id, service.COURSES, body.data, replace=replace, now=hub.now()
    )
    return listing(found)


@router.delete(
    "/courses",
    operation_id="deleteScopingCourses",
    summary="Delete Scoping Courses",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
    description="Unselect every course." + ABOUT_WRITES,
)
def delete_courses(session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
    tenant = own_tenant(session, principal)
    service.remove(session, tenant.id, service.COURSES, None, hub.now())
    return Response(status_code=204)


@router.get(
    "/courses/{id}",
    operation_id="findScopingCourse",
    summary="Find Scoping Course",
    response_model=DataEnvelope[ScopingCourse],
    responses=RESPONSES,
)
def find_course(id: str, session: SessionDep, principal: PrincipalDep) -> DataEnvelope[Any]:
    tenant = own_tenant(session, principal)
    return one(service.find(session, tenant, service.COURSES, id))


@router.put(
    "/courses/{id}",
    operation_id="updateScopingCourse",
    summary="Update Scoping Course",
    response_model=DataEnvelope[ScopingCourse],
    responses=RESPONSES,
    description="`selected` true selects the course, false leaves it out." + ABOUT_WRITES,
)
def put_course(
    id: str, body: ScopingCourseIn, session: SessionDep, hub: HubDep, principal: PrincipalDep
) -> DataEnvelope[Any]:
    tenant = own_tenant(session, principal)
    return one(service.put(session, tenant.id, service.COURSES, id, body, hub.now()))


@router.delete(
    "/courses/{id}",
    operation_id="deleteScopingCourse",
    summary="Delete Scoping Course",
    status_code=204,
    response_class=Response,
    responses=RESPONSES,
    description="Unselect the course." + ABOUT_WRITES,
)
def delete_course(id: str, session: SessionDep, hub: HubDep, principal: PrincipalDep) -> Response:
    tenant = own_tenant(session, principal)
    service.remove(session, tenant.id, service.COURSES, id, hub.now())
    return Response(status_code=204)

"""Interop Data API #60–#80: the rostering query API and grading categories (HTTP only).

Every route reads the Repository of the calling actor's cloud; an object of another cloud is
404. The JSON is written with orjson straight from the rendered dicts (lists can hold thousands of
objects, and there is nothing left to validate), stored renderings spliced in as they are (see
:mod:`interop_hub.rostering.stored`), or, for a whole-cloud list's page that is only such text,
joined by PostgreSQL (:func:`service.list_json`); ``response_model`` still documents the envelope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from interop_hub.auth.dependencies import (
    PrincipalDep,
    SessionDep,
    bearer_claims,
    get_principal,
    hub_of,
)
from interop_hub.kit.db import read_again_once
from interop_hub.kit.envelope import ERROR_RESPONSES, DataEnvelope, ListEnvelope
from interop_hub.kit.paging import Page, PageRequest, page_request_from, paging_params, plain_paging
from interop_hub.rostering import service
from interop_hub.rostering.queries import COURSE, GRADING_CATEGORY, ORG, PERSON, SECTION, TERM
from interop_hub.tasks.routes import FAST_PATHS, FastPathRoute

router = APIRouter(
    prefix="/v2/interop/data", tags=["Interop Data API: rostering"], route_class=FastPathRoute
)
Paging = Annotated[PageRequest, Depends(paging_params)]
Listed = ListEnvelope[dict[str, Any]]
Found = DataEnvelope[dict[str, Any]]
Handler = TypeVar("Handler", bound=Callable[..., Any])
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {**ERROR_RESPONSES[401], "description": "Not an actor's credentials"},
}


def actor_reader(session: SessionDep, principal: PrincipalDep) -> service.Reader:
    return service.reader_of(session, principal)


Cloud = Annotated[service.Reader, Depends(actor_reader)]


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


def _list(page: Page[Any]) -> Response:
    return Response(service.page_json(page), media_type="application/json")


def _whole_list(
    session: Session, cloud: service.Reader, paging: PageRequest, kind: str, sub: str | None = None
) -> Response:
    """A page of a whole-cloud list (:func:`service.list_json`)."""
    body = service.list_json(session, cloud, paging, kind, sub)
    return Response(body, media_type="application/json")


def _one(item: dict[str, Any]) -> Response:
    return _json({"data": item})


def _get_list(path: str, operation_id: str, summary: str) -> Callable[[Handler], Handler]:
    return router.get(
        path,
        operation_id=operation_id,
        summary=summary,
        response_model=Listed,
        responses=RESPONSES,
    )


def _get_one(path: str, operation_id: str, summary: str) -> Callable[[Handler], Handler]:
    return router.get(
        path, operation_id=operation_id, summary=summary, response_model=Found, responses=RESPONSES
    )


# --- orgs ---------------------------------------------------------------------------------------


@_get_list("/rostering/orgs", "listOrgs", "List all Orgs")
def list_orgs(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, ORG)


@_get_list("/rostering/leas", "listLeas", "List all LEA-type Orgs")
def list_leas(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, ORG, "lea")


@_get_list("/rostering/schools", "listSchools", "List all School-type Orgs")
def list_schools(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, ORG, "school")


@_get_one("/rostering/orgs/{id}", "findOrg", "Find an Org by $sys.id")
def find_org(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, ORG, id))


@_get_list(
    "/rostering/orgs/{id}/students", "listOrgStudents", "List Students that are members of an Org"
)
def list_org_students(id: uuid.UUID, session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _list(service.list_of_org(session, cloud, id, "students", paging))


@_get_list(
    "/rostering/orgs/{id}/teachers", "listOrgTeachers", "List Teachers that are members of an Org"
)
def list_org_teachers(id: uuid.UUID, session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _list(service.list_of_org(session, cloud, id, "teachers", paging))


@_get_list("/rostering/orgs/{id}/courses", "listOrgCourses", "List Courses that belong to an Org")
def list_org_courses(id: uuid.UUID, session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _list(service.list_of_org(session, cloud, id, "courses", paging))


@_get_list(
    "/rostering/orgs/{id}/sections", "listOrgSections", "List Sections that belong to an Org"
)
def list_org_sections(id: uuid.UUID, session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _list(service.list_of_org(session, cloud, id, "sections", paging))


@_get_list("/rostering/orgs/{id}/terms", "listOrgTerms", "List Terms that belong to an Org")
def list_org_terms(id: uuid.UUID, session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _list(service.list_of_org(session, cloud, id, "terms", paging))


@_get_one("/rostering/leas/{id}", "findLea", "Find an LEA-type Org by $sys.id")
def find_lea(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, ORG, id, "lea"))


# --- persons ------------------------------------------------------------------------------------


@_get_list("/rostering/persons", "listPersons", "Get all Persons")
def list_persons(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, PERSON)


@_get_list("/rostering/students", "listStudents", "List all Student-type Persons")
def list_students(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, PERSON, "student")


@_get_list("/rostering/teachers", "listTeachers", "List all Teacher-type Persons")
def list_teachers(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, PERSON, "teacher")


@_get_one("/rostering/persons/{id}", "findPerson", "Find a Person by $sys.id")
def find_person(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, PERSON, id))


# --- courses, sections, terms -------------------------------------------------------------------


@_get_list("/rostering/courses", "listCourses", "List all Courses")
def list_courses(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, COURSE)


@_get_one("/rostering/courses/{id}", "findCourse", "Find a Course by $sys.id")
def find_course(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, COURSE, id))


@_get_list("/rostering/sections", "listSections", "List all Sections")
def list_sections(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, SECTION)


@_get_one("/rostering/sections/{id}", "findSection", "Find a Section by $sys.id")
def find_section(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, SECTION, id))


@_get_list("/rostering/terms", "listTerms", "List all Terms")
def list_terms(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, TERM)


@_get_one("/rostering/terms/{id}", "findTerm", "Find a Term by $sys.id")
def find_term(id: uuid.UUID, session: SessionDep, cloud: Cloud) -> Response:
    return _one(service.find_object(session, cloud, TERM, id))


# --- grades -------------------------------------------------------------------------------------


@_get_list("/grades/gradingCategories", "listGradingCategories", "List all Grading Categories")
def list_grading_categories(session: SessionDep, cloud: Cloud, paging: Paging) -> Response:
    return _whole_list(session, cloud, paging, GRADING_CATEGORY)


# --- fast paths ---------------------------------------------------------------------------------
# A list of the whole cloud (no path parameter) read with plain paging parameters skips
# FastAPI's dependency solving and its thread hops (~1.5 ms of a ~5 ms page of 100 stored
# students; see ``FastPathRoute``): one hop into the threadpool, then what the declared route
# does — the same session, the same principal check, the same reader and the same page. Any
# other request (a parameter FastAPI would refuse, a repeated one) goes through FastAPI.

LIST_THREADS = 2
"""Two: one thread's page runs in Python while the other's waits for PostgreSQL. With a page
now ~2 ms of CPU, four let each page wait behind the GIL for the other three: the same
requests per second (~400 with 32 lean clients, 20,000 students) but p99 150–230 ms where two
give 95–110 ms (issue 3's latency step, measured back to back)."""


def _threads(request: Request) -> anyio.CapacityLimiter:
    """The threads this app's fast lists run in, at most :data:`LIST_THREADS` at once (made in
    the app's event loop on first use, kept on the app: a limiter belongs to one loop).

    Without a bound, every request in flight gets a thread of its own (the default pool has
    40): dozens of threads that each release the GIL at every round trip to the database wait
    again for it behind all the others, so a page's latency grows with the requests in flight
    and a few wait many times longer than the rest. Pages waiting for a thread wait in order."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "list_threads", None)
    if limiter is None:
        limiter = state.list_threads = anyio.CapacityLimiter(LIST_THREADS)
    return limiter


def _fast_list(kind: str, subtype: str | None) -> Callable[[Request], Any]:
    async def fast(request: Request) -> Response | None:
        paging = plain_paging(request)
        if paging is None:
            return None
        serve = partial(_serve_list, request, kind, subtype, *paging)
        return await anyio.to_thread.run_sync(serve, limiter=_threads(request))

    return fast


def _serve_list(
    request: Request,
    kind: str,
    subtype: str | None,
    page: int,
    page_size: int | None,
    cursor: str | None,
) -> Response:
    """A page of a whole-cloud list, read through the hub's read sessions (on PostgreSQL each
    statement on its own: a page's objects and renderings are one statement, and under READ
    COMMITTED every statement reads its own snapshot anyway), read again once should its
    connection turn out broken (:func:`~interop_hub.kit.db.read_again_once`)."""
    hub = hub_of(request)

    def read() -> Response:
        with hub.read_sessions() as session:
            claims = bearer_claims(request, hub)
            if claims is not None and claims.kind == "actor":
                principal, reader = service.actor_reader(session, claims)
                request.state.principal = principal  # as get_principal leaves it
            else:
                reader = service.reader_of(session, get_principal(request, session, hub))
            maximum = request.app.state.max_page_size
            paging = page_request_from(request, page, page_size, cursor, maximum)
            return _whole_list(session, reader, paging, kind, subtype)

    return read_again_once(read)


for _endpoint, _kind, _subtype in (
    (list_orgs, ORG, None),
    (list_leas, ORG, "lea"),
    (list_schools, ORG, "school"),
    (list_persons, PERSON, None),
    (list_students, PERSON, "student"),
    (list_teachers, PERSON, "teacher"),
    (list_courses, COURSE, None),
    (list_sections, SECTION, None),
    (list_terms, TERM, None),
    (list_grading_categories, GRADING_CATEGORY, None),
):
    FAST_PATHS[_endpoint] = _fast_list(_kind, _subtype)

"""Interop API #22–#33: scoping, the schools and courses a tenant sees.

The two halves are alike; each operation names its half and hands over to a shared builder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from interop_hub.client.answers import Page, many, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import (
    Call,
    Id,
    delete,
    get,
    get_page,
    interop,
    json_of,
    paging,
    query,
)
from interop_hub.client.models import Model, ScopingCourse, ScopingSchool

S = TypeVar("S", bound=Model)
SCHOOLS = "/tenant/scoping/schools"
COURSES = "/tenant/scoping/courses"


def _create(
    base: str, model: type[S], items: Iterable[Model | Mapping[str, Any]], replace: bool
) -> Call[list[S]]:
    json = {"data": [json_of(item) for item in items]}
    return Call("POST", interop(base), many(model), params=query(replace=replace), json=json)


def _update(base: str, model: type[S], item_id: Id, item: Model | Mapping[str, Any]) -> Call[S]:
    return Call("PUT", interop(base + "/{}", item_id), one(model), json=json_of(item))


class ScopingOperations:
    @operation
    def list_scoping_schools(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[ScopingSchool]]:
        """#22 List Scoping Schools."""
        return get_page(interop(SCHOOLS), ScopingSchool, paging(page, page_size))

    @operation
    def create_scoping_schools(
        self, schools: Iterable[ScopingSchool | Mapping[str, Any]], *, replace: bool = True
    ) -> Call[list[ScopingSchool]]:
        """#23 Create Scoping Schools (``replace``: instead of the existing ones)."""
        return _create(SCHOOLS, ScopingSchool, schools, replace)

    @operation
    def delete_scoping_schools(self) -> Call[None]:
        """#24 Delete Scoping Schools."""
        return delete(interop(SCHOOLS))

    @operation
    def find_scoping_school(self, school_id: Id) -> Call[ScopingSchool]:
        """#25 Find Scoping School."""
        return get(interop(SCHOOLS + "/{}", school_id), one(ScopingSchool))

    @operation
    def update_scoping_school(
        self, school_id: Id, school: ScopingSchool | Mapping[str, Any]
    ) -> Call[ScopingSchool]:
        """#26 Update Scoping School."""
        return _update(SCHOOLS, ScopingSchool, school_id, school)

    @operation
    def delete_scoping_school(self, school_id: Id) -> Call[None]:
        """#27 Delete Scoping School."""
        return delete(interop(SCHOOLS + "/{}", school_id))

    @operation
    def list_scoping_courses(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[ScopingCourse]]:
        """#28 List Scoping Courses."""
        return get_page(interop(COURSES), ScopingCourse, paging(page, page_size))

    @operation
    def create_scoping_courses(
        self, courses: Iterable[ScopingCourse | Mapping[str, Any]], *, replace: bool = True
    ) -> Call[list[ScopingCourse]]:
        """#29 Create Scoping Courses (``replace``: instead of the existing ones)."""
        return _create(COURSES, ScopingCourse, courses, replace)

    @operation
    def delete_scoping_courses(self) -> Call[None]:
        """#30 Delete Scoping Courses."""
        return delete(interop(COURSES))

    @operation
    def find_scoping_course(self, course_id: Id) -> Call[ScopingCourse]:
        """#31 Find Scoping Course."""
        return get(interop(COURSES + "/{}", course_id), one(ScopingCourse))

    @operation
    def update_scoping_course(
        self, course_id: Id, course: ScopingCourse | Mapping[str, Any]
    ) -> Call[ScopingCourse]:
        """#32 Update Scoping Course."""
        return _update(COURSES, ScopingCourse, course_id, course)

    @operation
    def delete_scoping_course(self, course_id: Id) -> Call[None]:
        """#33 Delete Scoping Course."""
        return delete(interop(COURSES + "/{}", course_id))

    iter_scoping_schools = pages(list_scoping_schools)
    iter_scoping_courses = pages(list_scoping_courses)

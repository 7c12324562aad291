"""Interop Data API #60–#80: the rostering query API of the caller's cloud, as its blueprint
projects it."""

from __future__ import annotations

from typing import TypeVar

from interop_hub.client.answers import Page, one
from interop_hub.client.binding import operation, pages
from interop_hub.client.calls import Call, Id, data_api, get, get_page, paging
from interop_hub.client.models import Course, GradingCategory, Org, Person, Section, Term
from interop_hub.client.models.base import Model

M = TypeVar("M", bound=Model)


def _list(url: str, model: type[M], page: int | None, page_size: int | None) -> Call[Page[M]]:
    return get_page(url, model, paging(page, page_size))


def _find(template: str, model: type[M], object_id: Id) -> Call[M]:
    return get(data_api(template, object_id), one(model))


class RosteringOperations:
    # --- orgs -----------------------------------------------------------------------------------

    @operation
    def list_orgs(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Org]]:
        """#60 List all Orgs."""
        return _list(data_api("/rostering/orgs"), Org, page, page_size)

    @operation
    def list_leas(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Org]]:
        """#61 List all LEA-type Orgs."""
        return _list(data_api("/rostering/leas"), Org, page, page_size)

    @operation
    def list_schools(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Org]]:
        """#62 List all School-type Orgs."""
        return _list(data_api("/rostering/schools"), Org, page, page_size)

    @operation
    def find_org(self, org_id: Id) -> Call[Org]:
        """#63 Find an Org by $sys.id."""
        return _find("/rostering/orgs/{}", Org, org_id)

    @operation
    def list_org_students(
        self, org_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Person]]:
        """#64 List Students that are members of an Org."""
        return _list(data_api("/rostering/orgs/{}/students", org_id), Person, page, page_size)

    @operation
    def list_org_teachers(
        self, org_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Person]]:
        """#65 List Teachers that are members of an Org."""
        return _list(data_api("/rostering/orgs/{}/teachers", org_id), Person, page, page_size)

    @operation
    def list_org_courses(
        self, org_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Course]]:
        """#66 List Courses that belong to an Org."""
        return _list(data_api("/rostering/orgs/{}/courses", org_id), Course, page, page_size)

    @operation
    def list_org_sections(
        self, org_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Section]]:
        """#67 List Sections that belong to an Org."""
        return _list(data_api("/rostering/orgs/{}/sections", org_id), Section, page, page_size)

    @operation
    def list_org_terms(
        self, org_id: Id, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Term]]:
        """#68 List Terms that belong to an Org."""
        return _list(data_api("/rostering/orgs/{}/terms", org_id), Term, page, page_size)

    @operation
    def find_lea(self, lea_id: Id) -> Call[Org]:
        """#69 Find an LEA-type Org by $sys.id."""
        return _find("/rostering/leas/{}", Org, lea_id)

    # --- persons --------------------------------------------------------------------------------

    @operation
    def list_persons(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Person]]:
        """#70 Get all Persons."""
        return _list(data_api("/rostering/persons"), Person, page, page_size)

    @operation
    def list_students(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Person]]:
        """#71 List all Student-type Persons."""
        return _list(data_api("/rostering/students"), Person, page, page_size)

    @operation
    def list_teachers(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Person]]:
        """#72 List all Teacher-type Persons."""
        return _list(data_api("/rostering/teachers"), Person, page, page_size)

    @operation
    def find_person(self, person_id: Id) -> Call[Person]:
        """#73 Find a Person by $sys.id."""
        return _find("/rostering/persons/{}", Person, person_id)

    # --- courses, sections, terms, grading categories -------------------------------------------

    @operation
    def list_courses(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Course]]:
        """#74 List all Courses."""
        return _list(data_api("/rostering/courses"), Course, page, page_size)

    @operation
    def find_course(self, course_id: Id) -> Call[Course]:
        """#75 Find a Course by $sys.id."""
        return _find("/rostering/courses/{}", Course, course_id)

    @operation
    def list_sections(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Section]]:
        """#76 List all Sections."""
        return _list(data_api("/rostering/sections"), Section, page, page_size)

    @operation
    def find_section(self, section_id: Id) -> Call[Section]:
        """#77 Find a Section by $sys.id."""
        return _find("/rostering/sections/{}", Section, section_id)

    @operation
    def list_terms(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Term]]:
        """#78 List all Terms."""
        return _list(data_api("/rostering/terms"), Term, page, page_size)

    @operation
    def find_term(self, term_id: Id) -> Call[Term]:
        """#79 Find a Term by $sys.id."""
        return _find("/rostering/terms/{}", Term, term_id)

    @operation
    def list_grading_categories(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[GradingCategory]]:
        """#80 List all Grading Categories."""
        return _list(data_api("/grades/gradingCategories"), GradingCategory, page, page_size)

    iter_orgs = pages(list_orgs)
    iter_leas = pages(list_leas)
    iter_schools = pages(list_schools)
    iter_org_students = pages(list_org_students)
    iter_org_teachers = pages(list_org_teachers)
    iter_org_courses = pages(list_org_courses)
    iter_org_sections = pages(list_org_sections)
    iter_org_terms = pages(list_org_terms)
    iter_persons = pages(list_persons)
    iter_students = pages(list_students)
    iter_teachers = pages(list_teachers)
    iter_courses = pages(list_courses)
    iter_sections = pages(list_sections)
    iter_terms = pages(list_terms)
    iter_grading_categories = pages(list_grading_categories)

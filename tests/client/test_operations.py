"""The operations the walkthrough leaves out, against the app in-process: the whole rostering
query API of a tenant that sees everything (its answers read into the models), the rest of the
integration and cloud life cycles, and running a schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_hub.client import BadRequest, Conflict, InteropClient, NotFound
from interop_hub.client.models import Course, GradingCategory, Person, Section, Term
from interop_hub.runtime import Hub
from tests.client.conftest import STUDENTS, Accounts, Connect, install
from tests.factories import blueprint, full_blueprint


def test_the_rostering_query_api(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir, full_blueprint("1.0"))
    with connect(client_id=site.client_id, client_secret=site.client_secret) as tenant:
        walk_the_orgs(tenant)
        walk_the_persons(tenant)
        walk_the_sections(tenant)
        walk_the_terms(tenant)
        categories = list(tenant.iter_grading_categories(page_size=3))
        assert categories
        assert all(isinstance(c, GradingCategory) and c.name for c in categories)


def walk_the_orgs(tenant: InteropClient) -> None:
    orgs = list(tenant.iter_orgs(page_size=2))
    (lea,) = tenant.list_leas()
    schools = list(tenant.iter_schools(page_size=1))
    assert {o.id for o in orgs} == {lea.id} | {s.id for s in schools}
    assert tenant.find_lea(lea.id) == lea
    assert tenant.find_org(schools[0].id) == schools[0]
    assert lea.sys.org_type == "lea"
    assert lea.children is not None
    assert {c.id for c in lea.children} == {s.id for s in schools}
    assert all(s.parent is not None and s.parent.id == lea.id for s in schools)
    with pytest.raises(NotFound):
        tenant.find_lea(schools[0].id)  # a school is not an LEA
    school = schools[0].id
    assert all(isinstance(c, Course) for c in tenant.iter_org_courses(school))
    assert all(isinstance(s, Section) for s in tenant.iter_org_sections(school))
    assert all(isinstance(t, Term) for t in tenant.iter_org_terms(lea.id))
    assert all(isinstance(t, Person) for t in tenant.iter_org_teachers(school))


def walk_the_persons(tenant: InteropClient) -> None:
    persons = list(tenant.iter_persons(page_size=7))
    students = list(tenant.iter_students(page_size=7))
    teachers = list(tenant.iter_teachers(page_size=7))
    assert len(students) == STUDENTS
    assert teachers
    assert {p.id for p in students + teachers} <= {p.id for p in persons}
    student = tenant.find_person(students[0].id)
    assert student.sys.source_id["sis"]
    assert student.sys.created_at is not None
    assert student.name is not None
    assert student.name.last
    assert student.sections
    assert student.sections[0].membership is not None
    assert student.sections[0].membership.role == "student"


def walk_the_sections(tenant: InteropClient) -> None:
    sections = list(tenant.iter_sections(page_size=5))
    section = tenant.find_section(sections[0].id)
    assert section == sections[0]
    assert section.course is not None
    course = tenant.find_course(section.course.id)
    assert course.sections is not None
    assert section.id in {s.id for s in course.sections}
    assert course in list(tenant.iter_courses(page_size=4))
    assert section.org is not None
    assert section.org.org_type == "school"
    assert section.terms
    assert all(m.membership and m.membership.role == "student" for m in section.students or [])
    roster = section.model_dump(by_alias=True, mode="json")
    assert {"$sys", "$ext", "$course", "$org", "$terms", "$students", "$teachers"} <= set(roster)


def walk_the_terms(tenant: InteropClient) -> None:
    terms = list(tenant.iter_terms(page_size=2))
    years = [t for t in terms if t.parent is None]
    assert years
    assert years[0].children
    child = tenant.find_term(years[0].children[0].id)
    assert child.parent is not None
    assert child.parent.id == years[0].id
    assert child.start_date


def test_integration_and_cloud_life_cycles(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)
    with (
        connect(api_key=accounts.vendor.api_key) as vendor,
        connect(api_key=accounts.district.api_key) as district,
    ):
        second = vendor.create_integration_version(site.integration.id, blueprint("1.1"))
        assert second.version == "1.1"
        updated = vendor.update_integration_blueprint(
            site.integration.id, "1.1", full_blueprint("1.1")
        )
        assert "Section" in updated.topics
        with pytest.raises(BadRequest):
            vendor.update_integration_blueprint(site.integration.id, "1.1", "<not-xml")
        vendor.delete_integration_version(site.integration.id, "1.1")
        versions = vendor.list_integration_versions(site.integration.id)
        assert [v.version for v in versions] == ["1.0"]

        other = vendor.create_integration("globex-sis", title="Globex")
        vendor.delete_integration(other.id)
        with pytest.raises(NotFound):
            vendor.find_integration(other.id)

        in_cloud = district.iter_cloud_actors(site.cloud.id)
        tenants = {a.id for a in in_cloud if a.type == "integration"}
        assert {a.id for a in vendor.iter_actors()} == tenants  # the vendor's own tenant's
        spare = district.create_cloud("Spare")
        district.delete_cloud(spare.id)
        assert [c.id for c in district.iter_clouds()] == [site.cloud.id]


def test_running_a_schedule(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)
    with (
        connect(api_key=accounts.operator.api_key) as operator,
        connect(client_id=site.client_id, client_secret=site.client_secret) as tenant,
    ):
        schedule = tenant.create_schedule(1)
        with pytest.raises(BadRequest):
            tenant.run_schedule(schedule.id)  # the cloud has no connector to collect from
        connector = {"type": "oneroster-csv", "source": str(district_dir)}
        operator.request("POST", f"/v2/platform/clouds/{site.cloud.id}/connectors", json=connector)
        tenant.update_schedule(schedule.id, enabled=False)
        with pytest.raises(Conflict) as disabled:
            tenant.run_schedule(schedule.id)
        assert disabled.value.code == "schedule_disabled"
        tenant.update_schedule(schedule.id, enabled=True)
        tenant.run_schedule(schedule.id)
        assert tenant.find_schedule(schedule.id).last_executed_at is not None
        assert tenant.count_ingestions() == 2
        with pytest.raises(Conflict):
            tenant.run_schedule(schedule.id)  # the collection it queued is pending

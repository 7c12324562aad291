"""Each of the 80 operations of ``spec/ENDPOINTS.md`` is a method of both clients, with the
spec's method and path, its number in its docstring, and an ``iter_*`` twin for the paged
lists."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from interop_hub.client import AsyncInteropClient, InteropClient
from interop_hub.client.api import Operations
from interop_hub.client.binding import Operation, Pager

OPERATIONS = {
    "list_actors": (1, "GET", "/v2/interop/actors"),
    "list_clouds": (2, "GET", "/v2/interop/clouds"),
    "create_cloud": (3, "POST", "/v2/interop/clouds"),
    "search_clouds": (4, "GET", "/v2/interop/clouds/search"),
    "find_cloud": (5, "GET", "/v2/interop/clouds/{id}"),
    "delete_cloud": (6, "DELETE", "/v2/interop/clouds/{id}"),
    "list_cloud_actors": (7, "GET", "/v2/interop/clouds/{id}/actors"),
    "list_integrations": (8, "GET", "/v2/interop/integrations"),
    "create_integration": (9, "POST", "/v2/interop/integrations"),
    "list_integration_versions": (10, "GET", "/v2/interop/integrations/{id}/versions"),
    "create_integration_version": (11, "POST", "/v2/interop/integrations/{id}/versions"),
    "update_integration_version": (
        12,
        "PATCH",
        "/v2/interop/integrations/{id}/versions/{version}",
    ),
    "delete_integration_version": (
        13,
        "DELETE",
        "/v2/interop/integrations/{id}/versions/{version}",
    ),
    "update_integration_blueprint": (
        14,
        "PUT",
        "/v2/interop/integrations/{id}/versions/{version}/blueprint",
    ),
    "find_integration": (15, "GET", "/v2/interop/integrations/{id}"),
    "update_integration": (16, "PATCH", "/v2/interop/integrations/{id}"),
    "delete_integration": (17, "DELETE", "/v2/interop/integrations/{id}"),
    "list_tenants": (18, "GET", "/v2/interop/tenants"),
    "find_tenant": (19, "GET", "/v2/interop/tenants/{id}"),
    "get_tenant": (20, "GET", "/v2/interop/tenant"),
    "get_tenant_state": (21, "GET", "/v2/interop/tenant/state"),
    "list_scoping_schools": (22, "GET", "/v2/interop/tenant/scoping/schools"),
    "create_scoping_schools": (23, "POST", "/v2/interop/tenant/scoping/schools"),
    "delete_scoping_schools": (24, "DELETE", "/v2/interop/tenant/scoping/schools"),
    "find_scoping_school": (25, "GET", "/v2/interop/tenant/scoping/schools/{id}"),
    "update_scoping_school": (26, "PUT", "/v2/interop/tenant/scoping/schools/{id}"),
    "delete_scoping_school": (27, "DELETE", "/v2/interop/tenant/scoping/schools/{id}"),
    "list_scoping_courses": (28, "GET", "/v2/interop/tenant/scoping/courses"),
    "create_scoping_courses": (29, "POST", "/v2/interop/tenant/scoping/courses"),
    "delete_scoping_courses": (30, "DELETE", "/v2/interop/tenant/scoping/courses"),
    "find_scoping_course": (31, "GET", "/v2/interop/tenant/scoping/courses/{id}"),
    "update_scoping_course": (32, "PUT", "/v2/interop/tenant/scoping/courses/{id}"),
    "delete_scoping_course": (33, "DELETE", "/v2/interop/tenant/scoping/courses/{id}"),
    "get_tenant_application": (34, "GET", "/v2/interop/tenant/application"),
    "update_tenant_application": (35, "PATCH", "/v2/interop/tenant/application"),
    "list_rollovers": (36, "GET", "/v2/interop/tenant/rollovers"),
    "create_rollover": (37, "POST", "/v2/interop/tenant/rollovers"),
    "count_rollovers": (38, "GET", "/v2/interop/tenant/rollovers/count"),
    "find_rollover": (39, "GET", "/v2/interop/tenant/rollovers/{id}"),
    "update_rollover": (40, "PUT", "/v2/interop/tenant/rollovers/{id}"),
    "delete_rollover": (41, "DELETE", "/v2/interop/tenant/rollovers/{id}"),
    "list_schedules": (42, "GET", "/v2/interop/tenant/schedules"),
    "create_schedule": (43, "POST", "/v2/interop/tenant/schedules"),
    "run_schedule": (44, "POST", "/v2/interop/tenant/schedules/{id}/run"),
    "count_schedules": (45, "GET", "/v2/interop/tenant/schedules/count"),
    "find_schedule": (46, "GET", "/v2/interop/tenant/schedules/{id}"),
    "update_schedule": (47, "PATCH", "/v2/interop/tenant/schedules/{id}"),
    "delete_schedule": (48, "DELETE", "/v2/interop/tenant/schedules/{id}"),
    "list_ingestions": (49, "GET", "/v2/interop/ingestions"),
    "count_ingestions": (50, "GET", "/v2/interop/ingestions/count"),
    "find_ingestion": (51, "GET", "/v2/interop/ingestions/{id}"),
    "list_tasks": (52, "GET", "/v2/interop/data/tasks"),
    "ack_task": (53, "PUT", "/v2/interop/data/tasks/{id}/ack"),
    "ack_tasks": (54, "PUT", "/v2/interop/data/tasks/ack"),
    "list_tasks_admin": (55, "GET", "/v2/interop/data/tasks/admin"),
    "ack_task_admin": (56, "PUT", "/v2/interop/data/tasks/admin/{id}/ack"),
    "ack_tasks_admin": (57, "PUT", "/v2/interop/data/tasks/admin/ack"),
    "find_task": (58, "GET", "/v2/interop/data/tasks/admin/{id}"),
    "delete_task": (59, "DELETE", "/v2/interop/data/tasks/admin/{id}"),
    "list_orgs": (60, "GET", "/v2/interop/data/rostering/orgs"),
    "list_leas": (61, "GET", "/v2/interop/data/rostering/leas"),
    "list_schools": (62, "GET", "/v2/interop/data/rostering/schools"),
    "find_org": (63, "GET", "/v2/interop/data/rostering/orgs/{id}"),
    "list_org_students": (64, "GET", "/v2/interop/data/rostering/orgs/{id}/students"),
    "list_org_teachers": (65, "GET", "/v2/interop/data/rostering/orgs/{id}/teachers"),
    "list_org_courses": (66, "GET", "/v2/interop/data/rostering/orgs/{id}/courses"),
    "list_org_sections": (67, "GET", "/v2/interop/data/rostering/orgs/{id}/sections"),
    "list_org_terms": (68, "GET", "/v2/interop/data/rostering/orgs/{id}/terms"),
    "find_lea": (69, "GET", "/v2/interop/data/rostering/leas/{id}"),
    "list_persons": (70, "GET", "/v2/interop/data/rostering/persons"),
    "list_students": (71, "GET", "/v2/interop/data/rostering/students"),
    "list_teachers": (72, "GET", "/v2/interop/data/rostering/teachers"),
    "find_person": (73, "GET", "/v2/interop/data/rostering/persons/{id}"),
    "list_courses": (74, "GET", "/v2/interop/data/rostering/courses"),
    "find_course": (75, "GET", "/v2/interop/data/rostering/courses/{id}"),
    "list_sections": (76, "GET", "/v2/interop/data/rostering/sections"),
    "find_section": (77, "GET", "/v2/interop/data/rostering/sections/{id}"),
    "list_terms": (78, "GET", "/v2/interop/data/rostering/terms"),
    "find_term": (79, "GET", "/v2/interop/data/rostering/terms/{id}"),
    "list_grading_categories": (80, "GET", "/v2/interop/data/grades/gradingCategories"),
}
NOT_PAGED = {"list_tasks"}  # the managed queue leases batches; it has no pages
ARGUMENTS: dict[str, Any] = {
    "version": "V",
    "name": "N",
    "hour": 1,
    "blueprint": "<IntegrationBlueprint/>",
    "enabled": True,
    "schools": [],
    "courses": [],
    "acks": [],
    "school": {},
    "course": {},
    "rollover": {},
}


def operations() -> dict[str, Operation[Any, Any]]:
    return {
        name: member
        for name, member in vars_of(Operations).items()
        if isinstance(member, Operation) and name != "request"
    }


def vars_of(cls: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        found.update(vars(klass))
    return found


def test_the_80_operations_and_no_other() -> None:
    assert set(operations()) == set(OPERATIONS)
    assert sorted(number for number, _, _ in OPERATIONS.values()) == list(range(1, 81))


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_method_path_and_docstring(name: str) -> None:
    number, method, template = OPERATIONS[name]
    build = operations()[name].build
    parameters = list(inspect.signature(build).parameters.values())[1:]
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    args = {p.name: ARGUMENTS.get(p.name, "ID") for p in required}
    call = build(None, **args)
    assert (call.method, call.url) == (
        method,
        template.replace("{id}", "ID").replace("{version}", "V"),
    )
    assert (build.__doc__ or "").startswith(f"#{number} ")
    for client in (InteropClient, AsyncInteropClient):
        assert isinstance(getattr(client, name), Operation)


def test_every_paged_list_has_an_iterator() -> None:
    pagers = {
        name: member for name, member in vars_of(Operations).items() if isinstance(member, Pager)
    }
    lists = {
        name
        for name in OPERATIONS
        if name.startswith(("list_", "search_")) and name not in NOT_PAGED
    }
    assert {pager.listing.__name__ for pager in pagers.values()} == lists
    for name, pager in pagers.items():
        assert name == "iter_" + pager.listing.__name__.removeprefix("list_")

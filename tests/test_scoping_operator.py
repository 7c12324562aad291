"""Scoping from the operator's side, on SQLite and PostgreSQL: ``interop-hub tenants scoping``
and ``/v2/platform/tenants/{id}/scoping`` (the same service), against the tenant's own
``/v2/interop/tenant/scoping`` view and its task queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import basic, bearer
from tests.test_cli import (
    Cli,
    _no_ambient_settings,
    cli,
    database_url,
    get_token,
    http,
    installed_tenant,
)

__all__ = ["_no_ambient_settings", "cli", "database_url", "http"]  # fixtures


def tenant_view(http: TestClient, token: str, path: str) -> list[dict[str, Any]]:
    response = http.get(f"/v2/interop/tenant/scoping/{path}", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def queued(cli: Cli, tenant_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cli.json(
        "tasks", "list", "--tenant", tenant_id, "--limit", "10000"
    )["data"]
    return found


def test_the_operator_scopes_a_tenant_from_the_command_line(
    cli: Cli, http: TestClient, tmp_path: Path
) -> None:
    tenant = installed_tenant(cli, http, tmp_path)
    token = get_token(http, tenant.client_id, tenant.client_secret).json()["access_token"]
    schools = tenant_view(http, token, "schools")
    assert len(schools) >= 2
    assert not any(s["selected"] for s in schools)
    shown = cli.json("tenants", "scoping", tenant.id)
    assert shown == {"whole_district": True, "schools": [], "courses": []}

    # In setup mode: the selection is stored, nothing is queued.
    chosen = schools[0]
    scoped = cli.json("tenants", "scoping", tenant.id, "--school", chosen["school_ref_id"])
    assert scoped["whole_district"] is False
    assert [s["school_id"] for s in scoped["schools"]] == [chosen["school_id"]]
    assert scoped["tasks_queued"] == 0
    assert [s["selected"] for s in tenant_view(http, token, "schools")] == [
        s["school_id"] == chosen["school_id"] for s in schools
    ]

    # The initial sync is scoped: one school of the district's.
    cli.json("tenants", "activate", tenant.id)
    initial = queued(cli, tenant.id)
    sent_schools = {t["object_id"] for t in initial if t["object_type"] == "School"}
    assert sent_schools == {chosen["school_id"]}

    # Back to the whole district: the other schools (and what they hold) arrive as one sync.
    widened = cli.json("tenants", "scoping", tenant.id, "--whole-district")
    assert widened["whole_district"] is True
    assert widened["tasks_queued"] > 0
    later = queued(cli, tenant.id)[len(initial) :]
    assert len(later) == widened["tasks_queued"]
    assert {t["origin"] for t in later} == {"scoping"}
    assert [later[0]["action"], later[-1]["action"]] == ["SYNC_START", "SYNC_END"]
    added = {t["object_id"] for t in later if t["object_type"] == "School"}
    assert added == {s["school_id"] for s in schools} - {chosen["school_id"]}
    assert {t["action"] for t in later if t["object_type"] == "School"} == {"ADD"}

    # A school the district does not have is refused, and nothing changes.
    refused = cli.fails("tenants", "scoping", tenant.id, "--school", "no-such-school", status=400)
    assert "no-such-school" in refused["message"]
    assert cli.json("tenants", "scoping", tenant.id)["whole_district"] is True
    both = cli.fails(
        "tenants", "scoping", tenant.id, "--whole-district", "--school", "x", status=400
    )
    assert "--whole-district" in both["message"]


def test_the_platform_scoping_routes(cli: Cli, http: TestClient, tmp_path: Path) -> None:
    tenant = installed_tenant(cli, http, tmp_path)
    token = get_token(http, tenant.client_id, tenant.client_secret).json()["access_token"]
    schools = tenant_view(http, token, "schools")
    courses = tenant_view(http, token, "courses")
    operator = basic(tenant.operator_key)
    path = f"/v2/platform/tenants/{tenant.id}/scoping"

    # Only an operator credential: the tenant's own token is refused.
    assert http.get(path, headers=bearer(token)).status_code == 403
    assert http.put(path, json={}, headers=bearer(token)).status_code == 403

    body = {
        "schools": [{"school_id": schools[1]["school_id"]}],
        "courses": [{"course_ref_id": courses[0]["course_ref_id"]}],
    }
    response = http.put(path, json=body, headers=operator)
    assert response.status_code == 200, response.text
    changed = response.json()["data"]
    assert changed["whole_district"] is False
    assert [s["school_id"] for s in changed["schools"]] == [schools[1]["school_id"]]
    assert [c["course_id"] for c in changed["courses"]] == [courses[0]["course_id"]]
    assert changed["tasks_queued"] == 0  # still in setup
    assert http.get(path, headers=operator).json()["data"] == {
        k: v for k, v in changed.items() if k != "tasks_queued"
    }
    selected = [c["course_id"] for c in tenant_view(http, token, "courses") if c["selected"]]
    assert selected == [courses[0]["course_id"]]

    missing = http.put(path, json={"courses": [{"course_ref_id": "nope"}]}, headers=operator)
    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == {"index": 0}
    assert http.get(path, headers=operator).json()["data"]["whole_district"] is False

    cleared = http.put(path, json={}, headers=operator).json()["data"]
    assert cleared["whole_district"] is True
    unknown = http.get(
        "/v2/platform/tenants/00000000-0000-0000-0000-000000000000/scoping", headers=operator
    )
    assert unknown.status_code == 404

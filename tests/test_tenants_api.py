"""Interop API #18 List Interop Tenants, #19 Find Interop Tenant, and the operator's tenant
lifecycle under ``/v2/platform/tenants``."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interop_hub.runtime import Hub
from tests.clock import FakeClock
from tests.factories import (
    World,
    bearer,
    blueprint,
    data,
    error,
    install,
    make_world,
    token,
)

SOME_ID = "5b0c6a8e-2f4d-4e0b-9c1a-7d3e2f1a0b9c"  # parameters must be the same in every worker
TENANT_FIELDS = {
    "id",
    "name",
    "actor_id",
    "account",
    "cloud",
    "integration",
    "license",
    "status",
    "sis_status",
    "auth",
    "app_auth",
    "lti_developer_id",
}


def when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["id"] for item in items)


def new_integration(
    client: TestClient, headers: dict[str, str], name: str, version: str = "1.0"
) -> str:
    created = data(
        client.post(
            "/v2/interop/integrations",
            json={"name": name, "title": name.upper()},
            headers=headers,
        )
    )
    data(
        client.post(
            f"/v2/interop/integrations/{created['id']}/versions",
            content=blueprint(version, name=name),
            headers={**headers, "Content-Type": "application/xml"},
        )
    )
    integration_id: str = created["id"]
    return integration_id


def install_of(
    client: TestClient, world: World, cloud_id: str, integration_id: str, **extra: Any
) -> Any:
    return client.post(
        "/v2/platform/tenants",
        json={"cloud_id": cloud_id, "integration_id": integration_id, **extra},
        headers=world.operator.headers,
    )


def move(client: TestClient, world: World, tenant_id: str, action: str) -> Any:
    return client.post(f"/v2/platform/tenants/{tenant_id}/{action}", headers=world.operator.headers)


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


@pytest.fixture
def tenant(client: TestClient, world: World) -> dict[str, Any]:
    return install(client, world)


# --- the TenantInfo shape -------------------------------------------------------------------


def test_tenant_info_fields(
    client: TestClient, world: World, tenant: dict[str, Any], clock: FakeClock
) -> None:
    info = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.vendor.headers))
    assert set(info) == TENANT_FIELDS
    assert info["id"] == tenant["id"]
    assert info["name"] == "Acme LMS"
    assert info["actor_id"] == tenant["actor_id"]

    account = info["account"]
    assert set(account) == {"id", "name", "public_id", "timezone", "userdata"}
    assert account["id"] == str(world.district.id)
    assert account["name"] == "Springfield USD"
    assert account["public_id"].startswith("springfield-usd-")
    assert account["timezone"] == "UTC"
    assert account["userdata"] is None

    cloud = info["cloud"]
    assert set(cloud) == {"id", "name", "generation", "env"}
    assert cloud["id"] == world.cloud_id
    assert cloud["name"] == "Springfield"
    assert cloud["generation"] == 1
    assert set(cloud["env"]) == {"id", "name"}
    assert cloud["env"]["name"] == "production"
    uuid.UUID(cloud["env"]["id"])

    assert info["integration"] == {"id": world.integration_id, "name": "acme-lms", "version": "1.0"}

    license_ = info["license"]
    assert set(license_) == {"status", "valid_from", "valid_to"}
    assert license_["status"] == "active"
    assert when(license_["valid_from"]) == clock()
    assert license_["valid_to"] is None

    assert info["status"] == {"op_state": "setup", "setup_state": "pending", "last_sync_at": None}
    # No connector yet: the SIS side is not configured.
    assert info["sis_status"] == {
        "op_state": "unconfigured",
        "setup_state": "pending",
        "last_sync_at": None,
    }

    auth = info["auth"]
    assert set(auth) == {"type", "client_id", "client_secret", "updated_at"}
    assert auth["type"] == "oauth2"
    assert auth["client_id"] == tenant["client_id"]
    assert auth["client_secret"] == tenant["client_secret"]
    assert when(auth["updated_at"]) is not None
    assert info["app_auth"] is None
    assert info["lti_developer_id"] is None

    # The list shows the very same object.
    listed = data(client.get("/v2/interop/tenants", headers=world.vendor.headers))
    assert listed == [info]


def test_sis_status_follows_connectors(
    client: TestClient, world: World, tenant: dict[str, Any], tmp_path: Path
) -> None:
    data(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/connectors",
            json={"type": "oneroster-csv", "source": str(tmp_path)},
            headers=world.operator.headers,
        ),
        201,
    )
    info = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.vendor.headers))
    assert info["sis_status"]["op_state"] == "active"
    assert info["sis_status"]["setup_state"] == "complete"


def test_env_is_the_same_for_every_cloud_of_one_env(client: TestClient, world: World) -> None:
    first = install(client, world)
    second = install(client, world, world.other_cloud_id)
    listed = {
        t["id"]: t for t in data(client.get("/v2/interop/tenants", headers=world.vendor.headers))
    }
    assert listed[first["id"]]["cloud"]["env"] == listed[second["id"]]["cloud"]["env"]
    assert listed[first["id"]]["cloud"]["id"] != listed[second["id"]]["cloud"]["id"]
    assert listed[second["id"]]["account"]["name"] == "Shelbyville USD"


# --- who sees what --------------------------------------------------------------------------


def test_vendor_sees_tenants_of_its_integrations(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    listed = data(client.get("/v2/interop/tenants", headers=world.vendor.headers))
    assert ids(listed) == [tenant["id"]]
    assert listed[0]["auth"]["client_secret"] == tenant["client_secret"]


def test_district_sees_tenants_in_its_clouds_without_the_secret(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    listed = data(client.get("/v2/interop/tenants", headers=world.district.headers))
    assert ids(listed) == [tenant["id"]]
    assert listed[0]["auth"]["client_id"] == tenant["client_id"]
    assert listed[0]["auth"]["client_secret"] is None
    found = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.district.headers))
    assert found["auth"]["client_secret"] is None
    assert found["account"]["id"] == str(world.district.id)
    assert tenant["client_secret"] not in str(found)


def test_others_see_nothing(client: TestClient, world: World, tenant: dict[str, Any]) -> None:
    for other in (world.other_vendor, world.other_district):
        assert data(client.get("/v2/interop/tenants", headers=other.headers)) == []
        body = error(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=other.headers), 404)
        assert body["code"] == "not_found"
        assert tenant["client_secret"] not in str(body)


def test_operator_sees_every_tenant(client: TestClient, world: World) -> None:
    first = install(client, world)
    second = install(client, world, world.other_cloud_id)
    listed = data(client.get("/v2/interop/tenants", headers=world.operator.headers))
    assert ids(listed) == sorted([first["id"], second["id"]])
    assert {t["auth"]["client_secret"] for t in listed} == {
        first["client_secret"],
        second["client_secret"],
    }


def test_tenant_token_sees_only_itself(client: TestClient, world: World) -> None:
    mine = install(client, world)
    theirs = install(client, world, world.other_cloud_id)
    headers = bearer(token(client, mine["client_id"], mine["client_secret"]))
    listed = data(client.get("/v2/interop/tenants", headers=headers))
    assert ids(listed) == [mine["id"]]
    assert listed[0]["auth"]["client_secret"] == mine["client_secret"]
    assert (
        data(client.get(f"/v2/interop/tenants/{mine['id']}", headers=headers))["id"] == mine["id"]
    )
    error(client.get(f"/v2/interop/tenants/{theirs['id']}", headers=headers), 404)
    # The filters cannot widen what it sees.
    everyone = f"{world.district.id},{world.other_district.id}"
    assert ids(data(client.get(f"/v2/interop/tenants?accounts={everyone}", headers=headers))) == [
        mine["id"]
    ]


def test_connector_token_sees_no_tenant(
    client: TestClient, world: World, tenant: dict[str, Any], tmp_path: Path
) -> None:
    connector = data(
        client.post(
            f"/v2/platform/clouds/{world.cloud_id}/connectors",
            json={"type": "oneroster-csv", "source": str(tmp_path)},
            headers=world.operator.headers,
        ),
        201,
    )
    headers = bearer(token(client, connector["client_id"], connector["client_secret"]))
    assert data(client.get("/v2/interop/tenants", headers=headers)) == []
    error(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=headers), 404)


# --- filters --------------------------------------------------------------------------------


@dataclass
class Spread:
    lms_here: str
    lms_there: str
    sis_here: str
    globex_here: str
    sis_integration: str


@pytest.fixture
def spread(client: TestClient, world: World) -> Spread:
    """acme-lms in both clouds, acme-sis in the first one, and another vendor's app next to them."""
    sis = new_integration(client, world.vendor.headers, "acme-sis")
    globex = new_integration(client, world.other_vendor.headers, "acme-sis-clone")
    return Spread(
        lms_here=install(client, world)["id"],
        lms_there=install(client, world, world.other_cloud_id)["id"],
        sis_here=data(install_of(client, world, world.cloud_id, sis), 201)["id"],
        globex_here=data(install_of(client, world, world.cloud_id, globex), 201)["id"],
        sis_integration=sis,
    )


def vendor_list(client: TestClient, world: World, query: str) -> list[str]:
    return ids(data(client.get(f"/v2/interop/tenants?{query}", headers=world.vendor.headers)))


def test_vendor_sees_all_its_tenants_without_filters(
    client: TestClient, world: World, spread: Spread
) -> None:
    assert vendor_list(client, world, "") == sorted(
        [spread.lms_here, spread.lms_there, spread.sis_here]
    )


def test_filter_by_accounts(client: TestClient, world: World, spread: Spread) -> None:
    here = str(world.district.id)
    there = str(world.other_district.id)
    assert vendor_list(client, world, f"accounts={here}") == sorted(
        [spread.lms_here, spread.sis_here]
    )
    assert vendor_list(client, world, f"accounts={there}") == [spread.lms_there]
    everything = sorted([spread.lms_here, spread.lms_there, spread.sis_here])
    assert vendor_list(client, world, f"accounts={here},{there}") == everything
    assert vendor_list(client, world, f"accounts={here}&accounts={there}") == everything
    assert vendor_list(client, world, f"accounts={here}, {there}") == everything
    assert vendor_list(client, world, f"accounts={uuid.uuid4()}") == []
    # A vendor account is no district: none of its tenants are "in its clouds".
    assert vendor_list(client, world, f"accounts={world.vendor.id}") == []


def test_filter_by_accounts_for_a_district(
    client: TestClient, world: World, spread: Spread
) -> None:
    listed = data(
        client.get(
            f"/v2/interop/tenants?accounts={world.district.id}", headers=world.district.headers
        )
    )
    assert ids(listed) == sorted([spread.lms_here, spread.sis_here, spread.globex_here])
    listed = data(
        client.get(
            f"/v2/interop/tenants?accounts={world.other_district.id}",
            headers=world.district.headers,
        )
    )
    assert listed == []


@pytest.mark.parametrize("value", ["not-a-uuid", "123", f"{SOME_ID},nope"])
def test_filter_by_malformed_accounts(
    client: TestClient, world: World, spread: Spread, value: str
) -> None:
    body = error(
        client.get(f"/v2/interop/tenants?accounts={value}", headers=world.vendor.headers), 400
    )
    assert "accounts" in body["message"]
    assert "not a UUID" in body["message"]


@pytest.mark.parametrize("param", ["integration", "integrations"])
def test_filter_by_integration(
    client: TestClient, world: World, spread: Spread, param: str
) -> None:
    lms = world.integration_id
    sis = spread.sis_integration
    assert vendor_list(client, world, f"{param}={lms}") == sorted(
        [spread.lms_here, spread.lms_there]
    )
    assert vendor_list(client, world, f"{param}=acme-lms") == sorted(
        [spread.lms_here, spread.lms_there]
    )
    assert vendor_list(client, world, f"{param}=acme-sis") == [spread.sis_here]
    assert vendor_list(client, world, f"{param}={sis}") == [spread.sis_here]
    everything = sorted([spread.lms_here, spread.lms_there, spread.sis_here])
    assert vendor_list(client, world, f"{param}=acme-sis,{lms}") == everything
    assert vendor_list(client, world, f"{param}=acme-sis&{param}=acme-lms") == everything
    assert vendor_list(client, world, f"{param}=unknown-app") == []
    assert vendor_list(client, world, f"{param}={uuid.uuid4()}") == []
    # Another vendor's integration stays invisible, by name or by id.
    assert vendor_list(client, world, f"{param}=acme-sis-clone") == []


def test_both_integration_spellings_together(
    client: TestClient, world: World, spread: Spread
) -> None:
    assert vendor_list(
        client, world, f"integration=acme-sis&integrations={world.integration_id}"
    ) == sorted([spread.lms_here, spread.lms_there, spread.sis_here])


def test_filters_combine(client: TestClient, world: World, spread: Spread) -> None:
    there = world.other_district.id
    assert vendor_list(client, world, f"accounts={there}&integration=acme-sis") == []
    assert vendor_list(client, world, f"accounts={there}&integration=acme-lms") == [
        spread.lms_there
    ]


def test_list_paging(client: TestClient, world: World, spread: Spread) -> None:
    first = client.get("/v2/interop/tenants?page_size=2", headers=world.vendor.headers)
    body = first.json()
    assert len(body["data"]) == 2
    assert body["paging"]["next"] is not None
    second = client.get(body["paging"]["next"], headers=world.vendor.headers).json()
    assert len(second["data"]) == 1
    assert second["paging"]["next"] is None
    assert ids(body["data"] + second["data"]) == sorted(
        [spread.lms_here, spread.lms_there, spread.sis_here]
    )
    # Filters survive in the next link.
    filtered = client.get(
        "/v2/interop/tenants?page_size=1&integration=acme-lms", headers=world.vendor.headers
    ).json()
    assert "integration=acme-lms" in filtered["paging"]["next"]
    rest = data(client.get(filtered["paging"]["next"], headers=world.vendor.headers))
    assert ids(filtered["data"] + rest) == sorted([spread.lms_here, spread.lms_there])


# --- errors ---------------------------------------------------------------------------------


def test_find_unknown_tenant(client: TestClient, world: World) -> None:
    body = error(
        client.get(f"/v2/interop/tenants/{uuid.uuid4()}", headers=world.operator.headers), 404
    )
    assert body["code"] == "not_found"


def test_find_with_malformed_id(client: TestClient, world: World) -> None:
    error(client.get("/v2/interop/tenants/not-a-uuid", headers=world.vendor.headers), 400)


def test_tenants_need_credentials(client: TestClient, world: World, tenant: dict[str, Any]) -> None:
    error(client.get("/v2/interop/tenants"), 401)
    error(client.get(f"/v2/interop/tenants/{tenant['id']}"), 401)
    wrong = {"Authorization": "Basic " + "aWhrXzAwMDAwMDAwLnNlY3JldA=="}  # ihk_00000000.secret
    error(client.get("/v2/interop/tenants", headers=wrong), 401)
    error(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=wrong), 401)
    bad_secret = bearer("x.y.z")
    error(client.get("/v2/interop/tenants", headers=bad_secret), 401)


# --- install --------------------------------------------------------------------------------


def test_install(client: TestClient, world: World, clock: FakeClock) -> None:
    installed = data(install_of(client, world, world.cloud_id, world.integration_id), 201)
    assert set(installed) == {
        "id",
        "actor_id",
        "client_id",
        "client_secret",
        "cloud_id",
        "integration_id",
        "version",
        "name",
        "op_state",
    }
    assert installed["cloud_id"] == world.cloud_id
    assert installed["integration_id"] == world.integration_id
    assert installed["version"] == "1.0"
    assert installed["name"] == "Acme LMS"
    assert installed["op_state"] == "setup"
    assert installed["client_id"].startswith("ihc_")
    assert len(installed["client_secret"]) >= 32
    # The tenant's credentials work right away.
    headers = bearer(token(client, installed["client_id"], installed["client_secret"]))
    assert ids(data(client.get("/v2/interop/tenants", headers=headers))) == [installed["id"]]


def test_install_a_named_version(client: TestClient, world: World) -> None:
    data(
        client.post(
            f"/v2/interop/integrations/{world.integration_id}/versions",
            content=blueprint("2.0"),
            headers={**world.vendor.headers, "Content-Type": "application/xml"},
        )
    )
    installed = data(
        install_of(client, world, world.cloud_id, world.integration_id, version="1.0"), 201
    )
    assert installed["version"] == "1.0"
    info = data(client.get(f"/v2/interop/tenants/{installed['id']}", headers=world.vendor.headers))
    assert info["integration"]["version"] == "1.0"


def test_install_twice_is_a_conflict(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    body = error(install_of(client, world, world.cloud_id, world.integration_id), 409)
    assert str(tenant["id"]) in body["message"]
    # The same integration in another cloud is fine.
    data(install_of(client, world, world.other_cloud_id, world.integration_id), 201)
    assert len(data(client.get("/v2/interop/tenants", headers=world.vendor.headers))) == 2


def test_install_unknown_version(client: TestClient, world: World) -> None:
    body = error(
        install_of(client, world, world.cloud_id, world.integration_id, version="9.9"), 400
    )
    assert "9.9" in body["message"]
    assert data(client.get("/v2/interop/tenants", headers=world.operator.headers)) == []


def test_install_an_integration_without_versions(client: TestClient, world: World) -> None:
    bare = data(
        client.post("/v2/interop/integrations", json={"name": "bare"}, headers=world.vendor.headers)
    )
    body = error(install_of(client, world, world.cloud_id, bare["id"]), 400)
    assert "no version" in body["message"]


def test_install_unknown_cloud_or_integration(client: TestClient, world: World) -> None:
    error(install_of(client, world, str(uuid.uuid4()), world.integration_id), 404)
    error(install_of(client, world, world.cloud_id, str(uuid.uuid4())), 404)
    assert data(client.get("/v2/interop/tenants", headers=world.operator.headers)) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"cloud_id": "not-a-uuid", "integration_id": SOME_ID},
        {"cloud_id": SOME_ID},
        {"cloud_id": SOME_ID, "integration_id": SOME_ID, "extra": 1},
        {"cloud_id": SOME_ID, "integration_id": SOME_ID, "version": ""},
    ],
)
def test_install_invalid_body(client: TestClient, world: World, body: dict[str, Any]) -> None:
    response = client.post("/v2/platform/tenants", json=body, headers=world.operator.headers)
    assert error(response, 400)["code"] == "bad_request"


# --- activate / suspend / uninstall ---------------------------------------------------------


def test_lifecycle(
    client: TestClient, world: World, tenant: dict[str, Any], clock: FakeClock
) -> None:
    tid = tenant["id"]
    clock.advance(minutes=5)
    active = data(move(client, world, tid, "activate"))
    assert set(active) == TENANT_FIELDS
    assert active["id"] == tid
    assert active["status"]["op_state"] == "active"
    assert active["status"]["setup_state"] == "complete"
    assert active["auth"]["client_secret"] == tenant["client_secret"]
    body = error(move(client, world, tid, "activate"), 409)
    assert "active" in body["message"]

    suspended = data(move(client, world, tid, "suspend"))
    assert suspended["status"]["op_state"] == "suspended"
    error(move(client, world, tid, "suspend"), 409)
    # A suspended tenant still authenticates (it gets lifecycle tasks).
    assert token(client, tenant["client_id"], tenant["client_secret"])

    again = data(move(client, world, tid, "activate"))
    assert again["status"]["op_state"] == "active"

    clock.advance(minutes=5)
    gone = data(move(client, world, tid, "uninstall"))
    assert gone["status"]["op_state"] == "uninstalled"
    assert gone["license"]["status"] == "revoked"
    assert when(gone["license"]["valid_to"]) == clock()

    for action in ("activate", "suspend", "uninstall"):
        body = error(move(client, world, tid, action), 409)
        assert "uninstalled" in body["message"]

    # The vendor still finds the tenant as history.
    found = data(client.get(f"/v2/interop/tenants/{tid}", headers=world.vendor.headers))
    assert found["status"]["op_state"] == "uninstalled"


def test_suspend_and_uninstall_from_setup(client: TestClient, world: World) -> None:
    first = install(client, world)
    assert data(move(client, world, first["id"], "suspend"))["status"]["op_state"] == "suspended"
    second = install(client, world, world.other_cloud_id)
    assert data(move(client, world, second["id"], "uninstall"))["status"]["op_state"] == (
        "uninstalled"
    )


def test_transition_of_unknown_tenant(client: TestClient, world: World) -> None:
    error(move(client, world, str(uuid.uuid4()), "activate"), 404)


def test_unknown_transition(client: TestClient, world: World, tenant: dict[str, Any]) -> None:
    error(move(client, world, tenant["id"], "explode"), 400)
    info = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.vendor.headers))
    assert info["status"]["op_state"] == "setup"


def test_uninstall_revokes_credentials(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    issued = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    assert data(client.get("/v2/interop/tenants", headers=issued))
    data(move(client, world, tenant["id"], "uninstall"))

    # The bearer token already issued stops working.
    response = client.get("/v2/interop/tenants", headers=issued)
    assert error(response, 401)["code"] == "unauthorized"
    assert "WWW-Authenticate" in response.headers
    # The client credentials no longer get a token, nor work as Basic.
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
        },
    )
    error(response, 401)
    assert "access_token" not in response.json()
    pair = base64.b64encode(f"{tenant['client_id']}:{tenant['client_secret']}".encode()).decode()
    error(client.get("/v2/interop/tenants", headers={"Authorization": f"Basic {pair}"}), 401)


def test_reinstall_after_uninstall(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    data(move(client, world, tenant["id"], "uninstall"))
    again = install(client, world)
    assert again["id"] != tenant["id"]
    assert again["actor_id"] != tenant["actor_id"]
    assert again["client_id"] != tenant["client_id"]
    assert again["op_state"] == "setup"
    headers = bearer(token(client, again["client_id"], again["client_secret"]))
    assert ids(data(client.get("/v2/interop/tenants", headers=headers))) == [again["id"]]
    # Only one installed tenant may exist at a time: a third install is refused again.
    error(install_of(client, world, world.cloud_id, world.integration_id), 409)
    # The old credentials stay dead.
    response = client.post(
        "/oauth/token",
        data={"client_id": tenant["client_id"], "client_secret": tenant["client_secret"]},
    )
    error(response, 401)


def test_lifecycle_needs_an_operator(
    client: TestClient, world: World, tenant: dict[str, Any]
) -> None:
    for who in (world.vendor, world.district):
        response = client.post(f"/v2/platform/tenants/{tenant['id']}/activate", headers=who.headers)
        assert error(response, 403)["code"] == "forbidden"
    error(client.post(f"/v2/platform/tenants/{tenant['id']}/activate"), 401)
    info = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.vendor.headers))
    assert info["status"]["op_state"] == "setup"


def test_list_holds_installed_tenants_and_find_keeps_history(
    client: TestClient, world: World
) -> None:
    first = install(client, world)
    data(move(client, world, first["id"], "uninstall"))
    second = install(client, world)

    listed = data(client.get("/v2/interop/tenants", headers=world.vendor.headers))
    assert ids(listed) == [second["id"]]
    old = data(client.get(f"/v2/interop/tenants/{first['id']}", headers=world.vendor.headers))
    assert old["status"]["op_state"] == "uninstalled"
    assert old["license"]["status"] == "revoked"

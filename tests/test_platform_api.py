"""``/v2/platform``: accounts and API keys, clouds, connectors (DESIGN §7)."""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from interop_hub.runtime import Hub
from tests.factories import AccountRef, basic, bearer, data, error, make_account, token

ACCOUNT_FIELDS = {"id", "name", "type", "public_id", "timezone", "userdata", "created_at"}


@pytest.fixture
def operator(hub: Hub) -> AccountRef:
    return make_account(hub, "operator", "Ops")


@pytest.fixture
def ops(operator: AccountRef) -> dict[str, str]:
    return operator.headers


def create_account(client: TestClient, ops: dict[str, str], **body: Any) -> Any:
    return client.post("/v2/platform/accounts", json=body, headers=ops)


def new_account(client: TestClient, ops: dict[str, str], name: str, type: str) -> dict[str, Any]:
    created: dict[str, Any] = data(create_account(client, ops, name=name, type=type), 201)
    return created


def new_cloud(client: TestClient, ops: dict[str, str], name: str = "Springfield") -> str:
    district = new_account(client, ops, f"{name} USD", "education_agency")
    cloud = data(
        client.post(
            f"/v2/platform/accounts/{district['id']}/clouds", json={"name": name}, headers=ops
        ),
        201,
    )
    cloud_id: str = cloud["id"]
    return cloud_id


def add_connector(client: TestClient, ops: dict[str, str], cloud_id: str, **body: Any) -> Any:
    return client.post(
        f"/v2/platform/clouds/{cloud_id}/connectors",
        json={"type": "oneroster-csv", **body},
        headers=ops,
    )


# --- accounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "probe"),
    [
        ("developer", "/v2/interop/integrations"),
        ("education_agency", "/v2/interop/clouds"),
        ("operator", "/v2/platform/accounts"),
    ],
)
def test_create_account_of_each_type(
    client: TestClient, ops: dict[str, str], type: str, probe: str
) -> None:
    response = create_account(client, ops, name="Acme Learning, Inc.", type=type)
    created = data(response, 201)
    assert set(created) == ACCOUNT_FIELDS | {"api_key"}
    assert created["name"] == "Acme Learning, Inc."
    assert created["type"] == type
    assert created["public_id"].startswith("acme-learning-inc-")
    assert created["timezone"] == "UTC"
    assert created["userdata"] is None
    uuid.UUID(created["id"])
    key_id, dot, secret = created["api_key"].partition(".")
    assert key_id.startswith("ihk_")
    assert dot == "."
    assert len(secret) >= 32

    # The key works, as Basic and for a token.
    assert client.get(probe, headers=basic(created["api_key"])).status_code == 200
    assert client.get(probe, headers=bearer(token(client, key_id, secret))).status_code == 200

    # It is shown once: never again when the account is read.
    found = data(client.get(f"/v2/platform/accounts/{created['id']}", headers=ops))
    assert set(found) == ACCOUNT_FIELDS
    assert found == {k: v for k, v in created.items() if k != "api_key"}
    listed = client.get("/v2/platform/accounts", headers=ops)
    assert secret not in listed.text


def test_create_account_with_timezone_and_userdata(client: TestClient, ops: dict[str, str]) -> None:
    created = data(
        create_account(
            client,
            ops,
            name="Springfield USD",
            type="education_agency",
            timezone="America/Chicago",
            userdata="crm:42",
        ),
        201,
    )
    assert created["timezone"] == "America/Chicago"
    assert created["userdata"] == "crm:42"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "type": "vendor"},
        {"name": "X", "type": ""},
        {"name": "X"},
        {"type": "developer"},
        {"name": "", "type": "developer"},
        {"name": "X" * 201, "type": "developer"},
        {"name": "X", "type": "developer", "api_key": "ihk_mine.secret"},
        {"name": "X", "type": "developer", "id": "5b0c6a8e-2f4d-4e0b-9c1a-7d3e2f1a0b9c"},
    ],
)
def test_create_account_invalid(
    client: TestClient, ops: dict[str, str], body: dict[str, Any]
) -> None:
    before = len(data(client.get("/v2/platform/accounts", headers=ops)))
    response = client.post("/v2/platform/accounts", json=body, headers=ops)
    result = error(response, 400)
    assert result["code"] == "bad_request"
    assert isinstance(result["details"], list)
    assert result["details"]
    assert len(data(client.get("/v2/platform/accounts", headers=ops))) == before


def test_create_account_not_json(client: TestClient, ops: dict[str, str]) -> None:
    response = client.post(
        "/v2/platform/accounts",
        content=b"name=X&type=developer",
        headers={**ops, "Content-Type": "application/x-www-form-urlencoded"},
    )
    error(response, 400)


def test_list_and_find_accounts(
    client: TestClient, ops: dict[str, str], operator: AccountRef
) -> None:
    vendor = new_account(client, ops, "Acme", "developer")
    district = new_account(client, ops, "Springfield USD", "education_agency")

    listed = client.get("/v2/platform/accounts", headers=ops).json()
    assert listed["paging"] == {"next": None}
    by_id = {a["id"]: a for a in listed["data"]}
    assert set(by_id) == {str(operator.id), vendor["id"], district["id"]}
    assert by_id[vendor["id"]]["type"] == "developer"

    developers = data(client.get("/v2/platform/accounts?type=developer", headers=ops))
    assert [a["id"] for a in developers] == [vendor["id"]]
    districts = data(client.get("/v2/platform/accounts?type=education_agency", headers=ops))
    assert [a["id"] for a in districts] == [district["id"]]
    error(client.get("/v2/platform/accounts?type=vendor", headers=ops), 400)

    found = data(client.get(f"/v2/platform/accounts/{district['id']}", headers=ops))
    assert found["name"] == "Springfield USD"
    assert found["type"] == "education_agency"
    error(client.get(f"/v2/platform/accounts/{uuid.uuid4()}", headers=ops), 404)
    error(client.get("/v2/platform/accounts/nope", headers=ops), 400)


def test_list_accounts_paging(client: TestClient, ops: dict[str, str]) -> None:
    for n in range(3):
        new_account(client, ops, f"Vendor {n}", "developer")
    page = client.get("/v2/platform/accounts?page_size=2", headers=ops).json()
    assert len(page["data"]) == 2
    rest = client.get(page["paging"]["next"], headers=ops).json()
    assert len(rest["data"]) == 2
    assert rest["paging"]["next"] is None
    seen = [a["id"] for a in page["data"] + rest["data"]]
    assert len(set(seen)) == 4


# --- API keys -------------------------------------------------------------------------------


def test_create_api_key(client: TestClient, hub: Hub, ops: dict[str, str]) -> None:
    vendor = new_account(client, ops, "Acme", "developer")
    extra = data(
        client.post(
            f"/v2/platform/accounts/{vendor['id']}/api-keys", json={"label": "ci"}, headers=ops
        ),
        201,
    )
    assert set(extra) == {"account_id", "api_key"}
    assert extra["account_id"] == vendor["id"]
    assert extra["api_key"] != vendor["api_key"]
    for key in (vendor["api_key"], extra["api_key"]):
        assert client.get("/v2/interop/integrations", headers=basic(key)).status_code == 200
    # Without a label too.
    unlabelled = client.post(f"/v2/platform/accounts/{vendor['id']}/api-keys", headers=ops)
    assert unlabelled.status_code == 201, unlabelled.text
    error(client.post(f"/v2/platform/accounts/{uuid.uuid4()}/api-keys", headers=ops), 404)

    # Only a digest of the secret is stored.
    key_id, secret = extra["api_key"].split(".", 1)
    with hub.sessions() as session:
        row = session.execute(
            text("SELECT secret_digest, label FROM api_keys WHERE key_id = :k"), {"k": key_id}
        ).one()
        everything = session.execute(text("SELECT key_id, secret_digest FROM api_keys")).all()
    assert row.label == "ci"
    assert row.secret_digest != secret
    assert secret not in row.secret_digest
    assert row.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(values) for values in everything)


def test_revoke_unknown_api_key(client: TestClient, ops: dict[str, str]) -> None:
    vendor = new_account(client, ops, "Acme", "developer")
    error(
        client.delete(f"/v2/platform/accounts/{vendor['id']}/api-keys/ihk_nope", headers=ops), 404
    )
    error(
        client.delete(f"/v2/platform/accounts/{uuid.uuid4()}/api-keys/ihk_nope", headers=ops), 404
    )
    assert (
        client.get("/v2/interop/integrations", headers=basic(vendor["api_key"])).status_code == 200
    )


# --- clouds ---------------------------------------------------------------------------------


def test_create_cloud_for_a_district(client: TestClient, ops: dict[str, str]) -> None:
    district = new_account(client, ops, "Springfield USD", "education_agency")
    response = client.post(
        f"/v2/platform/accounts/{district['id']}/clouds",
        json={"name": "Springfield", "userdata": "tier:gold"},
        headers=ops,
    )
    cloud = data(response, 201)
    assert set(cloud) == {
        "id",
        "name",
        "userdata",
        "generation",
        "account_id",
        "env",
        "created_at",
        "updated_at",
    }
    assert cloud["name"] == "Springfield"
    assert cloud["userdata"] == "tier:gold"
    assert cloud["generation"] == 1
    assert cloud["account_id"] == district["id"]
    assert cloud["env"] == "production"
    # The district now sees it as its own.
    seen = data(client.get("/v2/interop/clouds", headers=basic(district["api_key"])))
    assert [c["id"] for c in seen] == [cloud["id"]]
    other = new_account(client, ops, "Shelbyville USD", "education_agency")
    assert data(client.get("/v2/interop/clouds", headers=basic(other["api_key"]))) == []


def test_create_cloud_for_an_operator_account(
    client: TestClient, ops: dict[str, str], operator: AccountRef
) -> None:
    response = client.post(
        f"/v2/platform/accounts/{operator.id}/clouds", json={"name": "Ops cloud"}, headers=ops
    )
    assert "operator" in error(response, 400)["message"]
    assert data(client.get("/v2/interop/clouds", headers=ops)) == []


def test_create_cloud_errors(client: TestClient, ops: dict[str, str]) -> None:
    error(
        client.post(
            f"/v2/platform/accounts/{uuid.uuid4()}/clouds", json={"name": "X"}, headers=ops
        ),
        404,
    )
    district = new_account(client, ops, "Springfield USD", "education_agency")
    for body in ({}, {"name": ""}, {"name": "X", "generation": 0}):
        error(
            client.post(f"/v2/platform/accounts/{district['id']}/clouds", json=body, headers=ops),
            400,
        )


# --- connectors -----------------------------------------------------------------------------


def test_connector_on_a_folder(
    client: TestClient, hub: Hub, ops: dict[str, str], tmp_path: Path
) -> None:
    cloud_id = new_cloud(client, ops)
    drop = tmp_path / "sis-drop"
    drop.mkdir()
    connector = data(add_connector(client, ops, cloud_id, source=str(drop)), 201)
    assert set(connector) == {
        "id",
        "cloud_id",
        "name",
        "type",
        "connector_type",
        "source",
        "client_id",
        "client_secret",
    }
    assert connector["cloud_id"] == cloud_id
    assert connector["type"] == "connector"
    assert connector["connector_type"] == "oneroster-csv"
    assert connector["source"] == str(drop.resolve())
    assert connector["name"] == "oneroster-csv (sis-drop)"
    assert connector["client_id"].startswith("ihc_")
    secret = connector["client_secret"]
    assert len(secret) >= 32

    # Its credentials get a token.
    assert token(client, connector["client_id"], secret)

    # The secret is stored encrypted, not in clear.
    with hub.sessions() as session:
        stored = session.execute(
            text("SELECT client_secret_enc, type, connector_type FROM actors WHERE client_id = :c"),
            {"c": connector["client_id"]},
        ).one()
    assert stored.type == "connector"
    assert stored.connector_type == "oneroster-csv"
    assert secret not in stored.client_secret_enc
    assert stored.client_secret_enc != secret
    assert hub.keyring.decrypt(stored.client_secret_enc) == secret


def test_connector_on_a_zip(client: TestClient, ops: dict[str, str], tmp_path: Path) -> None:
    cloud_id = new_cloud(client, ops)
    bundle = tmp_path / "oneroster.ZIP"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("manifest.csv", "propertyName,value\n")
    connector = data(
        add_connector(client, ops, cloud_id, source=str(bundle), name="Nightly SIS"), 201
    )
    assert connector["source"] == str(bundle.resolve())
    assert connector["name"] == "Nightly SIS"


def test_connector_source_must_exist(
    client: TestClient, ops: dict[str, str], tmp_path: Path
) -> None:
    cloud_id = new_cloud(client, ops)
    missing = tmp_path / "nowhere"
    body = error(add_connector(client, ops, cloud_id, source=str(missing)), 400)
    assert "does not exist" in body["message"]


def test_connector_source_must_be_folder_or_zip(
    client: TestClient, ops: dict[str, str], tmp_path: Path
) -> None:
    cloud_id = new_cloud(client, ops)
    plain = tmp_path / "users.csv"
    plain.write_text("sourcedId\n")
    body = error(add_connector(client, ops, cloud_id, source=str(plain)), 400)
    assert "folder or a .zip" in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "oneroster", "source": "."},
        {"type": "csv", "source": "."},
        {"type": "", "source": "."},
        {"source": "."},
        {"type": "oneroster-csv"},
        {"type": "oneroster-csv", "source": ""},
        {"type": "oneroster-csv", "source": ".", "schedule": "nightly"},
    ],
)
def test_connector_invalid_body(
    client: TestClient, ops: dict[str, str], tmp_path: Path, body: dict[str, Any]
) -> None:
    cloud_id = new_cloud(client, ops)
    if body.get("source") == ".":
        body = {**body, "source": str(tmp_path)}
    response = client.post(f"/v2/platform/clouds/{cloud_id}/connectors", json=body, headers=ops)
    assert error(response, 400)["code"] == "bad_request"


def test_connector_of_unknown_cloud(
    client: TestClient, ops: dict[str, str], tmp_path: Path
) -> None:
    error(add_connector(client, ops, str(uuid.uuid4()), source=str(tmp_path)), 404)


def test_connector_shows_in_the_cloud_actors(
    client: TestClient, ops: dict[str, str], tmp_path: Path
) -> None:
    district = new_account(client, ops, "Springfield USD", "education_agency")
    cloud = data(
        client.post(
            f"/v2/platform/accounts/{district['id']}/clouds", json={"name": "S"}, headers=ops
        ),
        201,
    )
    connector = data(add_connector(client, ops, cloud["id"], source=str(tmp_path)), 201)
    actors = data(
        client.get(f"/v2/interop/clouds/{cloud['id']}/actors", headers=basic(district["api_key"]))
    )
    assert [(a["id"], a["connector_type"]) for a in actors] == [(connector["id"], "oneroster-csv")]
    assert actors[0]["auth"]["client_secret"] is None


# --- the surface needs an operator ----------------------------------------------------------


@pytest.mark.parametrize("type", ["developer", "education_agency"])
def test_platform_refuses_non_operators(
    client: TestClient, ops: dict[str, str], tmp_path: Path, type: str
) -> None:
    account = new_account(client, ops, "Someone", type)
    headers = basic(account["api_key"])
    cloud_id = new_cloud(client, ops)
    calls = [
        ("GET", "/v2/platform/accounts", None),
        ("GET", f"/v2/platform/accounts/{account['id']}", None),
        ("POST", "/v2/platform/accounts", {"name": "Me", "type": "operator"}),
        ("POST", f"/v2/platform/accounts/{account['id']}/api-keys", None),
        ("POST", f"/v2/platform/accounts/{account['id']}/clouds", {"name": "Mine"}),
        (
            "POST",
            f"/v2/platform/clouds/{cloud_id}/connectors",
            {
                "type": "oneroster-csv",
                "source": str(tmp_path),
            },
        ),
        ("DELETE", f"/v2/platform/accounts/{account['id']}/api-keys/ihk_x", None),
        ("GET", f"/v2/platform/tenants/{uuid.uuid4()}/tasks", None),
        ("GET", f"/v2/platform/tenants/{uuid.uuid4()}/task-history", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=headers)
        result = error(response, 403)
        assert result["code"] == "forbidden", (method, path)
        assert "operator" in result["message"]
    operators = data(client.get("/v2/platform/accounts?type=operator", headers=ops))
    assert [a["name"] for a in operators] == ["Ops"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "not a zone", "../../etc/passwd"])
def test_create_account_with_unknown_timezone(
    client: TestClient, ops: dict[str, str], zone: str
) -> None:
    failure = error(create_account(client, ops, name="X", type="developer", timezone=zone), 400)
    assert "time zone" in failure["message"]
    names = [a["name"] for a in data(client.get("/v2/platform/accounts", headers=ops))]
    assert "X" not in names

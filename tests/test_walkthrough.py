"""The whole path a new vendor takes, over HTTP, on each backend."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from interop_hub.runtime import Hub
from tests.factories import bearer, blueprint, data, make_account


def test_new_vendor_path(client: TestClient, hub: Hub, tmp_path: Path) -> None:
    operator = make_account(hub, "operator", "Ops")
    ops = operator.headers

    # The operator creates the vendor and the district.
    vendor = data(
        client.post(
            "/v2/platform/accounts", json={"name": "Acme", "type": "developer"}, headers=ops
        ),
        201,
    )
    district = data(
        client.post(
            "/v2/platform/accounts",
            json={"name": "Springfield USD", "type": "education_agency"},
            headers=ops,
        ),
        201,
    )
    assert vendor["api_key"].startswith("ihk_")

    # The vendor creates an integration and uploads a blueprint, with a bearer token of its own.
    key_id, secret = vendor["api_key"].split(".", 1)
    vendor_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": key_id, "client_secret": secret},
    ).json()["access_token"]
    vendor_headers = bearer(vendor_token)
    integration = data(
        client.post(
            "/v2/interop/integrations",
            json={"name": "acme-lms", "title": "Acme LMS"},
            headers=vendor_headers,
        )
    )
    version = data(
        client.post(
            f"/v2/interop/integrations/{integration['id']}/versions",
            content=blueprint("2.1"),
            headers={**vendor_headers, "Content-Type": "application/xml"},
        )
    )
    assert version["version"] == "2.1"
    assert version["topics"] == ["School", "Student", "Section"]
    assert (
        data(client.get(f"/v2/interop/integrations/{integration['id']}", headers=vendor_headers))[
            "version"
        ]
        == "2.1"
    )

    # The district's cloud gets a connector.
    cloud = data(
        client.post(
            f"/v2/platform/accounts/{district['id']}/clouds",
            json={"name": "Springfield"},
            headers=ops,
        ),
        201,
    )
    drop = tmp_path / "sis-drop"
    drop.mkdir()
    connector = data(
        client.post(
            f"/v2/platform/clouds/{cloud['id']}/connectors",
            json={"type": "oneroster-csv", "source": str(drop)},
            headers=ops,
        ),
        201,
    )
    assert connector["connector_type"] == "oneroster-csv"

    # The operator installs the integration.
    tenant = data(
        client.post(
            "/v2/platform/tenants",
            json={"cloud_id": cloud["id"], "integration_id": integration["id"]},
            headers=ops,
        ),
        201,
    )
    assert tenant["version"] == "2.1"
    assert tenant["op_state"] == "setup"

    # The tenant's own credentials obtain a token at /oauth/token, as drivers post them.
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == hub.settings.token_lifetime_seconds
    tenant_headers = bearer(body["access_token"])

    # With it the tenant sees itself, and the vendor sees the tenant with its credentials.
    mine = data(client.get("/v2/interop/tenants", headers=tenant_headers))
    assert [t["id"] for t in mine] == [tenant["id"]]
    seen = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=vendor_headers))
    assert seen["auth"]["client_secret"] == tenant["client_secret"]
    assert seen["account"]["id"] == district["id"]
    assert seen["cloud"]["id"] == cloud["id"]
    assert seen["integration"] == {"id": integration["id"], "name": "acme-lms", "version": "2.1"}
    assert seen["sis_status"]["op_state"] == "active"
    assert seen["status"]["op_state"] == "setup"

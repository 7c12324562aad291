"""``POST /oauth/token`` and how every request is authenticated (DESIGN §8)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from interop_hub.auth.tokens import issue_token
from interop_hub.kit.crypto import Keyring
from interop_hub.runtime import Hub
from tests.clock import FakeClock
from tests.factories import (
    World,
    basic,
    bearer,
    data,
    error,
    install,
    make_world,
    token,
)

TOKEN_URL = "/oauth/token"


def basic_pair(username: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def unauthorized(response: Any) -> dict[str, Any]:
    """A 401 in the error envelope that tells the client how to authenticate."""
    body = error(response, 401)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith('Bearer realm="interop-hub"'), challenge
    assert 'Basic realm="interop-hub"' in challenge
    return body


def b64url(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


@pytest.fixture
def tenant(client: TestClient, world: World) -> dict[str, Any]:
    return install(client, world)


# --- /oauth/token ---------------------------------------------------------------------------


def test_token_from_form_body(client: TestClient, hub: Hub, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == hub.settings.token_lifetime_seconds == 3600
    assert body["access_token"].count(".") == 2
    assert response.headers["cache-control"] == "no-store"
    # The token works and identifies the tenant.
    mine = data(client.get("/v2/interop/tenants", headers=bearer(body["access_token"])))
    assert [t["id"] for t in mine] == [tenant["id"]]


def test_token_from_basic_header(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers=basic_pair(tenant["client_id"], tenant["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    found = data(
        client.get(
            f"/v2/interop/tenants/{tenant['id']}", headers=bearer(response.json()["access_token"])
        )
    )
    assert found["id"] == tenant["id"]


def test_token_from_basic_header_without_body(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL, headers=basic_pair(tenant["client_id"], tenant["client_secret"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_token_from_json_body(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        json={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    mine = data(client.get("/v2/interop/tenants", headers=bearer(body["access_token"])))
    assert [t["id"] for t in mine] == [tenant["id"]]


def test_token_wrong_secret(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"] + "x",
        },
    )
    body = unauthorized(response)
    assert body["code"] == "unauthorized"
    assert "access_token" not in response.text
    assert 'error="invalid_client"' in response.headers["www-authenticate"]


def test_token_unknown_client(client: TestClient, world: World) -> None:
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "ihc_doesnotexist",
            "client_secret": "whatever",
        },
    )
    unauthorized(response)
    assert 'error="invalid_client"' in response.headers["www-authenticate"]


def test_token_unknown_api_key_id(client: TestClient, world: World) -> None:
    _, secret = world.vendor.api_key.split(".", 1)
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "ihk_0000000000000000",
            "client_secret": secret,
        },
    )
    unauthorized(response)


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_id": "ihc_x"},
        {"grant_type": "client_credentials", "client_secret": "x"},
        {"grant_type": "client_credentials", "client_id": "", "client_secret": ""},
    ],
)
def test_token_missing_credentials(client: TestClient, form: dict[str, str]) -> None:
    unauthorized(client.post(TOKEN_URL, data=form))


def test_token_unsupported_grant_type(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "password",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
        },
    )
    body = error(response, 400)
    assert body["code"] == "unsupported_grant_type"
    assert "password" in body["message"]


def test_token_unsupported_content_type(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        content=f"client_id={tenant['client_id']}",
        headers={"Content-Type": "text/plain"},
    )
    assert error(response, 400)["code"] == "invalid_request"


def test_token_malformed_json(client: TestClient) -> None:
    response = client.post(
        TOKEN_URL, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error(response, 400)["code"] == "invalid_request"
    response = client.post(TOKEN_URL, json=["client_credentials"])
    assert error(response, 400)["code"] == "invalid_request"


# --- account API keys -----------------------------------------------------------------------


def test_api_key_as_basic_username(client: TestClient, world: World) -> None:
    listed = data(client.get("/v2/interop/integrations", headers=basic(world.vendor.api_key)))
    assert [i["id"] for i in listed] == [world.integration_id]


def test_api_key_as_basic_halves(client: TestClient, world: World) -> None:
    key_id, secret = world.vendor.api_key.split(".", 1)
    listed = data(client.get("/v2/interop/integrations", headers=basic_pair(key_id, secret)))
    assert [i["id"] for i in listed] == [world.integration_id]
    # The halves must belong together.
    other_id, _ = world.other_vendor.api_key.split(".", 1)
    unauthorized(client.get("/v2/interop/integrations", headers=basic_pair(other_id, secret)))


def test_api_key_as_basic_password(client: TestClient, world: World) -> None:
    listed = data(
        client.get("/v2/interop/integrations", headers=basic_pair("", world.vendor.api_key))
    )
    assert [i["id"] for i in listed] == [world.integration_id]


def test_api_key_with_wrong_secret(client: TestClient, world: World) -> None:
    key_id, secret = world.vendor.api_key.split(".", 1)
    unauthorized(client.get("/v2/interop/integrations", headers=basic(f"{key_id}.{secret}x")))
    unauthorized(client.get("/v2/interop/integrations", headers=basic_pair(key_id, "")))


def test_api_key_as_client_credentials(client: TestClient, world: World) -> None:
    key_id, secret = world.vendor.api_key.split(".", 1)
    vendor_token = token(client, key_id, secret)
    listed = data(client.get("/v2/interop/integrations", headers=bearer(vendor_token)))
    assert [i["id"] for i in listed] == [world.integration_id]
    # The other vendor's token sees none of it.
    other_id, other_secret = world.other_vendor.api_key.split(".", 1)
    other_token = token(client, other_id, other_secret)
    assert data(client.get("/v2/interop/integrations", headers=bearer(other_token))) == []
    error(
        client.get(f"/v2/interop/integrations/{world.integration_id}", headers=bearer(other_token)),
        404,
    )


def test_operator_api_key_token_reaches_platform(client: TestClient, world: World) -> None:
    key_id, secret = world.operator.api_key.split(".", 1)
    headers = bearer(token(client, key_id, secret))
    found = data(client.get(f"/v2/platform/accounts/{world.vendor.id}", headers=headers))
    assert found["name"] == "Acme"


def test_revoked_api_key(client: TestClient, world: World) -> None:
    ops = world.operator.headers
    second = data(
        client.post(
            f"/v2/platform/accounts/{world.vendor.id}/api-keys",
            json={"label": "ci"},
            headers=ops,
        ),
        201,
    )
    assert second["account_id"] == str(world.vendor.id)
    new_key: str = second["api_key"]
    key_id, secret = new_key.split(".", 1)
    assert data(client.get("/v2/interop/integrations", headers=basic(new_key)))
    issued = token(client, key_id, secret)
    assert data(client.get("/v2/interop/integrations", headers=bearer(issued)))

    response = client.delete(
        f"/v2/platform/accounts/{world.vendor.id}/api-keys/{key_id}", headers=ops
    )
    assert response.status_code == 204, response.text
    assert response.content == b""

    unauthorized(client.get("/v2/interop/integrations", headers=basic(new_key)))
    unauthorized(client.get("/v2/interop/integrations", headers=basic_pair(key_id, secret)))
    unauthorized(
        client.post(
            TOKEN_URL,
            data={"grant_type": "client_credentials", "client_id": key_id, "client_secret": secret},
        )
    )
    # A token issued from the key before it was revoked stops working too.
    unauthorized(client.get("/v2/interop/integrations", headers=bearer(issued)))
    # The account's first key is untouched.
    assert data(client.get("/v2/interop/integrations", headers=world.vendor.headers))

    # Revoking again is a conflict; a key of another account is not found.
    error(
        client.delete(f"/v2/platform/accounts/{world.vendor.id}/api-keys/{key_id}", headers=ops),
        409,
    )
    other_key_id = world.other_vendor.api_key.split(".", 1)[0]
    error(
        client.delete(
            f"/v2/platform/accounts/{world.vendor.id}/api-keys/{other_key_id}", headers=ops
        ),
        404,
    )
    assert data(client.get("/v2/interop/integrations", headers=world.other_vendor.headers)) == []


# --- bearer tokens --------------------------------------------------------------------------


def test_bearer_token_expires(
    client: TestClient, hub: Hub, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    issued = token(client, tenant["client_id"], tenant["client_secret"])
    lifetime = hub.settings.token_lifetime_seconds
    clock.advance(seconds=lifetime - 10)
    assert data(client.get("/v2/interop/tenants", headers=bearer(issued)))
    clock.advance(seconds=20)
    body = unauthorized(client.get("/v2/interop/tenants", headers=bearer(issued)))
    assert "expired" in body["message"]
    # A fresh token works again.
    fresh = token(client, tenant["client_id"], tenant["client_secret"])
    assert [t["id"] for t in data(client.get("/v2/interop/tenants", headers=bearer(fresh)))] == [
        tenant["id"]
    ]


def test_bearer_token_not_valid_yet(
    client: TestClient, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    issued = token(client, tenant["client_id"], tenant["client_secret"])
    clock.advance(minutes=-10)
    body = unauthorized(client.get("/v2/interop/tenants", headers=bearer(issued)))
    assert "not valid yet" in body["message"]


def _forged(world: World, clock: FakeClock) -> dict[str, str]:
    now = int(clock().timestamp())
    claims = {
        "iss": "interop-hub",
        "aud": "interop-hub/api",
        "sub": f"account:{world.operator.id}",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    other_key = Keyring.from_secret("another-secret-key-0123456789-abcdefghijklmn").signing_key
    return {
        "other key": issue_token(other_key, f"account:{world.operator.id}", 3600, clock()),
        "alg none": f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}.",
        "not a jwt": "not-a-token",
        "three garbage parts": "abc.def.ghi",
    }


@pytest.mark.parametrize("kind", ["other key", "alg none", "not a jwt", "three garbage parts"])
def test_forged_bearer_tokens(
    client: TestClient, world: World, clock: FakeClock, kind: str
) -> None:
    value = _forged(world, clock)[kind]
    body = unauthorized(client.get("/v2/platform/accounts", headers=bearer(value)))
    assert body["message"] == "The access token is not valid."
    assert (
        'error="invalid_token"'
        in client.get("/v2/platform/accounts", headers=bearer(value)).headers["www-authenticate"]
    )


def test_token_for_unknown_subjects(
    client: TestClient, hub: Hub, clock: FakeClock, world: World
) -> None:
    key = hub.keyring.signing_key
    for subject in (f"account:{uuid.uuid4()}", f"actor:{uuid.uuid4()}"):
        value = issue_token(key, subject, 3600, clock())
        unauthorized(client.get("/v2/interop/tenants", headers=bearer(value)))
    for subject in ("robot:" + str(uuid.uuid4()), "account:not-a-uuid", "nothing"):
        value = issue_token(key, subject, 3600, clock())
        body = unauthorized(client.get("/v2/interop/tenants", headers=bearer(value)))
        assert body["message"] == "The access token is not valid."


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Digest x",
        "Token abc",
        "ihk_abc.def",
    ],
)
def test_malformed_authorization(client: TestClient, world: World, header: str) -> None:
    unauthorized(client.get("/v2/interop/tenants", headers={"Authorization": header}))


def test_missing_authorization(client: TestClient) -> None:
    response = client.get("/v2/interop/tenants")
    body = unauthorized(response)
    assert body["message"] == "Authentication is required."
    assert "error=" not in response.headers["www-authenticate"]


def test_wrong_basic_client_credentials(client: TestClient, tenant: dict[str, Any]) -> None:
    ok = data(
        client.get(
            "/v2/interop/tenants", headers=basic_pair(tenant["client_id"], tenant["client_secret"])
        )
    )
    assert [t["id"] for t in ok] == [tenant["id"]]
    unauthorized(client.get("/v2/interop/tenants", headers=basic_pair(tenant["client_id"], "nope")))


# --- the operator surface needs an operator -------------------------------------------------


@pytest.mark.parametrize("who", ["vendor", "district", "tenant"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/platform/accounts"),
        ("POST", "/v2/platform/accounts"),
        ("POST", "/v2/platform/tenants"),
        ("POST", "/v2/platform/tenants/{tenant}/uninstall"),
    ],
)
def test_platform_needs_operator(
    client: TestClient,
    world: World,
    tenant: dict[str, Any],
    who: str,
    method: str,
    path: str,
) -> None:
    headers = {
        "vendor": world.vendor.headers,
        "district": world.district.headers,
        "tenant": bearer(token(client, tenant["client_id"], tenant["client_secret"])),
    }[who]
    body = (
        {"name": "Evil", "type": "operator"}
        if path.endswith("accounts")
        else {
            "cloud_id": world.cloud_id,
            "integration_id": world.integration_id,
        }
    )
    response = client.request(
        method,
        path.format(tenant=tenant["id"]),
        headers=headers,
        json=body if method == "POST" else None,
    )
    assert error(response, 403)["code"] == "forbidden"
    # Nothing happened.
    found = data(client.get(f"/v2/interop/tenants/{tenant['id']}", headers=world.vendor.headers))
    assert found["status"]["op_state"] == "setup"
    operators = data(
        client.get("/v2/platform/accounts?type=operator", headers=world.operator.headers)
    )
    assert [a["name"] for a in operators] == ["Ops"]


def test_platform_without_credentials(client: TestClient) -> None:
    unauthorized(client.get("/v2/platform/accounts"))


def test_token_error_does_not_echo_secrets(client: TestClient, tenant: dict[str, Any]) -> None:
    response = client.post(
        TOKEN_URL,
        data={"client_id": tenant["client_id"], "client_secret": "wrong"},
    )
    unauthorized(response)
    assert tenant["client_secret"] not in response.text


def test_token_lifetime_follows_settings(
    client: TestClient, hub: Hub, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    hub.settings.token_lifetime_seconds = 120
    issued = token(client, tenant["client_id"], tenant["client_secret"])
    payload = json.loads(base64.urlsafe_b64decode(issued.split(".")[1] + "=="))
    start = int(clock().timestamp())
    assert payload["exp"] - payload["iat"] == 120
    assert payload["iat"] == start
    assert dt.datetime.fromtimestamp(payload["exp"], dt.UTC) == clock() + dt.timedelta(seconds=120)
    clock.advance(seconds=130)
    assert (
        "expired"
        in unauthorized(client.get("/v2/interop/tenants", headers=bearer(issued)))["message"]
    )


def test_token_bound_to_an_api_key(
    client: TestClient, hub: Hub, clock: FakeClock, world: World
) -> None:
    """An account token names the API key it was issued for; the key must be the account's."""
    key = hub.keyring.signing_key
    subject = f"account:{world.vendor.id}"
    own_key = world.vendor.api_key.split(".", 1)[0]
    other_key = world.other_vendor.api_key.split(".", 1)[0]
    good = issue_token(key, subject, 3600, clock(), key_id=own_key)
    assert data(client.get("/v2/interop/integrations", headers=bearer(good)))
    for key_id in (other_key, "ihk_unknown"):
        forged = issue_token(key, subject, 3600, clock(), key_id=key_id)
        body = unauthorized(client.get("/v2/interop/integrations", headers=bearer(forged)))
        assert "revoked" in body["message"]
    now = int(clock().timestamp())
    claims = {
        "iss": "interop-hub",
        "aud": "interop-hub/api",
        "sub": subject,
        "iat": now,
        "exp": now + 60,
        "key": 42,
    }
    odd = jwt.encode(claims, key, algorithm="HS256")
    body = unauthorized(client.get("/v2/interop/integrations", headers=bearer(odd)))
    assert body["message"] == "The access token is not valid."
